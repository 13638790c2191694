#include <cstdio>
#include <string>

#include "admin/commands.h"
#include "core/policy/policy.h"
#include "core/sources/keys_command.h"
#include "core/store/revocation.h"
#include "core/sys/account.h"
#include "core/sys/username.h"

namespace skgate::admin {

namespace {

int usage() {
    std::fputs(kCheckConfigUsage, stderr);
    return kExitUsage;
}

std::string yes_no(bool b) {
    return b ? "yes" : "no";
}

void print_user_policy(const Policy& policy, const UserPolicy& p, const std::string& user) {
    const GlobalPolicy& g = policy.global();
    std::printf("user %s\n", user.c_str());
    std::printf("mode %s\n", std::string(to_string(p.mode)).c_str());
    std::string sources;
    for (auto s : p.key_sources)
        sources += (sources.empty() ? "" : " ") + std::string(to_string(s));
    std::printf("keysources %s\n", sources.c_str());
    std::printf("requiresecuritykey %s\n", yes_no(p.require_security_key).c_str());
    std::printf("touchrequired %s\n", yes_no(p.touch_required).c_str());
    std::printf("verifyrequired %s\n", yes_no(p.verify_required).c_str());
    std::printf("requireattestation %s\n", yes_no(p.require_attestation).c_str());
    std::string aaguids;
    for (const auto& a : p.allowed_authenticators)
        aaguids += (aaguids.empty() ? "" : " ") + a;
    std::printf("allowedauthenticators %s\n", aaguids.empty() ? "any" : aaguids.c_str());
    std::string applications;
    for (const auto& a : p.allowed_applications)
        applications += (applications.empty() ? "" : " ") + a;
    std::printf("allowedapplications %s\n", applications.c_str());
    if (p.key_max_age_seconds)
        std::printf("keymaxage %llds\n", static_cast<long long>(*p.key_max_age_seconds));
    else
        std::printf("keymaxage none\n");
    std::printf("countercheck %s\n", std::string(to_string(p.counter_check)).c_str());
    std::printf("stepuptimeout %llds\n", static_cast<long long>(p.stepup_timeout_seconds));
    std::printf("breakglass %s\n", yes_no(policy.is_break_glass(user)).c_str());
    std::printf("keysdirectory %s\n", g.keys_directory.c_str());
    std::printf("revokedkeys %s\n", g.revoked_keys.c_str());
    if (auto rs = check_revocations(g.revoked_keys))
        std::printf("revokedkeyscount %zu (%zu bytes)\n", rs->listed, rs->list_bytes);
    std::printf("statedirectory %s\n", g.state_directory.c_str());
    std::printf("attestationroots %s\n",
                g.attestation_roots.empty() ? "none" : g.attestation_roots.c_str());
    const RemoteSettings& r = g.remote;
    auto or_none = [](const std::string& v) { return v.empty() ? std::string("none") : v; };
    const std::pair<const char*, std::string> remote[] = {
        {"metadataurl", r.metadata_url},
        {"metadatarootuser", or_none(r.metadata_root_user)},
        {"httpkeysurl", or_none(r.http_keys_url)},
        {"httpcafile", or_none(r.http_ca_file)},
        {"httpbearertokenfile", or_none(r.http_bearer_token_file)},
        {"ldapuri", or_none(r.ldap_uri)},
        {"ldapbasedn", or_none(r.ldap_base_dn)},
        {"ldapfilter", r.ldap_filter},
        {"ldapstarttls", yes_no(r.ldap_starttls)},
        {"ldapcafile", or_none(r.ldap_ca_file)},
        {"ldapbinddn", or_none(r.ldap_bind_dn)},
        {"ldapbindpasswordfile", or_none(r.ldap_bind_password_file)},
        {"sourcetimeout", std::to_string(r.timeout_seconds) + "s"},
        {"sourcecachettl", std::to_string(r.cache_ttl_seconds) + "s"},
        {"sourcecachemaxage", std::to_string(r.cache_max_age_seconds) + "s"},
        {"sourceoutage", std::string(to_string(r.outage))},
    };
    for (const auto& [name, value] : remote)
        std::printf("%s %s\n", name, value.c_str());
}

}  // namespace

int cmd_check_config(const Args& args) {
    std::string path = kDefaultConfigPath;
    std::string user;
    for (size_t i = 0; i < args.size(); i++) {
        if ((args[i] == "-f" || args[i] == "-u") && i + 1 < args.size()) {
            (args[i] == "-f" ? path : user) = args[i + 1];
            i++;
        } else {
            return usage();
        }
    }
    auto policy = Policy::load_or_default(path);
    if (!policy) {
        std::fprintf(stderr, "%s\n", policy.error().message.c_str());
        return kExitFailure;
    }
    // A revocation list nothing can read refuses every login (skgate-keys
    // exits 74, sshd's RevokedKeys refuses every key): say so here first.
    const std::string& revoked = policy->global().revoked_keys;
    auto rs = check_revocations(revoked);
    if (!rs) {
        std::fprintf(stderr, "RevokedKeys %s: %s\n", revoked.c_str(), rs.error().message.c_str());
        return kExitFailure;
    }
    if (rs->index_exists && !rs->index_current) {
        std::fprintf(stderr,
                     "RevokedKeys %s changed since its index %s was written: sshd does not see "
                     "the change; run skgatectl revoke --rebuild-index\n",
                     revoked.c_str(), krl_path_for(revoked).c_str());
        return kExitFailure;
    }
    // The command source: a program that would never run is an error now,
    // not at the next login; a shared KeysCommandUser is worth a warning.
    const KeysCommandSettings& command = policy->global().keys_command;
    if (!command.argv.empty()) {
        if (auto program = check_keys_command_program(command); !program) {
            std::fprintf(stderr, "%s\n", program.error().message.c_str());
            return kExitFailure;
        }
        for (const auto& w : keys_command_warnings(command))
            std::fprintf(stderr, "warning: %s\n", w.c_str());
    }
    if (user.empty())
        return kExitOk;
    if (auto st = validate_username(user); !st) {
        std::fprintf(stderr, "skgatectl: check-config: %s\n", st.error().message.c_str());
        return kExitUsage;
    }
    auto p = policy->for_user({user, [&] { return lookup_user_groups(user); }});
    if (!p) {
        std::fprintf(stderr, "skgatectl: check-config: %s\n", p.error().message.c_str());
        return kExitFailure;
    }
    print_user_policy(*policy, *p, user);
    return kExitOk;
}

}  // namespace skgate::admin
