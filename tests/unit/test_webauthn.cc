// A browser's WebAuthn answers, built here byte for byte as Chromium's
// (clientDataJSON member order, CBOR attestation objects), and every way a
// page or a hostile local process could bend them.
#include <gtest/gtest.h>

#include "core/fido/webauthn.h"
#include "core/ssh/sksig.h"
#include "core/ssh/wire.h"
#include "core/sys/base64.h"
#include "tests/support/certs.h"
#include "tests/support/softkey.h"

using namespace skgate;
using namespace skgate::test;

namespace {

const WebauthnOrigin kPage{"localhost", "http://localhost:41234"};
const Bytes kChallenge = to_bytes(as_bytes("thirty-two bytes of challenge..."));
const Bytes kCredId = to_bytes(as_bytes("passkey-credential-id"));
const Aaguid kAaguid = {0xcb, 0x69, 0x48, 0x1e, 0x8f, 0xf7, 0x40, 0x39,
                        0x93, 0xec, 0x0a, 0x27, 0x29, 0xa1, 0x54, 0xa8};

// The CBOR heads this test needs (major type, length below 2^16).
void head(Bytes& out, uint8_t major, size_t n) {
    const auto m = static_cast<uint8_t>(major << 5);
    if (n < 24) {
        out.push_back(static_cast<uint8_t>(m | n));
    } else if (n < 256) {
        out.push_back(static_cast<uint8_t>(m | 24u));
        out.push_back(static_cast<uint8_t>(n));
    } else {
        out.push_back(static_cast<uint8_t>(m | 25u));
        out.push_back(static_cast<uint8_t>(n >> 8));
        out.push_back(static_cast<uint8_t>(n & 0xff));
    }
}
void text(Bytes& out, std::string_view s) {
    head(out, 3, s.size());
    out.insert(out.end(), s.begin(), s.end());
}
void bytes(Bytes& out, ByteView b) {
    head(out, 2, b.size());
    out.insert(out.end(), b.begin(), b.end());
}

std::string client_data(std::string_view type, ByteView challenge = kChallenge,
                        const std::string& origin = kPage.origin,
                        const std::string& tail = R"(,"crossOrigin":false})") {
    return R"({"type":")" + std::string(type) + R"(","challenge":")" +
           base64url_encode_unpadded(challenge) + R"(","origin":")" + origin + "\"" + tail;
}

struct Statement {
    std::string fmt = "none";
    std::optional<Bytes> sig;
    std::optional<Bytes> cert;
    int64_t alg = -7;
};

Bytes attestation_object(ByteView auth_data, const Statement& st) {
    Bytes out;
    head(out, 5, 3);
    text(out, "fmt");
    text(out, st.fmt);
    text(out, "attStmt");
    head(out, 5, (st.sig ? size_t{2} : size_t{0}) + (st.cert ? size_t{1} : size_t{0}));
    if (st.sig) {
        text(out, "alg");
        head(out, 1, static_cast<size_t>(-1 - st.alg));
        text(out, "sig");
        bytes(out, *st.sig);
    }
    if (st.cert) {
        text(out, "x5c");
        head(out, 4, 1);
        bytes(out, *st.cert);
    }
    text(out, "authData");
    bytes(out, auth_data);
    return out;
}

Bytes signed_over(ByteView auth_data, const std::string& cd) {
    Bytes m = to_bytes(auth_data);
    Sha256 h = sha256(as_bytes(cd));
    m.insert(m.end(), h.begin(), h.end());
    return m;
}

class Webauthn : public ::testing::Test {
  protected:
    SoftSkKey passkey = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256, "localhost");
    Bytes auth_data(uint8_t flags = kAuthDataUserPresent, const std::string& rp = "localhost",
                    const SoftSkKey* key = nullptr) {
        return *AuthenticatorData::encode(rp, flags, 0, kAaguid, kCredId,
                                          (key ? key : &passkey)->public_key());
    }
    Result<PasskeyRegistration> create(ByteView object, const std::string& cd) {
        return PasskeyRegistration::parse(object, as_bytes(cd), kChallenge, kPage);
    }
    std::string create_error(ByteView object, const std::string& cd) {
        auto r = create(object, cd);
        return r ? "(accepted)" : r.error().message;
    }

    // What navigator.credentials.get gives for `data` as the challenge.
    WebauthnAssertion assertion(ByteView data, uint8_t flags = kAuthDataUserPresent,
                                uint32_t counter = 7, const std::string& origin = kPage.origin,
                                const std::string& rp = "localhost") {
        WireWriter ad;
        ad.put_raw(sha256(as_bytes(rp)));
        ad.put_u8(flags);
        ad.put_u32(counter);
        std::string cd = client_data("webauthn.get", data, origin);
        return {ad.bytes(), to_bytes(as_bytes(cd)), passkey.sign_der(signed_over(ad.bytes(), cd))};
    }
    std::string get_error(const WebauthnAssertion& a, ByteView data) {
        auto r = webauthn_signature_blob(passkey.public_key(), a, kPage, data);
        return r ? "(accepted)" : r.error().message;
    }
};

}  // namespace

TEST_F(Webauthn, NoneRegistrationBecomesAnSshSecurityKey) {
    auto r = create(attestation_object(auth_data(), {}), client_data("webauthn.create"));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r->key.same_key(passkey.public_key()));
    EXPECT_EQ(r->key.type_name(), "sk-ecdsa-sha2-nistp256@openssh.com");
    EXPECT_EQ(r->key.application(), "localhost");
    EXPECT_EQ(r->credential_id, kCredId);
    EXPECT_EQ(r->format, "none");
    // What the agent keeps is what skgatectl enroll reads back.
    auto back = SkAttestation::parse(r->attestation.serialize());
    ASSERT_TRUE(back.ok()) << back.error().message;
    auto verified = verify_attestation(*back, r->key, as_bytes(client_data("webauthn.create")));
    ASSERT_TRUE(verified.ok()) << verified.error().message;
    EXPECT_EQ(verified->format, "none");
}

TEST_F(Webauthn, PackedRegistrationsAreVerifiedBeforeTheyAreKept) {
    std::string cd = client_data("webauthn.create");
    Bytes ad = auth_data(kAuthDataUserPresent | kAuthDataUserVerified);
    Statement self{.fmt = "packed", .sig = passkey.sign_der(signed_over(ad, cd))};
    auto s = create(attestation_object(ad, self), cd);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->format, "packed-self");

    TestCert ca = make_ca("skgate test passkey root");
    TestCert cert = make_attestation_cert(ca, "Passkey batch", kAaguid);
    Statement full{.fmt = "packed", .sig = cert.sign(signed_over(ad, cd)), .cert = cert.der()};
    auto p = create(attestation_object(ad, full), cd);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->format, "packed");
    EXPECT_EQ(p->attestation.certificate, cert.der());
    EXPECT_TRUE(p->flags & kAuthDataUserVerified);

    // Over another clientDataJSON (another challenge), or with another
    // algorithm: refused.
    Statement stale{.fmt = "packed",
                    .sig = cert.sign(signed_over(ad, client_data("webauthn.create", kCredId))),
                    .cert = cert.der()};
    EXPECT_NE(create_error(attestation_object(ad, stale), cd).find("does not verify"),
              std::string::npos);
    Statement eddsa = full;
    eddsa.alg = -8;
    EXPECT_NE(create_error(attestation_object(ad, eddsa), cd).find("other than ES256"),
              std::string::npos);
    Statement unsigned_packed{.fmt = "packed", .sig = Bytes{}, .cert = cert.der()};
    EXPECT_NE(create_error(attestation_object(ad, unsigned_packed), cd).find("no signature"),
              std::string::npos);
    // A format skgate does not verify keeps only what it proves: nothing.
    auto tpm = create(attestation_object(ad, {.fmt = "tpm", .sig = Bytes{1, 2}}), cd);
    ASSERT_TRUE(tpm.ok()) << tpm.error().message;
    EXPECT_EQ(tpm->format, "none");
    EXPECT_TRUE(tpm->attestation.signature.empty());
}

TEST_F(Webauthn, ARegistrationForAnotherPageOrChallengeIsRefused) {
    Bytes obj = attestation_object(auth_data(), {});
    struct Case {
        std::string client_data;
        std::string reason;
    };
    for (const auto& c : std::vector<Case>{
             {client_data("webauthn.get"), "not a webauthn.create answer"},
             {client_data("webauthn.create", kCredId), "another challenge or origin"},
             {client_data("webauthn.create", kChallenge, "http://localhost:41235"),
              "another challenge or origin"},
             {client_data("webauthn.create", kChallenge, "http://localhost:412345"),
              "another challenge or origin"},
             {client_data("webauthn.create", kChallenge, "https://evil.example"),
              "another challenge or origin"},
             {client_data("webauthn.create", kChallenge, kPage.origin, R"(,"crossOrigin":true})"),
              "crossOrigin"},
             {client_data("webauthn.create", kChallenge, kPage.origin, ""), "does not end"},
             {R"({"challenge":"x","type":"webauthn.create"})", "not a webauthn.create"},
             {"", "clientDataJSON is empty"},
             {std::string(kMaxWebauthnAnswerBytes + 1, '{'), "larger than"},
         })
        EXPECT_NE(create_error(obj, c.client_data).find(c.reason), std::string::npos)
            << c.client_data.substr(0, 80) << ": " << create_error(obj, c.client_data);
}

TEST_F(Webauthn, MalformedAttestationObjectsAreRefused) {
    std::string cd = client_data("webauthn.create");
    SoftSkKey ed = SoftSkKey::generate(KeyAlgorithm::sk_ed25519, "localhost");
    struct Case {
        Bytes object;
        std::string reason;
    };
    Bytes good = attestation_object(auth_data(), {});
    Bytes trailing = good;
    trailing.push_back(0);
    Bytes repeated;
    head(repeated, 5, 4);
    text(repeated, "fmt");
    text(repeated, "none");
    text(repeated, "fmt");
    text(repeated, "none");
    text(repeated, "attStmt");
    head(repeated, 5, 0);
    text(repeated, "authData");
    bytes(repeated, auth_data());
    Bytes missing;
    head(missing, 5, 1);
    text(missing, "fmt");
    text(missing, "none");
    Bytes not_map;
    bytes(not_map, auth_data());
    WireWriter no_at;
    no_at.put_raw(sha256(as_bytes("localhost")));
    no_at.put_u8(kAuthDataUserPresent);
    no_at.put_u32(0);
    for (const auto& c : std::vector<Case>{
             {attestation_object(auth_data(kAuthDataUserPresent, "evil.example"), {}),
              "another relying party"},
             {attestation_object(auth_data(0), {}), "user presence"},
             {attestation_object(no_at.bytes(), {}), "no attested credential"},
             {attestation_object(auth_data(kAuthDataUserPresent, "localhost", &ed), {}), "Ed25519"},
             {trailing, "trailing"},
             {repeated, "repeated member \"fmt\""},
             {missing, "lacks fmt, attStmt or authData"},
             {not_map, "not a CBOR map"},
             {Bytes{}, "attestationObject is empty"},
         })
        EXPECT_NE(create_error(c.object, cd).find(c.reason), std::string::npos)
            << c.reason << ": " << create_error(c.object, cd);
    // No prefix of a good object parses.
    for (size_t n = 0; n < good.size(); n++)
        EXPECT_FALSE(create(ByteView(good).first(n), cd).ok()) << n;
}

TEST_F(Webauthn, AnAssertionBecomesTheSignatureSshdVerifies) {
    const Bytes data = to_bytes(as_bytes("an SSHSIG or step-up blob to be signed"));
    auto blob = webauthn_signature_blob(passkey.public_key(), assertion(data), kPage, data);
    ASSERT_TRUE(blob.ok()) << blob.error().message;
    auto sig = SkSignature::parse(*blob);
    ASSERT_TRUE(sig.ok());
    EXPECT_EQ(sig->type_name(), "webauthn-sk-ecdsa-sha2-nistp256@openssh.com");
    EXPECT_EQ(sig->webauthn_origin, kPage.origin);
    auto v = verify_sk_signature(passkey.public_key(), *blob, data);
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_EQ(v->counter, 7u);
    // A synced passkey's counter is 0, and user verification is the flag.
    auto uv = webauthn_signature_blob(
        passkey.public_key(), assertion(data, kAuthDataUserPresent | kAuthDataUserVerified, 0),
        kPage, data);
    ASSERT_TRUE(uv.ok()) << uv.error().message;
    EXPECT_TRUE(verify_sk_signature(passkey.public_key(), *uv, data)->user_verified());
}

TEST_F(Webauthn, AnAssertionForOtherDataAPageOrAKeyIsRefused) {
    const Bytes data = to_bytes(as_bytes("the data the agent was asked to sign"));
    const Bytes other = to_bytes(as_bytes("data a hostile page would like signed"));
    EXPECT_NE(get_error(assertion(other), data).find("another challenge"), std::string::npos);
    EXPECT_NE(get_error(assertion(data, 1, 7, "http://localhost:9"), data).find("origin"),
              std::string::npos);
    EXPECT_NE(get_error(assertion(data, 1, 7, kPage.origin, "evil.example"), data)
                  .find("another relying party"),
              std::string::npos);
    WebauthnAssertion forged = assertion(data);
    forged.signature = passkey.sign_der(as_bytes("something else"));
    EXPECT_NE(get_error(forged, data).find("does not verify"), std::string::npos);
    WebauthnAssertion garbage = assertion(data);
    garbage.signature = {0x30, 0x01};
    EXPECT_NE(get_error(garbage, data), "(accepted)");
    WebauthnAssertion attested = assertion(data);
    attested.authenticator_data = auth_data();
    EXPECT_NE(get_error(attested, data).find("attested credential"), std::string::npos);
    WebauthnAssertion empty = assertion(data);
    empty.authenticator_data.clear();
    EXPECT_NE(get_error(empty, data).find("empty"), std::string::npos);

    SoftSkKey ssh_key = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256, "ssh:");
    EXPECT_NE(webauthn_signature_blob(ssh_key.public_key(), assertion(data), kPage, data)
                  .error()
                  .message.find("the key is for ssh:"),
              std::string::npos);
    SoftSkKey ed = SoftSkKey::generate(KeyAlgorithm::sk_ed25519, "localhost");
    EXPECT_FALSE(webauthn_signature_blob(ed.public_key(), assertion(data), kPage, data).ok());
}

// The assertion's own clientDataJSON is held to the same page rules.
TEST_F(Webauthn, AFramedAssertionIsRefused) {
    const Bytes data = to_bytes(as_bytes("the data the agent was asked to sign"));
    WebauthnAssertion framed = assertion(data);
    std::string cd = client_data("webauthn.get", data, kPage.origin, R"(,"crossOrigin":true})");
    framed.client_data_json = to_bytes(as_bytes(cd));
    framed.signature = passkey.sign_der(signed_over(framed.authenticator_data, cd));
    EXPECT_NE(get_error(framed, data).find("crossOrigin"), std::string::npos);
}

TEST_F(Webauthn, AnAttestationObjectWithANonTextKeyIsRefused) {
    Bytes obj;
    head(obj, 5, 1);
    head(obj, 0, 1);  // the key 1
    text(obj, "none");
    EXPECT_NE(create_error(obj, client_data("webauthn.create")).find("not a definite text string"),
              std::string::npos);
}
