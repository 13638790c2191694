// skgatectl enroll / revoke / list: the local key store.
#include <unistd.h>

#include <algorithm>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

#include "admin/commands.h"
#include "core/args.h"
#include "core/attestation.h"
#include "core/audit.h"
#include "core/authkeys.h"
#include "core/counters.h"
#include "core/json.h"
#include "core/keysource.h"
#include "core/keystore.h"
#include "core/ossl.h"
#include "core/policy.h"
#include "core/revocation.h"
#include "core/text.h"
#include "core/timeutil.h"
#include "core/username.h"

namespace skgate::admin {

namespace {

constexpr size_t kMaxInputFile = 64 * 1024;

int fail(const char* cmd, const std::string& msg) {
    std::fprintf(stderr, "skgatectl: %s: %s\n", cmd, msg.c_str());
    return kExitFailure;
}

int usage(const char* text) {
    std::fputs(text, stderr);
    return kExitUsage;
}

Result<std::string> read_small_file(const std::string& path, const char* what) {
    std::ifstream f(path, std::ios::binary);
    if (!f)
        return make_error(ErrorCode::not_found, "cannot read " + std::string(what) + " " + path);
    std::string data(kMaxInputFile + 1, '\0');
    f.read(data.data(), static_cast<std::streamsize>(data.size()));
    data.resize(static_cast<size_t>(f.gcount()));
    if (data.size() > kMaxInputFile)
        return invalid(std::string(what) + " " + path + " is larger than " +
                       std::to_string(kMaxInputFile) + " bytes");
    return data;
}

// The key to enroll: one line, "TYPE BASE64 [COMMENT]", no options.
Result<AuthorizedKey> read_key(const ArgParser& a) {
    std::string text;
    if (auto k = a.value("--key")) {
        text = *k;
    } else {
        SKGATE_TRY(file, read_small_file(*a.value("--key-file"), "key file"));
        std::istringstream in(file);
        std::string line;
        while (std::getline(in, line)) {
            if (!is_blank_or_comment(line)) {
                text = line;
                break;
            }
        }
        if (text.empty())
            return invalid("no key in " + *a.value("--key-file"));
    }
    SKGATE_TRY(entry, parse_authorized_key(trim(text)));
    if (!entry.options.empty())
        return invalid(
            "the key line has options; give the plain public key (TYPE BASE64 [COMMENT]): "
            "skgate sets sshd's options from policy");
    SKGATE_CHECK(ossl::validate_key(entry.key));
    return entry;
}

Status check_label(const std::string& name) {
    if (name.size() > 64 || has_control_chars(name))
        return invalid("--name must be at most 64 printable characters");
    return {};
}

void audit(const std::string& event, Decision d, const std::string& user, const PublicKey* key,
           const std::string& reason, const std::string& message) {
    AuditEvent e;
    e.event = event;
    e.decision = d;
    e.user = user;
    e.reason = reason;
    e.message = message;
    if (key) {
        e.key_fp = key->fingerprint();
        e.key_type = key->type_name();
    }
    e.source = "local";
    audit_record(e);
}

Result<Policy> load_policy(const ArgParser& a) {
    return Policy::load_or_default(a.value("-f").value_or(kDefaultConfigPath));
}

}  // namespace

int cmd_enroll(const Args& args) {
    constexpr const char* kUsage =
        "usage: skgatectl enroll [-f CONFIG] --user USER (--key 'KEY' | --key-file FILE)\n"
        "                        [--name LABEL] [--expires DATE]\n"
        "                        [--attestation FILE --challenge FILE]\n";
    ArgParser a({"-f", "--user", "--key", "--key-file", "--name", "--expires", "--attestation",
                 "--challenge"},
                {});
    if (auto st = a.parse(args);
        !st || !a.positional().empty() || !a.value("--user") ||
        (a.value("--key").has_value() == a.value("--key-file").has_value()) ||
        (a.value("--attestation").has_value() != a.value("--challenge").has_value())) {
        if (!st)
            std::fprintf(stderr, "skgatectl: enroll: %s\n", st.error().message.c_str());
        return usage(kUsage);
    }
    const std::string user = *a.value("--user");
    if (auto st = validate_username(user); !st)
        return fail("enroll", st.error().message);
    if (geteuid() != 0)
        return fail("enroll", "must be run as root (the key store is root-owned)");
    auto policy = load_policy(a);
    if (!policy)
        return fail("enroll", policy.error().message);
    auto up = policy->for_user({user, [&] { return lookup_user_groups(user); }});
    if (!up)
        return fail("enroll", up.error().message);
    if (auto acct = lookup_account(user); !acct)
        std::fprintf(stderr, "skgatectl: enroll: warning: %s on this system (yet)\n",
                     acct.error().message.c_str());

    auto entry = read_key(a);
    if (!entry)
        return fail("enroll", "invalid key: " + entry.error().message);
    const PublicKey& key = entry->key;
    auto refuse = [&](const std::string& why) {
        audit("enroll", Decision::deny, user, &key, why, "enroll for " + user + " refused: " + why);
        return fail("enroll", why);
    };
    if (key.is_certificate())
        return refuse("certificates cannot be enrolled; enroll the key itself");
    if (!key.is_security_key() && up->require_security_key)
        return refuse("this " + std::string(key.plain_type_name()) +
                      " key is not a FIDO2 security key; make one with `ssh-keygen -t ecdsa-sk` "
                      "or `skgate-agent generate` (or set RequireSecurityKey no for this user)");
    auto revoked = RevocationList::load(policy->global().revoked_keys);
    if (!revoked)
        return fail("enroll", revoked.error().message);
    if (revoked->is_revoked(key))
        return refuse("key " + key.fingerprint() + " is revoked");

    StoredKey stored{
        key, entry->comment, a.value("--name").value_or(""), std::time(nullptr), {}, {}, {}, false};
    if (auto st = check_label(stored.name); !st)
        return fail("enroll", st.error().message);
    if (auto exp = a.value("--expires")) {
        auto t = parse_iso8601(*exp);
        if (!t)
            return fail("enroll", "--expires: " + t.error().message);
        if (*t <= stored.enrolled)
            return fail("enroll", "--expires " + *exp + " is not in the future");
        stored.expires = *t;
    }
    if (auto att_path = a.value("--attestation")) {
        auto file = read_small_file(*att_path, "attestation");
        auto challenge = read_small_file(*a.value("--challenge"), "challenge");
        if (!file)
            return fail("enroll", file.error().message);
        if (!challenge)
            return fail("enroll", challenge.error().message);
        auto att = SkAttestation::parse(as_bytes(*file));
        if (!att)
            return refuse("attestation " + *att_path + ": " + att.error().message);
        auto result =
            verify_attestation(*att, key, as_bytes(*challenge), policy->global().attestation_roots);
        if (!result)
            return refuse("attestation does not verify: " + result.error().message);
        stored.attestation = result->format;
        stored.aaguid = result->aaguid;
        stored.uv = result->user_verified;
    } else if (up->require_attestation) {
        return refuse(
            "RequireAttestation is set: give --attestation FILE --challenge FILE as written by "
            "`ssh-keygen -O write-attestation=FILE -O challenge=FILE`");
    }
    if (!up->allowed_authenticators.empty() &&
        std::find(up->allowed_authenticators.begin(), up->allowed_authenticators.end(),
                  stored.aaguid) == up->allowed_authenticators.end())
        return refuse("authenticator " +
                      (stored.aaguid.empty() ? std::string("(no attestation)") : stored.aaguid) +
                      " is not in AllowedAuthenticators");

    KeyStore store(policy->global().keys_directory);
    if (auto st = store.add(user, stored); !st)
        return refuse(st.error().message);
    std::string what = std::string(key.display_type()) + " " + key.fingerprint() + " for " + user +
                       (stored.name.empty() ? "" : " as \"" + stored.name + "\"") +
                       (stored.attestation.empty() ? ""
                                                   : ", attestation " + stored.attestation +
                                                         " (AAGUID " + stored.aaguid + ")");
    audit("enroll", Decision::allow, user, &key, "enrolled", "enrolled " + what);
    std::printf("enrolled %s\n", what.c_str());
    return kExitOk;
}

int cmd_revoke(const Args& args) {
    constexpr const char* kUsage =
        "usage: skgatectl revoke [-f CONFIG] --user USER (--fingerprint SHA256:... | --key "
        "'KEY')\n";
    ArgParser a({"-f", "--user", "--fingerprint", "--key"}, {});
    if (auto st = a.parse(args);
        !st || !a.positional().empty() || !a.value("--user") ||
        a.value("--fingerprint").has_value() == a.value("--key").has_value()) {
        if (!st)
            std::fprintf(stderr, "skgatectl: revoke: %s\n", st.error().message.c_str());
        return usage(kUsage);
    }
    const std::string user = *a.value("--user");
    if (auto st = validate_username(user); !st)
        return fail("revoke", st.error().message);
    if (geteuid() != 0)
        return fail("revoke", "must be run as root (the key store is root-owned)");
    auto policy = load_policy(a);
    if (!policy)
        return fail("revoke", policy.error().message);

    std::string fp;
    std::optional<PublicKey> key;
    if (auto k = a.value("--key")) {
        auto entry = parse_authorized_key(trim(*k));
        if (!entry)
            return fail("revoke", "invalid key: " + entry.error().message);
        key = entry->key;
        fp = key->fingerprint();
    } else {
        fp = *a.value("--fingerprint");
        if (!RevocationList::is_fingerprint(fp))
            return fail(
                "revoke",
                "\"" + fp + "\" is not a SHA256: fingerprint (as `ssh-keygen -lf` prints it)");
    }
    KeyStore store(policy->global().keys_directory);
    auto removed = store.remove(user, fp);
    if (removed)
        key = removed->key;
    else if (removed.error().code != ErrorCode::not_found)
        return fail("revoke", removed.error().message);

    const std::string& path = policy->global().revoked_keys;
    Status st =
        key ? RevocationList::append(path, *key, user + (removed ? " " + removed->name : ""))
            : RevocationList::append_fingerprint(path, fp);
    if (!st)
        return fail("revoke", st.error().message);
    std::string what =
        fp + " of " + user + (removed ? " (removed from the store)" : " (was not enrolled)");
    audit("revoke", Decision::deny, user, key ? &*key : nullptr, "revoked", "revoked " + what);
    std::printf("revoked %s; it is refused from every source\n", what.c_str());
    return kExitOk;
}

int cmd_list(const Args& args) {
    constexpr const char* kUsage = "usage: skgatectl list [-f CONFIG] [--user USER] [--json]\n";
    ArgParser a({"-f", "--user"}, {"--json"});
    if (auto st = a.parse(args); !st || !a.positional().empty()) {
        if (!st)
            std::fprintf(stderr, "skgatectl: list: %s\n", st.error().message.c_str());
        return usage(kUsage);
    }
    auto policy = load_policy(a);
    if (!policy)
        return fail("list", policy.error().message);
    KeyStore store(policy->global().keys_directory);
    std::vector<std::string> users;
    if (auto u = a.value("--user")) {
        if (auto st = validate_username(*u); !st)
            return fail("list", st.error().message);
        users.push_back(*u);
    } else {
        auto all = store.users();
        if (!all)
            return fail("list", all.error().message);
        users = *all;
    }
    bool json = a.flag("--json");
    JsonWriter w;
    if (json)
        w.begin_array();
    else
        std::printf("%-12s %-12s %-10s %-50s %-20s %-20s %-36s %-20s %s\n", "USER", "NAME", "TYPE",
                    "FINGERPRINT", "ENROLLED", "EXPIRES", "AAGUID", "LAST-USED", "SOURCE");
    int status = kExitOk;
    for (const auto& user : users) {
        auto file = store.load(user);
        if (!file) {
            std::fprintf(stderr, "skgatectl: list: %s\n", file.error().message.c_str());
            status = kExitFailure;
            continue;
        }
        for (const auto& warning : file->warnings)
            std::fprintf(stderr, "skgatectl: list: warning: %s\n", warning.c_str());
        // Recorded by pam_skgate's session phase; unknown without it.
        auto last_use = LastUseStore(policy->global().state_directory).load(user);
        if (!last_use)
            std::fprintf(stderr, "skgatectl: list: warning: last use of %s's keys: %s\n",
                         user.c_str(), last_use.error().message.c_str());
        for (const auto& k : file->keys) {
            std::string expires = k.expires ? format_iso8601(*k.expires) : "-";
            std::optional<std::string> used;
            if (last_use) {
                if (auto it = last_use->find(k.key.fingerprint()); it != last_use->end())
                    used = format_iso8601(static_cast<std::time_t>(it->second));
            }
            if (json) {
                w.begin_object();
                w.key("user").value(user);
                w.key("name").value(k.name);
                w.key("type").value(k.key.type_name());
                w.key("fingerprint").value(k.key.fingerprint());
                w.key("enrolled").value(format_iso8601(k.enrolled));
                if (k.expires)
                    w.key("expires").value(expires);
                else
                    w.key("expires").null();
                w.key("aaguid").value(k.aaguid);
                w.key("attestation").value(k.attestation);
                w.key("user_verification").value(k.uv);
                if (used)
                    w.key("last_used").value(*used);
                else
                    w.key("last_used").null();
                w.key("source").value("local");
                w.key("comment").value(k.comment);
                w.end_object();
            } else {
                std::printf("%-12s %-12s %-10s %-50s %-20s %-20s %-36s %-20s %s\n",
                            printable(user, 12).c_str(),
                            printable(k.name.empty() ? "-" : k.name, 12).c_str(),
                            std::string(k.key.display_type()).c_str(), k.key.fingerprint().c_str(),
                            format_iso8601(k.enrolled).c_str(), expires.c_str(),
                            k.aaguid.empty() ? "-" : k.aaguid.c_str(), used.value_or("-").c_str(),
                            "local");
            }
        }
    }
    if (json) {
        w.end_array();
        std::printf("%s\n", w.str().c_str());
    }
    return status;
}

}  // namespace skgate::admin
