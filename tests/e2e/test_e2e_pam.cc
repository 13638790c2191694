// pam_skgate behind Debian's own sshd: AuthenticationMethods
// publickey,keyboard-interactive:pam with ExposeAuthInfo. The PAM step passes
// silently for an enrolled security key and fails for a key skgate does not
// allow, even when sshd's own configuration is weakened.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/store/keystore.h"
#include "tests/e2e/sshd_harness.h"

using namespace skgate;
using namespace skgate::test;

namespace {

constexpr const char* kAlice = "skgt-alice";
const std::map<std::string, std::string> kTouch = {{"SKGATE_TEST_SK_FLAGS", "0x01"}};
// Keyboard-interactive is off under BatchMode; pam_skgate never prompts, so
// with no terminal a prompt would fail the login.
const std::vector<std::string> kKbdInt = {"BatchMode=no", "KbdInteractiveAuthentication=yes",
                                          "PasswordAuthentication=no", "NumberOfPasswordPrompts=1"};

class E2ePam : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        std::string dir = SshdHarness::e2e_dir();
        if (dir.empty())
            return;
        sshd_ = new SshdHarness(dir + "/pam-e2e");

        sshd_->install_helper();
        // sshd 9.2 names its PAM service after argv[0].
        std::filesystem::remove(sshd_->path("skgatetest"));
        std::filesystem::create_symlink("/usr/sbin/sshd", sshd_->path("skgatetest"));
        std::string module = std::getenv("SKGATE_PAM_MODULE");
        std::string conf = sshd_->path("skgate.conf");
        write_file("/etc/pam.d/skgatetest",
                   "auth     [success=done default=die] " + module + " config=" + conf + "\n" +
                       "account  required " + module + " config=" + conf + "\n" +
                       "session  optional " + module + " config=" + conf + "\n");
        sk_ = sshd_->make_key("alice-sk", "ecdsa-sk");
        plain_ = sshd_->make_key("alice-plain", "ed25519");
    }
    static void TearDownTestSuite() {
        delete sshd_;
        sshd_ = nullptr;
    }

    void SetUp() override {
        if (!sshd_)
            GTEST_SKIP() << "run through tests/scripts/e2e-env.sh (meson test does)";
        std::filesystem::remove_all(sshd_->path("keys.d"));
        write_file(sshd_->path("skgate.conf"),
                   "KeysDirectory " + sshd_->path("keys.d") + "\nRevokedKeys " +
                       sshd_->path("revoked") + "\nStateDirectory " + sshd_->path("state") + "\n");
        KeyStore store(sshd_->path("keys.d"));
        ASSERT_TRUE(store
                        .add(kAlice, {.key = *PublicKey::parse_text(read_file(sk_ + ".pub")),
                                      .comment = "alice",
                                      .name = "sk",
                                      .enrolled = std::time(nullptr) - 60})
                        .ok());
    }
    void TearDown() override {
        if (sshd_)
            sshd_->stop();
    }

    // The wiring of DESIGN.md section 6 with --pam-confirm; `extra` can
    // weaken it.
    void start(const std::string& extra) {
        sshd_->start(extra +
                         "UsePAM yes\nKbdInteractiveAuthentication yes\nExposeAuthInfo yes\n"
                         "AuthenticationMethods publickey,keyboard-interactive:pam\n"
                         "AuthorizedKeysCommand " +
                         sshd_->path("libexec/skgate-keys") + " -f " + sshd_->path("skgate.conf") +
                         " %u %t %k %f\nAuthorizedKeysCommandUser skgate\n",
                     sshd_->path("skgatetest"));
        sshd_->new_log();
    }

    static bool logged_in(const RunResult& r) {
        return r.status == 0 && r.out.find("skgate-login-ok") != std::string::npos;
    }

    static SshdHarness* sshd_;
    static std::string sk_, plain_;
};

SshdHarness* E2ePam::sshd_ = nullptr;
std::string E2ePam::sk_, E2ePam::plain_;

}  // namespace

TEST_F(E2ePam, EnrolledKeyPassesTheKeyboardInteractiveStepSilently) {
    start("AuthorizedKeysFile none\nPubkeyAcceptedAlgorithms sk-ecdsa-sha2-nistp256@openssh.com\n");
    auto r = sshd_->login(kAlice, sk_, kTouch, "echo skgate-login-ok", kKbdInt);
    EXPECT_TRUE(logged_in(r)) << r.err;
    std::string log = sshd_->new_log();
    EXPECT_NE(log.find("Accepted keyboard-interactive/pam for skgt-alice"), std::string::npos)
        << log;
    std::string fp = PublicKey::parse_text(read_file(sk_ + ".pub"))->fingerprint();
    EXPECT_NE(sshd_
                  ->journal({"SKGATE_EVENT=login-confirm", "SKGATE_DECISION=allow",
                             "SKGATE_KEY_FP=" + fp})
                  .find("skgt-alice"),
              std::string::npos);
    std::string session = sshd_->journal({"SKGATE_EVENT=session-open", "SKGATE_USER=skgt-alice"});
    EXPECT_NE(session.find("\"SKGATE_KEY_FP\":\"" + fp + "\""), std::string::npos) << session;
    EXPECT_NE(session.find("\"SKGATE_REMOTE\":\"127.0.0.1\""), std::string::npos) << session;
}

// A StateDirectory with no space left: the login still works (the session
// phase never blocks), the session-open event says the last use was not
// recorded, and skgatectl list warns that LAST USE may be stale.
TEST_F(E2ePam, AFullStateDirectoryIsSaidInTheEventAndByList) {
    const std::string state = sshd_->path("state");
    std::filesystem::create_directories(state);
    ASSERT_EQ(mount("tmpfs", state.c_str(), "tmpfs", 0, "size=64k,mode=0755"), 0)
        << std::strerror(errno);
    {
        std::ofstream fill(state + "/fill", std::ios::binary);
        std::string block(4096, 'x');
        while (fill.write(block.data(), static_cast<std::streamsize>(block.size())) &&
               fill.flush()) {
        }
    }
    start("AuthorizedKeysFile none\nPubkeyAcceptedAlgorithms sk-ecdsa-sha2-nistp256@openssh.com\n");
    auto r = sshd_->login(kAlice, sk_, kTouch, "echo skgate-login-ok", kKbdInt);
    EXPECT_TRUE(logged_in(r)) << r.err;
    std::string session = sshd_->journal({"SKGATE_EVENT=session-open", "SKGATE_USER=skgt-alice"});
    EXPECT_NE(session.find("\"SKGATE_REASON\":\"last use not recorded: "), std::string::npos)
        << session;

    const char* ctl = std::getenv("SKGATE_SKGATECTL");
    ASSERT_NE(ctl, nullptr);
    auto list = run({ctl, "list", "-f", sshd_->path("skgate.conf"), "--user", kAlice});
    EXPECT_EQ(list.status, 0) << list.err;
    EXPECT_NE(list.err.find("StateDirectory " + state + " is full"), std::string::npos) << list.err;
    EXPECT_NE(list.err.find("LAST USE may be older than the last login"), std::string::npos);

    // With room again, the next login is recorded and list says nothing.
    ASSERT_EQ(umount(state.c_str()), 0) << std::strerror(errno);
    sshd_->new_log();
    auto again = sshd_->login(kAlice, sk_, kTouch, "echo skgate-login-ok", kKbdInt);
    EXPECT_TRUE(logged_in(again)) << again.err;
    auto quiet = run({ctl, "list", "-f", sshd_->path("skgate.conf"), "--user", kAlice});
    EXPECT_EQ(quiet.err.find("is full"), std::string::npos) << quiet.err;
}

TEST_F(E2ePam, BatchModeClientsCannotLogIn) {
    // The documented cost of --pam-confirm: no keyboard-interactive, no login.
    start("AuthorizedKeysFile none\nPubkeyAcceptedAlgorithms sk-ecdsa-sha2-nistp256@openssh.com\n");
    EXPECT_FALSE(logged_in(sshd_->login(kAlice, sk_, kTouch)));
}

TEST_F(E2ePam, WeakenedSshdStillCannotLetAnOrdinaryKeyIn) {
    // Someone re-enables AuthorizedKeysFile and ordinary keys: the publickey
    // step passes, pam_skgate refuses the key it was passed.
    std::string home = SshdHarness::e2e_dir() + "/home/skgt-alice";
    write_file(home + "/.ssh/authorized_keys", read_file(plain_ + ".pub"), 0600);
    struct stat st {};
    stat(home.c_str(), &st);
    ASSERT_EQ(chown((home + "/.ssh/authorized_keys").c_str(), st.st_uid, st.st_gid), 0);
    ASSERT_EQ(chown((home + "/.ssh").c_str(), st.st_uid, st.st_gid), 0);
    start(
        "AuthorizedKeysFile .ssh/authorized_keys\n"
        "PubkeyAcceptedAlgorithms sk-ecdsa-sha2-nistp256@openssh.com,ssh-ed25519\n");
    auto r = sshd_->login(kAlice, plain_, {}, "echo skgate-login-ok", kKbdInt);
    EXPECT_FALSE(logged_in(r));
    std::string log = sshd_->new_log();
    EXPECT_NE(log.find("Partial publickey for skgt-alice"), std::string::npos) << log;
    std::string fp = PublicKey::parse_text(read_file(plain_ + ".pub"))->fingerprint();
    std::string denied = sshd_->journal(
        {"SKGATE_EVENT=login-confirm", "SKGATE_DECISION=deny", "SKGATE_KEY_FP=" + fp});
    // The key is in no skgate source, whatever sshd's own files say.
    EXPECT_NE(denied.find("key is not enrolled for skgt-alice"), std::string::npos) << denied;
    std::filesystem::remove(home + "/.ssh/authorized_keys");
}

// A host whose AuthorizedKeysFile was not sshd's default: enable hands the
// same patterns to skgate-keys (-a) and to pam_skgate (keyfile=), so the
// confirmation finds the key sshd accepted from that file instead of locking
// its users out. The PAM lines are the ones enable writes.
TEST_F(E2ePam, TheConfirmationReadsTheFilesEnableGaveSkgateKeys) {
    std::string home = SshdHarness::e2e_dir() + "/home/skgt-alice";
    std::string file_key = sshd_->make_key("alice-sk-file", "ecdsa-sk");
    struct stat st {};
    ASSERT_EQ(stat(home.c_str(), &st), 0);
    write_file(home + "/.ssh/skgate_keys", read_file(file_key + ".pub"), 0600);
    ASSERT_EQ(chown((home + "/.ssh/skgate_keys").c_str(), st.st_uid, st.st_gid), 0);
    ASSERT_EQ(chown((home + "/.ssh").c_str(), st.st_uid, st.st_gid), 0);
    std::string conf = sshd_->path("skgate.conf");
    write_file(conf, read_file(conf) + "KeySources local authorized_keys\n");

    wiring::Options o;
    o.mode = Mode::enforce;
    o.pam_confirm = true;
    o.pam_module = std::getenv("SKGATE_PAM_MODULE");
    o.config_path = conf;
    o.helper = sshd_->path("libexec/skgate-keys");
    o.previous_authorized_keys_file = ".ssh/skgate_keys";
    auto pam = wiring::add_pam_lines("account required pam_permit.so\n", o);
    ASSERT_TRUE(pam.ok()) << pam.error().message;
    EXPECT_NE(pam->find(" keyfile=.ssh/skgate_keys\n"), std::string::npos) << *pam;
    const std::string saved = read_file("/etc/pam.d/skgatetest");
    write_file("/etc/pam.d/skgatetest", *pam);
    sshd_->start(
        "UsePAM yes\nKbdInteractiveAuthentication yes\nExposeAuthInfo yes\n"
        "AuthenticationMethods publickey,keyboard-interactive:pam\n"
        "AuthorizedKeysFile none\nPubkeyAcceptedAlgorithms sk-ecdsa-sha2-nistp256@openssh.com\n"
        "AuthorizedKeysCommand " +
            wiring::helper_command(o) + "\nAuthorizedKeysCommandUser root\n",
        sshd_->path("skgatetest"));
    sshd_->new_log();
    auto r = sshd_->login(kAlice, file_key, kTouch, "echo skgate-login-ok", kKbdInt);
    write_file("/etc/pam.d/skgatetest", saved);
    std::filesystem::remove(home + "/.ssh/skgate_keys");
    EXPECT_TRUE(logged_in(r)) << r.err << sshd_->new_log();
    std::string fp = PublicKey::parse_text(read_file(file_key + ".pub"))->fingerprint();
    std::string confirmed = sshd_->journal(
        {"SKGATE_EVENT=login-confirm", "SKGATE_DECISION=allow", "SKGATE_KEY_FP=" + fp});
    EXPECT_NE(confirmed.find("\"SKGATE_SOURCE\":\"authorized_keys\""), std::string::npos)
        << confirmed;
}
