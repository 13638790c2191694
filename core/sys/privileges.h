// Who the process is: giving up root for good (skgate-keys, once it has read
// the user's key files), and reading files with a user's filesystem identity
// the way sshd reads AuthorizedKeysFile.
#pragma once

#include <sys/types.h>

#include <functional>

#include "core/sys/account.h"
#include "core/sys/result.h"

namespace skgate {

// Every uid and gid (real, effective, saved) and the group list become the
// account's, for good; checked afterwards (a setuid that silently failed
// would leave root). Needs root.
Status become(const Account& account);

// Runs `fn` with the effective uid, gid and groups of `account`, then puts
// root's back. Only for a root process with one thread; the real and saved
// uid stay root, so the user cannot signal or trace the process meanwhile.
Status with_file_identity_of(const Account& account, const std::function<void()>& fn);

}  // namespace skgate
