// How skgatectl reads a key or a small file an administrator names on the
// command line (enroll, revoke, explain).
#pragma once

#include <string>

#include "core/sys/args.h"
#include "core/sys/result.h"

namespace skgate::admin {

inline constexpr size_t kMaxInputFile = 64 * 1024;

// The whole file, at most kMaxInputFile bytes; `what` names it in errors.
Result<std::string> read_small_file(const std::string& path, const char* what);

// The key line: --key, or the first line of --key-file that is not blank or
// a comment.
Result<std::string> read_key_line(const ArgParser& a);

}  // namespace skgate::admin
