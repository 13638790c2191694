// How many keys each local source holds, for `skgatectl status`: the local
// store, and the users' own authorized_keys (security keys and others).
// Remote sources are counted per lookup, not here.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/policy/policy.h"

namespace skgate {

struct SourceCount {
    size_t users = 0;          // users with at least one key
    size_t keys = 0;           // all keys
    size_t security_keys = 0;  // sk-* keys among them
    size_t unreadable = 0;     // files that could not be read safely
};

// A user whose local store holds fewer keys than MinimumKeys asks for (but
// at least one: a user with none does not use the store).
struct ShortOfKeys {
    std::string user;
    size_t keys = 0;
    int64_t minimum = 1;
};

struct KeyInventory {
    SourceCount local;
    SourceCount authorized_keys;
    std::vector<ShortOfKeys> short_of_keys;
};

// The same rule for one user (list, enroll): an empty optional when the
// user has none or enough.
std::optional<ShortOfKeys> short_of_keys(const Policy& policy, const std::string& user,
                                         size_t local_keys);
// "alice has 1 enrolled key; MinimumKeys asks for 2: ..." with what to do.
std::string short_of_keys_text(const ShortOfKeys& s);

// Walks the accounts with a login shell (getpwent). Run as root to see every
// home directory.
KeyInventory count_keys(const Policy& policy);

// Whether the account's shell lets it log in (not nologin or false).
bool has_login_shell(const char* shell);

}  // namespace skgate
