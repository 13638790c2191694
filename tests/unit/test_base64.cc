#include <gtest/gtest.h>

#include "core/sys/base64.h"

using namespace skgate;

TEST(Base64, Rfc4648Vectors) {
    const std::pair<std::string, std::string> v[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [plain, enc] : v) {
        EXPECT_EQ(base64_encode(as_bytes(plain)), enc);
        auto d = base64_decode(enc);
        ASSERT_TRUE(d.ok()) << enc;
        EXPECT_EQ(std::string(as_chars(*d)), plain);
    }
}

TEST(Base64, RefusesMalformed) {
    for (const char* bad :
         {"Zg=", "Zg", "Z===", "Zm9v!A==", "Zm 9v", "Zm9v\n", "=Zm9", "Zg==Zg==", "Zh=="}) {
        EXPECT_FALSE(base64_decode(bad).ok()) << bad;
    }
}

TEST(Base64, UrlUnpadded) {
    const uint8_t d[] = {0xfb, 0xff};
    EXPECT_EQ(base64url_encode_unpadded(d), "-_8");
}

TEST(Base64, RoundTripAllLengths) {
    Bytes data;
    for (int n = 0; n < 70; n++) {
        auto dec = base64_decode(base64_encode(data));
        ASSERT_TRUE(dec.ok());
        EXPECT_EQ(*dec, data);
        data.push_back(static_cast<uint8_t>(n * 37 + 11));
    }
}
