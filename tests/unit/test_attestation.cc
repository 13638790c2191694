// Attestation: statements made here with OpenSSL (packed with a certificate,
// packed self, fido-u2f), one made by the stock ssh-keygen, and malformed ones.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "core/fido/attestation.h"
#include "core/ssh/wire.h"
#include "tests/support/certs.h"
#include "tests/support/helpers.h"
#include "tests/support/softkey.h"

using namespace skgate;
using namespace skgate::test;

namespace {

const Aaguid kAaguid = {0xcb, 0x69, 0x48, 0x1e, 0x8f, 0xf7, 0x40, 0x39,
                        0x93, 0xec, 0x0a, 0x27, 0x29, 0xa1, 0x54, 0xa8};
const Bytes kChallenge = to_bytes(as_bytes("enrollment challenge, 32 bytes.."));
const Bytes kCredId = to_bytes(as_bytes("credential-id-01"));

Bytes auth_data(const SoftSkKey& key, uint8_t flags = kAuthDataUserPresent,
                const Aaguid& aaguid = kAaguid) {
    return *AuthenticatorData::encode(key.public_key().application(), flags, 0, aaguid, kCredId,
                                      key.public_key());
}

Bytes packed_message(ByteView ad, ByteView challenge = kChallenge) {
    Bytes m = to_bytes(ad);
    Sha256 h = sha256(challenge);
    m.insert(m.end(), h.begin(), h.end());
    return m;
}

SkAttestation packed_self(const SoftSkKey& key, uint8_t flags = kAuthDataUserPresent) {
    Bytes ad = auth_data(key, flags);
    return {{}, key.sign_der(packed_message(ad)), ad};
}

SkAttestation packed_cert(const SoftSkKey& key, const TestCert& cert) {
    Bytes ad = auth_data(key);
    return {cert.der(), cert.sign(packed_message(ad)), ad};
}

SkAttestation fido_u2f(const SoftSkKey& key, const TestCert& cert, const Aaguid& aaguid = {},
                       uint8_t flags = kAuthDataUserPresent) {
    Bytes ad = auth_data(key, flags, aaguid);
    Bytes m{0x00};
    Sha256 rp = sha256(as_bytes(key.public_key().application()));
    Sha256 cd = sha256(kChallenge);
    m.insert(m.end(), rp.begin(), rp.end());
    m.insert(m.end(), cd.begin(), cd.end());
    m.insert(m.end(), kCredId.begin(), kCredId.end());
    m.insert(m.end(), key.raw_public().begin(), key.raw_public().end());
    return {cert.der(), cert.sign(m), ad};
}

std::string verify_error(const SkAttestation& a, const PublicKey& k, ByteView ch = kChallenge,
                         const std::string& roots = "") {
    auto r = verify_attestation(a, k, ch, roots);
    return r ? "(verified)" : r.error().message;
}

class Attest : public ::testing::Test {
  protected:
    SoftSkKey ec = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    SoftSkKey ed = SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
    TestCert ca = make_ca("skgate test attestation root");
    TestCert cert = make_attestation_cert(ca, "Batch 1", kAaguid);
};

}  // namespace

TEST_F(Attest, PackedSelfForBothKeyTypes) {
    for (const SoftSkKey* k : {&ec, &ed}) {
        auto r = verify_attestation(packed_self(*k), k->public_key(), kChallenge);
        ASSERT_TRUE(r.ok()) << r.error().message;
        EXPECT_EQ(r->format, "packed-self");
        // The AAGUID in self-attested data is the key's own claim: not kept.
        EXPECT_EQ(r->aaguid, "");
        EXPECT_FALSE(r->user_verified);
    }
    auto uv = verify_attestation(packed_self(ec, kAuthDataUserPresent | kAuthDataUserVerified),
                                 ec.public_key(), kChallenge);
    ASSERT_TRUE(uv.ok());
    EXPECT_TRUE(uv->user_verified);
}

TEST_F(Attest, PackedWithCertificate) {
    auto r = verify_attestation(packed_cert(ec, cert), ec.public_key(), kChallenge);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->format, "packed");
    EXPECT_NE(r->certificate_subject.find("Batch 1"), std::string::npos);
    EXPECT_FALSE(r->chained);
}

TEST_F(Attest, FidoU2f) {
    TestCert u2f = make_attestation_cert(ca, "U2F device");
    auto r = verify_attestation(fido_u2f(ec, u2f), ec.public_key(), kChallenge);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->format, "fido-u2f");
    EXPECT_EQ(r->aaguid, "00000000-0000-0000-0000-000000000000");
}

// The U2F signature covers neither the AAGUID nor the flags of the
// authenticator data: a forged AAGUID is refused, a UV flag is not believed.
TEST_F(Attest, FidoU2fCannotClaimAnAaguidOrVerification) {
    TestCert u2f = make_attestation_cert(ca, "U2F device");
    Aaguid forged{};
    forged[0] = 0xcb;
    EXPECT_NE(verify_error(fido_u2f(ec, u2f, forged), ec.public_key()).find("non-zero AAGUID"),
              std::string::npos);
    auto uv =
        verify_attestation(fido_u2f(ec, u2f, {}, kAuthDataUserPresent | kAuthDataUserVerified),
                           ec.public_key(), kChallenge);
    ASSERT_TRUE(uv.ok()) << uv.error().message;
    EXPECT_FALSE(uv->user_verified);
}

TEST_F(Attest, ChainToAttestationRoots) {
    TempDir roots;
    write_file(roots.file("root.pem"), ca.pem());
    auto r = verify_attestation(packed_cert(ec, cert), ec.public_key(), kChallenge, roots.path());
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r->chained);

    TestCert other_ca = make_ca("someone else");
    TempDir wrong;
    write_file(wrong.file("root.pem"), other_ca.pem());
    EXPECT_NE(verify_error(packed_cert(ec, cert), ec.public_key(), kChallenge, wrong.path())
                  .find("does not chain"),
              std::string::npos);
    EXPECT_NE(verify_error(packed_self(ec), ec.public_key(), kChallenge, roots.path())
                  .find("self-attestation cannot chain"),
              std::string::npos);
    TempDir empty;
    EXPECT_NE(verify_error(packed_cert(ec, cert), ec.public_key(), kChallenge, empty.path())
                  .find("no certificates"),
              std::string::npos);
}

TEST_F(Attest, WrongChallengeKeyOrApplicationFails) {
    Bytes other_challenge = kChallenge;
    other_challenge[0] ^= 1;
    EXPECT_NE(
        verify_error(packed_self(ec), ec.public_key(), other_challenge).find("does not verify"),
        std::string::npos);
    EXPECT_NE(verify_error(packed_cert(ec, cert), ec.public_key(), other_challenge)
                  .find("does not verify"),
              std::string::npos);
    auto other = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    EXPECT_NE(verify_error(packed_self(ec), other.public_key()).find("not this SSH key"),
              std::string::npos);
    auto other_app = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256, "ssh:other");
    SkAttestation a = packed_self(other_app);
    auto relabeled = PublicKey::make_sk_ecdsa(other_app.raw_public(), "ssh:");
    EXPECT_NE(verify_error(a, *relabeled).find("another application"), std::string::npos);
}

TEST_F(Attest, FlagsAreChecked) {
    EXPECT_NE(verify_error(packed_self(ec, 0), ec.public_key()).find("user presence"),
              std::string::npos);
    // AT cleared: the credential cannot be found.
    SkAttestation a = packed_self(ec);
    a.auth_data[32] &= static_cast<uint8_t>(~kAuthDataAttested);
    EXPECT_FALSE(verify_attestation(a, ec.public_key(), kChallenge).ok());
}

TEST_F(Attest, CertificateAaguidMustMatch) {
    Aaguid other = kAaguid;
    other[0] ^= 0xff;
    TestCert mismatched = make_attestation_cert(ca, "Batch 2", other);
    EXPECT_NE(verify_error(packed_cert(ec, mismatched), ec.public_key()).find("another AAGUID"),
              std::string::npos);
}

TEST_F(Attest, FileRoundTripAndMalformedFiles) {
    SkAttestation a = packed_cert(ec, cert);
    Bytes file = a.serialize();
    auto back = SkAttestation::parse(file);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->auth_data, a.auth_data);
    EXPECT_TRUE(verify_attestation(*back, ec.public_key(), kChallenge).ok());
    for (size_t n = 0; n < file.size(); n++)
        EXPECT_FALSE(SkAttestation::parse(ByteView(file).first(n)).ok()) << n;
    Bytes trailing = file;
    trailing.push_back(0);
    EXPECT_FALSE(SkAttestation::parse(trailing).ok());
    Bytes reserved = file;
    reserved[reserved.size() - 5] = 1;  // the reserved flags word
    EXPECT_NE(SkAttestation::parse(reserved).error().message.find("reserved"), std::string::npos);
    EXPECT_FALSE(SkAttestation::parse(as_bytes("ssh-sk-attest-v00")).ok());
    WireWriter w;
    w.put_string("ssh-sk-attest-v01");
    w.put_string(std::string_view{});
    w.put_string("sig");
    w.put_string("not cbor");
    w.put_u32(0);
    w.put_string(std::string_view{});
    EXPECT_FALSE(SkAttestation::parse(w.bytes()).ok());
}

TEST_F(Attest, MalformedAuthenticatorData) {
    Bytes ad = auth_data(ec);
    for (size_t n = 0; n < ad.size(); n++)
        EXPECT_FALSE(AuthenticatorData::parse(ByteView(ad).first(n)).ok()) << n;
    Bytes trailing = ad;
    trailing.push_back(0xa0);
    EXPECT_NE(AuthenticatorData::parse(trailing).error().message.find("trailing"),
              std::string::npos);
    trailing[32] |= kAuthDataExtensions;  // now the 0xa0 is an (empty) extension map
    auto ext = AuthenticatorData::parse(trailing);
    ASSERT_TRUE(ext.ok()) << ext.error().message;
    EXPECT_EQ(ext->extensions, Bytes{0xa0});
    Bytes bad_cose = ad;
    bad_cose[bad_cose.size() - 40] ^= 0xff;
    EXPECT_FALSE(AuthenticatorData::parse(bad_cose).ok() &&
                 verify_attestation({{}, ec.sign_der(packed_message(bad_cose)), bad_cose},
                                    ec.public_key(), kChallenge)
                     .ok());
}

TEST_F(Attest, CoseKeyRules) {
    size_t used = 0;
    auto cose = cbor_encode_cose_key(ec.public_key());
    ASSERT_TRUE(cose.ok());
    auto k = cbor_read_cose_key(*cose, &used);
    ASSERT_TRUE(k.ok());
    EXPECT_EQ(used, cose->size());
    EXPECT_EQ(k->ssh_material(), ec.raw_public());
    // {1: 2, 3: -7, -1: 1, -2: x} without y
    const uint8_t no_y[] = {0xa4, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x41, 0x00};
    EXPECT_FALSE(cbor_read_cose_key(no_y, &used).ok());
    // RS256 key type
    const uint8_t rsa[] = {0xa2, 0x01, 0x03, 0x03, 0x39, 0x01, 0x00};
    EXPECT_FALSE(cbor_read_cose_key(rsa, &used).ok());
    // duplicated label
    const uint8_t dup[] = {0xa2, 0x01, 0x02, 0x01, 0x02};
    EXPECT_NE(cbor_read_cose_key(dup, &used).error().message.find("repeats"), std::string::npos);
    const uint8_t indefinite[] = {0xbf, 0x01, 0x02, 0xff};
    EXPECT_FALSE(cbor_read_cose_key(indefinite, &used).ok());
    const uint8_t not_map[] = {0x80};
    EXPECT_FALSE(cbor_read_cose_key(not_map, &used).ok());
}

TEST(Cbor, HostileHeadersAreRefusedBeforeAllocation) {
    size_t used = 0;
    // map with 2^32 entries, array of 2^62, byte string of 2^40: a few bytes
    // each, which libcbor would try to allocate for.
    const uint8_t big_map[] = {0xba, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02};
    const uint8_t big_array[] = {0x9b, 0x40, 0, 0, 0, 0, 0, 0, 0, 0x01};
    const uint8_t big_bytes[] = {0x5b, 0, 0, 0x01, 0, 0, 0, 0, 0, 0x01};
    EXPECT_NE(cbor_read_cose_key(big_map, &used).error().message.find("more elements"),
              std::string::npos);
    EXPECT_FALSE(cbor_item_length(big_array).ok());
    EXPECT_NE(cbor_read_bytestring(big_bytes, &used).error().message.find("longer than"),
              std::string::npos);
    // nesting deeper than 16
    Bytes deep(40, 0x81);
    deep.push_back(0x00);
    EXPECT_NE(cbor_item_length(deep).error().message.find("deeper"), std::string::npos);
    // indefinite-length byte string
    const uint8_t indefinite[] = {0x5f, 0x41, 0x00, 0xff};
    EXPECT_FALSE(cbor_read_bytestring(indefinite, &used).ok());
    const uint8_t ok_bytes[] = {0x43, 1, 2, 3, 0xff};
    auto b = cbor_read_bytestring(ok_bytes, &used);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(used, 4u);
}

TEST(AttestInterop, SshKeygenWriteAttestationVerifies) {
    const char* provider = std::getenv("SKGATE_TEST_SK_PROVIDER");
    ASSERT_NE(provider, nullptr);
    TempDir d;
    write_file(d.file("challenge"), std::string(32, 'c'));
    std::map<std::string, std::string> env;
    for (const char* type : {"ecdsa-sk", "ed25519-sk"}) {
        std::string f = d.file(std::string("id_") + type);
        auto r = run({"ssh-keygen", "-t", type, "-w", provider, "-f", f, "-N", "", "-q", "-O",
                      "write-attestation=" + f + ".att", "-O", "challenge=" + d.file("challenge")},
                     "", env);
        ASSERT_EQ(r.status, 0) << r.err;
        auto key = PublicKey::parse_text(read_file(f + ".pub"));
        auto att = SkAttestation::parse(as_bytes(read_file(f + ".att")));
        ASSERT_TRUE(key.ok() && att.ok()) << (att.ok() ? "" : att.error().message);
        auto v = verify_attestation(*att, *key, as_bytes(read_file(d.file("challenge"))));
        ASSERT_TRUE(v.ok()) << type << ": " << v.error().message;
        EXPECT_EQ(v->format, "packed-self");
        EXPECT_EQ(v->aaguid, "");  // self-attested: the claim is not kept
        EXPECT_FALSE(verify_attestation(*att, *key, as_bytes("another challenge")).ok());
    }
}

// WebAuthn's "none" (synced passkeys): no certificate, no signature. It
// still has to be this key's credential for this application, and it
// vouches for nothing: no AAGUID, no user verification, never a chain.
TEST_F(Attest, NoneSaysWhichKeyAndNothingMore) {
    SkAttestation none{{}, {}, auth_data(ec, kAuthDataUserPresent | kAuthDataUserVerified)};
    auto parsed = SkAttestation::parse(none.serialize());
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    auto r = verify_attestation(*parsed, ec.public_key(), kChallenge);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->format, "none");
    EXPECT_EQ(r->aaguid, "");
    EXPECT_FALSE(r->user_verified) << "nothing signed the UV flag";
    EXPECT_FALSE(r->chained);

    EXPECT_NE(verify_error(none, ec.public_key(), kChallenge, "/etc/skgate/roots")
                  .find("format \"none\""),
              std::string::npos);
    EXPECT_NE(verify_error(none, ed.public_key()).find("not this SSH key"), std::string::npos);
    auto other_app = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256, "localhost");
    EXPECT_NE(
        verify_error({{}, {}, auth_data(other_app)}, ec.public_key()).find("another application"),
        std::string::npos);
    // A certificate with no signature is not "none".
    SkAttestation cert_only{cert.der(), {}, auth_data(ec)};
    EXPECT_NE(SkAttestation::parse(cert_only.serialize())
                  .error()
                  .message.find("a certificate but no signature"),
              std::string::npos);
}
