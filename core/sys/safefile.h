// Reading files that decide who may log in: never through a symlink, only
// regular files owned by the expected user and not writable by others, in
// directories nobody else can rename them out of, and only up to a size.
#pragma once

#include <sys/types.h>

#include <string>

#include "core/sys/result.h"

namespace skgate {

struct FileRules {
    uid_t owner = 0;                 // required owner of the file
    bool root_may_own = true;        // root may own it as well (user files)
    size_t max_bytes = 1024 * 1024;  // larger files are refused
    bool check_directories = true;   // check the parents up to "/" as well
    bool secret = false;             // also not readable by group or others
    bool not_for_others = false;     // not readable by others (group may: 0640)

    // A file of the calling user's that holds secrets (0600).
    static FileRules own_secret(size_t max_bytes);
};

// Reads the whole file. ErrorCode::not_found when it does not exist,
// ErrorCode::permission for unsafe ownership, modes or symlinks.
Result<std::string> read_trusted_file(const std::string& path, const FileRules& rules);

// The ownership and mode checks alone, on an open descriptor's stat data.
Status check_trusted_stat(const std::string& path, uid_t uid, mode_t mode, const FileRules& rules);
// The directories above `path`, up to "/": owned as the rules say and not
// writable by others (a sticky one may be).
Status check_trusted_directories(const std::string& path, const FileRules& rules);

}  // namespace skgate
