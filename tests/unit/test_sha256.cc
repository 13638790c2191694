#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <random>

#include "core/sys/sha256.h"
#include "core/sys/text.h"

using namespace skgate;

namespace {

std::string hex(const Sha256& h) {
    return hex_encode(h);
}

Sha256 openssl_sha256(ByteView data) {
    Sha256 out{};
    unsigned int n = 0;
    EVP_Digest(data.data(), data.size(), out.data(), &n, EVP_sha256(), nullptr);
    return out;
}

}  // namespace

TEST(Sha256, NistVectors) {
    EXPECT_EQ(hex(sha256(as_bytes(""))),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(hex(sha256(as_bytes("abc"))),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(hex(sha256(as_bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    Sha256Hasher h;
    std::string a(1000, 'a');
    for (int i = 0; i < 1000; i++)
        h.update(as_bytes(a));
    EXPECT_EQ(hex(h.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, MatchesOpenSslOnEveryLengthAndSplit) {
    std::mt19937 rng(7);
    Bytes data;
    for (size_t n = 0; n < 300; n++) {
        ASSERT_EQ(sha256(data), openssl_sha256(data)) << "length " << n;
        // the same data fed in two pieces
        size_t cut = n ? rng() % n : 0;
        Sha256Hasher h;
        h.update(ByteView(data).first(cut));
        h.update(ByteView(data).subspan(cut));
        ASSERT_EQ(h.finish(), openssl_sha256(data)) << "length " << n << " cut " << cut;
        data.push_back(static_cast<uint8_t>(rng()));
    }
}

TEST(Sha256, HasherIsReusableAfterFinish) {
    Sha256Hasher h;
    h.update(as_bytes("abc"));
    Sha256 first = h.finish();
    h.update(as_bytes("abc"));
    EXPECT_EQ(h.finish(), first);
}

TEST(Hex, LowerCaseTwoDigitsAByte) {
    EXPECT_EQ(hex_encode(as_bytes(std::string_view("\x00\x0f\xa5\xff", 4))), "000fa5ff");
    EXPECT_EQ(hex_encode({}), "");
}
