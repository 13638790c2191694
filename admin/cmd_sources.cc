// skgatectl sources test: asks every configured remote key source for one
// user's keys, bypassing the cache, and reports what each said.
#include <cstdio>

#include "admin/commands.h"
#include "core/decide/keylookup.h"
#include "core/policy/policy.h"
#include "core/sources/remote_source.h"
#include "core/sources/source_cache.h"
#include "core/sys/args.h"
#include "core/sys/json.h"
#include "core/sys/text.h"
#include "core/sys/username.h"

namespace skgate::admin {

namespace {

int fail(const std::string& msg) {
    std::fprintf(stderr, "skgatectl: sources: %s\n", msg.c_str());
    return kExitFailure;
}

// The user's remote KeySources, and every other source that has settings.
std::vector<KeySource> sources_to_test(const GlobalPolicy& g, const UserPolicy& up) {
    std::vector<KeySource> out;
    auto add = [&](KeySource s) {
        if (std::find(out.begin(), out.end(), s) == out.end())
            out.push_back(s);
    };
    for (KeySource s : up.key_sources) {
        if (is_remote(s))
            add(s);
    }
    if (!g.remote.http_keys_url.empty())
        add(KeySource::http);
    if (!g.remote.ldap_uri.empty())
        add(KeySource::ldap);
    return out;
}

struct Row {
    KeySource source;
    Result<FetchOutcome> outcome;
    std::string cache;  // what the cache holds now
};

std::string cache_state(const SourceCache& cache, KeySource s, const std::string& user,
                        std::time_t now) {
    auto c = cache.load(s, user);
    if (!c)
        return c.error().code == ErrorCode::not_found ? "no cache" : "cache: " + c.error().message;
    return "cache: " + std::to_string(c->keys.size()) + " key(s), " +
           std::to_string(now - c->fetched) + " s old";
}

// What skgate-keys would make of one key of this live answer (decide_key):
// "allowed", or why not. A source outside the user's KeySources gives
// nothing, however good the key.
std::string verdict(const CandidateKey& k, bool in_policy, const UserPolicy& up, bool break_glass,
                    const RevocationList& revoked, std::time_t now) {
    if (!in_policy)
        return "not used: the source is not in this user's KeySources";
    KeyVerdict v = decide_key(k, up, break_glass, revoked, now, nullptr);
    if (v.decision == Decision::allow)
        return "allowed";
    if (v.decision == Decision::would_deny)
        return "would be refused: " + v.reason + " (audit mode: sshd is still given it)";
    return "refused: " + v.reason;
}

}  // namespace

int cmd_sources(const Args& args) {
    if (args.empty() || args[0] != "test") {
        std::fputs(kSourcesUsage, stderr);
        return kExitUsage;
    }
    ArgParser a({"-f", "--user", "--fetch-helper"}, {"--json"});
    if (auto st = a.parse(Args(args.begin() + 1, args.end())); !st || !a.positional().empty()) {
        if (!st)
            std::fprintf(stderr, "skgatectl: sources: %s\n", st.error().message.c_str());
        std::fputs(kSourcesUsage, stderr);
        return kExitUsage;
    }
    const std::string config = a.value("-f").value_or(kDefaultConfigPath);
    const std::string user = a.value("--user").value_or("root");
    if (auto st = validate_username(user); !st)
        return fail(st.error().message);
    auto policy = Policy::load_or_default(config);
    if (!policy)
        return fail(policy.error().message);
    auto up = policy->for_user({user, [&] { return lookup_user_groups(user); }});
    if (!up)
        return fail(up.error().message);
    const auto& g = policy->global();
    std::vector<KeySource> sources = sources_to_test(g, *up);
    bool json = a.flag("--json");
    if (sources.empty() && !json) {
        std::printf(
            "no remote key sources are configured (KeySources for %s: local/"
            "authorized_keys only)\n",
            user.c_str());
        return kExitOk;
    }
    const std::string helper = a.value("--fetch-helper").value_or(find_fetch_helper());
    const int timeout_ms = static_cast<int>(g.remote.timeout_seconds * 1000);
    SourceCache cache(g.state_directory);
    std::time_t now = std::time(nullptr);
    // The verdicts are skgate-keys' own: the same revocations and the same
    // check of each key against this user's policy.
    auto revoked = RevocationList::load(g.revoked_keys);
    if (!revoked)
        return fail(revoked.error().message);
    const bool break_glass = policy->is_break_glass(user);
    std::vector<Row> rows;
    for (KeySource s : sources) {
        rows.push_back({s, fetch_remote(s, user, config, helper, timeout_ms),
                        cache_state(cache, s, user, now)});
    }

    int status = kExitOk;
    JsonWriter w;
    if (json)
        w.begin_array();
    else
        std::printf("user %s, budget %lld s (SourceTimeout), outage: %s, mode %s\nran %s\n",
                    user.c_str(), static_cast<long long>(g.remote.timeout_seconds),
                    std::string(to_string(g.remote.outage)).c_str(),
                    std::string(to_string(up->mode)).c_str(), printable(helper, 200).c_str());
    for (const auto& r : rows) {
        const std::string name(to_string(r.source));
        bool in_policy = std::find(up->key_sources.begin(), up->key_sources.end(), r.source) !=
                         up->key_sources.end();
        if (!r.outcome)
            status = kExitFailure;
        if (json) {
            w.begin_object();
            w.key("source").value(name);
            w.key("in_keysources").value(in_policy);
            w.key("ok").value(r.outcome.ok());
            if (r.outcome) {
                w.key("latency_ms").value(static_cast<uint64_t>(r.outcome->latency_us / 1000));
                w.key("keys").value(static_cast<uint64_t>(r.outcome->keys.size()));
                w.key("verdicts").begin_array();
                for (const auto& k : r.outcome->keys) {
                    w.begin_object();
                    w.key("fingerprint").value(k.key.fingerprint());
                    w.key("type").value(std::string(k.key.type_name()));
                    w.key("verdict").value(verdict(k, in_policy, *up, break_glass, *revoked, now));
                    w.end_object();
                }
                w.end_array();
                w.key("refused").begin_array();
                for (const auto& x : r.outcome->refused)
                    w.value(x);
                w.end_array();
            } else {
                w.key("error").value(r.outcome.error().message);
            }
            w.key("cache").value(r.cache);
            w.end_object();
            continue;
        }
        std::printf("\n%s%s\n", name.c_str(),
                    in_policy ? "" : " (configured, not in this user's KeySources)");
        if (r.outcome) {
            std::printf("  ok: %zu key(s) in %llu ms, %zu refused\n", r.outcome->keys.size(),
                        static_cast<unsigned long long>(r.outcome->latency_us / 1000),
                        r.outcome->refused.size());
            for (const auto& k : r.outcome->keys)
                std::printf("  key %s %s %s\n    %s\n", std::string(k.key.type_name()).c_str(),
                            k.key.fingerprint().c_str(), printable(k.comment, 60).c_str(),
                            verdict(k, in_policy, *up, break_glass, *revoked, now).c_str());
            for (const auto& x : r.outcome->refused)
                std::printf("  refused %s\n", x.c_str());
        } else {
            std::printf("  FAILED: %s\n", r.outcome.error().message.c_str());
        }
        std::printf("  %s\n", r.cache.c_str());
    }
    if (json) {
        w.end_array();
        std::printf("%s\n", w.str().c_str());
    }
    return status;
}

}  // namespace skgate::admin
