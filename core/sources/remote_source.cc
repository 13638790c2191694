#include "core/sources/remote_source.h"

#include <sys/stat.h>
#include <unistd.h>

#include "core/sources/source_cache.h"
#include "core/ssh/authkeys.h"
#include "core/sys/monotonic.h"
#include "core/sys/safefile.h"
#include "core/sys/subprocess.h"
#include "core/sys/text.h"

namespace skgate {

std::string find_fetch_helper() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return SKGATE_FETCH_HELPER_PATH;
    std::string self(buf, static_cast<size_t>(n));
    size_t slash = self.find_last_of('/');
    if (slash == std::string::npos)
        return SKGATE_FETCH_HELPER_PATH;
    // Only a file root alone could have put there: root's, not a symlink,
    // writable by nobody else, in directories nobody else can rename it out
    // of. A copy of skgatectl run from /tmp must not run a user's program.
    std::string beside = self.substr(0, slash) + "/skgate-fetch";
    struct stat st {};
    const FileRules rules;
    if (lstat(beside.c_str(), &st) == 0 &&
        check_trusted_stat(beside, st.st_uid, st.st_mode, rules).ok() &&
        check_trusted_directories(beside, rules).ok())
        return beside;
    return SKGATE_FETCH_HELPER_PATH;
}

namespace {

// What skgate-fetch may print: one cache document, or the reasons it failed.
constexpr size_t kMaxFetchOutput = 1024 * 1024;

CandidateKey to_candidate(const RemoteKey& k, KeySource source) {
    CandidateKey c{.key = k.entry.key,
                   .comment = k.entry.comment,
                   .source = source,
                   .origin = std::string(to_string(source)) + ":" + k.origin};
    // Expiry travels as sshd's own option, so that policy and the printed
    // line treat it like any other expiry-time.
    if (k.expires)
        c.user_options.push_back({"expiry-time", format_expiry_time(*k.expires)});
    return c;
}

std::vector<CandidateKey> to_candidates(const std::vector<RemoteKey>& keys, KeySource source) {
    std::vector<CandidateKey> out;
    for (const auto& k : keys)
        out.push_back(to_candidate(k, source));
    return out;
}

// The helper's stderr, one message per line, bounded for the journal.
std::vector<std::string> lines_of(std::string_view text) {
    std::vector<std::string> out;
    while (!text.empty() && out.size() < 2 * kMaxRemoteKeysPerUser) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        if (!trim(line).empty())
            out.push_back(printable(trim(line), 300));
        if (nl == std::string_view::npos)
            break;
        text.remove_prefix(nl + 1);
    }
    return out;
}

constexpr std::string_view kRefusedPrefix = "refused: ";

struct FetchRun {
    CachedKeys keys;
    std::vector<std::string> refused;
};

Result<FetchRun> run_fetch(KeySource source, const std::string& user,
                           const std::string& config_path, const std::string& helper,
                           int timeout_ms) {
    // The helper gets a little less than the budget so that it can say why
    // it gave up before it is killed.
    int inner_ms = timeout_ms > 200 ? timeout_ms - 100 : timeout_ms;
    std::vector<std::string> argv{helper,
                                  "-f",
                                  config_path,
                                  "--timeout-ms",
                                  std::to_string(inner_ms),
                                  std::string(to_string(source)),
                                  user};
    ProcessLimits limits;
    limits.timeout_ms = timeout_ms;
    limits.max_output = kMaxFetchOutput;
    limits.minimal_environment = true;
    auto out = run_process(argv, limits);
    if (!out) {
        ErrorCode code =
            out.error().code == ErrorCode::not_found ? ErrorCode::internal : ErrorCode::unavailable;
        return make_error(code, out.error().message);
    }
    std::vector<std::string> said = lines_of(out->err);
    FetchRun run;
    std::string reason;
    for (auto& line : said) {
        if (std::string_view(line).substr(0, kRefusedPrefix.size()) == kRefusedPrefix)
            run.refused.push_back(line.substr(kRefusedPrefix.size()));
        else
            reason += (reason.empty() ? "" : "; ") + line;
    }
    if (out->status != kFetchOk) {
        // A bad answer is about this user's entry or document (two LDAP
        // entries, a malformed key list): an outage for this lookup, but no
        // reason to stop asking the source for everyone else.
        // A configuration or credential error (a refused bind or token, an
        // unsafe secret file) is the source refusing: permission.
        ErrorCode code = out->status == kFetchUnavailable ? ErrorCode::unavailable
                         : out->status == kFetchBadAnswer ? ErrorCode::invalid
                         : out->status == kFetchConfig    ? ErrorCode::permission
                                                          : ErrorCode::internal;
        return make_error(
            code, reason.empty() ? "skgate-fetch exited with status " + std::to_string(out->status)
                                 : reason);
    }
    // The helper read the untrusted answer; its output is checked again here
    // as strictly as the cache file it becomes.
    auto parsed = parse_cached_keys(out->out);
    if (!parsed)
        return make_error(ErrorCode::internal,
                          "skgate-fetch printed an unreadable answer: " + parsed.error().message);
    run.keys = std::move(*parsed);
    return run;
}

}  // namespace

std::string_view to_string(SourceState s) {
    switch (s) {
        case SourceState::fresh:
            return "fresh";
        case SourceState::fetched:
            return "fetched";
        case SourceState::cached:
            return "cached";
        case SourceState::denied:
            return "denied";
    }
    return "";
}

std::string SourceStatus::describe() const {
    std::string out = std::string(to_string(source)) + ": ";
    switch (state) {
        case SourceState::fresh:
            out += std::to_string(keys) + " key(s) from the cache (age " +
                   std::to_string(cache_age.value_or(0)) + " s)";
            break;
        case SourceState::fetched:
            out += std::to_string(keys) +
                   (source == KeySource::command ? " key(s) from KeysCommand in "
                                                 : " key(s) fetched in ") +
                   std::to_string(latency_us / 1000) + " ms";
            break;
        case SourceState::cached:
            out += "outage, served " + std::to_string(keys) + " cached key(s) (age " +
                   std::to_string(cache_age.value_or(0)) + " s)";
            break;
        case SourceState::denied:
            out += source == KeySource::command ? "no keys from it"
                   : refused                    ? "refused, no keys from it"
                                                : "outage, no keys from it";
            break;
    }
    if (!error.empty())
        out += " [" + error + "]";
    return out;
}

Result<FetchOutcome> fetch_remote(KeySource source, const std::string& user,
                                  const std::string& config_path, const std::string& helper,
                                  int timeout_ms) {
    uint64_t start = monotonic_us();
    SKGATE_TRY(run, run_fetch(source, user, config_path, helper, timeout_ms));
    return FetchOutcome{to_candidates(run.keys.keys, source), std::move(run.refused),
                        monotonic_us() - start};
}

RemoteSourceResult keys_from_remote(const Policy& policy, KeySource source, const std::string& user,
                                    const RemoteAccess& access) {
    const RemoteSettings& settings = policy.global().remote;
    SourceCache cache(policy.global().state_directory);
    RemoteSourceResult out;
    out.status.source = source;
    const std::string name(to_string(source));

    std::optional<CachedKeys> cached;
    if (auto c = cache.load(source, user)) {
        cached = std::move(*c);
    } else if (c.error().code != ErrorCode::not_found) {
        out.keys.warnings.push_back(name + ": cache not used: " + c.error().message);
    }
    // A cache from the future (a clock step) is as good as no cache.
    std::optional<int64_t> age;
    if (cached && cached->fetched <= access.now)
        age = access.now - cached->fetched;

    auto serve_cache = [&](SourceState state) {
        out.status.state = state;
        out.status.cache_age = age;
        out.status.keys = cached->keys.size();
        out.keys.keys = to_candidates(cached->keys, source);
    };
    if (age && *age < settings.cache_ttl_seconds) {
        serve_cache(SourceState::fresh);
        return out;
    }

    std::string why;
    bool refused_by_source = false;
    if (!access.may_fetch) {
        why = "cache older than SourceCacheTTL; pam_skgate uses the cache skgate-keys keeps";
    } else if (auto down = cache.recently_unreachable(source, access.now)) {
        why = "failed less than " + std::to_string(kSourceRetryAfterSeconds) +
              " s ago, not asked again (" + *down + ")";
    } else {
        uint64_t now_us = monotonic_us();
        int left_ms = access.deadline_us > now_us
                          ? static_cast<int>((access.deadline_us - now_us) / 1000)
                          : 0;
        if (left_ms < 50) {
            why = "the lookup's time budget (SourceTimeout) is spent";
        } else {
            uint64_t start = monotonic_us();
            auto run = run_fetch(source, user, access.config_path, access.fetch_helper, left_ms);
            out.status.latency_us = monotonic_us() - start;
            if (run) {
                for (const auto& r : run->refused)
                    out.keys.warnings.push_back(name + ": refused " + r);
                run->keys.fetched = access.now;
                if (auto st = cache.store(source, user, run->keys); !st)
                    out.keys.warnings.push_back(name +
                                                ": answer not cached: " + st.error().message);
                if (auto st = cache.clear_unreachable(source); !st)
                    out.keys.warnings.push_back(name + ": " + st.error().message);
                out.status.state = SourceState::fetched;
                out.status.keys = run->keys.keys.size();
                out.keys.keys = to_candidates(run->keys.keys, source);
                return out;
            }
            why = run.error().message;
            refused_by_source = run.error().code == ErrorCode::permission;
            // Only a source that could not be asked holds the next lookups
            // back; a configuration mistake is reported every time.
            if (run.error().code == ErrorCode::unavailable) {
                if (auto st = cache.note_unreachable(source, why, access.now); !st)
                    out.keys.warnings.push_back(name + ": " + st.error().message);
            }
        }
    }

    out.status.error = why;
    // Refused credentials or settings are no outage: the cache would keep
    // serving keys for SourceCacheMaxAge after the directory said no.
    bool refused = access.may_fetch && refused_by_source;
    bool cache_allowed = !refused && (settings.outage == SourceOutage::cached || !access.may_fetch);
    if (cache_allowed && age && *age <= settings.cache_max_age_seconds) {
        serve_cache(SourceState::cached);
    } else {
        out.status.state = SourceState::denied;
        out.status.refused = refused;
        out.status.cache_age = age;
        std::string detail = refused          ? "a credential or configuration error is a refusal, "
                                                "not an outage: cached keys are not served"
                             : !cache_allowed ? "SourceOutage deny"
                             : !cached        ? "no cached answer"
                             : !age           ? "cached answer is dated in the future"
                                              : "cached answer is older than SourceCacheMaxAge (" +
                                          std::to_string(*age) + " s)";
        out.status.error += "; " + detail;
    }
    // A stale cache is the normal case for pam_skgate, not news.
    if (access.may_fetch || out.status.state == SourceState::denied)
        out.keys.warnings.push_back(out.status.describe());
    return out;
}

}  // namespace skgate
