// pam_skgate.so through the real libpam (pam_wrapper supplies the service
// files): every phase, option and return path, and step-up against a real
// ssh-agent holding keys of the test security key.
#include <security/pam_appl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csetjmp>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include <cmocka.h>
}

#include "core/sources/source_cache.h"
#include "core/ssh/wire.h"
#include "core/store/counters.h"
#include "core/store/keystore.h"
#include "core/store/revocation.h"
#include "core/sys/text.h"
#include "tests/support/helpers.h"

using namespace skgate;
using namespace skgate::test;

namespace {

std::string g_dir;        // SKGATE_PAM_DIR: the config, store and keys live here
bool g_in_child = false;  // in a forked child: fail by exit status, never longjmp

// pam_wrapper takes one of 62 directories /tmp/pam.X per process and frees it
// only when that process exits normally; children that _exit (and killed
// runs) leave theirs behind. Those whose process is gone are removed, so
// that later processes find a free one.
void remove_stale_pam_wrapper_dirs() {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/tmp", ec)) {
        std::string name = e.path().filename().string();
        if (name.size() != 5 || !name.starts_with("pam.") || !e.is_directory(ec) ||
            e.is_symlink(ec))
            continue;
        struct stat st {};
        if (lstat(e.path().c_str(), &st) != 0 || st.st_uid != geteuid())
            continue;
        std::string pidfile = e.path().string() + "/pid";
        if (!std::filesystem::exists(pidfile, ec))
            continue;
        long pid = std::strtol(read_file(pidfile).c_str(), nullptr, 10);
        if (pid > 0 && (kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH))
            continue;
        std::filesystem::remove_all(e.path(), ec);
    }
}
std::string conf() {
    return g_dir + "/skgate.conf";
}

// What the conversation function saw.
struct Conversation {
    std::vector<std::string> info, errors;
};

int converse(int n, const pam_message** msg, pam_response** resp, void* data) {
    auto* c = static_cast<Conversation*>(data);
    *resp = static_cast<pam_response*>(calloc(static_cast<size_t>(n), sizeof(pam_response)));
    for (int i = 0; i < n; i++) {
        if (msg[i]->msg_style == PAM_TEXT_INFO)
            c->info.emplace_back(msg[i]->msg);
        else if (msg[i]->msg_style == PAM_ERROR_MSG)
            c->errors.emplace_back(msg[i]->msg);
        else
            return PAM_CONV_ERR;  // pam_skgate never prompts
    }
    return PAM_SUCCESS;
}

enum class Op { auth, account, open, close, setcred, chauthtok };

struct PamRun {
    int rc = -1;
    Conversation conv;
};

PamRun pam(const char* service, Op op, const std::string& user,
           const std::map<std::string, std::string>& env = {}) {
    PamRun r;
    pam_conv c{converse, &r.conv};
    pam_handle_t* h = nullptr;
    if (pam_start(service, user.c_str(), &c, &h) != PAM_SUCCESS) {
        if (g_in_child)
            _exit(98);  // cmocka's longjmp would run the rest of the suite in the child
        fail_msg("pam_start failed");
    }
    pam_set_item(h, PAM_RHOST, "198.51.100.7");
    for (const auto& [k, v] : env)
        pam_putenv(h, (k + "=" + v).c_str());
    switch (op) {
        case Op::auth:
            r.rc = pam_authenticate(h, 0);
            break;
        case Op::account:
            r.rc = pam_acct_mgmt(h, 0);
            break;
        case Op::open:
            r.rc = pam_open_session(h, 0);
            break;
        case Op::close:
            r.rc = pam_close_session(h, 0);
            break;
        case Op::setcred:
            r.rc = pam_setcred(h, PAM_ESTABLISH_CRED);
            break;
        case Op::chauthtok:
            r.rc = pam_chauthtok(h, 0);
            break;
    }
    pam_end(h, r.rc);
    return r;
}

void write_conf(const std::string& extra) {
    write_file(conf(), "KeysDirectory " + g_dir + "/keys.d\nRevokedKeys " + g_dir +
                           "/revoked\nStateDirectory " + g_dir + "/state\n" + extra);
}

// Programs the test starts (ssh-keygen, ssh-agent, ssh-add) must not inherit
// the pam_wrapper (and sanitizer) preload of this process.
std::map<std::string, std::string> child_env(std::map<std::string, std::string> env = {}) {
    env["LD_PRELOAD"] = "";
    return env;
}

// Keys made by the stock ssh-keygen through the test security key.
std::string make_key(const std::string& name, const std::string& type,
                     const std::vector<std::string>& extra = {}) {
    std::string f = g_dir + "/keys/" + name;
    if (std::filesystem::exists(f))
        return f;
    std::filesystem::create_directories(g_dir + "/keys");
    std::vector<std::string> args{"ssh-keygen", "-q", "-t", type, "-N", "", "-f", f};
    if (type.ends_with("-sk")) {
        args.push_back("-w");
        args.push_back(std::getenv("SKGATE_TEST_SK_PROVIDER"));
    }
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = run(args, "", child_env());
    if (r.status != 0)
        fail_msg("ssh-keygen: %s", r.err.c_str());
    return f;
}

PublicKey pub(const std::string& key) {
    return *PublicKey::parse_text(read_file(key + ".pub"));
}

void enroll(const std::string& user, const std::string& key) {
    KeyStore store(g_dir + "/keys.d");
    if (!store.add(
            user,
            {.key = pub(key), .comment = user, .name = "k", .enrolled = std::time(nullptr) - 60}))
        fail_msg("enroll failed");
}

std::string auth_info(const std::string& key) {
    return "publickey " + pub(key).to_text() + "\n";
}

int reset(void**) {
    remove_stale_pam_wrapper_dirs();
    std::filesystem::remove_all(g_dir + "/keys.d");
    std::filesystem::remove_all(g_dir + "/state");
    std::filesystem::remove(g_dir + "/revoked");
    write_conf("");
    return 0;
}

// ---- sshd confirmation ---------------------------------------------------

void confirm_enrolled_key_succeeds(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    enroll("root", k);
    auto r = pam("skgate-confirm", Op::auth, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}});
    assert_int_equal(r.rc, PAM_SUCCESS);
    assert_true(r.conv.info.empty() && r.conv.errors.empty());  // silent
    assert_int_equal(
        pam("skgate-confirm", Op::account, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}}).rc,
        PAM_SUCCESS);
}

void confirm_second_method_line_is_found(void**) {
    std::string k = make_key("sk-ed25519", "ed25519-sk");
    enroll("root", k);
    std::string info = "password\n" + auth_info(k) + "keyboard-interactive/pam\n";
    assert_int_equal(pam("skgate-confirm", Op::auth, "root", {{"SSH_AUTH_INFO_0", info}}).rc,
                     PAM_SUCCESS);
}

void confirm_unenrolled_key_fails(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    std::string other = make_key("sk-other", "ecdsa-sk");
    enroll("root", other);
    assert_int_equal(
        pam("skgate-confirm", Op::auth, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}}).rc,
        PAM_AUTH_ERR);
    assert_int_equal(
        pam("skgate-confirm", Op::account, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}}).rc,
        PAM_PERM_DENIED);
}

void confirm_without_auth_info(void**) {
    enroll("root", make_key("sk-ecdsa", "ecdsa-sk"));
    assert_int_equal(pam("skgate-confirm", Op::auth, "root").rc, PAM_AUTH_ERR);
    // account without the variable: a publickey-only login, nothing to confirm
    assert_int_equal(pam("skgate-confirm", Op::account, "root").rc, PAM_SUCCESS);
}

void confirm_malformed_auth_info(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    enroll("root", k);
    std::string good = auth_info(k);
    const std::vector<std::string> bad = {
        good.substr(0, good.size() - 1),                         // no final newline
        "publickey sk-ecdsa-sha2-nistp256@openssh.com AAAA!\n",  // bad base64
        "publickey\n",                                           // no key
        "publickey " + pub(k).to_text() + " extra\n",            // trailing text
        "keyboard-interactive\n",                                // no publickey at all
        "Publickey " + pub(k).to_text() + "\n",                  // bad method name
        std::string(20, 'x') + "\n" + good,                      // unknown method first: fine...
        good + std::string("pass\x01word\n"),                    // control character
        [&] {
            std::string many;
            for (int i = 0; i < 17; i++)
                many += "password\n";
            return many + good;
        }(),
    };
    for (size_t i = 0; i < bad.size(); i++) {
        int rc = pam("skgate-confirm", Op::auth, "root", {{"SSH_AUTH_INFO_0", bad[i]}}).rc;
        if (i == 6)
            assert_int_equal(rc, PAM_SUCCESS);  // an unknown method name is allowed
        else if (rc != PAM_AUTH_ERR)
            fail_msg("malformed SSH_AUTH_INFO_0 #%zu gave %d", i, rc);
    }
}

void confirm_ordinary_key_enforce_and_audit(void**) {
    std::string k = make_key("plain", "ed25519");
    write_conf("KeySources local\nRequireSecurityKey yes\n");
    KeyStore store(g_dir + "/keys.d");
    assert_true(store.add("root", {.key = pub(k), .enrolled = std::time(nullptr)}).ok());
    assert_int_equal(
        pam("skgate-confirm", Op::auth, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}}).rc,
        PAM_AUTH_ERR);
    write_conf("Mode audit\n");
    assert_int_equal(
        pam("skgate-confirm", Op::auth, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}}).rc,
        PAM_SUCCESS);
    write_conf("BreakGlassUsers root\n");
    assert_int_equal(
        pam("skgate-confirm", Op::auth, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}}).rc,
        PAM_SUCCESS);
}

void confirm_revoked_key_fails_even_in_audit(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    enroll("root", k);
    assert_true(RevocationList::append(g_dir + "/revoked", pub(k), "").ok());
    assert_int_equal(
        pam("skgate-confirm", Op::auth, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}}).rc,
        PAM_AUTH_ERR);
    write_conf("Mode audit\n");
    assert_int_equal(
        pam("skgate-confirm", Op::auth, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}}).rc,
        PAM_AUTH_ERR);
}

void confirm_errors_fail_closed(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    enroll("root", k);
    write_file(conf(), "Bogus keyword\n");
    assert_int_equal(
        pam("skgate-confirm", Op::auth, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}}).rc,
        PAM_SERVICE_ERR);
    reset(nullptr);
    enroll("root", k);
    chmod((g_dir + "/keys.d/root").c_str(), 0666);
    assert_int_equal(
        pam("skgate-confirm", Op::auth, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}}).rc,
        PAM_SERVICE_ERR);
    write_file(g_dir + "/revoked", "not a key\n");
    chmod((g_dir + "/keys.d/root").c_str(), 0644);
    assert_int_equal(
        pam("skgate-confirm", Op::auth, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}}).rc,
        PAM_SERVICE_ERR);
}

void bad_options_fail_closed(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    enroll("root", k);
    assert_int_equal(pam("skgate-badopt", Op::auth, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}}).rc,
                     PAM_SERVICE_ERR);
    assert_int_equal(
        pam("skgate-badopt", Op::account, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}}).rc,
        PAM_SERVICE_ERR);
    // keyfile= takes AuthorizedKeysFile's patterns (a token sshd would not
    // expand is refused) and none alone
    assert_int_equal(
        pam("skgate-badkeyfile", Op::auth, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}}).rc,
        PAM_SERVICE_ERR);
    assert_int_equal(
        pam("skgate-badkeyfile", Op::account, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}}).rc,
        PAM_SERVICE_ERR);
    // debug changes nothing but the log
    assert_int_equal(pam("skgate-debug", Op::auth, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}}).rc,
                     PAM_SUCCESS);
}

void invalid_user_name(void**) {
    assert_int_equal(pam("skgate-confirm", Op::auth, "../etc").rc, PAM_USER_UNKNOWN);
    assert_int_equal(pam("skgate-confirm", Op::account, "-rf").rc, PAM_USER_UNKNOWN);
}

void session_records_last_use(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    enroll("root", k);
    assert_int_equal(
        pam("skgate-confirm", Op::open, "root", {{"SSH_AUTH_INFO_0", auth_info(k)}}).rc,
        PAM_SUCCESS);
    auto last = LastUseStore(g_dir + "/state").load("root");
    assert_true(last.ok());
    assert_int_equal(last->count(pub(k).fingerprint()), 1);
    assert_int_equal(pam("skgate-confirm", Op::close, "root").rc, PAM_SUCCESS);
    // without SSH_AUTH_INFO_0 (or with a broken one) a session still opens
    assert_int_equal(pam("skgate-confirm", Op::open, "root").rc, PAM_SUCCESS);
    assert_int_equal(pam("skgate-confirm", Op::open, "root", {{"SSH_AUTH_INFO_0", "garbage"}}).rc,
                     PAM_SUCCESS);
}

void setcred_and_chauthtok(void**) {
    assert_int_equal(pam("skgate-confirm", Op::setcred, "root").rc, PAM_SUCCESS);
    assert_int_equal(pam("skgate-confirm", Op::chauthtok, "root").rc, PAM_SERVICE_ERR);
}

// ---- step-up through a real ssh-agent ----------------------------------------

class Agent {
  public:
    // run_as: the agent's own uid (ssh-agent talks only to its uid and root);
    // its socket is then in a directory of that user's.
    explicit Agent(const std::map<std::string, std::string>& env, uid_t run_as = 0) {
        sock_ = g_dir + "/agent.sock";
        if (run_as != 0) {
            std::string dir = g_dir + "/agent-" + std::to_string(run_as);
            std::filesystem::create_directories(dir);
            if (chown(dir.c_str(), run_as, run_as) != 0)
                fail_msg("chown %s", dir.c_str());
            sock_ = dir + "/agent.sock";
        }
        std::filesystem::remove(sock_);
        pid_ = fork();
        if (pid_ == 0) {
            if (run_as != 0 &&
                (setresgid(run_as, run_as, run_as) != 0 || setresuid(run_as, run_as, run_as) != 0))
                _exit(126);
            for (const auto& [k, v] : child_env(env))
                setenv(k.c_str(), v.c_str(), 1);
            std::string allow = std::filesystem::path(std::getenv("SKGATE_TEST_SK_PROVIDER"))
                                    .parent_path()
                                    .string() +
                                "/*";
            execlp("ssh-agent", "ssh-agent", "-D", "-a", sock_.c_str(), "-P", allow.c_str(),
                   static_cast<char*>(nullptr));
            _exit(127);
        }
        for (int i = 0; i < 100 && !std::filesystem::exists(sock_); i++)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ~Agent() {
        kill(pid_, SIGTERM);
        waitpid(pid_, nullptr, 0);
    }
    void add(const std::string& key) {
        auto r = run({"ssh-add", "-q", "-S", std::getenv("SKGATE_TEST_SK_PROVIDER"), key}, "",
                     child_env({{"SSH_AUTH_SOCK", sock_}}));
        if (r.status != 0)
            fail_msg("ssh-add: %s", r.err.c_str());
    }
    const std::string& sock() const { return sock_; }

  private:
    std::string sock_;
    pid_t pid_ = -1;
};

std::map<std::string, std::string> sk(const char* flags, const char* counter) {
    return {{"SKGATE_TEST_SK_FLAGS", flags}, {"SKGATE_TEST_SK_COUNTER", counter}};
}

PamRun stepup(const Agent& a) {
    return pam("skgate-stepup", Op::auth, "root", {{"SSH_AUTH_SOCK", a.sock()}});
}

void stepup_succeeds_and_stores_the_counter(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    enroll("root", k);
    Agent agent(sk("0x01", "41"));
    agent.add(k);
    auto r = stepup(agent);
    assert_int_equal(r.rc, PAM_SUCCESS);
    assert_true(!r.conv.info.empty() &&
                r.conv.info[0].find("approve on your security key") != std::string::npos);
    auto stored = CounterStore(g_dir + "/state").stored("root", pub(k).fingerprint());
    assert_true(stored.ok() && stored->has_value());
    assert_int_equal(**stored, 41);
    assert_int_equal(pam("skgate-stepup", Op::account, "root").rc, PAM_SUCCESS);
}

// A state directory someone else can write (StateDirectory in /tmp, say)
// is refused before root creates a lock or counter file in it.
void stepup_refuses_an_unsafe_state_directory(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    enroll("root", k);
    Agent agent(sk("0x01", "12"));
    agent.add(k);
    std::filesystem::create_directories(g_dir + "/state");
    chmod((g_dir + "/state").c_str(), 01777);
    auto r = stepup(agent);
    assert_int_equal(r.rc, PAM_SERVICE_ERR);
    assert_false(std::filesystem::exists(g_dir + "/state/keycounters"));
    chmod((g_dir + "/state").c_str(), 0755);
    assert_int_equal(chown((g_dir + "/state").c_str(), 65534, 65534), 0);
    assert_int_equal(stepup(agent).rc, PAM_SERVICE_ERR);
    assert_int_equal(chown((g_dir + "/state").c_str(), 0, 0), 0);
    assert_int_equal(stepup(agent).rc, PAM_SUCCESS);
}

void stepup_replay_and_clone_are_refused(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    enroll("root", k);
    {
        Agent agent(sk("0x01", "50"));
        agent.add(k);
        assert_int_equal(stepup(agent).rc, PAM_SUCCESS);
        auto again = stepup(agent);  // same counter: a replay
        assert_int_equal(again.rc, PAM_AUTH_ERR);
        assert_true(!again.conv.errors.empty() &&
                    again.conv.errors[0].find("cloned") != std::string::npos);
    }
    Agent lower(sk("0x01", "7"));  // went backwards: a clone
    lower.add(k);
    assert_int_equal(stepup(lower).rc, PAM_AUTH_ERR);
    write_conf("CounterCheck warn\n");
    assert_int_equal(stepup(lower).rc, PAM_SUCCESS);
    write_conf("CounterCheck off\n");
    assert_int_equal(stepup(lower).rc, PAM_SUCCESS);
}

void stepup_counterless_authenticator(void**) {
    std::string k = make_key("sk-ed25519", "ed25519-sk");
    enroll("root", k);
    Agent agent(sk("0x01", "0"));
    agent.add(k);
    assert_int_equal(stepup(agent).rc, PAM_SUCCESS);
    assert_int_equal(stepup(agent).rc, PAM_SUCCESS);
}

void stepup_flags(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    enroll("root", k);
    {
        Agent no_touch(sk("0x00", "5"));
        no_touch.add(k);
        auto r = stepup(no_touch);
        assert_int_equal(r.rc, PAM_AUTH_ERR);
        assert_true(!r.conv.errors.empty() &&
                    r.conv.errors[0].find("user presence") != std::string::npos);
    }
    write_conf("VerifyRequired yes\n");
    {
        Agent no_uv(sk("0x01", "6"));
        no_uv.add(k);
        auto r = stepup(no_uv);
        assert_int_equal(r.rc, PAM_AUTH_ERR);
        assert_true(!r.conv.errors.empty() &&
                    r.conv.errors[0].find("user verification required") != std::string::npos);
    }
    Agent uv(sk("0x05", "7"));
    uv.add(k);
    assert_int_equal(stepup(uv).rc, PAM_SUCCESS);
}

void stepup_agent_problems(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    enroll("root", k);
    // no agent at all
    auto none =
        pam("skgate-stepup", Op::auth, "root", {{"SSH_AUTH_SOCK", g_dir + "/no-such.sock"}});
    assert_int_equal(none.rc, PAM_AUTHINFO_UNAVAIL);
    Agent agent(sk("0x01", "9"));
    // an agent without the enrolled key
    agent.add(make_key("sk-other", "ecdsa-sk"));
    auto missing = stepup(agent);
    assert_int_equal(missing.rc, PAM_AUTH_ERR);
    assert_true(!missing.conv.errors.empty() &&
                missing.conv.errors[0].find("key is not enrolled for root") != std::string::npos);
    // a socket that belongs to another user
    agent.add(k);
    assert_int_equal(chown(agent.sock().c_str(), 65534, 65534), 0);
    auto foreign = stepup(agent);
    assert_int_equal(foreign.rc, PAM_AUTHINFO_UNAVAIL);
    assert_int_equal(chown(agent.sock().c_str(), 0, 0), 0);
    assert_int_equal(stepup(agent).rc, PAM_SUCCESS);
    // nothing enrolled
    std::filesystem::remove_all(g_dir + "/keys.d");
    assert_int_equal(stepup(agent).rc, PAM_AUTH_ERR);
}

// Audit mode is for logins: a step-up refusal stays a refusal (pam_skgate(8),
// RETURN CODES), or `[success=done default=die]` would hand out root.
void stepup_audit_mode_still_enforces(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    write_conf("Mode audit\n");
    auto none =
        pam("skgate-stepup", Op::auth, "root", {{"SSH_AUTH_SOCK", g_dir + "/no-such.sock"}});
    assert_int_equal(none.rc, PAM_AUTH_ERR);  // nothing enrolled
    assert_false(none.conv.errors.empty());
    enroll("root", k);
    auto no_agent =
        pam("skgate-stepup", Op::auth, "root", {{"SSH_AUTH_SOCK", g_dir + "/no-such.sock"}});
    assert_int_equal(no_agent.rc, PAM_AUTHINFO_UNAVAIL);
    Agent agent(sk("0x01", "3"));
    agent.add(make_key("sk-other", "ecdsa-sk"));
    assert_int_equal(stepup(agent).rc, PAM_AUTH_ERR);  // the agent lacks the enrolled key
    agent.add(k);
    assert_int_equal(stepup(agent).rc, PAM_SUCCESS);
    assert_true(RevocationList::append(g_dir + "/revoked", pub(k), "lost").ok());
    assert_int_equal(stepup(agent).rc, PAM_AUTH_ERR);  // revoked: refused in every mode
}

// A step-up with no completed publickey method (a password login reaching
// sshd's stack) is refused in audit mode too: it authenticated nobody.
void confirm_without_publickey_fails_in_audit_mode(void**) {
    write_conf("Mode audit\n");
    assert_int_equal(pam("skgate-confirm", Op::auth, "root").rc, PAM_AUTH_ERR);
    assert_int_equal(
        pam("skgate-confirm", Op::auth, "root", {{"SSH_AUTH_INFO_0", "password\n"}}).rc,
        PAM_AUTH_ERR);
    assert_int_equal(pam("skgate-confirm", Op::auth, "root", {{"SSH_AUTH_INFO_0", "garbage"}}).rc,
                     PAM_AUTH_ERR);
}

// Runs `body` in a child whose real uid and gid are `uid` and whose
// effective ids stay root's: what a set-uid sudo or su run by that user is.
// Returns the PAM code; the child's error lines go to `errors`.
int as_caller(uid_t uid, const std::function<PamRun()>& body, std::string* errors = nullptr) {
    std::string out = g_dir + "/caller.out";
    std::filesystem::remove(out);
    pid_t pid = fork();
    if (pid == 0) {
        g_in_child = true;
        if (setresgid(uid, 0, 0) != 0 || setresuid(uid, 0, 0) != 0)
            _exit(99);
        PamRun r = body();
        FILE* f = fopen(out.c_str(), "w");
        for (const auto& e : r.conv.errors)
            fprintf(f, "%s\n", e.c_str());
        fclose(f);
        _exit(r.rc);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (errors)
        *errors = std::filesystem::exists(out) ? read_file(out) : "";
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// su makes PAM_USER the target: the caller's agent may not approve for
// another user, and the socket is opened with the caller's identity.
void stepup_agent_is_reached_as_the_caller(void**) {
    const uid_t nobody = 65534;
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    std::string kn = make_key("sk-nobody", "ecdsa-sk");
    enroll("root", k);
    enroll("nobody", kn);
    Agent agent(sk("0x01", "11"));
    agent.add(k);
    // nobody asks for root (su root): refused before any agent is asked.
    std::string errors;
    int rc = as_caller(
        nobody, [&] { return stepup(agent); }, &errors);
    assert_int_equal(rc, PAM_AUTH_ERR);
    assert_true(errors.find("cannot be approved from nobody's session") != std::string::npos);
    // nobody for nobody through root's socket: refused, it is not nobody's.
    auto via = [&](const std::string& path) {
        return [path] {
            return pam("skgate-stepup", Op::auth, "nobody", {{"SSH_AUTH_SOCK", path}});
        };
    };
    assert_int_equal(as_caller(nobody, via(agent.sock())), PAM_AUTHINFO_UNAVAIL);
    // nobody's own agent, reached as nobody: approved.
    Agent own(sk("0x01", "12"), nobody);
    own.add(kn);
    rc = as_caller(nobody, via(own.sock()), &errors);
    if (rc != PAM_SUCCESS)
        fail_msg("step-up as nobody: %d: %s", rc, errors.c_str());
    // A path the caller cannot see tells nothing about what is there: an
    // existing socket and a missing one in a root-only directory read alike.
    std::string hidden = g_dir + "/root-only";
    std::filesystem::create_directories(hidden);
    chmod(hidden.c_str(), 0700);
    std::filesystem::remove(hidden + "/agent.sock");
    std::filesystem::create_hard_link(own.sock(), hidden + "/agent.sock");
    std::string seen_existing, seen_missing;
    assert_int_equal(as_caller(nobody, via(hidden + "/agent.sock"), &seen_existing),
                     PAM_AUTHINFO_UNAVAIL);
    assert_int_equal(as_caller(nobody, via(hidden + "/agent.sosk"), &seen_missing),
                     PAM_AUTHINFO_UNAVAIL);
    seen_missing.replace(seen_missing.find("agent.sosk"), 10, "agent.sock");
    assert_string_equal(seen_existing.c_str(), seen_missing.c_str());
    assert_true(seen_existing.find("Permission denied") != std::string::npos);
    // root steps up for itself through its own socket as before.
    assert_int_equal(stepup(agent).rc, PAM_SUCCESS);
}

// An agent that lists the enrolled key, then never answers: one deadline
// (timeout=1 in the skgate-stepupshort service) bounds the whole step-up, so
// the module gives up without ever sending the signature request.
void stepup_one_deadline_for_a_stalling_agent(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    enroll("root", k);
    std::string path = g_dir + "/stall.sock";
    std::filesystem::remove(path);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    assert_int_equal(bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    assert_int_equal(listen(lfd, 4), 0);
    std::vector<int> seen;  // message types after the key list
    std::thread agent([&] {
        int c = accept(lfd, nullptr, nullptr);
        auto read_n = [&](uint8_t* b, size_t n) {
            size_t got = 0;
            while (got < n) {
                ssize_t r = read(c, b + got, n - got);
                if (r <= 0)
                    return false;
                got += static_cast<size_t>(r);
            }
            return true;
        };
        for (;;) {
            uint8_t len[4];
            if (!read_n(len, 4))
                break;
            uint32_t n = (uint32_t{len[0]} << 24) | (uint32_t{len[1]} << 16) |
                         (uint32_t{len[2]} << 8) | len[3];
            std::vector<uint8_t> msg(n);
            if (n == 0 || n > 65536 || !read_n(msg.data(), n))
                break;
            if (msg[0] != 11) {  // not SSH_AGENTC_REQUEST_IDENTITIES: stall
                seen.push_back(msg[0]);
                continue;
            }
            WireWriter body;
            body.put_u8(12);
            body.put_u32(1);
            body.put_string(pub(k).blob());
            body.put_string(std::string_view("stall"));
            WireWriter frame;
            frame.put_string(body.bytes());
            auto bytes = std::move(frame).take();
            assert_int_equal(write(c, bytes.data(), bytes.size()),
                             static_cast<ssize_t>(bytes.size()));
        }
        close(c);
    });
    auto t0 = std::chrono::steady_clock::now();
    auto r = pam("skgate-stepupshort", Op::auth, "root", {{"SSH_AUTH_SOCK", path}});
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    agent.join();
    close(lfd);
    assert_int_equal(r.rc, PAM_AUTH_ERR);
    assert_true(!r.conv.errors.empty() &&
                r.conv.errors[0].find("did not answer in time") != std::string::npos);
    // Only the context extension (27) was sent; never the sign request (13).
    assert_int_equal(seen.size(), 1);
    assert_int_equal(seen[0], 27);
    std::printf("stalling agent: step-up gave up after %lld ms (timeout=1)\n",
                static_cast<long long>(ms));
}

// One key for two accounts (a fleet source can list it for both): one
// counter, so a clone used as the other account is still caught; and the
// per-user counters of earlier versions stay a floor.
void counters_are_per_credential(void**) {
    const std::string fp = "SHA256:" + std::string(42, 'B') + "c";
    CounterStore store(g_dir + "/state");
    auto first = store.check_and_store("root", fp, 50);
    assert_true(first.ok() && first->verdict == CounterVerdict::first_use);
    auto other = store.check_and_store("nobody", fp, 40);
    assert_true(other.ok());
    assert_int_equal(other->verdict, CounterVerdict::stale);
    assert_int_equal(other->stored, 50);
    auto up = store.check_and_store("nobody", fp, 51);
    assert_true(up.ok() && up->verdict == CounterVerdict::increased);
    const std::string legacy_fp = "SHA256:" + std::string(42, 'C') + "d";
    std::filesystem::create_directories(g_dir + "/state/counters");
    write_file(g_dir + "/state/counters/root", legacy_fp + " 90\n");
    chmod((g_dir + "/state/counters/root").c_str(), 0600);
    auto floor = store.check_and_store("root", legacy_fp, 80);
    assert_true(floor.ok());
    assert_int_equal(floor->verdict, CounterVerdict::stale);
    assert_int_equal(store.check_and_store("root", legacy_fp, 91)->verdict,
                     CounterVerdict::increased);
}

// 100 step-ups at once against one key: no lost update, nothing backwards.
void counter_store_under_concurrency(void**) {
    const std::string fp = "SHA256:" + std::string(43, 'A');
    const int n = 100;
    std::string log = g_dir + "/accepted";
    std::filesystem::remove(log);
    std::vector<pid_t> pids;
    for (int i = 1; i <= n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            auto r = CounterStore(g_dir + "/state")
                         .check_and_store("root", fp, static_cast<uint32_t>(i));
            if (!r)
                _exit(2);
            if (r->verdict == CounterVerdict::first_use ||
                r->verdict == CounterVerdict::increased) {
                FILE* f = fopen(log.c_str(), "a");
                fprintf(f, "%d %u\n", i, r->stored);
                fclose(f);
            }
            _exit(0);
        }
        pids.push_back(pid);
    }
    for (pid_t p : pids) {
        int status = 0;
        waitpid(p, &status, 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    auto final_value = CounterStore(g_dir + "/state").stored("root", fp);
    assert_true(final_value.ok() && final_value->has_value());
    assert_int_equal(**final_value, n);  // the highest counter always wins
    std::map<uint32_t, int> predecessors;
    std::istringstream in(read_file(log));
    int accepted = 0;
    uint32_t counter = 0, before = 0;
    while (in >> counter >> before) {
        accepted++;
        assert_true(counter > before || accepted == 1);  // never backwards
        predecessors[before]++;
    }
    for (const auto& [value, times] : predecessors)
        assert_int_equal(times, 1);  // every accepted update saw the one before it
    assert_true(accepted >= 1);
}

size_t open_fds() {
    size_t n = 0;
    for (auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        (void)e;
        n++;
    }
    return n;
}

void no_descriptor_leaks(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    enroll("root", k);
    Agent agent(sk("0x01", "0"));
    agent.add(k);
    auto info = std::map<std::string, std::string>{{"SSH_AUTH_INFO_0", auth_info(k)}};
    pam("skgate-confirm", Op::auth, "root", info);  // warm up lazily opened files
    size_t before = open_fds();
    for (int i = 0; i < 5; i++) {
        pam("skgate-confirm", Op::auth, "root", info);
        pam("skgate-confirm", Op::account, "root", info);
        pam("skgate-confirm", Op::open, "root", info);
        pam("skgate-confirm", Op::auth, "root");
        stepup(agent);
        pam("skgate-stepup", Op::auth, "root", {{"SSH_AUTH_SOCK", g_dir + "/none.sock"}});
    }
    assert_int_equal(open_fds(), before);
}

// Keys from a remote source reach the module through the cache skgate-keys
// keeps: it confirms and steps up with them, never asks the source itself
// (nothing listens at MetadataURL, and SourceOutage deny would refuse a
// failed fetch), and stops at SourceCacheMaxAge.
void remote_source_keys_come_from_the_cache(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    write_conf(
        "KeySources metadata\nMetadataURL http://127.0.0.1:1\nSourceCacheTTL 0\n"
        "SourceOutage deny\nSourceCacheMaxAge 1h\n");
    std::filesystem::create_directories(g_dir + "/state/sources");
    chmod((g_dir + "/state/sources").c_str(), 0700);
    SourceCache cache(g_dir + "/state");
    auto cache_at = [&](std::time_t fetched) {
        CachedKeys c{fetched, {{{{}, pub(k), "from-metadata"}, std::nullopt, "users.root[0]"}}};
        assert_true(cache.store(KeySource::metadata, "root", c).ok());
    };
    auto info = std::map<std::string, std::string>{{"SSH_AUTH_INFO_0", auth_info(k)}};
    assert_int_equal(pam("skgate-confirm", Op::auth, "root", info).rc, PAM_AUTH_ERR);

    cache_at(std::time(nullptr) - 600);
    assert_int_equal(pam("skgate-confirm", Op::auth, "root", info).rc, PAM_SUCCESS);
    assert_int_equal(pam("skgate-confirm", Op::account, "root", info).rc, PAM_SUCCESS);
    Agent agent(sk("0x01", "9"));
    agent.add(k);
    assert_int_equal(stepup(agent).rc, PAM_SUCCESS);
    assert_false(std::filesystem::exists(g_dir + "/state/sources/metadata/.unreachable"));

    cache_at(std::time(nullptr) - 3601);
    assert_int_equal(pam("skgate-confirm", Op::auth, "root", info).rc, PAM_AUTH_ERR);
    assert_int_equal(stepup(agent).rc, PAM_AUTH_ERR);
}

// 100 step-ups at once through the module, one key, one agent, one counter
// value: exactly one may pass; the other 99 are replays.
void parallel_stepups_accept_a_counter_once(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    enroll("root", k);
    Agent agent(sk("0x01", "77"));
    agent.add(k);
    std::vector<pid_t> pids;
    for (int i = 0; i < 100; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            g_in_child = true;
            _exit(stepup(agent).rc == PAM_SUCCESS ? 0 : 1);
        }
        pids.push_back(pid);
    }
    int passed = 0;
    for (pid_t p : pids) {
        int status = 0;
        waitpid(p, &status, 0);
        assert_true(WIFEXITED(status));
        passed += WEXITSTATUS(status) == 0;
    }
    assert_int_equal(passed, 1);
    auto stored = CounterStore(g_dir + "/state").stored("root", pub(k).fingerprint());
    assert_true(stored.ok() && stored->has_value());
    assert_int_equal(**stored, 77);
}

}  // namespace

int main() {
    const char* d = std::getenv("SKGATE_PAM_DIR");
    if (!d || !running_as_root()) {
        std::printf("SKIP: needs root and SKGATE_PAM_DIR (run through meson test)\n");
        return 77;
    }
    g_dir = d;
    std::filesystem::create_directories(g_dir);
    chmod(g_dir.c_str(), 0755);
    const CMUnitTest tests[] = {
        cmocka_unit_test_setup(confirm_enrolled_key_succeeds, reset),
        cmocka_unit_test_setup(confirm_second_method_line_is_found, reset),
        cmocka_unit_test_setup(confirm_unenrolled_key_fails, reset),
        cmocka_unit_test_setup(confirm_without_auth_info, reset),
        cmocka_unit_test_setup(confirm_malformed_auth_info, reset),
        cmocka_unit_test_setup(confirm_ordinary_key_enforce_and_audit, reset),
        cmocka_unit_test_setup(confirm_revoked_key_fails_even_in_audit, reset),
        cmocka_unit_test_setup(confirm_errors_fail_closed, reset),
        cmocka_unit_test_setup(bad_options_fail_closed, reset),
        cmocka_unit_test_setup(invalid_user_name, reset),
        cmocka_unit_test_setup(session_records_last_use, reset),
        cmocka_unit_test_setup(setcred_and_chauthtok, reset),
        cmocka_unit_test_setup(stepup_succeeds_and_stores_the_counter, reset),
        cmocka_unit_test_setup(stepup_replay_and_clone_are_refused, reset),
        cmocka_unit_test_setup(stepup_counterless_authenticator, reset),
        cmocka_unit_test_setup(stepup_flags, reset),
        cmocka_unit_test_setup(stepup_agent_problems, reset),
        cmocka_unit_test_setup(stepup_audit_mode_still_enforces, reset),
        cmocka_unit_test_setup(confirm_without_publickey_fails_in_audit_mode, reset),
        cmocka_unit_test_setup(stepup_agent_is_reached_as_the_caller, reset),
        cmocka_unit_test_setup(stepup_one_deadline_for_a_stalling_agent, reset),
        cmocka_unit_test_setup(counter_store_under_concurrency, reset),
        cmocka_unit_test_setup(counters_are_per_credential, reset),
        cmocka_unit_test_setup(stepup_refuses_an_unsafe_state_directory, reset),
        cmocka_unit_test_setup(no_descriptor_leaks, reset),
        cmocka_unit_test_setup(parallel_stepups_accept_a_counter_once, reset),
        cmocka_unit_test_setup(remote_source_keys_come_from_the_cache, reset),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
