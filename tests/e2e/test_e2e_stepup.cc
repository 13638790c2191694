// pam_skgate step-up behind Debian's own sudo and su, as a user with a shell
// would attack it: audit mode, a key the user wrote into authorized_keys
// themselves, another user's agent socket, a counter regression across two
// accounts and many honest step-ups at once. Each case checks the command's
// result and the journal event.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/store/keystore.h"
#include "tests/e2e/sshd_harness.h"
#include "tests/support/passkey_agent.h"

using namespace skgate;
using namespace skgate::test;

namespace {

constexpr const char* kAlice = "skgt-alice";
constexpr const char* kBob = "skgt-bob";
constexpr const char* kPassword = "correct horse";

struct Account {
    uid_t uid;
    gid_t gid;
    std::string home;
};

Account account(const std::string& name) {
    const passwd* pw = getpwnam(name.c_str());
    if (!pw)
        throw std::runtime_error("no account " + name);
    return {pw->pw_uid, pw->pw_gid, pw->pw_dir};
}

// Where the test security key of `user`'s agent keeps its counter (the
// provider runs as that user).
std::string counter_file(const std::string& user) {
    return account(user).home + "/.ssh/sk-counter";
}

// A real ssh-agent running as `user`, its socket in the user's 0700 ~/.ssh,
// signing with the test security key as `env` says (with a counter that goes
// up from 1 unless SKGATE_TEST_SK_COUNTER fixes it).
class UserAgent {
  public:
    UserAgent(const std::string& user, const std::map<std::string, std::string>& env)
        : sock_(account(user).home + "/.ssh/agent.sock") {
        Account a = account(user);
        std::string counter = counter_file(user);
        std::filesystem::remove(sock_);
        pid_ = fork();
        if (pid_ == 0) {
            if (setgroups(0, nullptr) != 0 || setresgid(a.gid, a.gid, a.gid) != 0 ||
                setresuid(a.uid, a.uid, a.uid) != 0)
                _exit(126);
            // A real authenticator's counter goes up with every signature.
            if (!env.count("SKGATE_TEST_SK_COUNTER"))
                setenv("SKGATE_TEST_SK_COUNTER_FILE", counter.c_str(), 1);
            for (const auto& [k, v] : env)
                setenv(k.c_str(), v.c_str(), 1);
            std::string allow = std::filesystem::path(required_env("SKGATE_TEST_SK_PROVIDER"))
                                    .parent_path()
                                    .string() +
                                "/*";
            execlp("ssh-agent", "ssh-agent", "-D", "-a", sock_.c_str(), "-P", allow.c_str(),
                   static_cast<char*>(nullptr));
            _exit(127);
        }
        for (int i = 0; i < 500 && !std::filesystem::exists(sock_); i++)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (!std::filesystem::exists(sock_))
            throw std::runtime_error("ssh-agent for " + user + " did not start");
    }
    ~UserAgent() {
        kill(pid_, SIGTERM);
        waitpid(pid_, nullptr, 0);
        std::filesystem::remove(sock_);
    }
    // ssh-agent answers root as well as its own uid.
    void add(const std::string& key) {
        auto r = run({"ssh-add", "-q", "-S", required_env("SKGATE_TEST_SK_PROVIDER"), key}, "",
                     {{"SSH_AUTH_SOCK", sock_}});
        if (r.status != 0)
            throw std::runtime_error("ssh-add: " + r.err);
    }
    const std::string& sock() const { return sock_; }

  private:
    std::string sock_;
    pid_t pid_ = -1;
};

class E2eStepUp : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        std::string dir = SshdHarness::e2e_dir();
        if (dir.empty())
            return;
        h_ = new SshdHarness(dir + "/stepup-e2e");
        key_ = h_->make_key("alice-sk", "ecdsa-sk");
        other_ = h_->make_key("alice-other", "ecdsa-sk");
        // The agents (running as the test users) read the private keys
        // through ssh-add, which runs as root; the public halves are enough
        // for everyone else.
        set_password(kAlice, kPassword);
        write_file("/etc/sudoers.d/skgate-e2e",
                   "Defaults env_keep += \"SSH_AUTH_SOCK\"\n"
                   "Defaults passwd_tries=1, timestamp_timeout=0, !lecture\n"
                   "skgt-alice ALL=(ALL) ALL\nskgt-bob ALL=(ALL) ALL\n",
                   0440);
    }
    static void TearDownTestSuite() {
        if (h_)
            std::filesystem::remove("/etc/sudoers.d/skgate-e2e");
        delete h_;
        h_ = nullptr;
    }

    void SetUp() override {
        if (!h_)
            GTEST_SKIP() << "run through tests/scripts/e2e-env.sh (meson test does)";
        for (const char* p : {"keys.d", "state", "revoked"})
            std::filesystem::remove_all(h_->path(p));
        for (const char* u : {kAlice, kBob}) {
            std::filesystem::remove(account(u).home + "/.ssh/authorized_keys");
            std::filesystem::remove(counter_file(u));
        }
        conf("Mode audit\n");
        h_->mark_journal();
    }

    // skgate.conf: the harness's store, revocation list and state, `extra`.
    static void conf(const std::string& extra) {
        write_file(h_->path("skgate.conf"),
                   "KeysDirectory " + h_->path("keys.d") + "\nRevokedKeys " + h_->path("revoked") +
                       "\nStateDirectory " + h_->path("state") + "\n" + extra);
    }

    static void enroll(const std::string& user, const std::string& key) {
        KeyStore store(h_->path("keys.d"));
        auto added = store.add(user, {.key = *PublicKey::parse_text(read_file(key + ".pub")),
                                      .comment = "e2e",
                                      .name = "sk",
                                      .enrolled = std::time(nullptr) - 60});
        ASSERT_TRUE(added.ok()) << added.error().message;
    }

    static std::string fingerprint(const std::string& key) {
        return PublicKey::parse_text(read_file(key + ".pub"))->fingerprint();
    }

    // The PAM service `name` (a private copy of /etc/pam.d): `auth_lines`,
    // then Debian's account and session stacks.
    static void pam_service(const std::string& name, const std::string& auth_lines) {
        write_file("/etc/pam.d/" + name, auth_lines +
                                             "account  include common-account\n"
                                             "session  include common-session-noninteractive\n");
    }
    static std::string module_line(const std::string& control, const std::string& args = "") {
        return "auth " + control + " " + required_env("SKGATE_PAM_MODULE") +
               " stepup config=" + h_->path("skgate.conf") + (args.empty() ? "" : " " + args) +
               "\n";
    }

    // Writes the shadow entry in place: /etc/shadow is a bind mount of the
    // e2e world's copy, which a rename would not replace.
    static void set_password(const std::string& user, const std::string& password) {
        auto hash = run({"openssl", "passwd", "-6", "-salt", "skgatee2e", password});
        ASSERT_EQ(hash.status, 0) << hash.err;
        std::string crypted = hash.out.substr(0, hash.out.find('\n'));
        std::istringstream in(read_file("/etc/shadow"));
        std::string line, out;
        while (std::getline(in, line)) {
            if (line.starts_with(user + ":")) {
                size_t second = line.find(':', user.size() + 1);
                line = user + ":" + crypted + line.substr(second);
            }
            out += line + "\n";
        }
        std::ofstream f("/etc/shadow", std::ios::trunc);
        f << out;
        ASSERT_TRUE(f.good());
    }

    // `argv` run as `user` (real and effective uid, its groups), with only
    // PATH and, when given, SSH_AUTH_SOCK in the environment.
    static RunResult as_user(const std::string& user, const std::vector<std::string>& argv,
                             const std::string& sock, const std::string& input = "") {
        std::vector<std::string> args{"setpriv",
                                      "--reuid=" + user,
                                      "--regid=" + user,
                                      "--init-groups",
                                      "env",
                                      "-i",
                                      "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                                      "LANG=C"};
        if (!sock.empty())
            args.push_back("SSH_AUTH_SOCK=" + sock);
        args.insert(args.end(), argv.begin(), argv.end());
        return run(args, input);
    }
    static RunResult sudo_id(const std::string& user, const std::string& sock,
                             const std::string& password = "") {
        return as_user(user, {"sudo", "-k", "-S", "-p", "", "/usr/bin/id", "-u"}, sock,
                       password.empty() ? "" : password + "\n");
    }
    // sudo and su print pam_skgate's messages on stdout too, in no fixed
    // order with the command's own output.
    static bool has_line(const std::string& out, const std::string& line) {
        std::istringstream in(out);
        for (std::string l; std::getline(in, l);) {
            if (l == line)
                return true;
        }
        return false;
    }
    static bool got_root(const RunResult& r) { return r.status == 0 && has_line(r.out, "0"); }
    static std::string shown(const RunResult& r) {
        return "exit " + std::to_string(r.status) + "\nstdout: " + r.out + "\nstderr: " + r.err;
    }

    // This test's step-up events for `user`, once one contains `containing`.
    static std::string stepup_events(const std::string& decision, const std::string& user,
                                     const std::string& containing) {
        return h_->journal(
            {"SKGATE_EVENT=stepup", "SKGATE_DECISION=" + decision, "SKGATE_USER=" + user},
            containing);
    }

    static SshdHarness* h_;
    static std::string key_, other_;
};

SshdHarness* E2eStepUp::h_ = nullptr;
std::string E2eStepUp::key_, E2eStepUp::other_;

const std::map<std::string, std::string> kTouch = {{"SKGATE_TEST_SK_FLAGS", "0x01"}};
std::map<std::string, std::string> touch_with_counter(const std::string& counter) {
    return {{"SKGATE_TEST_SK_FLAGS", "0x01"}, {"SKGATE_TEST_SK_COUNTER", counter}};
}

}  // namespace

// The documented sudo line in the Mode audit that enable writes: no key, a
// key skgate does not know and a revoked key are each refused (no password is
// asked after a refusal); only the enrolled key gives root.
TEST_F(E2eStepUp, AuditModeSudoGivesRootOnlyForAFreshSignatureOfAnEnrolledKey) {
    pam_service("sudo", module_line("[success=done default=die]"));
    enroll(kAlice, key_);

    auto no_agent = sudo_id(kAlice, "", kPassword);
    EXPECT_FALSE(got_root(no_agent)) << shown(no_agent);
    EXPECT_NE(no_agent.err.find("skgate:"), std::string::npos) << no_agent.err;

    UserAgent agent(kAlice, kTouch);
    agent.add(other_);
    auto unknown = sudo_id(kAlice, agent.sock(), kPassword);
    EXPECT_FALSE(got_root(unknown)) << shown(unknown);
    EXPECT_NE(unknown.err.find("key is not enrolled for skgt-alice"), std::string::npos)
        << shown(unknown);
    std::string denied = stepup_events("deny", kAlice, fingerprint(other_));
    EXPECT_NE(denied.find("\"SKGATE_REASON\":\"key is not enrolled for skgt-alice\""),
              std::string::npos)
        << denied;
    EXPECT_NE(denied.find("\"SKGATE_REQUESTER\":\"skgt-alice\""), std::string::npos) << denied;

    agent.add(key_);
    auto ok = sudo_id(kAlice, agent.sock());
    EXPECT_TRUE(got_root(ok)) << shown(ok);
    std::string allowed = stepup_events("allow", kAlice, fingerprint(key_));
    EXPECT_NE(allowed.find("\"SKGATE_KEY_FP\":\"" + fingerprint(key_) + "\""), std::string::npos)
        << allowed;
    EXPECT_NE(allowed.find("step-up for sudo approved"), std::string::npos) << allowed;
    // sudo runs PAM with the user's real uid and effective uid 0: journald
    // must record root, and skgatectl audit (which trusts only root's and
    // skgate's entries) must show the decision, not drop it as forged.
    EXPECT_NE(allowed.find("\"_UID\":\"0\""), std::string::npos) << allowed;
    auto audit = run({required_env("SKGATE_SKGATECTL"), "audit", "--directory",
                      required_env("SKGATE_JOURNAL_DIR"), "--event", "stepup", "--user", kAlice,
                      "--decision", "allow", "--json"});
    EXPECT_EQ(audit.status, 0) << audit.err;
    EXPECT_NE(audit.out.find(fingerprint(key_)), std::string::npos) << audit.out << audit.err;
    EXPECT_NE(audit.out.find("\"uid\":0"), std::string::npos) << audit.out;

    auto revoke = run({required_env("SKGATE_SKGATECTL"), "revoke", "-f", h_->path("skgate.conf"),
                       "--user", kAlice, "--fingerprint", fingerprint(key_)});
    ASSERT_EQ(revoke.status, 0) << revoke.out << revoke.err;
    UserAgent later(kAlice, kTouch);
    later.add(key_);
    auto revoked = sudo_id(kAlice, later.sock(), kPassword);
    EXPECT_FALSE(got_root(revoked)) << shown(revoked);
    EXPECT_NE(revoked.err.find("key is revoked"), std::string::npos) << shown(revoked);
    std::string events = stepup_events("deny", kAlice, "key is revoked");
    EXPECT_NE(events.find("\"SKGATE_REASON\":\"key is revoked\""), std::string::npos) << events;
    EXPECT_NE(events.find("\"SKGATE_KEY_FP\":\"" + fingerprint(key_) + "\""), std::string::npos)
        << events;
}

// auth required pam_skgate.so stepup, then the password: both must succeed,
// in audit mode too.
TEST_F(E2eStepUp, AuditModeWithThePasswordLineNeedsTheKeyAndThePassword) {
    pam_service("sudo", module_line("required") + "@include common-auth\n");
    enroll(kAlice, key_);
    auto no_agent = sudo_id(kAlice, "", kPassword);
    EXPECT_FALSE(got_root(no_agent)) << shown(no_agent);

    UserAgent agent(kAlice, kTouch);
    agent.add(key_);
    auto wrong = sudo_id(kAlice, agent.sock(), "wrong password");
    EXPECT_FALSE(got_root(wrong)) << shown(wrong);
    auto both = sudo_id(kAlice, agent.sock(), kPassword);
    EXPECT_TRUE(got_root(both)) << shown(both);
}

// Someone with alice's shell but not her security key writes a software key
// into her authorized_keys and loads it into an agent: with KeySources
// authorized_keys, it could log in where sshd asks skgate, but it is never a
// step-up credential. The same key enrolled by the administrator is.
TEST_F(E2eStepUp, AKeyTheUserWroteIntoAuthorizedKeysIsNoStepUpCredential) {
    conf("Mode enforce\nKeySources local authorized_keys\n");
    pam_service("sudo", module_line("[success=done default=die]"));
    Account alice = account(kAlice);
    std::string ak = alice.home + "/.ssh/authorized_keys";
    write_file(ak, read_file(other_ + ".pub"), 0600);
    ASSERT_EQ(chown(ak.c_str(), alice.uid, alice.gid), 0);

    UserAgent agent(kAlice, kTouch);
    agent.add(other_);
    auto r = sudo_id(kAlice, agent.sock(), kPassword);
    EXPECT_FALSE(got_root(r)) << shown(r);
    EXPECT_NE(r.err.find("never a step-up credential"), std::string::npos) << shown(r);
    std::string denied = stepup_events("deny", kAlice, fingerprint(other_));
    EXPECT_NE(denied.find("\"SKGATE_KEY_FP\":\"" + fingerprint(other_) + "\""), std::string::npos)
        << denied;
    EXPECT_NE(denied.find("only in the user's authorized_keys"), std::string::npos) << denied;

    enroll(kAlice, other_);
    auto enrolled = sudo_id(kAlice, agent.sock());
    EXPECT_TRUE(got_root(enrolled)) << shown(enrolled);
}

// su: alice points SSH_AUTH_SOCK at bob's agent. A step-up for bob (or root)
// requested by alice is refused before any agent is asked; a step-up for
// alice herself reaches the socket as alice, so bob's socket behind his 0700
// ~/.ssh is as unreachable as a path that does not exist, and the messages
// are the same. Root's su for bob reaches bob's agent as bob.
TEST_F(E2eStepUp, SuNeverLetsOneUserUseAnothersAgent) {
    pam_service("su", module_line("[success=done default=die]"));
    enroll(kAlice, key_);
    enroll(kBob, other_);
    std::string bob_counter = counter_file(kBob);
    UserAgent bobs(kBob, kTouch);
    bobs.add(other_);

    auto for_bob = as_user(kAlice, {"su", kBob, "-c", "id -un"}, bobs.sock());
    EXPECT_NE(for_bob.status, 0);
    EXPECT_EQ(for_bob.out.find(kBob), std::string::npos) << for_bob.out;
    auto for_root = as_user(kAlice, {"su", "root", "-c", "id -un"}, bobs.sock());
    EXPECT_NE(for_root.status, 0);
    EXPECT_EQ(for_root.out.find("root"), std::string::npos) << for_root.out;
    EXPECT_FALSE(std::filesystem::exists(bob_counter)) << "bob's authenticator was asked";
    std::string denied = stepup_events("deny", kBob, "skgt-alice");
    EXPECT_NE(denied.find("\"SKGATE_REQUESTER\":\"skgt-alice\""), std::string::npos) << denied;
    EXPECT_NE(denied.find("only the user's own agent may approve it"), std::string::npos) << denied;

    std::string missing = account(kBob).home + "/.ssh/agent.sosk";
    auto hidden = as_user(kAlice, {"su", kAlice, "-c", "id -un"}, bobs.sock());
    auto absent = as_user(kAlice, {"su", kAlice, "-c", "id -un"}, missing);
    EXPECT_NE(hidden.status, 0);
    EXPECT_NE(absent.status, 0);
    std::string seen = hidden.err;
    for (size_t at = seen.find("agent.sock"); at != std::string::npos; at = seen.find("agent.sock"))
        seen.replace(at, 10, "agent.sosk");
    EXPECT_EQ(seen, absent.err);
    EXPECT_FALSE(std::filesystem::exists(bob_counter));

    UserAgent alices(kAlice, kTouch);
    alices.add(key_);
    auto own = as_user(kAlice, {"su", kAlice, "-c", "id -un"}, alices.sock());
    EXPECT_EQ(own.status, 0) << shown(own);
    EXPECT_TRUE(has_line(own.out, kAlice)) << shown(own);

    auto by_root = run({"env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                        "SSH_AUTH_SOCK=" + bobs.sock(), "su", kBob, "-c", "id -un"});
    EXPECT_EQ(by_root.status, 0) << shown(by_root);
    EXPECT_TRUE(has_line(by_root.out, kBob)) << shown(by_root);
    EXPECT_TRUE(std::filesystem::exists(bob_counter));
}

// One key enrolled for two accounts shares one counter: a clone used as bob
// after alice's step-up at counter 50 is caught at 40.
TEST_F(E2eStepUp, ACounterRegressionAcrossTwoAccountsIsRefused) {
    pam_service("sudo", module_line("[success=done default=die]"));
    enroll(kAlice, key_);
    enroll(kBob, key_);
    {
        UserAgent alices(kAlice, touch_with_counter("50"));
        alices.add(key_);
        auto r = sudo_id(kAlice, alices.sock());
        EXPECT_TRUE(got_root(r)) << shown(r);
    }
    UserAgent clone(kBob, touch_with_counter("40"));
    clone.add(key_);
    auto r = sudo_id(kBob, clone.sock());
    EXPECT_FALSE(got_root(r)) << shown(r);
    std::string denied = stepup_events("deny", kBob, "cloned authenticator");
    EXPECT_NE(denied.find("cloned authenticator"), std::string::npos) << denied;
    EXPECT_NE(denied.find(fingerprint(key_)), std::string::npos) << denied;
}

// Twenty sudo step-ups at once with one authenticator enrolled for two
// accounts (ten as alice, ten as bob), whose counter goes up with every
// signature: all succeed and none is reported as a clone.
TEST_F(E2eStepUp, TwentyHonestStepUpsAtOnceAreNeverAClone) {
    // A deadline no busy machine reaches: the test is about ordering.
    conf("Mode enforce\nStepUpTimeout 3600\n");
    pam_service("sudo", module_line("[success=done default=die]"));
    enroll(kAlice, key_);
    enroll(kBob, key_);
    // One authenticator: both agents' test key counts in one file.
    std::string shared = h_->path("authenticator");
    std::filesystem::create_directories(shared);
    chmod(shared.c_str(), 01777);
    std::string counter = shared + "/counter";
    std::filesystem::remove(counter);
    write_file(counter, "", 0666);
    chmod(counter.c_str(), 0666);
    const std::map<std::string, std::string> one_authenticator = {
        {"SKGATE_TEST_SK_FLAGS", "0x01"}, {"SKGATE_TEST_SK_COUNTER_FILE", counter}};
    UserAgent alices(kAlice, one_authenticator);
    alices.add(key_);
    UserAgent bobs(kBob, one_authenticator);
    bobs.add(key_);

    constexpr size_t kRuns = 20;
    std::vector<RunResult> results(kRuns);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < kRuns; i++)
        threads.emplace_back([&, i] {
            results[i] = i % 2 ? sudo_id(kBob, bobs.sock()) : sudo_id(kAlice, alices.sock());
        });
    for (auto& t : threads)
        t.join();
    for (size_t i = 0; i < kRuns; i++)
        EXPECT_TRUE(got_root(results[i])) << i << ": " << shown(results[i]);
    EXPECT_EQ(read_file(counter), std::to_string(kRuns) + "\n");
    // Every step-up's event, once journald has them all.
    auto count = [](const std::string& s) {
        return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
    };
    std::string all;
    for (int wait = 0; wait < 100; wait++) {
        all = h_->journal({"SKGATE_EVENT=stepup"});
        if (count(all) >= kRuns)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(count(all), kRuns) << all;
    EXPECT_EQ(all.find("clone"), std::string::npos) << all;
    EXPECT_EQ(all.find("\"SKGATE_DECISION\":\"deny\""), std::string::npos) << all;
}

namespace {

// A passkey's agent (tests/support/passkey_agent: WebAuthn signatures, as
// skgate-agent gives for a browser passkey) running as `user`, its socket
// in the user's ~/.ssh.
class UserPasskeyAgent {
  public:
    UserPasskeyAgent(const std::string& user, const SoftSkKey& key, bool counterless)
        : sock_(account(user).home + "/.ssh/passkey-agent.sock") {
        Account a = account(user);
        std::filesystem::remove(sock_);
        pid_ = fork();
        if (pid_ == 0) {
            if (setgroups(0, nullptr) != 0 || setresgid(a.gid, a.gid, a.gid) != 0 ||
                setresuid(a.uid, a.uid, a.uid) != 0)
                _exit(126);
            PasskeyTestAgent agent(sock_, key, {"localhost", "http://localhost:41234"}, 0x01,
                                   counterless);
            for (;;)
                pause();
        }
        for (int i = 0; i < 500 && !std::filesystem::exists(sock_); i++)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (!std::filesystem::exists(sock_))
            throw std::runtime_error("the passkey agent for " + user + " did not start");
    }
    ~UserPasskeyAgent() {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        std::filesystem::remove(sock_);
    }
    const std::string& sock() const { return sock_; }

  private:
    std::string sock_;
    pid_t pid_ = -1;
};

}  // namespace

// A browser passkey approves sudo through the agent with WebAuthn
// signatures, once AllowedApplications names its relying party; a synced
// passkey's counter is always 0, and CounterCheck strict accepts 0 after 0
// (an authenticator without a counter) but never 0 after a higher value.
TEST_F(E2eStepUp, APasskeyApprovesSudoWhenPolicyAllowsItsApplication) {
    pam_service("sudo", module_line("[success=done default=die]"));
    SoftSkKey passkey = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256, "localhost");
    KeyStore store(h_->path("keys.d"));
    ASSERT_TRUE(store
                    .add(kAlice, {.key = passkey.public_key(),
                                  .comment = "passkey",
                                  .name = "passkey",
                                  .enrolled = std::time(nullptr) - 60})
                    .ok());
    const std::string fp = passkey.public_key().fingerprint();
    {
        UserPasskeyAgent agent(kAlice, passkey, true);
        auto refused = sudo_id(kAlice, agent.sock(), kPassword);
        EXPECT_FALSE(got_root(refused)) << shown(refused);
        std::string denied = stepup_events("deny", kAlice, fp);
        EXPECT_NE(denied.find("is not in AllowedApplications"), std::string::npos) << denied;

        conf("Mode audit\nAllowedApplications ssh:* localhost\n");
        for (int i = 0; i < 2; i++) {
            auto ok = sudo_id(kAlice, agent.sock());
            EXPECT_TRUE(got_root(ok)) << i << ": " << shown(ok);
        }
        EXPECT_NE(stepup_events("allow", kAlice, fp).find(fp), std::string::npos);
    }
    // The same credential with a counter (1, then a clone's 0): refused.
    UserPasskeyAgent counting(kAlice, passkey, false);
    auto counted = sudo_id(kAlice, counting.sock());
    EXPECT_TRUE(got_root(counted)) << shown(counted);
    UserPasskeyAgent clone(kAlice, passkey, true);
    auto cloned = sudo_id(kAlice, clone.sock(), kPassword);
    EXPECT_FALSE(got_root(cloned)) << shown(cloned);
    EXPECT_NE(stepup_events("deny", kAlice, "signature counter 0 is not above").find(fp),
              std::string::npos);
}

// The whole way for a browser passkey: alice's skgate-agent makes the key in
// her browser (Debian's Chromium with a virtual authenticator, as her user)
// and, when root's su for alice asks her agent for the step-up, opens its
// page there; the passkey signs and pam_skgate approves. Then the person
// refuses in the browser, and su fails.
TEST_F(E2eStepUp, APasskeyInTheUsersBrowserApprovesThroughHerSkgateAgent) {
    if (run({"sh", "-c", "command -v chromium"}).status != 0)
        GTEST_SKIP() << "Debian's chromium is not installed (scripts/install-deps installs it)";
    Account a = account(kAlice);
    std::string base = a.home + "/passkey-e2e";
    std::filesystem::remove_all(base);
    for (const std::string& d : {base, base + "/agent", base + "/browser"}) {
        std::filesystem::create_directories(d);
        ASSERT_EQ(chown(d.c_str(), a.uid, a.gid), 0);
        chmod(d.c_str(), 0700);
    }
    std::vector<std::string> as_alice{"setpriv",
                                      "--reuid=" + std::string(kAlice),
                                      "--regid=" + std::string(kAlice),
                                      "--init-groups",
                                      "env",
                                      "HOME=" + a.home,
                                      "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                                      "SKGATE_AGENT_DIR=" + base + "/agent",
                                      "BROWSER=" + base + "/browser/open"};
    auto spawn_as_alice = [&](std::vector<std::string> argv, const std::string& log) {
        std::vector<std::string> full = as_alice;
        full.insert(full.end(), argv.begin(), argv.end());
        pid_t pid = fork();
        if (pid == 0) {
            int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            dup2(fd, 1);
            dup2(fd, 2);
            std::vector<char*> args;
            for (auto& s : full)
                args.push_back(s.data());
            args.push_back(nullptr);
            execvp(args[0], args.data());
            _exit(127);
        }
        return pid;
    };
    auto wait_for = [](const std::string& path, const std::string& text) {
        for (int i = 0; i < 2400; i++) {
            std::error_code ec;
            if (std::filesystem::exists(path, ec) &&
                read_file(path).find(text) != std::string::npos)
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    };
    pid_t browser = spawn_as_alice(
        {"python3", required_env("SKGATE_SOURCE_ROOT") + "/tests/browser/webauthn_browser.py",
         "--serve", base + "/browser"},
        h_->path("passkey-browser.log"));
    ASSERT_TRUE(wait_for(base + "/browser/log", "ready"))
        << read_file(h_->path("passkey-browser.log"));
    std::vector<std::string> generate = as_alice;
    for (const std::string& s :
         std::vector<std::string>{required_env("SKGATE_AGENT_BIN"), "generate", "--passkey",
                                  "--name", "phone", "--timeout", "120"})
        generate.push_back(s);
    auto made = run(generate);
    ASSERT_EQ(made.status, 0) << shown(made);
    KeyStore store(h_->path("keys.d"));
    auto key = PublicKey::parse_text(read_file(base + "/agent/keys/phone.pub"));
    ASSERT_TRUE(key.ok());
    ASSERT_TRUE(store
                    .add(kAlice, {.key = *key,
                                  .comment = "phone",
                                  .name = "phone",
                                  .enrolled = std::time(nullptr) - 60})
                    .ok());
    conf("Mode audit\nAllowedApplications ssh:* localhost\n");
    pid_t agent =
        spawn_as_alice({required_env("SKGATE_AGENT_BIN"), "run"}, h_->path("passkey-agent.log"));
    ASSERT_TRUE(wait_for(h_->path("passkey-agent.log"), "listening on"));
    pam_service("su", module_line("[success=done default=die]"));
    auto su = [&] {
        return run({"env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                    "SSH_AUTH_SOCK=" + base + "/agent/agent.sock", "su", kAlice, "-c", "id -un"});
    };
    auto approved = su();
    EXPECT_EQ(approved.status, 0) << shown(approved) << read_file(h_->path("passkey-agent.log"));
    EXPECT_TRUE(has_line(approved.out, kAlice)) << shown(approved);
    std::string allowed = stepup_events("allow", kAlice, key->fingerprint());
    EXPECT_NE(allowed.find(key->fingerprint()), std::string::npos) << allowed;

    // The person refuses in the browser (the authenticator fails to verify).
    std::string fifo = base + "/browser/commands";
    int fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    ASSERT_GE(fd, 0);
    (void)!write(fd, "uv no\n", 6);
    close(fd);
    ASSERT_TRUE(wait_for(base + "/browser/log", "uv no"));
    auto refused = su();
    EXPECT_NE(refused.status, 0) << shown(refused);
    EXPECT_TRUE(wait_for(h_->path("passkey-agent.log"), "did not approve (NotAllowedError)"));

    kill(agent, SIGTERM);
    waitpid(agent, nullptr, 0);
    fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) {
        (void)!write(fd, "quit\n", 5);
        close(fd);
    }
    int status = 0;
    for (int i = 0; i < 600 && waitpid(browser, &status, WNOHANG) == 0; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    kill(browser, SIGKILL);
    waitpid(browser, nullptr, 0);
    std::filesystem::remove_all(base);
}
