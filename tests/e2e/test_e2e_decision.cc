// One decision point (docs/DESIGN.md): behind Debian's own sshd wired with
// the drop-in skgatectl enable writes, every key sshd may accept is
// skgate-keys' recorded decision, in audit mode, for break-glass users and
// with a 0700 home; and a revoked key is refused by sshd itself, even where
// an administrator's Match block makes sshd read a file of its own. Each
// case checks the login and what was recorded.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "core/ssh/sshkey.h"
#include "core/store/keystore.h"
#include "tests/e2e/sshd_harness.h"

using namespace skgate;
using namespace skgate::test;

namespace {

constexpr const char* kAlice = "skgt-alice";
const std::map<std::string, std::string> kTouch = {{"SKGATE_TEST_SK_FLAGS", "0x01"}};

class E2eDecision : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        std::string dir = SshdHarness::e2e_dir();
        if (dir.empty())
            return;
        sshd_ = new SshdHarness(dir + "/decision-e2e");
        sshd_->install_helper();
        plain_ = sshd_->make_key("alice-plain", "ed25519");
        sk_ = sshd_->make_key("alice-sk", "ecdsa-sk");
    }
    static void TearDownTestSuite() {
        delete sshd_;
        sshd_ = nullptr;
    }

    void SetUp() override {
        if (!sshd_)
            GTEST_SKIP() << "run through tests/scripts/e2e-env.sh (meson test does)";
        for (const char* p : {"keys.d", "revoked", "revoked.krl", "state"})
            std::filesystem::remove_all(sshd_->path(p));
        // Debian 12's adduser default: nobody but alice can enter her home.
        chmod(home().c_str(), 0700);
        chmod((home() + "/.ssh").c_str(), 0700);
        sshd_->mark_journal();
    }
    void TearDown() override {
        if (!sshd_)
            return;
        sshd_->stop();
        std::filesystem::remove(home() + "/.ssh/authorized_keys");
        chmod(home().c_str(), 0755);
    }

    static std::string home() { return SshdHarness::e2e_dir() + "/home/" + kAlice; }

    // alice's own ~/.ssh/authorized_keys, 0600 and hers.
    static void authorized_keys(const std::string& text) {
        std::string file = home() + "/.ssh/authorized_keys";
        write_file(file, text, 0600);
        struct stat st {};
        stat(home().c_str(), &st);
        ASSERT_EQ(chown(file.c_str(), st.st_uid, st.st_gid), 0);
    }

    static wiring::Options wired(Mode mode, std::vector<std::string> break_glass = {}) {
        wiring::Options o;
        o.mode = mode;
        o.break_glass_users = std::move(break_glass);
        // Break-glass users keep an ordinary key type in enforce mode.
        o.previous_pubkey_algorithms = "ssh-ed25519";
        return o;
    }

    static std::string fp(const std::string& key) {
        return PublicKey::parse_text(read_file(key + ".pub"))->fingerprint();
    }

    static RunResult login(const std::string& key,
                           const std::map<std::string, std::string>& env = {}) {
        return sshd_->login(kAlice, key, env);
    }
    static bool logged_in(const RunResult& r) {
        return r.status == 0 && r.out.find("skgate-login-ok") != std::string::npos;
    }

    // This test's keys-lookup events for the key, once one has `decision`.
    static std::string lookups(const std::string& key, const std::string& decision) {
        return sshd_->journal({"SKGATE_EVENT=keys-lookup", "SKGATE_USER=skgt-alice",
                               "SKGATE_KEY_FP=" + fp(key), "SKGATE_DECISION=" + decision});
    }

    static void revoke(const std::string& key) {
        auto r = run({required_env("SKGATE_SKGATECTL"), "revoke", "-f", sshd_->path("skgate.conf"),
                      "--user", kAlice, "--key-file", key + ".pub"});
        ASSERT_EQ(r.status, 0) << r.out << r.err;
    }

    static SshdHarness* sshd_;
    static std::string plain_, sk_;
};

SshdHarness* E2eDecision::sshd_ = nullptr;
std::string E2eDecision::plain_, E2eDecision::sk_;

}  // namespace

// The rollout's first step: in audit mode an ordinary key in the user's own
// file still logs in, and skgate records that enforce mode would refuse it
// (sshd reads no file itself, so it cannot slip by unrecorded).
TEST_F(E2eDecision, AuditModeRecordsAnOrdinaryKeyAsWouldDeny) {
    authorized_keys(read_file(plain_ + ".pub"));
    sshd_->start_enabled("", wired(Mode::audit));
    auto r = login(plain_);
    EXPECT_TRUE(logged_in(r)) << r.err << sshd_->new_log();
    std::string ev = lookups(plain_, "would-deny");
    EXPECT_NE(ev.find("\"SKGATE_SOURCE\":\"authorized_keys\""), std::string::npos) << ev;
    EXPECT_NE(ev.find("only in the user's own authorized_keys"), std::string::npos) << ev;
    // What skgatectl audit shows the administrator.
    auto audit =
        run({required_env("SKGATE_SKGATECTL"), "audit", "--decision", "would-deny", "--user",
             kAlice, "--json", "--directory", required_env("SKGATE_JOURNAL_DIR")});
    EXPECT_NE(audit.out.find("\"key_fp\":\"" + fp(plain_) + "\""), std::string::npos)
        << audit.out << audit.err;
}

// With KeySources authorized_keys, the security key in a 0700 home logs in:
// skgate-keys reads the file as alice before it becomes the skgate account.
TEST_F(E2eDecision, TheUsersOwnFileIsReadBehindA0700Home) {
    authorized_keys(read_file(sk_ + ".pub"));
    sshd_->start_enabled("KeySources local authorized_keys\n", wired(Mode::enforce));
    auto r = login(sk_, kTouch);
    EXPECT_TRUE(logged_in(r)) << r.err << sshd_->new_log();
    std::string ev = lookups(sk_, "allow");
    EXPECT_NE(ev.find("\"SKGATE_SOURCE\":\"authorized_keys\""), std::string::npos) << ev;
    // In enforce mode, the ordinary key beside it would not be served.
    authorized_keys(read_file(sk_ + ".pub") + read_file(plain_ + ".pub"));
    EXPECT_FALSE(logged_in(login(plain_)));
}

// A break-glass user keeps an ordinary key, through skgate-keys and with its
// decision recorded; once revoked it is refused.
TEST_F(E2eDecision, ABreakGlassUsersRevokedKeyIsRefused) {
    authorized_keys(read_file(plain_ + ".pub"));
    sshd_->start_enabled("BreakGlassUsers skgt-alice\n", wired(Mode::enforce, {kAlice}));
    auto before = login(plain_);
    EXPECT_TRUE(logged_in(before)) << before.err << sshd_->new_log();
    EXPECT_NE(lookups(plain_, "allow").find("break-glass user"), std::string::npos);
    // A fleet with no local store (remote sources, users' own files): revoke
    // works without one and does not create it.
    ASSERT_FALSE(std::filesystem::exists(sshd_->path("keys.d")));
    revoke(plain_);
    EXPECT_FALSE(std::filesystem::exists(sshd_->path("keys.d")));
    EXPECT_FALSE(logged_in(login(plain_)));
    std::string log = sshd_->new_log();
    EXPECT_NE(log.find("revoked"), std::string::npos) << "sshd's own RevokedKeys: " << log;
}

// Audit mode changes nothing for logins, except that a revoked key is
// refused; the event says revoked, not "not enrolled".
TEST_F(E2eDecision, AuditModeRefusesARevokedKey) {
    authorized_keys(read_file(plain_ + ".pub"));
    sshd_->start_enabled("", wired(Mode::audit));
    revoke(plain_);
    EXPECT_FALSE(logged_in(login(plain_)));
    EXPECT_NE(sshd_->new_log().find("revoked"), std::string::npos);
    // skgate-keys, asked directly, refuses it as revoked too.
    std::string text = read_file(plain_ + ".pub");
    std::string blob = text.substr(text.find(' ') + 1);
    blob = blob.substr(0, blob.find(' '));
    auto r = run({sshd_->path("libexec/skgate-keys"), "-f", sshd_->path("skgate.conf"), "-u",
                  "skgate", kAlice, "ssh-ed25519", blob});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_NE(lookups(plain_, "deny").find("key is revoked"), std::string::npos);
}

// An administrator's Match block that makes sshd read a file itself (a
// drop-in sorting before skgate's): sshd's RevokedKeys still refuses the key.
TEST_F(E2eDecision, ARevokedKeyIsRefusedUnderAnAdminsMatchGroupBlock) {
    authorized_keys(read_file(plain_ + ".pub"));
    const std::string admins_block =
        "Match Group skgt-admins\n    AuthorizedKeysFile .ssh/authorized_keys\n"
        "    PubkeyAcceptedAlgorithms ssh-ed25519\nMatch all\n";
    sshd_->start_enabled("", wired(Mode::enforce), admins_block);
    auto before = login(plain_);
    EXPECT_TRUE(logged_in(before)) << "the admin's block lets sshd read the file: " << before.err;
    revoke(plain_);
    EXPECT_FALSE(logged_in(login(plain_)));
    EXPECT_NE(sshd_->new_log().find("revoked"), std::string::npos);
}
