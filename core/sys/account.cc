#include "core/sys/account.h"

#include <grp.h>
#include <pwd.h>

#include <cstring>

namespace skgate {

Result<Account> lookup_account(const std::string& user) {
    std::vector<char> buf(16384);
    struct passwd pw {};
    struct passwd* found = nullptr;
    int rc = getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc != 0)
        return make_error(ErrorCode::io, "cannot look up user " + user + ": " + std::strerror(rc));
    if (!found)
        return make_error(ErrorCode::not_found, "no such user " + user);
    return Account{pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_dir ? pw.pw_dir : ""};
}

Result<std::vector<gid_t>> account_group_ids(const Account& account) {
    int n = 64;
    std::vector<gid_t> gids;
    while (true) {
        gids.resize(static_cast<size_t>(n));
        int want = n;
        if (getgrouplist(account.name.c_str(), account.gid, gids.data(), &want) >= 0) {
            gids.resize(static_cast<size_t>(want));
            return gids;
        }
        if (want <= n || want > 65536)
            return make_error(ErrorCode::io, "cannot list the groups of " + account.name);
        n = want;
    }
}

Result<std::vector<std::string>> lookup_user_groups(const std::string& user) {
    SKGATE_TRY(account, lookup_account(user));
    SKGATE_TRY(gids, account_group_ids(account));
    std::vector<std::string> names;
    std::vector<char> gbuf(65536);
    for (gid_t gid : gids) {
        struct group gr {};
        struct group* g = nullptr;
        if (getgrgid_r(gid, &gr, gbuf.data(), gbuf.size(), &g) == 0 && g)
            names.emplace_back(g->gr_name);
    }
    return names;
}

}  // namespace skgate
