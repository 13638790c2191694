#include "core/sources/inventory.h"

#include <pwd.h>

#include <string_view>

#include "core/sources/keysource.h"
#include "core/store/keystore.h"
#include "core/sys/account.h"
#include "core/sys/username.h"

namespace skgate {

namespace {

void add(SourceCount& c, const std::vector<CandidateKey>& keys) {
    if (keys.empty())
        return;
    c.users++;
    c.keys += keys.size();
    for (const auto& k : keys)
        c.security_keys += k.key.is_security_key() ? 1u : 0u;
}

}  // namespace

bool has_login_shell(const char* shell) {
    std::string_view s = shell ? shell : "";
    if (s.empty())
        return true;  // login(1) uses /bin/sh
    for (std::string_view no : {"/nologin", "/false"})
        if (s.size() >= no.size() && s.substr(s.size() - no.size()) == no)
            return false;
    return true;
}

std::optional<ShortOfKeys> short_of_keys(const Policy& policy, const std::string& user,
                                         size_t local_keys) {
    if (local_keys == 0)
        return std::nullopt;
    auto up = policy.for_user({user, [&] { return lookup_user_groups(user); }});
    if (!up || static_cast<int64_t>(local_keys) >= up->minimum_keys)
        return std::nullopt;
    return ShortOfKeys{user, local_keys, up->minimum_keys};
}

std::string short_of_keys_text(const ShortOfKeys& s) {
    return s.user + " has " + std::to_string(s.keys) + " enrolled key" + (s.keys == 1 ? "" : "s") +
           "; MinimumKeys asks for " + std::to_string(s.minimum) +
           ": enroll a key of a second authenticator (a backup device), so that losing one "
           "does not lock " +
           s.user + " out";
}

KeyInventory count_keys(const Policy& policy) {
    KeyInventory inv;
    KeyStore store(policy.global().keys_directory);
    setpwent();
    while (struct passwd* pw = getpwent()) {
        if (!has_login_shell(pw->pw_shell) || !validate_username(pw->pw_name))
            continue;
        if (auto local = keys_from_store(store, pw->pw_name)) {
            add(inv.local, local->keys);
            if (auto s = short_of_keys(policy, pw->pw_name, local->keys.size()))
                inv.short_of_keys.push_back(std::move(*s));
        } else {
            inv.local.unreadable++;
        }
        Account acct{pw->pw_name, pw->pw_uid, pw->pw_gid, pw->pw_dir ? pw->pw_dir : ""};
        SourceResult ak = keys_from_authorized_keys(acct);
        add(inv.authorized_keys, ak.keys);
        if (ak.keys.empty() && !ak.warnings.empty())
            inv.authorized_keys.unreadable++;
    }
    endpwent();
    return inv;
}

}  // namespace skgate
