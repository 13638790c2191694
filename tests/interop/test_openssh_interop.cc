// skgate's core against OpenSSH itself: keys made by the stock ssh-keygen
// through the test security key, SSHSIG signatures with the flags and counter
// the test chooses, and agreement on what is rejected.
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/ssh/sshsig.h"
#include "core/ssh/wire.h"
#include "core/sys/text.h"
#include "tests/support/helpers.h"

using namespace skgate;
using namespace skgate::test;

namespace {

constexpr const char* kNamespace = "skgate-interop";

class OpenSsh : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        const char* p = std::getenv("SKGATE_TEST_SK_PROVIDER");
        ASSERT_NE(p, nullptr) << "SKGATE_TEST_SK_PROVIDER is not set";
        provider_ = p;
        key_ = dir_.file("id");
        auto r = keygen({"-t", GetParam(), "-w", provider_, "-f", key_, "-N", "", "-q"});
        ASSERT_EQ(r.status, 0) << r.err;
        message_ = dir_.file("message");
        write_file(message_, "the data that step-up signs\n");
    }

    std::map<std::string, std::string> env(std::map<std::string, std::string> extra = {}) const {
        extra["SSH_SK_PROVIDER"] = provider_;
        return extra;
    }

    RunResult keygen(std::vector<std::string> args, const std::string& input = "",
                     std::map<std::string, std::string> extra = {}) const {
        args.insert(args.begin(), "ssh-keygen");
        return run(args, input, env(std::move(extra)));
    }

    // Signs the message with ssh-keygen -Y sign and returns the armored text.
    std::string sign(uint8_t flags, uint32_t counter) {
        std::remove((message_ + ".sig").c_str());
        auto r = keygen({"-Y", "sign", "-f", key_, "-n", kNamespace, "-w", provider_, message_}, "",
                        {{"SKGATE_TEST_SK_FLAGS", std::to_string(flags)},
                         {"SKGATE_TEST_SK_COUNTER", std::to_string(counter)}});
        EXPECT_EQ(r.status, 0) << r.err;
        return read_file(message_ + ".sig");
    }

    // ssh-keygen's own verdict on an armored signature.
    bool openssh_accepts(const std::string& armored, const std::string& msg) {
        std::string sig = dir_.file("check.sig");
        write_file(sig, armored);
        auto r = keygen({"-Y", "check-novalidate", "-n", kNamespace, "-s", sig}, msg);
        return r.status == 0;
    }

    PublicKey public_key() const { return *PublicKey::parse_text(read_file(key_ + ".pub")); }

    TempDir dir_;
    std::string provider_, key_, message_;
};

}  // namespace

TEST_P(OpenSsh, FingerprintMatchesSshKeygen) {
    auto r = keygen({"-l", "-E", "sha256", "-f", key_ + ".pub"});
    ASSERT_EQ(r.status, 0) << r.err;
    // "256 SHA256:... comment (ECDSA-SK)"
    auto words = r.out.substr(r.out.find(' ') + 1);
    std::string fp = words.substr(0, words.find(' '));
    PublicKey k = public_key();
    EXPECT_EQ(k.fingerprint(), fp);
    EXPECT_TRUE(k.is_security_key());
    EXPECT_EQ(k.application(), "ssh:");
    EXPECT_NE(r.out.find(std::string(k.display_type())), std::string::npos);
}

TEST_P(OpenSsh, SignaturesReportTheChosenFlagsAndCounter) {
    std::string msg = read_file(message_);
    const std::pair<uint8_t, uint32_t> cases[] = {
        {0x01, 1}, {0x05, 0x12345678}, {0x00, 0}, {0x04, 0xfffffffe}};
    for (const auto& [flags, counter] : cases) {
        SCOPED_TRACE(std::to_string(flags) + "/" + std::to_string(counter));
        auto sig = SshSig::parse_armored(sign(flags, counter));
        ASSERT_TRUE(sig.ok()) << sig.error().message;
        EXPECT_TRUE(sig->key.same_key(public_key()));
        auto v = sshsig_verify(*sig, as_bytes(msg), kNamespace);
        ASSERT_TRUE(v.ok()) << v.error().message;
        EXPECT_EQ(v->flags, flags);
        EXPECT_EQ(v->counter, counter);
    }
}

TEST_P(OpenSsh, CoreAndOpenSshRejectTheSameTamperedSignatures) {
    std::string msg = read_file(message_);
    std::string armored = sign(0x01, 42);
    ASSERT_TRUE(openssh_accepts(armored, msg));
    SshSig good = *SshSig::parse_armored(armored);
    ASSERT_TRUE(sshsig_verify(good, as_bytes(msg), kNamespace).ok());

    struct Case {
        const char* what;
        std::function<void(SshSig&, std::string&)> mutate;
    };
    size_t n = good.signature.size();
    const Case cases[] = {
        {"message", [](SshSig&, std::string& m) { m += "x"; }},
        {"flags", [n](SshSig& s, std::string&) { s.signature[n - 5] ^= 0x04; }},
        {"counter", [n](SshSig& s, std::string&) { s.signature[n - 1] ^= 0x01; }},
        {"signature byte",
         [](SshSig& s, std::string&) { s.signature[s.signature.size() / 2] ^= 0x10; }},
        {"trailing byte", [](SshSig& s, std::string&) { s.signature.push_back(0); }},
        {"truncated", [](SshSig& s, std::string&) { s.signature.pop_back(); }},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        SshSig sig = good;
        std::string m = msg;
        c.mutate(sig, m);
        std::string tampered = sshsig_armor(sig.serialize());
        auto parsed = SshSig::parse_armored(tampered);
        bool core_ok = parsed.ok() && sshsig_verify(*parsed, as_bytes(m), kNamespace).ok();
        EXPECT_FALSE(core_ok);
        EXPECT_FALSE(openssh_accepts(tampered, m));
    }
}

TEST_P(OpenSsh, VerifyRequiredKeysSignWithUserVerification) {
    std::string vr = dir_.file("id_vr");
    auto r = keygen(
        {"-t", GetParam(), "-w", provider_, "-f", vr, "-N", "", "-q", "-O", "verify-required"});
    ASSERT_EQ(r.status, 0) << r.err;
    r = keygen({"-Y", "sign", "-f", vr, "-n", kNamespace, "-w", provider_, message_});
    ASSERT_EQ(r.status, 0) << r.err;
    auto sig = SshSig::parse_armored(read_file(message_ + ".sig"));
    ASSERT_TRUE(sig.ok());
    auto v = sshsig_verify(*sig, as_bytes(read_file(message_)), kNamespace);
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_TRUE(v->user_present());
    EXPECT_TRUE(v->user_verified());
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, OpenSsh, ::testing::Values("ecdsa-sk", "ed25519-sk"),
                         [](const auto& p) {
                             return p.param == "ecdsa-sk" ? std::string("ecdsa_sk")
                                                          : std::string("ed25519_sk");
                         });

TEST(OpenSshVectors, CoreRejectionsMatchOpenSshOnVectors) {
    // The shared vectors verify with OpenSSH; a flipped namespace does not,
    // for OpenSSH or for us.
    std::string dir = vectors_dir() + "/openssh/sshsig/";
    std::string msg = read_file(dir + "signed-data");
    for (const char* name : {"ecdsa_sk.sig", "ed25519_sk.sig"}) {
        auto r =
            run({"ssh-keygen", "-Y", "check-novalidate", "-n", "unittest", "-s", dir + name}, msg);
        EXPECT_EQ(r.status, 0) << name << r.err;
        auto other =
            run({"ssh-keygen", "-Y", "check-novalidate", "-n", "other", "-s", dir + name}, msg);
        EXPECT_NE(other.status, 0) << name;
        auto sig = SshSig::parse_armored(read_file(dir + name));
        ASSERT_TRUE(sig.ok());
        EXPECT_TRUE(sshsig_verify(*sig, as_bytes(msg), "unittest").ok());
        EXPECT_FALSE(sshsig_verify(*sig, as_bytes(msg), "other").ok());
    }
}
