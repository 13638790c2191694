#include "core/sys/privileges.h"

#include <grp.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace skgate {

namespace {

Error identity_error(const std::string& what) {
    return make_error(ErrorCode::internal, what + ": " + std::strerror(errno));
}

}  // namespace

Status become(const Account& account) {
    if (account.uid == 0 || account.gid == 0)
        return make_error(ErrorCode::permission,
                          account.name +
                              " has uid or gid 0: refusing to \"drop\" privileges to "
                              "root's");
    gid_t gid = account.gid;
    if (setgroups(1, &gid) != 0)
        return identity_error("cannot set the groups of " + account.name);
    if (setresgid(gid, gid, gid) != 0)
        return identity_error("cannot become group " + std::to_string(gid));
    if (setresuid(account.uid, account.uid, account.uid) != 0)
        return identity_error("cannot become " + account.name);
    uid_t r = 0, e = 0, s = 0;
    gid_t rg = 0, eg = 0, sg = 0;
    if (getresuid(&r, &e, &s) != 0 || getresgid(&rg, &eg, &sg) != 0 || r != account.uid ||
        e != account.uid || s != account.uid || rg != gid || eg != gid || sg != gid ||
        setuid(0) == 0)
        return make_error(ErrorCode::internal, "privileges were not dropped to " + account.name);
    return {};
}

Status with_file_identity_of(const Account& account, const std::function<void()>& fn) {
    if (geteuid() != 0)
        return make_error(ErrorCode::internal, "only root can read files as another user");
    SKGATE_TRY(groups, account_group_ids(account));
    std::vector<gid_t> saved(static_cast<size_t>(NGROUPS_MAX));
    int nsaved = getgroups(static_cast<int>(saved.size()), saved.data());
    if (nsaved < 0)
        return identity_error("cannot read the process's groups");
    saved.resize(static_cast<size_t>(nsaved));
    const gid_t saved_egid = getegid();
    if (setgroups(groups.size(), groups.data()) != 0)
        return identity_error("cannot take the groups of " + account.name);
    if (setegid(account.gid) != 0 || seteuid(account.uid) != 0) {
        Error e = identity_error("cannot take the identity of " + account.name);
        // Nothing has run as the user yet; put root back, or stop.
        if (seteuid(0) != 0 || setegid(saved_egid) != 0 ||
            setgroups(saved.size(), saved.data()) != 0)
            _exit(70);
        return e;
    }
    // If root cannot be restored the process must not go on half-changed.
    auto restore = [&] {
        if (seteuid(0) != 0 || setegid(saved_egid) != 0 ||
            setgroups(saved.size(), saved.data()) != 0)
            _exit(70);
    };
    try {
        fn();
    } catch (...) {
        restore();
        throw;
    }
    restore();
    return {};
}

}  // namespace skgate
