#include <gtest/gtest.h>

#include "core/ssh/wire.h"

using namespace skgate;

TEST(Wire, RoundTripsEveryType) {
    WireWriter w;
    w.put_u8(7);
    w.put_bool(true);
    w.put_u32(0xdeadbeef);
    w.put_u64(0x0102030405060708ULL);
    w.put_string("hello");
    const uint8_t big[] = {0x80, 0x01};
    w.put_mpint(big);
    WireReader r(w.bytes());
    EXPECT_EQ(*r.read_u8(), 7);
    EXPECT_TRUE(*r.read_bool());
    EXPECT_EQ(*r.read_u32(), 0xdeadbeefU);
    EXPECT_EQ(*r.read_u64(), 0x0102030405060708ULL);
    EXPECT_EQ(*r.read_cstring(), "hello");
    auto m = r.read_mpint();
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(to_bytes(*m), Bytes(big, big + 2));
    EXPECT_TRUE(r.expect_end("test").ok());
}

TEST(Wire, MpintWriterIsMinimal) {
    WireWriter w;
    const uint8_t v[] = {0x00, 0x00, 0x7f};
    w.put_mpint(v);
    EXPECT_EQ(w.bytes(), (Bytes{0, 0, 0, 1, 0x7f}));
    WireWriter z;
    z.put_mpint({});
    EXPECT_EQ(z.bytes(), (Bytes{0, 0, 0, 0}));
}

TEST(Wire, TruncatedReadsFail) {
    const uint8_t three[] = {1, 2, 3};
    WireReader r(three);
    auto v = r.read_u32();
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.error().message.find("truncated"), std::string::npos);
    WireReader r8(three);
    EXPECT_FALSE(r8.read_u64().ok());
    WireReader empty(ByteView{});
    EXPECT_FALSE(empty.read_u8().ok());
}

TEST(Wire, StringLengthBeyondInputFails) {
    const uint8_t data[] = {0, 0, 0, 5, 'a', 'b'};
    WireReader r(data);
    auto s = r.read_string();
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("truncated: a 5-byte string with only 2 bytes left"),
              std::string::npos);
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
    WireReader r2(huge);
    EXPECT_FALSE(r2.read_string().ok());
}

TEST(Wire, CstringRefusesNul) {
    const uint8_t data[] = {0, 0, 0, 3, 'a', 0, 'b'};
    WireReader r(data);
    EXPECT_FALSE(r.read_cstring().ok());
}

TEST(Wire, BoolRefusesOtherValues) {
    const uint8_t data[] = {2};
    WireReader r(data);
    EXPECT_FALSE(r.read_bool().ok());
}

TEST(Wire, MpintRules) {
    const uint8_t negative[] = {0, 0, 0, 1, 0x80};
    EXPECT_FALSE(WireReader(negative).read_mpint().ok());
    const uint8_t nonminimal[] = {0, 0, 0, 2, 0x00, 0x01};
    auto nm = WireReader(nonminimal).read_mpint();
    ASSERT_FALSE(nm.ok());
    EXPECT_NE(nm.error().message.find("minimal"), std::string::npos);
    const uint8_t lone_zero[] = {0, 0, 0, 1, 0x00};
    EXPECT_FALSE(WireReader(lone_zero).read_mpint().ok());
    const uint8_t zero[] = {0, 0, 0, 0};
    auto z = WireReader(zero).read_mpint();
    ASSERT_TRUE(z.ok());
    EXPECT_TRUE(z->empty());
    const uint8_t padded[] = {0, 0, 0, 2, 0x00, 0x80};
    auto p = WireReader(padded).read_mpint();
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->size(), 1u);
}

TEST(Wire, MpintTooLarge) {
    WireWriter w;
    Bytes v(kMaxMpintBytes + 1, 0x11);
    w.put_mpint(v);
    EXPECT_FALSE(WireReader(w.bytes()).read_mpint().ok());
    WireWriter ok;
    Bytes max(kMaxMpintBytes, 0x11);
    ok.put_mpint(max);
    EXPECT_TRUE(WireReader(ok.bytes()).read_mpint().ok());
}

TEST(Wire, TrailingDataDetected) {
    const uint8_t data[] = {1, 2};
    WireReader r(data);
    ASSERT_TRUE(r.read_u8().ok());
    auto st = r.expect_end("thing");
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("trailing data after thing"), std::string::npos);
}

TEST(Wire, FailedStringReadDoesNotConsume) {
    const uint8_t data[] = {0, 0, 0, 9, 1};
    WireReader r(data);
    EXPECT_FALSE(r.read_string().ok());
    EXPECT_EQ(r.remaining(), 5u);
}
