// skgatectl explain: what skgate-keys decides about one key for one user,
// and every line of skgate.conf that took part (core/decide/explain.h).
#include <cstdio>
#include <ctime>

#include "admin/commands.h"
#include "admin/key_input.h"
#include "core/decide/enrollment.h"
#include "core/decide/explain.h"
#include "core/store/revocation.h"
#include "core/sys/args.h"
#include "core/sys/json.h"
#include "core/sys/text.h"
#include "core/sys/username.h"

namespace skgate::admin {

namespace {

constexpr int kExitNotAllowed = 1;
constexpr int kExitError = 3;

int fail(const std::string& msg) {
    std::fprintf(stderr, "skgatectl: explain: %s\n", msg.c_str());
    return kExitError;
}

std::string decision_name(const std::optional<Decision>& d) {
    return d ? std::string(to_string(*d)) : "not-found";
}

std::string source_name(const CandidateKey& c) {
    std::string s(to_string(c.source));
    if (c.outside_key_sources)
        s += " (read because sshd would have: not in KeySources)";
    return s;
}

void put_rules(JsonWriter& w, const std::vector<PolicyRule>& rules) {
    w.begin_array();
    for (const auto& r : rules) {
        w.begin_object();
        w.key("keyword").value(r.keyword);
        w.key("value").value(r.value);
        w.key("where").value(r.where);
        w.key("block").value(r.block);
        w.end_object();
    }
    w.end_array();
}

void print_json(const Explanation& e) {
    JsonWriter w;
    w.begin_object();
    w.key("user").value(e.user);
    w.key("fingerprint").value(e.fingerprint);
    w.key("type").value(e.key_type);
    w.key("mode").value(std::string(to_string(e.lookup.mode)));
    w.key("decision").value(decision_name(e.decision()));
    w.key("break_glass").value(e.break_glass);
    w.key("revoked_keys").value(e.revoked_keys);
    w.key("verdicts").begin_array();
    for (const auto& v : e.lookup.verdicts) {
        w.begin_object();
        w.key("source").value(std::string(to_string(v.candidate.source)));
        w.key("in_keysources").value(!v.candidate.outside_key_sources);
        w.key("origin").value(v.candidate.origin);
        w.key("decision").value(std::string(to_string(v.decision)));
        w.key("reason").value(v.reason);
        w.key("line");
        if (v.line.empty())
            w.null();
        else
            w.value(v.line);
        w.end_object();
    }
    w.end_array();
    w.key("key_sources").begin_array();
    for (KeySource s : e.policy.key_sources)
        w.value(std::string(to_string(s)));
    w.end_array();
    w.key("rules");
    put_rules(w, e.policy.rules);
    w.key("global_rules");
    put_rules(w, e.global_rules);
    w.key("warnings").begin_array();
    for (const auto& x : e.lookup.warnings)
        w.value(x);
    w.end_array();
    w.end_object();
    std::printf("%s\n", w.str().c_str());
}

void print_text(const Explanation& e, const std::string& config) {
    std::printf("user %s, key %s%s%s\n", e.user.c_str(), e.key_type.c_str(),
                e.key_type.empty() ? "" : " ", e.fingerprint.c_str());
    auto d = e.decision();
    if (e.no_such_user) {
        std::printf("decision: no such user: sshd is given no keys for %s\n", e.user.c_str());
    } else if (!d) {
        std::string sources;
        for (KeySource s : e.policy.key_sources)
            sources += (sources.empty() ? "" : ", ") + std::string(to_string(s));
        std::printf(
            "decision: not found: none of %s's key sources (%s) holds this key, so sshd is not "
            "given it%s\n",
            e.user.c_str(), sources.c_str(),
            e.lookup.no_keys_reason.empty() ? "" : (" (" + e.lookup.no_keys_reason + ")").c_str());
    } else if (*d == Decision::allow) {
        std::printf("decision: allowed: sshd is given it with the options below\n");
    } else if (*d == Decision::would_deny) {
        std::printf(
            "decision: would be refused in enforce mode; audit mode gives it to sshd, which "
            "accepts it\n");
    } else {
        std::printf("decision: refused: sshd is not given it\n");
    }
    for (const auto& v : e.lookup.verdicts) {
        std::printf("\nfrom %s, %s\n  %s%s%s\n", source_name(v.candidate).c_str(),
                    v.candidate.origin.empty() ? "(no file)" : v.candidate.origin.c_str(),
                    std::string(to_string(v.decision)).c_str(), v.reason.empty() ? "" : ": ",
                    v.reason.c_str());
        if (!v.line.empty())
            std::printf("  sshd is told: %s\n", printable(v.line, 400).c_str());
    }
    for (const auto& x : e.lookup.warnings)
        std::printf("\nwarning: %s\n", x.c_str());
    std::printf("\nrules of %s that applied to %s (every other keyword has its default):\n",
                config.c_str(), e.user.c_str());
    if (e.policy.rules.empty() && e.global_rules.empty())
        std::printf("  none: every keyword has its default (skgate.conf(5))\n");
    for (const auto* rules : {&e.global_rules, &e.policy.rules})
        for (const auto& r : *rules)
            std::printf("  %s: %s %s%s%s\n", r.where.c_str(), r.keyword.c_str(), r.value.c_str(),
                        r.block.empty() ? "" : "  (in ",
                        r.block.empty() ? "" : (r.block + ")").c_str());
    std::printf("  mode %s%s; revocations from %s%s\n",
                std::string(to_string(e.lookup.mode)).c_str(),
                e.break_glass ? ", a break-glass user" : "", e.revoked_keys.c_str(),
                " (remote sources: their cache only)");
    std::printf("\nWhat skgate-keys logged for %s's logins: skgatectl audit --user %s\n",
                e.user.c_str(), e.user.c_str());
}

}  // namespace

int cmd_explain(const Args& args) {
    ArgParser a({"-f", "--user", "--key", "--key-file", "--fingerprint"}, {"--json"});
    auto st = a.parse(args);
    int given = a.value("--fingerprint").has_value() + a.value("--key").has_value() +
                a.value("--key-file").has_value();
    if (!st || !a.positional().empty() || given != 1 || !a.value("--user")) {
        if (!st)
            std::fprintf(stderr, "skgatectl: explain: %s\n", st.error().message.c_str());
        std::fputs(kExplainUsage, stderr);
        return kExitUsage;
    }
    const std::string user = *a.value("--user");
    if (auto uv = validate_username(user); !uv) {
        std::fprintf(stderr, "skgatectl: explain: %s\n", uv.error().message.c_str());
        return kExitUsage;
    }
    LookupRequest req{user, std::nullopt, std::time(nullptr)};
    std::string fingerprint;
    if (auto fp = a.value("--fingerprint")) {
        if (!RevocationList::is_fingerprint(*fp)) {
            std::fprintf(stderr,
                         "skgatectl: explain: \"%s\" is not a SHA256: fingerprint (as "
                         "`ssh-keygen -lf` prints it)\n",
                         printable(*fp, 80).c_str());
            return kExitUsage;
        }
        fingerprint = *fp;
    } else {
        auto line = read_key_line(a);
        auto entry = line ? parse_plain_key_line(*line) : Result<AuthorizedKey>(line.error());
        if (!entry)
            return fail(entry.error().message);
        req.offered = entry->key;
    }
    const std::string config = a.value("-f").value_or(kDefaultConfigPath);
    auto policy = Policy::load_or_default(config);
    if (!policy)
        return fail(policy.error().message);
    // As root, no network client is started for it: the remote sources
    // answer from their cache (skgatectl sources test asks them).
    req.remote.may_fetch = false;
    req.remote.config_path = config;
    auto e = explain_key(*policy, std::move(req), fingerprint);
    if (!e)
        return fail(e.error().message);
    if (a.flag("--json"))
        print_json(*e);
    else
        print_text(*e, config);
    return e->decision() == Decision::allow ? kExitOk : kExitNotAllowed;
}

}  // namespace skgate::admin
