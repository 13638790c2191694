#include "core/sources/keys_command.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "core/sources/source_cache.h"
#include "core/ssh/authkeys.h"
#include "core/sys/base64.h"
#include "core/sys/monotonic.h"
#include "core/sys/percent_tokens.h"
#include "core/sys/safefile.h"
#include "core/sys/subprocess.h"
#include "core/sys/text.h"

namespace skgate {

namespace {

// Below this there is no point starting a program: it would be killed
// before it could answer, and the other sources need the time.
constexpr uint64_t kMinRunMs = 50;
// Refused lines reported one by one; then only how many more (as for the
// user's own files): one lookup must not flood the journal.
constexpr size_t kMaxRefusalsReported = 20;

// The program as sshd would accept its AuthorizedKeysCommand: the real file
// (symbolic links resolved), root's, writable by nobody else, in directories
// nobody else can write to. It is then run by that resolved path.
Result<std::string> trusted_program(const std::string& path) {
    char real[PATH_MAX];
    if (!realpath(path.c_str(), real))
        return make_error(errno == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                          "KeysCommand " + path + ": " + std::strerror(errno));
    std::string resolved(real);
    struct stat st {};
    if (lstat(resolved.c_str(), &st) != 0)
        return make_error(ErrorCode::io, "KeysCommand " + resolved + ": " + std::strerror(errno));
    const FileRules rules;
    if (auto s = check_trusted_stat(resolved, st.st_uid, st.st_mode, rules); !s)
        return s.error().context("KeysCommand");
    if (auto s = check_trusted_directories(resolved, rules); !s)
        return s.error().context("KeysCommand");
    return resolved;
}

// Why it failed, for the journal: its status and the start of what it said.
std::string failure_of(const std::string& program, const ProcessOutput& out) {
    std::string said(trim(out.err));
    if (size_t nl = said.find('\n'); nl != std::string::npos)
        said.resize(nl);
    return "KeysCommand " + program + " exited with status " + std::to_string(out.status) +
           (said.empty() ? "" : ": " + printable(said, 300));
}

CandidateKey to_candidate(const RemoteKey& k) {
    CandidateKey c{.key = k.entry.key,
                   .comment = k.entry.comment,
                   .source = KeySource::command,
                   .origin = "command:" + k.origin,
                   .stored = std::nullopt,
                   .user_options = k.entry.options};
    bool has_expiry = std::any_of(c.user_options.begin(), c.user_options.end(),
                                  [](const KeyOption& o) { return o.name == "expiry-time"; });
    if (k.expires && !has_expiry)
        c.user_options.push_back({"expiry-time", format_expiry_time(*k.expires)});
    return c;
}

}  // namespace

Result<std::string> check_keys_command_program(const KeysCommandSettings& settings) {
    if (settings.argv.empty())
        return make_error(ErrorCode::not_found, "KeysCommand is not set");
    return trusted_program(settings.argv[0]);
}

std::vector<std::string> keys_command_warnings(const KeysCommandSettings& settings) {
    std::vector<std::string> out;
    if (settings.argv.empty())
        return out;
    const std::string& user = settings.user;
    if (user == "root") {
        out.push_back(
            "KeysCommandUser root: KeysCommand runs with every privilege; keep that for "
            "programs that need it");
        return out;
    }
    auto account = lookup_account(user);
    if (!account) {
        out.push_back("KeysCommandUser " + user + ": " + account.error().message +
                      "; the command source gives no keys until it exists");
        return out;
    }
    if (user == "nobody" || account->uid == 65534 || user == "skgate")
        out.push_back("KeysCommandUser " + user +
                      " is shared with other programs: a process running as it could trace "
                      "KeysCommand and change its answer; give the command an account of its "
                      "own (useradd --system --shell /usr/sbin/nologin NAME), as sshd_config(5) "
                      "advises for AuthorizedKeysCommandUser");
    char scope = '0';
    if (FILE* f = std::fopen("/proc/sys/kernel/yama/ptrace_scope", "r")) {
        int c = std::fgetc(f);
        scope = c == EOF ? '0' : static_cast<char>(c);
        std::fclose(f);
    }
    if (scope == '0')
        out.push_back(
            "kernel.yama.ptrace_scope is 0 or Yama is absent: any process of "
            "KeysCommandUser " +
            user + " can trace KeysCommand; keep that account to the command alone");
    return out;
}

OfferedKeyTokens OfferedKeyTokens::of(const PublicKey& key) {
    return {key.type_name(), base64_encode(key.blob()), key.fingerprint()};
}

Result<std::vector<std::string>> keys_command_argv(const KeysCommandSettings& settings,
                                                   const std::string& user, const Account* account,
                                                   const OfferedKeyTokens& offered) {
    std::map<char, std::string> values{{'u', user}};
    if (account) {
        values['U'] = std::to_string(account->uid);
        values['h'] = account->home;
    }
    for (auto [letter, value] : {std::pair{'t', &offered.type}, std::pair{'k', &offered.base64},
                                 std::pair{'f', &offered.fingerprint}}) {
        if (!value->empty())
            values[letter] = *value;
    }
    std::vector<std::string> argv;
    for (const auto& arg : settings.argv) {
        auto expanded = expand_percent_tokens(arg, values);
        if (!expanded)
            return expanded.error().context("KeysCommand");
        argv.push_back(std::move(*expanded));
    }
    return argv;
}

KeysCommandAnswer run_keys_command(const KeysCommandSettings& settings, const std::string& user,
                                   const OfferedKeyTokens& offered, uint64_t deadline_us) {
    const uint64_t start = monotonic_us();
    KeysCommandAnswer answer;
    auto fail = [&](std::string why) {
        answer.error = std::move(why);
        answer.latency_us = monotonic_us() - start;
        return answer;
    };
    if (settings.argv.empty())
        return fail("KeysCommand is not set in skgate.conf");
    auto account = lookup_account(user);
    if (!account && account.error().code != ErrorCode::not_found)
        return fail(account.error().message);
    auto argv = keys_command_argv(settings, user, account ? &*account : nullptr, offered);
    if (!argv)
        return fail(argv.error().message);
    auto program = trusted_program((*argv)[0]);
    if (!program)
        return fail(program.error().message);
    (*argv)[0] = *program;

    auto runner = lookup_account(settings.user);
    if (!runner)
        return fail("KeysCommandUser " + settings.user + ": " + runner.error().message);
    ProcessLimits limits;
    limits.minimal_environment = true;
    limits.own_process_group = true;
    limits.max_output = kMaxKeysCommandOutput;
    if (runner->uid != geteuid()) {
        if (geteuid() != 0)
            return fail("cannot run KeysCommand as " + settings.user + " (KeysCommandUser): uid " +
                        std::to_string(geteuid()) + " is not root");
        auto groups = account_group_ids(*runner);
        if (!groups)
            return fail("KeysCommandUser " + settings.user + ": " + groups.error().message);
        limits.run_as = ProcessLimits::Identity{runner->uid, runner->gid, std::move(*groups)};
    }
    uint64_t now = monotonic_us();
    uint64_t left_ms = deadline_us > now ? (deadline_us - now) / 1000 : 0;
    if (left_ms < kMinRunMs)
        return fail("KeysCommand not run: the lookup's time budget (SourceTimeout) is spent");
    limits.timeout_ms = static_cast<int>(std::min<uint64_t>(left_ms, INT_MAX));

    auto out = run_process(*argv, limits);
    if (!out)
        return fail("KeysCommand " + out.error().message +
                    (out.error().message.find("did not finish") != std::string::npos
                         ? " (SourceTimeout): killed with everything it started"
                         : ""));
    if (out->status != 0)
        return fail(failure_of(*program, *out));
    answer.output = std::move(out->out);
    answer.latency_us = monotonic_us() - start;
    return answer;
}

Result<RemoteKeys> parse_keys_command_output(std::string_view text) {
    if (text.size() > kMaxKeysCommandOutput)
        return invalid("KeysCommand printed more than " + std::to_string(kMaxKeysCommandOutput) +
                       " bytes");
    RemoteKeys out;
    size_t lineno = 0, unreported = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        lineno++;
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (is_blank_or_comment(line))
            continue;
        const std::string origin = "line " + std::to_string(lineno);
        auto refuse = [&](const std::string& why) {
            if (out.refused.size() < kMaxRefusalsReported)
                out.refused.push_back(origin + ": " + why);
            else
                unreported++;
        };
        if (line.size() > kMaxRemoteKeyLineBytes) {
            refuse("longer than " + std::to_string(kMaxRemoteKeyLineBytes) + " bytes");
            continue;
        }
        auto entry = parse_authorized_key(line);
        if (!entry) {
            refuse(entry.error().message);
            continue;
        }
        auto options = interpret_sshd_options(entry->options);
        if (!options) {
            refuse(options.error().message);
            continue;
        }
        // A CA's key is no login key, and skgate accepts no certificates.
        if (std::any_of(entry->options.begin(), entry->options.end(),
                        [](const KeyOption& o) { return o.name == "cert-authority"; })) {
            refuse("cert-authority: skgate accepts no certificates");
            continue;
        }
        if (out.keys.size() == kMaxRemoteKeysPerUser)
            return invalid("KeysCommand printed more than " +
                           std::to_string(kMaxRemoteKeysPerUser) + " keys; none are accepted");
        out.keys.push_back({std::move(*entry), options->expiry_time, origin});
    }
    if (unreported)
        out.refused.push_back(std::to_string(unreported) + " more lines");
    return out;
}

RemoteSourceResult keys_from_command(const Policy& policy, const std::string& user,
                                     const std::optional<KeysCommandAnswer>& answer,
                                     std::time_t now) {
    RemoteSourceResult out;
    SourceStatus& status = out.status;
    status.source = KeySource::command;
    SourceCache cache(policy.global().state_directory);
    auto deny = [&](std::string why) {
        status.state = SourceState::denied;
        status.error = std::move(why);
        out.keys.warnings.push_back(status.describe());
        return out;
    };
    // A run that gave no answer takes back the one recorded before:
    // pam_skgate must not confirm from what the command no longer says.
    auto deny_and_forget = [&](std::string why) {
        if (answer->record)
            if (auto st = cache.forget(KeySource::command, user); !st)
                out.keys.warnings.push_back("command: " + st.error().message);
        return deny(std::move(why));
    };

    if (answer) {
        status.latency_us = answer->latency_us;
        if (!answer->error.empty())
            return deny_and_forget(answer->error +
                                   "; a failed KeysCommand gives no keys, not even recorded ones");
        auto parsed = parse_keys_command_output(answer->output);
        if (!parsed)
            return deny_and_forget(parsed.error().message);
        for (const auto& r : parsed->refused)
            out.keys.warnings.push_back("command: refused " + r);
        // pam_skgate confirms the login from this record; a key the
        // command printed keeps its expiry-time there.
        CachedKeys record{now, parsed->keys};
        if (auto st = answer->record ? cache.store(KeySource::command, user, record) : Status{};
            !st)
            out.keys.warnings.push_back("command: answer not recorded for pam_skgate: " +
                                        st.error().message);
        status.state = SourceState::fetched;
        status.keys = parsed->keys.size();
        for (const auto& k : parsed->keys)
            out.keys.keys.push_back(to_candidate(k));
        return out;
    }

    auto recorded = cache.load(KeySource::command, user);
    if (!recorded)
        return deny(recorded.error().code == ErrorCode::not_found
                        ? "no answer recorded: only skgate-keys runs KeysCommand"
                        : "recorded answer not used: " + recorded.error().message);
    const int64_t ttl = policy.global().remote.cache_ttl_seconds;
    if (recorded->fetched > now)
        return deny("the recorded answer is dated in the future");
    const int64_t age = now - recorded->fetched;
    status.cache_age = age;
    if (age >= ttl)
        return deny("the answer skgate-keys recorded is " + std::to_string(age) +
                    " s old, not younger than SourceCacheTTL (" + std::to_string(ttl) + " s)");
    status.state = SourceState::fresh;
    status.keys = recorded->keys.size();
    for (const auto& k : recorded->keys)
        out.keys.keys.push_back(to_candidate(k));
    return out;
}

}  // namespace skgate
