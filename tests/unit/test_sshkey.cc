#include <gtest/gtest.h>

#include <filesystem>

#include "core/ssh/ossl.h"
#include "core/ssh/sshkey.h"
#include "core/ssh/wire.h"
#include "core/sys/base64.h"
#include "core/sys/text.h"
#include "tests/support/helpers.h"
#include "tests/support/softkey.h"

using namespace skgate;
using namespace skgate::test;

namespace {

std::string sshkey_vector(const std::string& name) {
    return vectors_dir() + "/openssh/sshkey/" + name;
}

PublicKey vector_key(const std::string& name) {
    auto k = PublicKey::parse_text(read_file(sshkey_vector(name)));
    if (!k)
        throw std::runtime_error(name + ": " + k.error().message);
    return *k;
}

struct Expected {
    const char* file;
    const char* type;
    unsigned bits;
    bool sk;
    bool cert;
};

const Expected kVectors[] = {
    {"ecdsa_sk1.pub", "sk-ecdsa-sha2-nistp256@openssh.com", 256, true, false},
    {"ecdsa_sk2.pub", "sk-ecdsa-sha2-nistp256@openssh.com", 256, true, false},
    {"ed25519_sk1.pub", "sk-ssh-ed25519@openssh.com", 256, true, false},
    {"ed25519_sk2.pub", "sk-ssh-ed25519@openssh.com", 256, true, false},
    {"ecdsa_sk1-cert.pub", "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", 256, true, true},
    {"ed25519_sk1-cert.pub", "sk-ssh-ed25519-cert-v01@openssh.com", 256, true, true},
    {"ecdsa_1.pub", "ecdsa-sha2-nistp256", 256, false, false},
    {"ecdsa_2.pub", "ecdsa-sha2-nistp521", 521, false, false},
    {"ed25519_1.pub", "ssh-ed25519", 256, false, false},
    {"ed25519_1-cert.pub", "ssh-ed25519-cert-v01@openssh.com", 256, false, true},
    {"rsa_1.pub", "ssh-rsa", 1024, false, false},
    {"rsa_1-cert.pub", "ssh-rsa-cert-v01@openssh.com", 1024, false, true},
};

// The blob of a vector key, to derive malformed variants from.
Bytes blob_of(const std::string& name) {
    return vector_key(name).blob();
}

Bytes sk_ecdsa_blob(std::string_view type, std::string_view curve, ByteView point,
                    std::string_view app) {
    WireWriter w;
    w.put_string(type);
    w.put_string(curve);
    w.put_string(point);
    w.put_string(app);
    return std::move(w).take();
}

}  // namespace

TEST(SshKey, EveryVectorParsesWithItsTypeAndFingerprint) {
    size_t checked = 0;
    for (const auto& e : kVectors) {
        SCOPED_TRACE(e.file);
        std::string comment;
        auto k = PublicKey::parse_text(read_file(sshkey_vector(e.file)), &comment);
        ASSERT_TRUE(k.ok()) << k.error().message;
        EXPECT_EQ(k->type_name(), e.type);
        EXPECT_EQ(k->bits(), e.bits);
        EXPECT_EQ(k->is_security_key(), e.sk);
        EXPECT_EQ(k->is_certificate(), e.cert);
        if (e.sk) {
            EXPECT_EQ(k->application(), "ssh:");
        }
        std::string fp_file =
            sshkey_vector(std::string(e.file).replace(std::string(e.file).size() - 4, 4, ".fp"));
        if (std::filesystem::exists(fp_file)) {
            EXPECT_EQ(k->fingerprint(), std::string(trim(read_file(fp_file))));
            checked++;
        }
    }
    EXPECT_EQ(checked, 10u);  // every .fp file in the vectors
}

TEST(SshKey, CertificateFingerprintIsItsKeys) {
    auto cert = vector_key("ecdsa_sk1-cert.pub");
    auto key = vector_key("ecdsa_sk1.pub");
    EXPECT_EQ(cert.fingerprint(), key.fingerprint());
    EXPECT_TRUE(cert.same_key(key));
    EXPECT_FALSE(cert == key);
    EXPECT_EQ(cert.plain_blob(), key.blob());
}

TEST(SshKey, TextRoundTrip) {
    for (const auto& e : kVectors) {
        auto k = vector_key(e.file);
        auto again = PublicKey::parse_text(k.to_text());
        ASSERT_TRUE(again.ok());
        EXPECT_EQ(*again, k);
    }
}

TEST(SshKey, CommentIsReturned) {
    std::string comment;
    ASSERT_TRUE(PublicKey::parse_text(read_file(sshkey_vector("ecdsa_sk1.pub")), &comment).ok());
    EXPECT_EQ(comment, "ECDSA-SK test key #1");
}

TEST(SshKey, EveryTruncationIsRejected) {
    for (const char* f : {"ecdsa_sk1.pub", "ed25519_sk1.pub", "ecdsa_sk1-cert.pub", "rsa_1.pub",
                          "ecdsa_2.pub", "ed25519_1-cert.pub"}) {
        Bytes blob = blob_of(f);
        for (size_t n = 0; n < blob.size(); n++)
            EXPECT_FALSE(PublicKey::parse_blob(ByteView(blob).first(n)).ok()) << f << " at " << n;
    }
}

TEST(SshKey, TrailingByteIsRejected) {
    for (const char* f : {"ecdsa_sk1.pub", "ed25519_sk1.pub", "ed25519_1-cert.pub", "rsa_1.pub"}) {
        Bytes blob = blob_of(f);
        blob.push_back(0);
        auto k = PublicKey::parse_blob(blob);
        ASSERT_FALSE(k.ok()) << f;
        EXPECT_NE(k.error().message.find("trailing"), std::string::npos) << k.error().message;
    }
}

TEST(SshKey, PointNotOnCurveIsRejected) {
    auto key = vector_key("ecdsa_sk1.pub");
    Bytes point = key.key_material();
    point[64] ^= 0x01;
    auto k = PublicKey::parse_blob(
        sk_ecdsa_blob("sk-ecdsa-sha2-nistp256@openssh.com", "nistp256", point, "ssh:"));
    ASSERT_TRUE(k.ok()) << "parsing checks structure only";
    auto v = ossl::validate_key(*k);
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.error().message.find("curve"), std::string::npos) << v.error().message;
    EXPECT_FALSE(ossl::public_key(*k).ok());
}

TEST(SshKey, CompressedOrShortPointIsRejected) {
    auto key = vector_key("ecdsa_sk1.pub");
    Bytes compressed(key.key_material().begin(), key.key_material().begin() + 33);
    compressed[0] = 0x02;
    EXPECT_FALSE(PublicKey::parse_blob(sk_ecdsa_blob("sk-ecdsa-sha2-nistp256@openssh.com",
                                                     "nistp256", compressed, "ssh:"))
                     .ok());
    Bytes infinity{0x00};
    EXPECT_FALSE(PublicKey::parse_blob(sk_ecdsa_blob("sk-ecdsa-sha2-nistp256@openssh.com",
                                                     "nistp256", infinity, "ssh:"))
                     .ok());
    Bytes zeros(65, 0);
    zeros[0] = 0x04;
    auto z = PublicKey::parse_blob(
        sk_ecdsa_blob("sk-ecdsa-sha2-nistp256@openssh.com", "nistp256", zeros, "ssh:"));
    ASSERT_TRUE(z.ok()) << "parsing checks structure only";
    EXPECT_FALSE(ossl::validate_key(*z).ok());
}

TEST(SshKey, WrongCurveNameIsRejected) {
    auto key = vector_key("ecdsa_sk1.pub");
    auto k = PublicKey::parse_blob(sk_ecdsa_blob("sk-ecdsa-sha2-nistp256@openssh.com", "nistp384",
                                                 key.key_material(), "ssh:"));
    ASSERT_FALSE(k.ok());
    EXPECT_NE(k.error().message.find("does not match"), std::string::npos);
}

TEST(SshKey, EmptyOrHugeApplicationIsRejected) {
    auto key = vector_key("ecdsa_sk1.pub");
    EXPECT_FALSE(PublicKey::parse_blob(sk_ecdsa_blob("sk-ecdsa-sha2-nistp256@openssh.com",
                                                     "nistp256", key.key_material(), ""))
                     .ok());
    EXPECT_FALSE(PublicKey::make_sk_ecdsa(key.key_material(), std::string(300, 'a')).ok());
    EXPECT_FALSE(PublicKey::make_sk_ecdsa(key.key_material(), std::string("ss\0h", 4)).ok());
}

TEST(SshKey, Ed25519LengthIsChecked) {
    for (size_t n : {0u, 31u, 33u, 64u}) {
        EXPECT_FALSE(PublicKey::make_sk_ed25519(Bytes(n, 1), "ssh:").ok()) << n;
        WireWriter w;
        w.put_string("ssh-ed25519");
        w.put_string(Bytes(n, 1));
        EXPECT_FALSE(PublicKey::parse_blob(w.bytes()).ok()) << n;
    }
    EXPECT_TRUE(PublicKey::make_sk_ed25519(Bytes(32, 1), "ssh:").ok());
}

TEST(SshKey, UnknownTypeIsNamed) {
    WireWriter w;
    w.put_string("ssh-dss");
    w.put_string(Bytes(10, 1));
    auto k = PublicKey::parse_blob(w.bytes());
    ASSERT_FALSE(k.ok());
    EXPECT_NE(k.error().message.find("unknown key type \"ssh-dss\""), std::string::npos);
}

TEST(SshKey, TextTypeMustMatchBlob) {
    auto key = vector_key("ecdsa_sk1.pub");
    std::string text = "sk-ssh-ed25519@openssh.com " + base64_encode(key.blob());
    auto k = PublicKey::parse_text(text);
    ASSERT_FALSE(k.ok());
    EXPECT_NE(k.error().message.find("does not match"), std::string::npos);
}

TEST(SshKey, MalformedTextIsRejected) {
    for (const char* bad :
         {"", "sk-ecdsa-sha2-nistp256@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com AAAA!",
          "sk-ecdsa-sha2-nistp256@openssh.com AAAAC3NzaC1lZDI1NTE5", "foo AAAA"}) {
        EXPECT_FALSE(PublicKey::parse_text(bad).ok()) << bad;
    }
}

TEST(SshKey, OversizedBlobIsRejected) {
    Bytes big(kMaxKeyBlobBytes + 1, 0);
    EXPECT_FALSE(PublicKey::parse_blob(big).ok());
}

TEST(SshKey, RsaZeroModulusIsRejected) {
    WireWriter w;
    w.put_string("ssh-rsa");
    const uint8_t e[] = {1, 0, 1};
    w.put_mpint(e);
    w.put_mpint({});
    EXPECT_FALSE(PublicKey::parse_blob(w.bytes()).ok());
}

TEST(SshKey, MadeKeysMatchGeneratedKeys) {
    for (auto alg : {KeyAlgorithm::sk_ecdsa_p256, KeyAlgorithm::sk_ed25519}) {
        auto soft = SoftSkKey::generate(alg, "ssh:skgate");
        const PublicKey& k = soft.public_key();
        EXPECT_TRUE(k.is_security_key());
        EXPECT_EQ(k.application(), "ssh:skgate");
        auto again = PublicKey::parse_blob(k.blob());
        ASSERT_TRUE(again.ok());
        EXPECT_EQ(again->fingerprint(), k.fingerprint());
    }
}
