// skgate-keys behind Debian's own sshd: real logins with the stock ssh client
// and the test security key. Each scenario checks the login's result and
// what sshd logged or skgate recorded in the journal.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "core/store/keystore.h"
#include "core/store/revocation.h"
#include "core/sys/text.h"
#include "tests/e2e/sshd_harness.h"

using namespace skgate;
using namespace skgate::test;

namespace {

constexpr const char* kAlice = "skgt-alice";
constexpr const char* kBob = "skgt-bob";
const std::map<std::string, std::string> kNoTouch = {{"SKGATE_TEST_SK_FLAGS", "0x00"}};
const std::map<std::string, std::string> kTouch = {{"SKGATE_TEST_SK_FLAGS", "0x01"}};
const std::map<std::string, std::string> kTouchAndPin = {{"SKGATE_TEST_SK_FLAGS", "0x05"}};

class E2eKeys : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        std::string dir = SshdHarness::e2e_dir();
        if (dir.empty())
            return;
        sshd_ = new SshdHarness(dir + "/keys-e2e");
        sshd_->install_helper();
        ecdsa_ = sshd_->make_key("alice-ecdsa", "ecdsa-sk");
        ed25519_ = sshd_->make_key("alice-ed25519", "ed25519-sk");
        plain_ = sshd_->make_key("alice-plain", "ed25519");
        bob_ = sshd_->make_key("bob-ecdsa", "ecdsa-sk");
    }
    static void TearDownTestSuite() {
        delete sshd_;
        sshd_ = nullptr;
    }

    void SetUp() override {
        if (!sshd_)
            GTEST_SKIP() << "run through tests/scripts/e2e-env.sh (meson test does)";
        std::filesystem::remove_all(sshd_->path("keys.d"));
        std::filesystem::remove(sshd_->path("revoked"));
        std::filesystem::remove(home(kAlice) + "/.ssh/authorized_keys");
        configure("");
    }
    void TearDown() override {
        if (sshd_)
            sshd_->stop();
    }

    static std::string home(const std::string& user) {
        return SshdHarness::e2e_dir() + "/home/" + user;
    }

    // skgate.conf with the test paths, then the scenario's lines; restarts sshd.
    void configure(const std::string& policy) { sshd_->start_with_skgate_keys(policy); }

    static PublicKey pub(const std::string& key) {
        return *PublicKey::parse_text(read_file(key + ".pub"));
    }

    void enroll(const std::string& user, const std::string& key,
                std::optional<std::time_t> expires = {}) {
        KeyStore store(sshd_->path("keys.d"));
        StoredKey k{.key = pub(key),
                    .comment = user,
                    .name = "test",
                    .enrolled = std::time(nullptr) - 60,
                    .expires = expires};
        auto st = store.add(user, k);
        ASSERT_TRUE(st.ok()) << st.error().message;
    }

    void user_authorized_keys(const std::string& user, const std::string& text) {
        std::string ssh = home(user) + "/.ssh";
        // The helper runs as the skgate user: it needs to read the file
        // (see skgate-keys(8) on the authorized_keys source).
        chmod(ssh.c_str(), 0755);
        write_file(ssh + "/authorized_keys", text, 0644);
        struct stat st {};
        stat(home(user).c_str(), &st);
        ASSERT_EQ(chown((ssh + "/authorized_keys").c_str(), st.st_uid, st.st_gid), 0);
    }

    std::string events(const std::string& key, const std::string& decision) {
        return sshd_->journal({"SKGATE_EVENT=keys-lookup",
                               "SKGATE_KEY_FP=" + pub(key).fingerprint(),
                               "SKGATE_DECISION=" + decision});
    }

    static bool logged_in(const RunResult& r) {
        return r.status == 0 && r.out.find("skgate-login-ok") != std::string::npos;
    }

    static SshdHarness* sshd_;
    static std::string ecdsa_, ed25519_, plain_, bob_;
};

SshdHarness* E2eKeys::sshd_ = nullptr;
std::string E2eKeys::ecdsa_, E2eKeys::ed25519_, E2eKeys::plain_, E2eKeys::bob_;

}  // namespace

// 1. enrolled sk key, user presence set: accepted
TEST_F(E2eKeys, EnrolledKeyWithTouchIsAccepted) {
    enroll(kAlice, ecdsa_);
    auto r = sshd_->login(kAlice, ecdsa_, kTouch);
    EXPECT_TRUE(logged_in(r)) << r.err;
    std::string log = sshd_->new_log();
    EXPECT_NE(log.find("Accepted publickey for skgt-alice"), std::string::npos) << log;
    EXPECT_NE(events(ecdsa_, "allow").find("\"SKGATE_SOURCE\":\"local\""), std::string::npos);
}

// 2. user presence missing: sshd itself rejects the signature
TEST_F(E2eKeys, MissingTouchIsRejectedBySshd) {
    enroll(kAlice, ecdsa_);
    auto r = sshd_->login(kAlice, ecdsa_, kNoTouch);
    EXPECT_FALSE(logged_in(r));
    std::string log = sshd_->new_log();
    EXPECT_NE(log.find("user presence (authenticator touch) requirement not met"),
              std::string::npos)
        << log;
}

// 3. VerifyRequired for this user: UV missing rejected, UV set accepted
TEST_F(E2eKeys, VerifyRequiredThroughMatchUser) {
    configure("Match User skgt-alice\n  VerifyRequired yes\n");
    enroll(kAlice, ecdsa_);
    auto no_uv = sshd_->login(kAlice, ecdsa_, kTouch);
    EXPECT_FALSE(logged_in(no_uv));
    std::string log = sshd_->new_log();
    EXPECT_NE(log.find("user verification requirement not met"), std::string::npos) << log;
    auto uv = sshd_->login(kAlice, ecdsa_, kTouchAndPin);
    EXPECT_TRUE(logged_in(uv)) << uv.err;
    EXPECT_NE(sshd_->new_log().find("Accepted publickey"), std::string::npos);
}

// 4. an ordinary key in the user's authorized_keys: refused in enforce mode,
//    accepted but recorded as would-deny in audit mode
TEST_F(E2eKeys, OrdinaryKeyEnforceAndAudit) {
    configure("KeySources authorized_keys local\n");
    user_authorized_keys(kAlice, read_file(plain_ + ".pub"));
    auto enforce = sshd_->login(kAlice, plain_);
    EXPECT_FALSE(logged_in(enforce));
    std::string denied = events(plain_, "deny");
    EXPECT_NE(denied.find("not a security key"), std::string::npos) << denied;

    configure("Mode audit\nKeySources authorized_keys local\n");
    auto audit = sshd_->login(kAlice, plain_);
    EXPECT_TRUE(logged_in(audit)) << audit.err;
    std::string would = events(plain_, "would-deny");
    EXPECT_NE(would.find("not a security key"), std::string::npos) << would;
}

// 5. a revoked key: refused
TEST_F(E2eKeys, RevokedKeyIsRefused) {
    enroll(kAlice, ecdsa_);
    ASSERT_TRUE(RevocationList::append(sshd_->path("revoked"), pub(ecdsa_), "lost").ok());
    auto r = sshd_->login(kAlice, ecdsa_, kTouch);
    EXPECT_FALSE(logged_in(r));
    EXPECT_NE(events(ecdsa_, "deny").find("key is revoked"), std::string::npos);
}

// 6. an expired enrollment: refused
TEST_F(E2eKeys, ExpiredEnrollmentIsRefused) {
    enroll(kAlice, ecdsa_, std::time(nullptr) - 1);
    auto r = sshd_->login(kAlice, ecdsa_, kTouch);
    EXPECT_FALSE(logged_in(r));
    EXPECT_NE(events(ecdsa_, "deny").find("key expired"), std::string::npos);
}

// 7. another user's key: refused
TEST_F(E2eKeys, AnotherUsersKeyIsRefused) {
    enroll(kBob, bob_);
    enroll(kAlice, ecdsa_);
    auto r = sshd_->login(kAlice, bob_, kTouch);
    EXPECT_FALSE(logged_in(r));
    EXPECT_NE(events(bob_, "deny").find("not enrolled for skgt-alice"), std::string::npos);
    EXPECT_TRUE(logged_in(sshd_->login(kBob, bob_, kTouch)));
}

// 8. the user's own file asks for no-touch-required: sshd still demands touch
TEST_F(E2eKeys, UserCannotDropTouchRequirement) {
    configure("KeySources authorized_keys\n");
    user_authorized_keys(kAlice, "no-touch-required " + read_file(ecdsa_ + ".pub"));
    auto r = sshd_->login(kAlice, ecdsa_, kNoTouch);
    EXPECT_FALSE(logged_in(r));
    std::string log = sshd_->new_log();
    EXPECT_NE(log.find("user presence (authenticator touch) requirement not met"),
              std::string::npos)
        << log;
    EXPECT_TRUE(logged_in(sshd_->login(kAlice, ecdsa_, kTouch)));
}

// 9. a malformed line in the store: logged, the user's other keys still work
TEST_F(E2eKeys, MalformedStoreLineIsLoggedOthersWork) {
    enroll(kAlice, ecdsa_);
    std::string path = sshd_->path("keys.d/") + kAlice;
    write_file(path,
               "enrolled=\"2026-01-01T00:00:00Z\" sk-ecdsa-sha2-nistp256@openssh.com AAAA!!\n" +
                   read_file(path));
    auto r = sshd_->login(kAlice, ecdsa_, kTouch);
    EXPECT_TRUE(logged_in(r)) << r.err;
    std::string warning = sshd_->journal({"SKGATE_EVENT=keys-warning", "SKGATE_USER=skgt-alice"});
    EXPECT_NE(warning.find(path + ":1:"), std::string::npos) << warning;
}

// 10. both security-key types
TEST_F(E2eKeys, BothKeyTypesWork) {
    enroll(kAlice, ecdsa_);
    enroll(kAlice, ed25519_);
    EXPECT_TRUE(logged_in(sshd_->login(kAlice, ecdsa_, kTouch)));
    EXPECT_TRUE(logged_in(sshd_->login(kAlice, ed25519_, kTouch)));
    std::string log = sshd_->new_log();
    EXPECT_NE(log.find("Accepted publickey for skgt-alice from 127.0.0.1"), std::string::npos);
    EXPECT_NE(log.find("ED25519-SK"), std::string::npos) << log;
    EXPECT_NE(log.find("ECDSA-SK"), std::string::npos) << log;
}

// AllowedApplications reaches sshd: a key made for another application
// (ssh-keygen -O application=) is left out of sshd's answer, with its
// application in the journal, and logs in once policy names it.
TEST_F(E2eKeys, AllowedApplicationsDecideWhichKeysSshdSees) {
    std::string lab = sshd_->make_key("alice-lab", "ecdsa-sk", {"-O", "application=ssh:lab"});
    enroll(kAlice, lab);
    enroll(kAlice, ecdsa_);
    configure("AllowedApplications ssh:* !ssh:lab\n");
    auto refused = sshd_->login(kAlice, lab, kTouch);
    EXPECT_FALSE(logged_in(refused));
    std::string denied = events(lab, "deny");
    EXPECT_NE(denied.find("application \\\"ssh:lab\\\" is not in AllowedApplications"),
              std::string::npos)
        << denied;
    EXPECT_TRUE(logged_in(sshd_->login(kAlice, ecdsa_, kTouch)));

    configure("");
    auto allowed = sshd_->login(kAlice, lab, kTouch);
    EXPECT_TRUE(logged_in(allowed)) << allowed.err;
}
