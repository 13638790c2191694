// skgatectl enroll / revoke / list: the local key store.
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

#include "admin/commands.h"
#include "admin/key_input.h"
#include "core/audit/audit.h"
#include "core/decide/enrollment.h"
#include "core/decide/keylookup.h"
#include "core/fido/attestation.h"
#include "core/policy/policy.h"
#include "core/sources/inventory.h"
#include "core/sources/keysource.h"
#include "core/sources/source_cache.h"
#include "core/ssh/authkeys.h"
#include "core/ssh/ossl.h"
#include "core/store/counters.h"
#include "core/store/keystore.h"
#include "core/store/revocation.h"
#include "core/sys/args.h"
#include "core/sys/json.h"
#include "core/sys/text.h"
#include "core/sys/timeutil.h"
#include "core/sys/username.h"

namespace skgate::admin {

namespace {

// Less than this left where pam_skgate writes counters and last use, and a
// write may fail (each record is a small file written whole, then renamed).
constexpr unsigned long long kMinStateFreeBytes = 64 * 1024;

int fail(const char* cmd, const std::string& msg) {
    std::fprintf(stderr, "skgatectl: %s: %s\n", cmd, msg.c_str());
    return kExitFailure;
}

// pam_skgate cannot record a last use on a full file system; say so once,
// before the column that would then be stale.
void warn_if_state_directory_full(const std::string& dir) {
    static bool warned = false;
    struct statvfs fs {};
    if (warned || statvfs(dir.c_str(), &fs) != 0)
        return;
    const unsigned long long free_bytes =
        static_cast<unsigned long long>(fs.f_bavail) * static_cast<unsigned long long>(fs.f_frsize);
    if (free_bytes >= kMinStateFreeBytes && (fs.f_files == 0 || fs.f_favail > 0))
        return;
    warned = true;
    std::fprintf(stderr,
                 "skgatectl: list: warning: StateDirectory %s is full (%llu bytes free): "
                 "pam_skgate cannot record logins there, so LAST USE may be older than the "
                 "last login (the session-open events say \"last use not recorded\")\n",
                 printable(dir).c_str(), free_bytes);
}

int usage(const char* text) {
    std::fputs(text, stderr);
    return kExitUsage;
}

// `fingerprint` names the key when only its fingerprint is known (a revoke
// by fingerprint of a key never enrolled).
void audit(const std::string& event, Decision d, const std::string& user, const PublicKey* key,
           const std::string& reason, const std::string& message,
           const std::string& fingerprint = "") {
    AuditEvent e;
    e.event = event;
    e.decision = d;
    e.user = user;
    e.reason = reason;
    e.message = message;
    if (key) {
        e.key_fp = key->fingerprint();
        e.key_type = key->type_name();
    } else {
        e.key_fp = fingerprint;
    }
    e.source = "local";
    audit_record(e);
}

Result<Policy> load_policy(const ArgParser& a) {
    return Policy::load_or_default(a.value("-f").value_or(kDefaultConfigPath));
}

}  // namespace

int cmd_enroll(const Args& args) {
    ArgParser a({"-f", "--user", "--key", "--key-file", "--name", "--expires", "--attestation",
                 "--challenge", "--source"},
                {"--dry-run"});
    if (auto st = a.parse(args);
        !st || !a.positional().empty() || !a.value("--user") ||
        (a.value("--key").has_value() == a.value("--key-file").has_value()) ||
        (a.value("--attestation").has_value() != a.value("--challenge").has_value())) {
        if (!st)
            std::fprintf(stderr, "skgatectl: enroll: %s\n", st.error().message.c_str());
        return usage(kEnrollUsage);
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
    // A remote source's keys are managed where they live: a copy here would
    // outlive its removal there.
    if (auto src = a.value("--source"); src && *src != "local")
        return fail("enroll", "keys of the \"" + printable(*src) +
                                  "\" source are added and removed at the source itself (the "
                                  "cloud account, the key service or the directory); skgatectl "
                                  "enrolls only into the local store");
    if (std::find(up->key_sources.begin(), up->key_sources.end(), KeySource::local) ==
        up->key_sources.end())
        std::fprintf(stderr,
                     "skgatectl: enroll: warning: KeySources for %s does not include local; "
                     "this key is not used until it does\n",
                     user.c_str());

    EnrollRequest req;
    req.user = user;
    req.name = a.value("--name").value_or("");
    req.expires = a.value("--expires");
    req.now = std::time(nullptr);
    req.dry_run = a.flag("--dry-run");
    auto line = read_key_line(a);
    if (!line)
        return fail("enroll", line.error().message);
    req.key_line = *line;
    if (auto att_path = a.value("--attestation")) {
        auto file = read_small_file(*att_path, "attestation");
        auto challenge = read_small_file(*a.value("--challenge"), "challenge");
        if (!file)
            return fail("enroll", file.error().message);
        if (!challenge)
            return fail("enroll", challenge.error().message);
        req.attestation = *file;
        req.attestation_name = *att_path;
        req.challenge = *challenge;
    }
    auto stored = enroll_key(*policy, *up, req);
    if (!stored) {
        if (stored.error().code != ErrorCode::permission)
            return fail("enroll", stored.error().message);
        // The key parsed (only policy refuses a key that does): name it.
        auto entry = parse_authorized_key(trim(req.key_line));
        const std::string& why = stored.error().message;
        audit("enroll", Decision::deny, user, entry ? &entry->key : nullptr, why,
              "enroll for " + user + " refused: " + why);
        return fail("enroll", why);
    }
    const StoredKey& entry = stored->stored;
    const PublicKey& key = entry.key;
    std::string what =
        std::string(key.display_type()) + " " + key.fingerprint() + " for " + user +
        (entry.name.empty() ? "" : " as \"" + entry.name + "\"") +
        (entry.attestation.empty()
             ? ""
             : ", attestation " + entry.attestation +
                   (entry.aaguid.empty() ? std::string() : " (AAGUID " + entry.aaguid + ")"));
    if (stored->unchanged) {
        std::printf("unchanged: %s is enrolled already\n", what.c_str());
        return kExitOk;
    }
    if (req.dry_run) {
        std::printf("would enroll %s (--dry-run: nothing written)\n", what.c_str());
        return kExitOk;
    }
    audit("enroll", Decision::allow, user, &key, "enrolled", "enrolled " + what);
    std::printf("enrolled %s\n", what.c_str());
    if (auto file = KeyStore(policy->global().keys_directory).load(user))
        if (auto s = short_of_keys(*policy, user, file->keys.size()))
            std::printf("note: %s\n", short_of_keys_text(*s).c_str());
    return kExitOk;
}

int cmd_revoke(const Args& args) {
    ArgParser a({"-f", "--user", "--fingerprint", "--key", "--key-file"}, {"--rebuild-index"});
    auto st = a.parse(args);
    int given = a.value("--fingerprint").has_value() + a.value("--key").has_value() +
                a.value("--key-file").has_value();
    bool rebuild = st && a.flag("--rebuild-index");
    if (!st || !a.positional().empty() ||
        (rebuild ? given != 0 || a.value("--user").has_value()
                 : given != 1 || !a.value("--user").has_value())) {
        if (!st)
            std::fprintf(stderr, "skgatectl: revoke: %s\n", st.error().message.c_str());
        return usage(kRevokeUsage);
    }
    if (geteuid() != 0)
        return fail("revoke", "must be run as root (the key store is root-owned)");
    auto policy = load_policy(a);
    if (!policy)
        return fail("revoke", policy.error().message);
    if (rebuild) {
        const std::string& path = policy->global().revoked_keys;
        if (auto r = RevocationList::rebuild_index(path); !r)
            return fail("revoke", r.error().message);
        auto list = RevocationList::load(path);
        if (!list)
            return fail("revoke", list.error().message);
        std::printf("wrote %s: %zu revoked keys from %s\n", krl_path_for(path).c_str(),
                    list->size(), path.c_str());
        return kExitOk;
    }
    const std::string user = *a.value("--user");
    if (auto uv = validate_username(user); !uv)
        return fail("revoke", uv.error().message);

    std::string fp;
    std::optional<PublicKey> key;
    if (a.value("--key") || a.value("--key-file")) {
        auto line = read_key_line(a);
        auto entry = line ? parse_plain_key_line(*line) : Result<AuthorizedKey>(line.error());
        if (!entry)
            return fail("revoke", entry.error().message);
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
    Status appended =
        key ? RevocationList::append(path, *key, user + (removed ? " " + removed->name : ""))
            : RevocationList::append_fingerprint(path, fp);
    if (!appended)
        return fail("revoke", appended.error().message);
    std::string what =
        fp + " of " + user + (removed ? " (removed from the store)" : " (was not enrolled)");
    audit("revoke", Decision::deny, user, key ? &*key : nullptr, "revoked", "revoked " + what, fp);
    std::printf("revoked %s; it is refused from every source\n", what.c_str());
    return kExitOk;
}

namespace {

// One row of `list`: a key in the local store or in a remote source's cache.
struct ListRow {
    std::string user, name, type, display_type, fingerprint, enrolled, expires;
    std::string aaguid, attestation, last_used, source, comment;
    bool uv = false;
};

void print_row(const ListRow& r, JsonWriter* w) {
    auto opt = [&](const char* k, const std::string& v) {
        if (v.empty() || v == "-")
            w->key(k).null();
        else
            w->key(k).value(v);
    };
    if (w) {
        w->begin_object();
        w->key("user").value(r.user);
        w->key("name").value(r.name);
        w->key("type").value(r.type);
        w->key("fingerprint").value(r.fingerprint);
        opt("enrolled", r.enrolled);
        opt("expires", r.expires);
        w->key("aaguid").value(r.aaguid);
        w->key("attestation").value(r.attestation);
        w->key("user_verification").value(r.uv);
        opt("last_used", r.last_used);
        w->key("source").value(r.source);
        w->key("comment").value(r.comment);
        w->end_object();
        return;
    }
    std::printf("%-12s %-12s %-10s %-50s %-20s %-20s %-36s %-20s %s\n",
                printable(r.user, 12).c_str(), printable(r.name.empty() ? "-" : r.name, 12).c_str(),
                r.display_type.c_str(), r.fingerprint.c_str(), r.enrolled.c_str(),
                r.expires.c_str(), r.aaguid.empty() ? "-" : r.aaguid.c_str(), r.last_used.c_str(),
                r.source.c_str());
}

// Keys the remote sources gave at their last answer, from the cache (no
// network): "http (cached 2026-11-22T10:00:00Z)".
void remote_rows(const Policy& policy, const std::string& user, std::time_t now,
                 std::vector<ListRow>& rows) {
    SourceCache cache(policy.global().state_directory);
    for (KeySource s : {KeySource::metadata, KeySource::http, KeySource::ldap}) {
        auto c = cache.load(s, user);
        if (!c) {
            if (c.error().code != ErrorCode::not_found)
                std::fprintf(stderr, "skgatectl: list: warning: %s\n", c.error().message.c_str());
            continue;
        }
        std::string source = std::string(to_string(s)) + " (cached " + format_iso8601(c->fetched) +
                             ", " + std::to_string(now - c->fetched) + " s ago)";
        for (const auto& k : c->keys) {
            rows.push_back({.user = user,
                            .name = "-",
                            .type = k.entry.key.type_name(),
                            .display_type = std::string(k.entry.key.display_type()),
                            .fingerprint = k.entry.key.fingerprint(),
                            .enrolled = "-",
                            .expires = k.expires ? format_iso8601(*k.expires) : "-",
                            .last_used = "-",
                            .source = source,
                            .comment = k.entry.comment});
        }
    }
}

}  // namespace

int cmd_list(const Args& args) {
    ArgParser a({"-f", "--user"}, {"--json"});
    if (auto st = a.parse(args); !st || !a.positional().empty()) {
        if (!st)
            std::fprintf(stderr, "skgatectl: list: %s\n", st.error().message.c_str());
        return usage(kListUsage);
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
        for (const auto& cached : SourceCache(policy->global().state_directory).users()) {
            if (std::find(users.begin(), users.end(), cached) == users.end())
                users.push_back(cached);
        }
    }
    bool json = a.flag("--json");
    JsonWriter w;
    if (json)
        w.begin_array();
    else
        std::printf("%-12s %-12s %-10s %-50s %-20s %-20s %-36s %-20s %s\n", "USER", "NAME", "TYPE",
                    "FINGERPRINT", "ENROLLED", "EXPIRES", "AAGUID", "LAST-USED", "SOURCE");
    int status = kExitOk;
    std::time_t now = std::time(nullptr);
    for (const auto& user : users) {
        std::vector<ListRow> rows;
        auto file = store.load(user);
        if (!file && file.error().code != ErrorCode::not_found) {
            std::fprintf(stderr, "skgatectl: list: %s\n", file.error().message.c_str());
            status = kExitFailure;
        }
        if (file) {
            for (const auto& warning : file->warnings)
                std::fprintf(stderr, "skgatectl: list: warning: %s\n", warning.c_str());
            // Recorded by pam_skgate's session phase; unknown without it.
            warn_if_state_directory_full(policy->global().state_directory);
            auto last_use = LastUseStore(policy->global().state_directory).load(user);
            if (!last_use)
                std::fprintf(stderr, "skgatectl: list: warning: last use of %s's keys: %s\n",
                             user.c_str(), last_use.error().message.c_str());
            for (const auto& k : file->keys) {
                std::string used = "-";
                if (last_use) {
                    if (auto it = last_use->find(k.key.fingerprint()); it != last_use->end())
                        used = format_iso8601(static_cast<std::time_t>(it->second));
                }
                rows.push_back({.user = user,
                                .name = k.name,
                                .type = k.key.type_name(),
                                .display_type = std::string(k.key.display_type()),
                                .fingerprint = k.key.fingerprint(),
                                .enrolled = format_iso8601(k.enrolled),
                                .expires = k.expires ? format_iso8601(*k.expires) : "-",
                                .aaguid = k.aaguid,
                                .attestation = k.attestation,
                                .last_used = used,
                                .source = "local",
                                .comment = k.comment,
                                .uv = k.uv});
            }
        }
        if (file)
            if (auto s = short_of_keys(*policy, user, file->keys.size()))
                std::fprintf(stderr, "skgatectl: list: warning: %s\n",
                             short_of_keys_text(*s).c_str());
        remote_rows(*policy, user, now, rows);
        for (const auto& r : rows)
            print_row(r, json ? &w : nullptr);
    }
    if (json) {
        w.end_array();
        std::printf("%s\n", w.str().c_str());
    }
    return status;
}

}  // namespace skgate::admin
