// pam_skgate.so: what PAM loads (DESIGN.md sections 6 and 7).
//
//   auth     confirm that sshd's publickey step used a key skgate allows
//            (SSH_AUTH_INFO_0), or with `stepup`: a fresh FIDO2 approval
//            through the user's agent
//   account  the same confirmation when sshd passes SSH_AUTH_INFO_0
//   session  an audit event and the key's last use
//
// Every return code is deliberate: PAM_SUCCESS only after a positive check
// (or, in audit mode, after logging would-deny for a key sshd has already
// verified); never for step-up in audit mode; never PAM_IGNORE; any error
// fails closed. No exception crosses into libpam; only pam_sm_* is exported.
#include <pwd.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "core/audit/audit.h"
#include "core/decide/keylookup.h"
#include "core/decide/stepup.h"
#include "core/decide/stepup_decision.h"
#include "core/policy/policy.h"
#include "core/ssh/agent_client.h"
#include "core/ssh/agent_protocol.h"
#include "core/ssh/authinfo.h"
#include "core/ssh/wire.h"
#include "core/store/counters.h"
#include "core/store/revocation.h"
#include "core/store/user_keyfiles.h"
#include "core/sys/account.h"
#include "core/sys/monotonic.h"
#include "core/sys/text.h"
#include "core/sys/timeutil.h"
#include "core/sys/username.h"

namespace {

using namespace skgate;

struct Options {
    std::string config = kDefaultConfigPath;
    bool debug = false;
    bool stepup = false;
    std::optional<int> timeout_seconds;
    // keyfile=: the user's own files, as skgate-keys' -a (enable writes them
    // when AuthorizedKeysFile was not sshd's default); none: no such files.
    std::vector<std::string> user_file_patterns = kDefaultUserKeyFiles;
};

Result<Options> parse_options(int argc, const char** argv) {
    Options o;
    bool keyfile_given = false;
    bool keyfile_none = false;
    for (int i = 0; i < argc; i++) {
        std::string a = argv[i] ? argv[i] : "";
        if (a == "debug") {
            o.debug = true;
        } else if (a == "stepup") {
            o.stepup = true;
        } else if (a.starts_with("config=") && a.size() > 7 && a[7] == '/') {
            o.config = a.substr(7);
        } else if (a.starts_with("timeout=")) {
            auto d = parse_duration(a.substr(8));
            if (!d || *d < 1 || *d > 3600)
                return invalid("option \"" + printable(a) + "\": timeout must be 1s to 1h");
            o.timeout_seconds = static_cast<int>(*d);
        } else if (a.starts_with("keyfile=")) {
            std::string pattern = a.substr(8);
            if (!keyfile_given)
                o.user_file_patterns.clear();
            keyfile_given = true;
            if (pattern == "none") {
                keyfile_none = true;
                continue;
            }
            if (auto v = validate_user_key_file_pattern(pattern); !v)
                return invalid("option \"" + printable(a) + "\": " + v.error().message);
            o.user_file_patterns.push_back(pattern);
        } else {
            return invalid("unknown or malformed option \"" + printable(a) +
                           "\" (known: config=/PATH, debug, keyfile=PATTERN, stepup, "
                           "timeout=SECONDS)");
        }
    }
    if (keyfile_none && !o.user_file_patterns.empty())
        return invalid("keyfile=none cannot be combined with other keyfile= options");
    return o;
}

class Pam {
  public:
    Pam(pam_handle_t* h, const Options& o, const char* phase) : h_(h), opts_(o), phase_(phase) {}

    Result<std::string> user() {
        const char* u = nullptr;
        if (pam_get_user(h_, &u, nullptr) != PAM_SUCCESS || !u || !*u)
            return make_error(ErrorCode::not_found, "no user name");
        std::string name = u;
        SKGATE_CHECK(validate_username(name));
        return name;
    }
    std::string env(const char* name) {
        const char* v = pam_getenv(h_, name);
        return v ? v : "";
    }
    std::string item(int type) {
        const void* v = nullptr;
        if (pam_get_item(h_, type, &v) != PAM_SUCCESS || !v)
            return "";
        return static_cast<const char*>(v);
    }
    // Tells the user something through the application's conversation.
    void say(const std::string& text, bool error = false) {
        pam_prompt(h_, error ? PAM_ERROR_MSG : PAM_TEXT_INFO, nullptr, "%s", text.c_str());
    }
    void log(int priority, const std::string& text) {
        if (priority == LOG_DEBUG && !opts_.debug)
            return;
        pam_syslog(h_, priority, "%s: %s", phase_, text.c_str());
    }
    const Options& opts() const { return opts_; }
    const char* phase() const { return phase_; }

  private:
    pam_handle_t* h_;
    const Options& opts_;
    const char* phase_;
};

template <class F>
int guarded(pam_handle_t* pamh, const char* phase, int argc, const char** argv, F body) noexcept {
    try {
        auto opts = parse_options(argc, argv);
        if (!opts) {
            pam_syslog(pamh, LOG_ERR, "%s: %s", phase, opts.error().message.c_str());
            return PAM_SERVICE_ERR;
        }
        audit_set_identifier("pam_skgate");
        Pam pam(pamh, *opts, phase);
        return body(pam);
    } catch (...) {
        pam_syslog(pamh, LOG_CRIT, "%s: internal error; failing closed", phase);
        return PAM_SERVICE_ERR;
    }
}

void record(Pam& pam, AuditEvent e, uint64_t start) {
    e.remote = pam.item(PAM_RHOST);
    e.latency_us = monotonic_us() - start;
    audit_record(e);
    pam.log(e.decision == Decision::deny ? LOG_NOTICE : LOG_DEBUG, e.message);
}

// sshd confirmation: a completed publickey method used a key skgate allows.
int confirm_login(Pam& pam, bool account_phase) {
    uint64_t start = monotonic_us();
    const int denied = account_phase ? PAM_PERM_DENIED : PAM_AUTH_ERR;
    AuditEvent e;
    e.event = "login-confirm";
    auto user = pam.user();
    if (!user) {
        pam.log(LOG_ERR, user.error().message);
        return PAM_USER_UNKNOWN;
    }
    e.user = *user;
    std::string info_text = pam.env("SSH_AUTH_INFO_0");
    if (info_text.empty() && account_phase) {
        // A publickey-only login: sshd has not told PAM the key here, and the
        // publickey step itself was skgate-keys' to decide.
        pam.log(LOG_DEBUG, "no SSH_AUTH_INFO_0 in the account phase; nothing to confirm");
        return PAM_SUCCESS;
    }
    auto policy = Policy::load_or_default(pam.opts().config);
    if (!policy) {
        e.decision = Decision::deny;
        e.reason = "configuration error: " + policy.error().message;
        e.message = *user + ": login refused: " + e.reason;
        record(pam, e, start);
        return PAM_SERVICE_ERR;
    }
    auto up = policy->for_user({*user, [&] { return lookup_user_groups(*user); }});
    if (!up) {
        e.decision = Decision::deny;
        e.reason = up.error().message;
        e.message = *user + ": login refused: " + e.reason;
        record(pam, e, start);
        return PAM_SERVICE_ERR;
    }
    bool audit_mode = up->mode == Mode::audit;
    // Audit mode lets through what enforce mode would refuse, except what is
    // refused in every mode (a revoked key): `always` says which.
    auto refuse = [&](const std::string& reason, bool always = false) {
        bool let_through = audit_mode && !always;
        e.decision = let_through ? Decision::would_deny : Decision::deny;
        e.reason = reason;
        e.message =
            *user + ": login " + (let_through ? "would be refused" : "refused") + ": " + reason;
        record(pam, e, start);
        return let_through ? PAM_SUCCESS : denied;
    };
    // Without a completed publickey method nobody has authenticated yet (a
    // password or keyboard-interactive login reaching this stack): audit
    // mode must not make that a success, or any password would do.
    if (info_text.empty())
        return refuse(
            "no completed publickey method (sshd needs ExposeAuthInfo yes and "
            "AuthenticationMethods publickey,keyboard-interactive:pam)",
            true);
    auto info = AuthInfo::parse(info_text);
    if (!info)
        return refuse(info.error().message, true);
    if (info->publickeys.empty())
        return refuse("no completed publickey method", true);

    std::string last_reason;
    bool refused_in_every_mode = false;
    for (const auto& key : info->publickeys) {
        e.key_fp = key.fingerprint();
        e.key_type = key.type_name();
        LookupRequest req{*user, key, std::time(nullptr)};
        req.remote.may_fetch = false;
        req.user_file_patterns = pam.opts().user_file_patterns;
        auto result = lookup_keys(*policy, req);
        if (!result) {
            e.decision = Decision::deny;
            e.reason = "cannot read keys: " + result.error().message;
            e.message = *user + ": login refused: " + e.reason;
            record(pam, e, start);
            return PAM_SERVICE_ERR;
        }
        for (const auto& v : result->verdicts) {
            if (v.decision == Decision::allow) {
                e.decision = Decision::allow;
                e.reason = v.reason;
                e.source = std::string(to_string(v.candidate.source));
                e.message = *user + ": login with " + e.key_fp + " confirmed";
                record(pam, e, start);
                return PAM_SUCCESS;
            }
            last_reason = v.reason;
            refused_in_every_mode |= v.decision == Decision::deny;
        }
        if (result->verdicts.empty())
            last_reason = result->no_keys_reason;
    }
    return refuse(last_reason, refused_in_every_mode);
}

// The command under sudo, as sudo itself was asked to run it. Never an
// environment variable: the caller sets those (and su passes them on).
std::string sudo_command_line(const std::string& service) {
    if (service != "sudo" && service != "sudo-i")
        return "";
    FILE* f = std::fopen("/proc/self/cmdline", "re");
    if (!f)
        return "";
    std::string text;
    char buf[512];
    size_t n = 0;
    while (text.size() < 4096 && (n = std::fread(buf, 1, sizeof buf, f)) > 0)
        text.append(buf, n);
    std::fclose(f);
    // Arguments are separated by NULs: each one with a space or a quote is
    // quoted, so the authenticator shows `rm 'a b'` and `rm a b` apart.
    std::string out;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\0', start);
        std::string arg = text.substr(start, end == std::string::npos ? end : end - start);
        start = end == std::string::npos ? text.size() : end + 1;
        if (arg.find_first_of(" \t'\"") != std::string::npos || arg.empty()) {
            std::string q = "'";
            for (char c : arg)
                q += c == '\'' ? std::string("'\\''") : std::string(1, c);
            arg = q + "'";
        }
        out += (out.empty() ? "" : " ") + arg;
    }
    return out;
}

std::string user_name_of(uid_t uid) {
    struct passwd pw {};
    struct passwd* found = nullptr;
    std::vector<char> buf(16384);
    if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found)
        return found->pw_name;
    return "uid " + std::to_string(uid);
}

// Adapts the agent the caller's SSH_AUTH_SOCK names to the step-up.
class PamAgent final : public StepUpAgent {
  public:
    explicit PamAgent(AgentClient client) : client_(std::move(client)) {}
    Result<std::vector<AgentIdentity>> identities() override { return client_.identities(); }
    void describe(std::string_view challenge) override {
        // Lets an skgate authenticator show the command it approves.
        WireWriter w;
        w.put_string(challenge);
        (void)client_.extension(kExtStepUpContext, w.bytes());
    }
    Result<Bytes> sign(const PublicKey& key, ByteView data) override {
        return client_.sign(key, data);
    }

  private:
    AgentClient client_;
};

int pam_code(StepUpResult r) {
    switch (r) {
        case StepUpResult::approved:
            return PAM_SUCCESS;
        case StepUpResult::refused:
            return PAM_AUTH_ERR;
        case StepUpResult::unavailable:
            return PAM_AUTHINFO_UNAVAIL;
        case StepUpResult::error:
            break;
    }
    return PAM_SERVICE_ERR;
}

// Step-up: core's decide_step_up with this process's caller, agent socket
// and conversation; the outcome becomes the PAM code and the audit event.
int step_up(Pam& pam) {
    uint64_t start = monotonic_us();
    AuditEvent e;
    e.event = "stepup";
    auto user = pam.user();
    if (!user) {
        pam.log(LOG_ERR, user.error().message);
        return PAM_USER_UNKNOWN;
    }
    e.user = *user;
    // The real uid is the one the kernel gave the invoking process (sudo and
    // su are set-uid): the caller cannot choose it, unlike PAM_RUSER.
    const uid_t caller = getuid();
    e.requester = user_name_of(caller);
    auto report = [&](const StepUpOutcome& o) {
        e.key_fp = o.key_fp;
        e.key_type = o.key_type;
        e.flags = o.flags;
        e.counter = o.counter;
        e.reason = o.reason;
        const std::string who = e.requester == *user ? "" : " requested by " + e.requester;
        if (o.result == StepUpResult::approved) {
            e.decision = Decision::allow;
            e.message = *user + ": step-up for " + pam.item(PAM_SERVICE) + who + " approved with " +
                        e.key_fp;
        } else {
            e.decision = Decision::deny;
            e.message = *user + ": step-up" + who + " refused" +
                        (e.key_fp.empty() ? "" : " for " + e.key_fp) + ": " + o.reason;
        }
        for (const auto& w : o.warnings)
            pam.log(LOG_WARNING, w);
        record(pam, e, start);
        if (o.result != StepUpResult::approved)
            pam.say("skgate: " + o.tell, true);
        return pam_code(o.result);
    };
    auto policy = Policy::load_or_default(pam.opts().config);
    if (!policy) {
        StepUpOutcome o;
        o.reason = "configuration error: " + policy.error().message;
        o.tell = "step-up is not available (see the system log)";
        return report(o);
    }
    StepUpRequest req;
    req.user = *user;
    req.caller = caller;
    req.requester = e.requester;
    req.service = pam.item(PAM_SERVICE);
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    req.host = host;
    req.command = sudo_command_line(req.service);
    req.now = std::time(nullptr);
    req.start_us = start;
    req.timeout_seconds = pam.opts().timeout_seconds;
    req.user_file_patterns = pam.opts().user_file_patterns;
    std::string sock = pam.env("SSH_AUTH_SOCK");
    if (sock.empty() && std::getenv("SSH_AUTH_SOCK"))
        sock = std::getenv("SSH_AUTH_SOCK");
    req.connect_agent = [&](const Account& as,
                            uint64_t deadline) -> Result<std::unique_ptr<StepUpAgent>> {
        SKGATE_TRY(client, AgentClient::connect_as(sock, {as.uid, as.gid}, deadline));
        return std::unique_ptr<StepUpAgent>(std::make_unique<PamAgent>(std::move(client)));
    };
    req.before_waiting = [&](const std::string& text) { pam.say(text); };
    return report(decide_step_up(*policy, req));
}

int open_session(Pam& pam) {
    uint64_t start = monotonic_us();
    AuditEvent e;
    e.event = "session-open";
    auto user = pam.user();
    if (!user) {
        pam.log(LOG_ERR, user.error().message);
        return PAM_SESSION_ERR;
    }
    e.user = *user;
    std::string info_text = pam.env("SSH_AUTH_INFO_0");
    auto info = AuthInfo::parse(info_text);
    if (!info && !info_text.empty())
        pam.log(LOG_WARNING, "cannot read SSH_AUTH_INFO_0: " + info.error().message);
    if (info && !info->publickeys.empty()) {
        const PublicKey& k = info->publickeys.back();
        e.key_fp = k.fingerprint();
        e.key_type = k.type_name();
        auto policy = Policy::load_or_default(pam.opts().config);
        if (policy) {
            auto st = LastUseStore(policy->global().state_directory)
                          .record(*user, e.key_fp, std::time(nullptr));
            // A full or broken StateDirectory leaves `skgatectl list` showing
            // an older last use: that is said in skgate's own event, not only
            // in PAM's syslog.
            if (!st) {
                e.reason = "last use not recorded: " + st.error().message;
                pam.log(LOG_ERR, e.reason);
            }
        }
    }
    e.message = *user + ": session opened" + (e.key_fp.empty() ? "" : " with " + e.key_fp) +
                (e.reason.empty() ? "" : " (" + e.reason + ")");
    // The session phase records; it never blocks a login the auth and account
    // phases allowed.
    record(pam, e, start);
    return PAM_SUCCESS;
}

}  // namespace

// The build hides every symbol; these six are the module's interface.
#define SKGATE_PAM_EXPORT __attribute__((visibility("default")))

extern "C" {

SKGATE_PAM_EXPORT int pam_sm_authenticate(pam_handle_t* pamh, int /*flags*/, int argc,
                                          const char** argv) {
    return guarded(pamh, "auth", argc, argv, [](Pam& pam) {
        return pam.opts().stepup ? step_up(pam) : confirm_login(pam, false);
    });
}

SKGATE_PAM_EXPORT int pam_sm_setcred(pam_handle_t* pamh, int /*flags*/, int argc,
                                     const char** argv) {
    return guarded(pamh, "setcred", argc, argv, [](Pam&) { return PAM_SUCCESS; });
}

SKGATE_PAM_EXPORT int pam_sm_acct_mgmt(pam_handle_t* pamh, int /*flags*/, int argc,
                                       const char** argv) {
    return guarded(pamh, "account", argc, argv, [](Pam& pam) {
        if (pam.opts().stepup)
            return PAM_SUCCESS;  // step-up is an auth check; nothing to add here
        return confirm_login(pam, true);
    });
}

SKGATE_PAM_EXPORT int pam_sm_open_session(pam_handle_t* pamh, int /*flags*/, int argc,
                                          const char** argv) {
    return guarded(pamh, "session", argc, argv, [](Pam& pam) { return open_session(pam); });
}

SKGATE_PAM_EXPORT int pam_sm_close_session(pam_handle_t* pamh, int /*flags*/, int argc,
                                           const char** argv) {
    return guarded(pamh, "session", argc, argv, [](Pam&) { return PAM_SUCCESS; });
}

SKGATE_PAM_EXPORT int pam_sm_chauthtok(pam_handle_t* pamh, int /*flags*/, int argc,
                                       const char** argv) {
    return guarded(pamh, "password", argc, argv, [](Pam& pam) {
        pam.log(LOG_ERR, "pam_skgate does not change passwords; remove it from the password stack");
        return PAM_SERVICE_ERR;
    });
}

}  // extern "C"
