// pam_skgate.so through the real libpam (pam_wrapper supplies the service
// files): every phase, option and return path, and step-up against a real
// ssh-agent holding keys of the test security key.
#include <security/pam_appl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csetjmp>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include <cmocka.h>
}

#include "core/counters.h"
#include "core/keystore.h"
#include "core/revocation.h"
#include "core/source_cache.h"
#include "core/text.h"
#include "tests/support/helpers.h"

using namespace skgate;
using namespace skgate::test;

namespace {

std::string g_dir;  // SKGATE_PAM_DIR: the config, store and keys live here
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
    if (pam_start(service, user.c_str(), &c, &h) != PAM_SUCCESS)
        fail_msg("pam_start failed");
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
    if (!store.add(user, {pub(key), user, "k", std::time(nullptr) - 60, {}, "", "", false}))
        fail_msg("enroll failed");
}

std::string auth_info(const std::string& key) {
    return "publickey " + pub(key).to_text() + "\n";
}

int reset(void**) {
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
    assert_true(store.add("root", {pub(k), "", "", std::time(nullptr), {}, "", "", false}).ok());
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
    explicit Agent(const std::map<std::string, std::string>& env) {
        sock_ = g_dir + "/agent.sock";
        std::filesystem::remove(sock_);
        pid_ = fork();
        if (pid_ == 0) {
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
                missing.conv.errors[0].find("no enrolled security key in your agent") !=
                    std::string::npos);
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

void stepup_audit_mode_allows_and_logs(void**) {
    std::string k = make_key("sk-ecdsa", "ecdsa-sk");
    write_conf("Mode audit\n");
    auto r = pam("skgate-stepup", Op::auth, "root", {{"SSH_AUTH_SOCK", g_dir + "/no-such.sock"}});
    assert_int_equal(r.rc, PAM_SUCCESS);
    assert_true(r.conv.errors.empty());
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
        if (pid == 0)
            _exit(stepup(agent).rc == PAM_SUCCESS ? 0 : 1);
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
        cmocka_unit_test_setup(stepup_audit_mode_allows_and_logs, reset),
        cmocka_unit_test_setup(counter_store_under_concurrency, reset),
        cmocka_unit_test_setup(no_descriptor_leaks, reset),
        cmocka_unit_test_setup(parallel_stepups_accept_a_counter_once, reset),
        cmocka_unit_test_setup(remote_source_keys_come_from_the_cache, reset),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
