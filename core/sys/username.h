// User names that reach a path or a log line are checked first.
#pragma once

#include <string_view>

#include "core/sys/result.h"

namespace skgate {

inline constexpr size_t kMaxUsernameBytes = 64;

// Accepts [A-Za-z0-9._@-] with an optional trailing '$' (Samba machine
// accounts), 1 to 64 bytes, not starting with '-' or '.', and never "." or
// "..": nothing that can escape a directory or look like a command option.
Status validate_username(std::string_view user);

}  // namespace skgate
