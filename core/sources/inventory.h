// How many keys each local source holds, for `skgatectl status`: the local
// store, and the users' own authorized_keys (security keys and others).
// Remote sources are counted per lookup, not here.
#pragma once

#include <cstddef>

#include "core/policy/policy.h"

namespace skgate {

struct SourceCount {
    size_t users = 0;          // users with at least one key
    size_t keys = 0;           // all keys
    size_t security_keys = 0;  // sk-* keys among them
    size_t unreadable = 0;     // files that could not be read safely
};

struct KeyInventory {
    SourceCount local;
    SourceCount authorized_keys;
};

// Walks the accounts with a login shell (getpwent). Run as root to see every
// home directory.
KeyInventory count_keys(const Policy& policy);

// Whether the account's shell lets it log in (not nologin or false).
bool has_login_shell(const char* shell);

}  // namespace skgate
