#include <gtest/gtest.h>

#include <sstream>

#include "core/ssh/sshsig.h"
#include "core/ssh/wire.h"
#include "core/sys/base64.h"
#include "core/sys/text.h"
#include "tests/support/helpers.h"
#include "tests/support/softkey.h"

using namespace skgate;
using namespace skgate::test;

namespace {

std::string dir() {
    return vectors_dir() + "/openssh/sshsig/";
}
std::string message() {
    return read_file(dir() + "signed-data");
}
std::string ns() {
    return std::string(trim(read_file(dir() + "namespace")));
}

SshSig load(const std::string& name) {
    auto s = SshSig::parse_armored(read_file(dir() + name));
    if (!s)
        throw std::runtime_error(name + ": " + s.error().message);
    return *s;
}

PublicKey pub(const std::string& name) {
    return *PublicKey::parse_text(read_file(dir() + name));
}

// Index of the flags byte inside the SSHSIG's inner sk signature.
Bytes resign(SshSig sig, const std::function<void(Bytes&)>& mutate_inner) {
    mutate_inner(sig.signature);
    return sig.serialize();
}

}  // namespace

TEST(SshSigVectors, SecurityKeySignaturesVerify) {
    for (const char* name : {"ecdsa_sk", "ed25519_sk"}) {
        SCOPED_TRACE(name);
        SshSig sig = load(std::string(name) + ".sig");
        EXPECT_TRUE(sig.key.same_key(pub(std::string(name) + ".pub")));
        auto v = sshsig_verify(sig, as_bytes(message()), ns());
        ASSERT_TRUE(v.ok()) << v.error().message;
        EXPECT_EQ(v->flags, 0x01);
        EXPECT_EQ(v->counter, 0x12345678u);
    }
}

TEST(SshSigVectors, WebauthnSignatureVerifies) {
    SshSig sig = load("ecdsa_sk_webauthn.sig");
    EXPECT_TRUE(sig.key.same_key(pub("ecdsa_sk_webauthn.pub")));
    auto v = sshsig_verify(sig, as_bytes(message()), ns());
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_TRUE(v->user_present());
}

TEST(SshSigVectors, OrdinaryKeySignaturesParseButAreRefused) {
    for (const char* name : {"ecdsa", "ed25519", "rsa"}) {
        SshSig sig = load(std::string(name) + ".sig");
        EXPECT_FALSE(sig.key.is_security_key());
        auto v = sshsig_verify(sig, as_bytes(message()), ns());
        ASSERT_FALSE(v.ok()) << name;
        EXPECT_NE(v.error().message.find("not a FIDO2 security key"), std::string::npos);
    }
}

TEST(SshSigVectors, TamperedCopiesFail) {
    for (const char* name : {"ecdsa_sk.sig", "ed25519_sk.sig"}) {
        SCOPED_TRACE(name);
        SshSig sig = load(name);
        std::string msg = message();
        std::string other = msg;
        other[0] ^= 1;
        EXPECT_FALSE(sshsig_verify(sig, as_bytes(other), ns()).ok()) << "message";
        EXPECT_FALSE(sshsig_verify(sig, as_bytes(msg), "file").ok()) << "expected namespace";
        SshSig renamed = sig;
        renamed.ns = "file";
        EXPECT_FALSE(sshsig_verify(renamed, as_bytes(msg), "file").ok()) << "namespace";
        size_t n = sig.signature.size();
        auto flags = SshSig::parse(resign(sig, [&](Bytes& s) { s[n - 5] ^= 0x04; }));
        ASSERT_TRUE(flags.ok());
        EXPECT_FALSE(sshsig_verify(*flags, as_bytes(msg), ns()).ok()) << "flags";
        auto counter = SshSig::parse(resign(sig, [&](Bytes& s) { s[n - 1] ^= 0x01; }));
        ASSERT_TRUE(counter.ok());
        EXPECT_FALSE(sshsig_verify(*counter, as_bytes(msg), ns()).ok()) << "counter";
        // one bit of r (ECDSA) or of R (Ed25519): the first byte after the
        // type string and the inner length.
        WireReader r(sig.signature);
        auto type = r.read_string();
        ASSERT_TRUE(type.ok());
        size_t first = 4 + type->size() + 4 + (name[1] == 'c' ? 4 + 1 : 0);
        auto bit = SshSig::parse(resign(sig, [&](Bytes& s) { s[first] ^= 0x01; }));
        if (bit.ok()) {
            EXPECT_FALSE(sshsig_verify(*bit, as_bytes(msg), ns()).ok()) << "r bit";
        }
    }
}

TEST(SshSig, ArmorRoundTrip) {
    SshSig sig = load("ed25519_sk.sig");
    auto again = SshSig::parse_armored(sshsig_armor(sig.serialize()));
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->serialize(), sig.serialize());
    EXPECT_EQ(again->hash_alg, "sha512");
}

TEST(SshSig, MalformedArmorIsRejected) {
    std::string good = read_file(dir() + "ecdsa_sk.sig");
    EXPECT_FALSE(SshSig::parse_armored("").ok());
    EXPECT_FALSE(SshSig::parse_armored(good.substr(0, good.size() - 10)).ok());
    EXPECT_FALSE(SshSig::parse_armored("junk\n" + good).ok());
    std::string bad = good;
    bad[40] = '!';
    EXPECT_FALSE(SshSig::parse_armored(bad).ok());
}

TEST(SshSig, BinaryFieldsAreChecked) {
    SshSig sig = load("ecdsa_sk.sig");
    Bytes blob = sig.serialize();
    for (size_t n = 0; n < blob.size(); n++)
        EXPECT_FALSE(SshSig::parse(ByteView(blob).first(n)).ok()) << n;
    Bytes trailing = blob;
    trailing.push_back(0);
    EXPECT_FALSE(SshSig::parse(trailing).ok());
    Bytes version = blob;
    version[9] = 2;
    EXPECT_FALSE(SshSig::parse(version).ok());
    SshSig md5 = sig;
    md5.hash_alg = "md5";
    EXPECT_FALSE(SshSig::parse(md5.serialize()).ok());
    SshSig empty_ns = sig;
    empty_ns.ns = "";
    EXPECT_FALSE(SshSig::parse(empty_ns.serialize()).ok());
}

TEST(SshSig, SignedDataCanBeVerifiedForBothHashes) {
    auto key = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    for (const char* alg : {"sha256", "sha512"}) {
        auto tbs = sshsig_signed_data("skgate-stepup", alg, as_bytes("challenge"));
        ASSERT_TRUE(tbs.ok());
        SshSig sig{key.public_key(), "skgate-stepup", alg, key.sign(*tbs, 0x05, 3)};
        auto v = sshsig_verify(sig, as_bytes("challenge"), "skgate-stepup");
        ASSERT_TRUE(v.ok()) << v.error().message;
        EXPECT_EQ(v->counter, 3u);
        EXPECT_TRUE(v->user_verified());
    }
}

TEST(SshSig, LoginSignatureIsNotAnSshsig) {
    // A signature over raw data (as in a userauth request) must not verify as
    // an SSHSIG over that data: the SSHSIG preamble separates the domains.
    auto key = SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
    Bytes data = to_bytes(as_bytes("challenge"));
    SshSig sig{key.public_key(), "skgate-stepup", "sha512", key.sign(data, 1, 1)};
    EXPECT_FALSE(sshsig_verify(sig, data, "skgate-stepup").ok());
}

// skgate's own vectors (tests/vectors/regenerate, checked against a fresh
// regeneration by the `vectors` test): each signature carries the flags and
// counter MANIFEST says the test security key was told to sign with.
TEST(SshSigVectors, SkgateVectorsCarryTheChosenFlagsAndCounters) {
    const std::string d = vectors_dir() + "/skgate/";
    const std::string data = read_file(d + "signed-data");
    const std::string nspace = std::string(trim(read_file(d + "namespace")));
    std::istringstream manifest(read_file(d + "MANIFEST"));
    int n = 0;
    for (std::string file, key, flags, counter; manifest >> file >> key >> flags >> counter; n++) {
        SCOPED_TRACE(file);
        auto sig = SshSig::parse_armored(read_file(d + file));
        ASSERT_TRUE(sig.ok()) << sig.error().message;
        auto pub = PublicKey::parse_text(read_file(d + key + ".pub"));
        ASSERT_TRUE(pub.ok());
        EXPECT_TRUE(sig->key.same_key(*pub));
        // The fingerprint ssh-keygen -lf printed for it.
        EXPECT_NE(read_file(d + key + ".fp").find(" " + pub->fingerprint() + " "),
                  std::string::npos);
        auto v = sshsig_verify(*sig, as_bytes(data), nspace);
        if (flags == "-") {  // an ordinary key: a valid signature, never a step-up
            ASSERT_FALSE(v.ok());
            EXPECT_NE(v.error().message.find("not a FIDO2 security key"), std::string::npos);
            continue;
        }
        ASSERT_TRUE(v.ok()) << v.error().message;
        EXPECT_EQ(v->flags, std::stoul(flags, nullptr, 16));
        EXPECT_EQ(v->counter, std::stoul(counter));
        EXPECT_FALSE(sshsig_verify(*sig, as_bytes(data + "x"), nspace).ok());
        EXPECT_FALSE(sshsig_verify(*sig, as_bytes(data), "file").ok());
    }
    EXPECT_EQ(n, 6);
    auto cert = PublicKey::parse_text(read_file(d + "ecdsa_sk-cert.pub"));
    ASSERT_TRUE(cert.ok()) << cert.error().message;
    EXPECT_TRUE(cert->is_certificate());
    EXPECT_NE(read_file(d + "ecdsa_sk-cert.fp").find(" " + cert->fingerprint() + " "),
              std::string::npos);
}
