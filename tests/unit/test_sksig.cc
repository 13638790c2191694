#include <gtest/gtest.h>

#include "core/ssh/ossl.h"
#include "core/ssh/sksig.h"
#include "core/ssh/wire.h"
#include "core/sys/base64.h"
#include "core/sys/sha256.h"
#include "tests/support/helpers.h"
#include "tests/support/softkey.h"

using namespace skgate;
using namespace skgate::test;

namespace {

const Bytes kData = to_bytes(as_bytes("userauth request bytes"));

class SkSig : public ::testing::TestWithParam<KeyAlgorithm> {
  protected:
    SoftSkKey key = SoftSkKey::generate(GetParam());
};

Bytes p256_order() {
    return *ossl::ec_curve_order("P-256");
}

// Re-encodes an ECDSA signature with the given r and s magnitudes.
Bytes with_rs(ByteView r, ByteView s, uint8_t flags = 1, uint32_t counter = 1) {
    return sk_signature_blob("sk-ecdsa-sha2-nistp256@openssh.com", ecdsa_inner(r, s), flags,
                             counter);
}

}  // namespace

TEST_P(SkSig, VerifiesAndReportsFlagsAndCounter) {
    for (uint8_t flags : {uint8_t{0x00}, uint8_t{0x01}, uint8_t{0x05}, uint8_t{0x04}}) {
        for (uint32_t counter : {0u, 1u, 0x12345678u, 0xffffffffu}) {
            auto v = verify_sk_signature(key.public_key(), key.sign(kData, flags, counter), kData);
            ASSERT_TRUE(v.ok()) << v.error().message;
            EXPECT_EQ(v->flags, flags);
            EXPECT_EQ(v->counter, counter);
            EXPECT_EQ(v->user_present(), (flags & 1) != 0);
            EXPECT_EQ(v->user_verified(), (flags & 4) != 0);
        }
    }
}

TEST_P(SkSig, OtherDataFails) {
    Bytes sig = key.sign(kData, 1, 7);
    Bytes other = kData;
    other.back() ^= 1;
    auto v = verify_sk_signature(key.public_key(), sig, other);
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.error().message.find("does not verify"), std::string::npos);
}

TEST_P(SkSig, OtherKeyFails) {
    auto other = SoftSkKey::generate(GetParam());
    EXPECT_FALSE(verify_sk_signature(other.public_key(), key.sign(kData, 1, 1), kData).ok());
}

TEST_P(SkSig, OtherApplicationFails) {
    auto other = GetParam() == KeyAlgorithm::sk_ed25519
                     ? PublicKey::make_sk_ed25519(key.raw_public(), "ssh:other")
                     : PublicKey::make_sk_ecdsa(key.raw_public(), "ssh:other");
    ASSERT_TRUE(other.ok());
    EXPECT_FALSE(verify_sk_signature(*other, key.sign(kData, 1, 1), kData).ok());
}

TEST_P(SkSig, TamperedFlagsOrCounterFail) {
    Bytes sig = key.sign(kData, 0x01, 5);
    Bytes flags = sig;
    flags[flags.size() - 5] |= 0x04;  // claim user verification
    EXPECT_FALSE(verify_sk_signature(key.public_key(), flags, kData).ok());
    Bytes counter = sig;
    counter.back() = 9;
    EXPECT_FALSE(verify_sk_signature(key.public_key(), counter, kData).ok());
}

TEST_P(SkSig, TrailingDataFails) {
    Bytes sig = key.sign(kData, 1, 1);
    sig.push_back(0);
    auto v = verify_sk_signature(key.public_key(), sig, kData);
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.error().message.find("trailing"), std::string::npos);
}

TEST_P(SkSig, EveryTruncationFails) {
    Bytes sig = key.sign(kData, 1, 1);
    for (size_t n = 0; n < sig.size(); n++)
        EXPECT_FALSE(verify_sk_signature(key.public_key(), ByteView(sig).first(n), kData).ok())
            << n;
}

TEST_P(SkSig, EveryBitFlipFails) {
    Bytes sig = key.sign(kData, 1, 1);
    for (size_t i = 0; i < sig.size(); i++) {
        Bytes t = sig;
        t[i] ^= 0x01;
        EXPECT_FALSE(verify_sk_signature(key.public_key(), t, kData).ok()) << "byte " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(Both, SkSig,
                         ::testing::Values(KeyAlgorithm::sk_ecdsa_p256, KeyAlgorithm::sk_ed25519));

TEST(SkSigEcdsa, TypeMismatchFails) {
    auto ec = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    auto ed = SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
    auto v = verify_sk_signature(ec.public_key(), ed.sign(kData, 1, 1), kData);
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.error().message.find("does not match key type"), std::string::npos);
}

TEST(SkSigEcdsa, ZeroOrOutOfRangeScalarsAreRejected) {
    auto key = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    Bytes rs = key.sign_message(sk_signed_message("ssh:", 1, 1, kData));
    ByteView r = ByteView(rs).first(32), s = ByteView(rs).subspan(32);
    auto zero_r = SkSignature::parse(with_rs({}, s));
    ASSERT_FALSE(zero_r.ok());
    EXPECT_NE(zero_r.error().message.find("r is zero"), std::string::npos);
    EXPECT_FALSE(SkSignature::parse(with_rs(r, {})).ok());
    Bytes n = p256_order();
    auto big = SkSignature::parse(with_rs(n, s));
    ASSERT_FALSE(big.ok());
    EXPECT_NE(big.error().message.find("curve order"), std::string::npos);
    EXPECT_FALSE(SkSignature::parse(with_rs(r, n)).ok());
    // r + n would verify in a sloppy implementation that reduces mod n
    Bytes too_big(33, 0xff);
    too_big[0] = 0x01;
    EXPECT_FALSE(SkSignature::parse(with_rs(too_big, s)).ok());
}

TEST(SkSigEcdsa, NonMinimalScalarIsRejected) {
    auto key = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    Bytes rs = key.sign_message(sk_signed_message("ssh:", 1, 1, kData));
    WireWriter inner;
    Bytes padded_r = {0x00};
    padded_r.insert(padded_r.end(), rs.begin(), rs.begin() + 32);
    padded_r.insert(padded_r.begin(), 0x00);  // two leading zeros: never minimal
    inner.put_string(padded_r);
    inner.put_mpint(ByteView(rs).subspan(32));
    auto v = SkSignature::parse(
        sk_signature_blob("sk-ecdsa-sha2-nistp256@openssh.com", inner.bytes(), 1, 1));
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.error().message.find("minimal"), std::string::npos);
}

TEST(SkSigEcdsa, InnerTrailingDataIsRejected) {
    auto key = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    Bytes rs = key.sign_message(sk_signed_message("ssh:", 1, 1, kData));
    Bytes inner = ecdsa_inner(ByteView(rs).first(32), ByteView(rs).subspan(32));
    inner.push_back(0);
    auto v =
        SkSignature::parse(sk_signature_blob("sk-ecdsa-sha2-nistp256@openssh.com", inner, 1, 1));
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.error().message.find("trailing"), std::string::npos);
}

TEST(SkSigEd25519, WrongLengthIsRejected) {
    for (size_t n : {0u, 63u, 65u}) {
        auto v =
            SkSignature::parse(sk_signature_blob("sk-ssh-ed25519@openssh.com", Bytes(n, 1), 1, 1));
        EXPECT_FALSE(v.ok()) << n;
    }
}

TEST(SkSigAny, NonSkSignatureTypesAreRejected) {
    for (const char* t : {"ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-256", ""}) {
        auto v = SkSignature::parse(sk_signature_blob(t, Bytes(64, 1), 1, 1));
        ASSERT_FALSE(v.ok()) << t;
        EXPECT_NE(v.error().message.find("not a security-key signature"), std::string::npos);
    }
}

TEST(SkSigAny, NonSkKeyIsRejected) {
    auto soft = SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
    WireWriter w;
    w.put_string("ssh-ed25519");
    w.put_string(soft.raw_public());
    auto plain = PublicKey::parse_blob(w.bytes());
    ASSERT_TRUE(plain.ok());
    auto v = verify_sk_signature(*plain, soft.sign(kData, 1, 1), kData);
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.error().message.find("not a FIDO2 security key"), std::string::npos);
}

namespace {

// A webauthn-sk-ecdsa signature made the way a browser authenticator does.
Bytes webauthn_sig(const SoftSkKey& key, ByteView data, const std::string& origin, uint8_t flags,
                   uint32_t counter, const std::string& client_data_override = "",
                   ByteView extensions = {}) {
    std::string cd = client_data_override.empty()
                         ? R"({"type":"webauthn.get","challenge":")" +
                               base64url_encode_unpadded(data) + R"(","origin":")" + origin +
                               R"(","crossOrigin":false})"
                         : client_data_override;
    WireWriter m;
    m.put_raw(sha256(as_bytes(key.public_key().application())));
    m.put_u8(flags);
    m.put_u32(counter);
    m.put_raw(extensions);
    m.put_raw(sha256(as_bytes(cd)));
    Bytes rs = key.sign_message(m.bytes());
    WireWriter w;
    w.put_string("webauthn-sk-ecdsa-sha2-nistp256@openssh.com");
    w.put_string(ecdsa_inner(ByteView(rs).first(32), ByteView(rs).subspan(32)));
    w.put_u8(flags);
    w.put_u32(counter);
    w.put_string(origin);
    w.put_string(cd);
    w.put_string(extensions);
    return std::move(w).take();
}

}  // namespace

TEST(SkSigWebauthn, ValidSignatureVerifies) {
    auto key = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256, "example.org");
    auto v = verify_sk_signature(key.public_key(),
                                 webauthn_sig(key, kData, "https://example.org", 5, 42), kData);
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_EQ(v->flags, 5);
    EXPECT_EQ(v->counter, 42u);
}

TEST(SkSigWebauthn, WrongChallengeOrOriginFails) {
    auto key = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256, "example.org");
    std::string cd = R"({"type":"webauthn.get","challenge":"AAAA","origin":"https://example.org"})";
    auto v = verify_sk_signature(key.public_key(),
                                 webauthn_sig(key, kData, "https://example.org", 1, 1, cd), kData);
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.error().message.find("challenge"), std::string::npos);
    EXPECT_FALSE(verify_sk_signature(key.public_key(),
                                     webauthn_sig(key, kData, "https://evil\"org", 1, 1), kData)
                     .ok());
}

TEST(SkSigWebauthn, FlagConsistencyIsEnforced) {
    auto key = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256, "example.org");
    EXPECT_FALSE(verify_sk_signature(key.public_key(),
                                     webauthn_sig(key, kData, "https://example.org", 0x41, 1),
                                     kData)
                     .ok());
    const uint8_t ext[] = {0xa0};
    EXPECT_FALSE(verify_sk_signature(
                     key.public_key(),
                     webauthn_sig(key, kData, "https://example.org", 0x01, 1, "", ext), kData)
                     .ok());
    EXPECT_TRUE(verify_sk_signature(
                    key.public_key(),
                    webauthn_sig(key, kData, "https://example.org", 0x81, 1, "", ext), kData)
                    .ok());
}

// What pam_skgate's step-up checks beyond sshd: the browser named a page of
// the key's relying party, not one framed by another site.
TEST(SkSigWebauthn, StepUpChecksThePageTheBrowserNamed) {
    auto site = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256, "example.org");
    auto local = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256, "localhost");
    auto page = [&](const SoftSkKey& k, const std::string& origin, const std::string& tail = "") {
        std::string cd = tail.empty() ? ""
                                      : R"({"type":"webauthn.get","challenge":")" +
                                            base64url_encode_unpadded(kData) + R"(","origin":")" +
                                            origin + "\"" + tail;
        return check_webauthn_page(k.public_key(), webauthn_sig(k, kData, origin, 1, 1, cd));
    };
    EXPECT_TRUE(page(site, "https://example.org").ok());
    EXPECT_TRUE(page(site, "https://login.example.org:8443").ok());
    EXPECT_TRUE(page(local, "http://localhost:41234").ok());
    EXPECT_TRUE(page(local, "https://localhost").ok());
    for (const auto& [key, origin] : std::vector<std::pair<const SoftSkKey*, std::string>>{
             {&site, "https://evilexample.org"},
             {&site, "http://example.org"},
             {&site, "https://example.org.evil"},
             {&site, "https://example.org:x"},
             {&site, "https://example.org:"},
             {&site, "ftp://example.org"},
             {&local, "http://127.0.0.1:41234"},
             {&local, "http://evil.test"},
         })
        EXPECT_FALSE(page(*key, origin).ok()) << origin;
    EXPECT_NE(
        page(local, "http://localhost:1", R"(,"crossOrigin":true})").error().message.find("framed"),
        std::string::npos);
    EXPECT_FALSE(
        page(local, "http://localhost:1", R"(,"crossOrigin":false,"topOrigin":"https://x.y"})")
            .ok());
    EXPECT_TRUE(page(local, "http://localhost:1", R"(,"crossOrigin":false})").ok());
    // Other signature types have no page.
    auto plain = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    EXPECT_TRUE(check_webauthn_page(plain.public_key(), plain.sign(kData, 1, 1)).ok());
}
