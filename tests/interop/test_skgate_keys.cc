// skgate-keys as sshd runs it: arguments, exit codes, only key lines on
// stdout, and nothing read from disk can inject a line or an option.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "core/store/keystore.h"
#include "core/sys/text.h"
#include "tests/support/helpers.h"
#include "tests/support/softkey.h"

using namespace skgate;
using namespace skgate::test;

namespace {

class SkgateKeys : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!running_as_root())
            GTEST_SKIP() << "the store and config must be root-owned";
        write_file(dir.file("skgate.conf"), "KeysDirectory " + dir.file("keys.d") +
                                                "\nRevokedKeys " + dir.file("revoked") + "\n");
        KeyStore store(dir.file("keys.d"));
        ASSERT_TRUE(store
                        .add("root", {.key = key.public_key(),
                                      .comment = "root@laptop",
                                      .name = "laptop",
                                      .enrolled = 1767225600})
                        .ok());
    }

    RunResult keys(std::vector<std::string> args) {
        const char* bin = std::getenv("SKGATE_KEYS");
        if (!bin)
            throw std::runtime_error("SKGATE_KEYS is not set");
        std::vector<std::string> argv{std::string(bin)};
        // Started as root, skgate-keys becomes the skgate account, which
        // exists only in the e2e world; these tests read root's files.
        if (!args.empty() && running_as_root())
            argv.insert(argv.end(), {"-u", "root"});
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv);
    }

    std::vector<std::string> offered(const PublicKey& k) {
        std::string text = k.to_text();
        return {k.type_name(), text.substr(text.find(' ') + 1), k.fingerprint()};
    }

    TempDir dir;
    SoftSkKey key = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
};

}  // namespace

// Started as root, it never goes on as root by accident: an account it
// cannot become is a configuration error (exit 78), and no key is printed.
TEST_F(SkgateKeys, RootThatCannotBecomeTheAccountPrintsNothing) {
    if (!running_as_root())
        GTEST_SKIP() << "needs root";
    auto r = run({required_env("SKGATE_KEYS"), "-u", "skgt-no-such-account", "-f",
                  dir.file("skgate.conf"), "root"});
    EXPECT_EQ(r.status, 78);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("cannot become skgt-no-such-account (-u)"), std::string::npos) << r.err;
    auto bad = run({required_env("SKGATE_KEYS"), "-a", "%x/keys", "root"});
    EXPECT_EQ(bad.status, 64);
    EXPECT_EQ(bad.out, "");
}

// sshd asks only about users that exist, but skgate-keys run by hand (or a
// user removed meanwhile) must answer too: no keys, exit 0, also when the
// policy needs the user's groups.
TEST_F(SkgateKeys, AnUnknownUserIsAnsweredWithNoKeys) {
    write_file(dir.file("skgate.conf"),
               read_file(dir.file("skgate.conf")) +
                   "Match Group skgt-no-such-group\n  VerifyRequired yes\n");
    auto r = keys({"-f", dir.file("skgate.conf"), "skgt-no-such-user"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "");
}

TEST_F(SkgateKeys, PrintsTheUsersKeys) {
    auto r = keys({"-f", dir.file("skgate.conf"), "root"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, key.public_key().to_text() + " root@laptop\n");
}

TEST_F(SkgateKeys, OfferedKeyWithSshdTokens) {
    std::vector<std::string> args{"-f", dir.file("skgate.conf"), "root"};
    auto o = offered(key.public_key());
    args.insert(args.end(), o.begin(), o.end());
    auto r = keys(args);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, key.public_key().to_text() + " root@laptop\n");

    auto stranger = SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
    std::vector<std::string> s{"-f", dir.file("skgate.conf"), "root"};
    auto so = offered(stranger.public_key());
    s.insert(s.end(), so.begin(), so.end());
    auto none = keys(s);
    EXPECT_EQ(none.status, 0);
    EXPECT_EQ(none.out, "");
}

TEST_F(SkgateKeys, MismatchedOrMalformedOfferIsRefusedNotFailed) {
    auto o = offered(key.public_key());
    auto wrong_type =
        keys({"-f", dir.file("skgate.conf"), "root", "sk-ssh-ed25519@openssh.com", o[1]});
    EXPECT_EQ(wrong_type.status, 0);
    EXPECT_EQ(wrong_type.out, "");
    EXPECT_NE(wrong_type.err.find("does not match"), std::string::npos);
    auto garbage = keys({"-f", dir.file("skgate.conf"), "root", o[0], "!!!!"});
    EXPECT_EQ(garbage.status, 0);
    EXPECT_EQ(garbage.out, "");
    auto wrong_fp = keys({"-f", dir.file("skgate.conf"), "root", o[0], o[1], "SHA256:nope"});
    EXPECT_EQ(wrong_fp.out, "");
}

TEST_F(SkgateKeys, ExitCodes) {
    EXPECT_EQ(keys({}).status, 64);
    EXPECT_EQ(keys({"-f", dir.file("skgate.conf"), "root", "onlytype"}).status, 64);
    write_file(dir.file("bad.conf"), "Bogus yes\n");
    auto config = keys({"-f", dir.file("bad.conf"), "root"});
    EXPECT_EQ(config.status, 78);
    EXPECT_NE(config.err.find("configuration error"), std::string::npos);
    EXPECT_EQ(keys({"-f", dir.file("missing.conf"), "root"}).status, 78);
    chmod(dir.file("keys.d/root").c_str(), 0666);
    auto store = keys({"-f", dir.file("skgate.conf"), "root"});
    EXPECT_EQ(store.status, 74);
    EXPECT_EQ(store.out, "");
    chmod(dir.file("keys.d/root").c_str(), 0644);
    write_file(dir.file("revoked"), "garbage\n");
    EXPECT_EQ(keys({"-f", dir.file("skgate.conf"), "root"}).status, 74);
    std::filesystem::remove(dir.file("revoked"));
    auto invalid_user = keys({"-f", dir.file("skgate.conf"), "../etc"});
    EXPECT_EQ(invalid_user.status, 0);
    EXPECT_EQ(invalid_user.out, "");
}

TEST_F(SkgateKeys, NothingFromTheStoreCanInjectALineOrOption) {
    // A hand-edited store line with a comment full of tricks: the output is
    // still exactly one line, with no options.
    std::string line = "enrolled=\"2026-01-01T00:00:00Z\" " + key.public_key().to_text() +
                       " x\rno-touch-required ssh-ed25519 AAAA\x0b";
    write_file(dir.file("keys.d/root"), line + "\n");
    auto r = keys({"-f", dir.file("skgate.conf"), "root"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);
    EXPECT_EQ(r.out.find('\r'), std::string::npos);
    EXPECT_EQ(r.out.rfind(key.public_key().to_text(), 0), 0u)
        << "the line starts with the key: no options";
}

TEST_F(SkgateKeys, MalformedLineIsSkippedOthersStillWork) {
    std::string good = read_file(dir.file("keys.d/root"));
    write_file(dir.file("keys.d/root"), "this line is broken\n" + good);
    auto r = keys({"-f", dir.file("skgate.conf"), "root"});
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, key.public_key().to_text() + " root@laptop\n");
    EXPECT_NE(r.err.find(dir.file("keys.d/root") + ":1:"), std::string::npos) << r.err;
}
