// Local accounts through NSS: the one place skgate asks who a user is.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/sys/result.h"

namespace skgate {

struct Account {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string home;
};

// ErrorCode::not_found when there is no such user, ErrorCode::io when NSS fails.
Result<Account> lookup_account(const std::string& user);
// The account's primary and supplementary group ids (getgrouplist).
Result<std::vector<gid_t>> account_group_ids(const Account& account);
// The names of the user's primary and supplementary groups.
Result<std::vector<std::string>> lookup_user_groups(const std::string& user);

}  // namespace skgate
