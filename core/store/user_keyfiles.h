// The authorized_keys files sshd would read for a user by itself
// (AuthorizedKeysFile before skgate; sshd's default is
// ".ssh/authorized_keys .ssh/authorized_keys2"). With skgate, sshd reads
// none of them (AuthorizedKeysFile none): skgate-keys reads them instead,
// with the user's filesystem identity while it is still root, and parses
// them only after it has become the skgate account (DESIGN.md, "One decision
// point").
#pragma once

#include <string>
#include <vector>

#include "core/sys/account.h"
#include "core/sys/result.h"

namespace skgate {

struct UserKeyFile {
    std::string path;
    std::string text;
};

struct UserKeyFiles {
    std::vector<UserKeyFile> files;     // the ones that exist and are safe
    std::vector<std::string> warnings;  // unsafe or unreadable files, skipped
};

inline const std::vector<std::string> kDefaultUserKeyFiles = {".ssh/authorized_keys",
                                                              ".ssh/authorized_keys2"};

// A pattern as AuthorizedKeysFile takes it: relative to the home directory
// or absolute, with %h, %u, %U and %% expanded. Other tokens are refused.
Status validate_user_key_file_pattern(const std::string& pattern);
Result<std::string> user_key_file_path(const std::string& pattern, const Account& account);

// Reads each file as sshd's StrictModes accepts it (owned by the user or
// root, nothing above it writable by others, no symlink); a missing file is
// skipped silently, an unsafe one with a warning. Uses the process's own
// identity: skgate-keys wraps it in with_file_identity_of().
UserKeyFiles read_user_key_files(const Account& account, const std::vector<std::string>& patterns);

}  // namespace skgate
