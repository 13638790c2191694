// Small modules: JSON output, key reports, user names, audit formatting.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/audit/audit.h"
#include "core/ssh/authinfo.h"
#include "core/ssh/keyinfo.h"
#include "core/sys/args.h"
#include "core/sys/frame_io.h"
#include "core/sys/json.h"
#include "core/sys/text.h"
#include "core/sys/thread_group.h"
#include "core/sys/username.h"
#include "tests/support/helpers.h"

using namespace skgate;
using namespace skgate::test;

TEST(Json, EscapesEverythingThatMatters) {
    EXPECT_EQ(json_escape("a\"b\\c"), R"("a\"b\\c")");
    EXPECT_EQ(json_escape("\n\x01\x7f"), R"("\u000a\u0001\u007f")");
    EXPECT_EQ(json_escape("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
    EXPECT_EQ(json_escape("bad\xff"), R"("bad\ufffd")");
    EXPECT_EQ(json_escape("\xc3"), R"("\ufffd")");
}

TEST(Json, Structure) {
    JsonWriter w;
    w.begin_object()
        .key("a")
        .value(int64_t{1})
        .key("b")
        .begin_array()
        .value(true)
        .null()
        .end_array();
    w.key("c").value("x").end_object();
    EXPECT_EQ(w.str(), R"({"a":1,"b":[true,null],"c":"x"})");
}

TEST(KeyReport, DescribesAFidoKey) {
    std::string line(trim(read_file(vectors_dir() + "/openssh/sshkey/ed25519_sk1.pub")));
    KeyReport r = inspect_key_text("verify-required " + line);
    ASSERT_TRUE(r.valid) << r.error;
    EXPECT_TRUE(r.security_key);
    EXPECT_EQ(r.options, "verify-required");
    std::string text = render_key_report_text(r);
    EXPECT_NE(text.find("security key: yes (FIDO2)"), std::string::npos);
    EXPECT_NE(text.find("application:  ssh:"), std::string::npos);
    JsonWriter w;
    render_key_report_json(r, w);
    EXPECT_NE(w.str().find(R"("security_key":true)"), std::string::npos);
    EXPECT_NE(w.str().find(R"("fingerprint":"SHA256:6WZVJ44bqhAWLVP4Ns0TDkoSQSsZo/h2K+mEvOaNFbw")"),
              std::string::npos);
}

TEST(KeyReport, InvalidKeyHasAReason) {
    KeyReport r = inspect_key_text("ssh-ed25519 AAAA");
    EXPECT_FALSE(r.valid);
    EXPECT_FALSE(r.error.empty());
    JsonWriter w;
    render_key_report_json(r, w);
    EXPECT_EQ(w.str().rfind(R"({"valid":false,"error":)", 0), 0u);
}

TEST(Username, AcceptsOrdinaryNames) {
    for (const char* ok :
         {"alice", "a", "svc_backup", "john.doe", "user@corp.example", "HOST$", "u-1"})
        EXPECT_TRUE(validate_username(ok).ok()) << ok;
}

TEST(Username, RefusesPathsAndOptions) {
    const std::vector<std::string> bad_names = {"",
                                                ".",
                                                "..",
                                                "../etc",
                                                "a/b",
                                                "-rf",
                                                ".hidden",
                                                "a b",
                                                "a\nb",
                                                "a$b",
                                                std::string("a\0b", 3),
                                                std::string(65, 'a')};
    for (const auto& bad : bad_names)
        EXPECT_FALSE(validate_username(bad).ok()) << printable(bad);
}

TEST(Audit, SyslogLineCarriesFieldsAndCannotBeForged) {
    AuditEvent e;
    e.event = "keys-lookup";
    e.decision = Decision::would_deny;
    e.message = "lookup for alice\nFAKE LINE";
    e.user = "alice";
    e.flags = 0x05;
    e.counter = 7;
    e.latency_us = 1200;
    std::string line = audit_syslog_line(e);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_NE(line.find("SKGATE_EVENT=keys-lookup"), std::string::npos);
    EXPECT_NE(line.find("SKGATE_DECISION=would-deny"), std::string::npos);
    EXPECT_NE(line.find("SKGATE_FLAGS=0x05"), std::string::npos);
    EXPECT_NE(line.find("SKGATE_COUNTER=7"), std::string::npos);
    EXPECT_NE(line.find("SKGATE_LATENCY_US=1200"), std::string::npos);
    EXPECT_EQ(line.find("SKGATE_REASON"), std::string::npos);  // empty fields are left out
}

TEST(AuthInfo, ParsesSshdLines) {
    std::string key = std::string(trim(read_file(vectors_dir() + "/openssh/sshkey/ecdsa_sk1.pub")));
    key = key.substr(0, key.find(" ECDSA-SK"));
    auto info = AuthInfo::parse("publickey " + key + "\nkeyboard-interactive/pam\n");
    ASSERT_TRUE(info.ok()) << info.error().message;
    ASSERT_EQ(info->methods.size(), 2u);
    EXPECT_EQ(info->methods[1].method, "keyboard-interactive/pam");
    ASSERT_EQ(info->publickeys.size(), 1u);
    EXPECT_EQ(info->publickeys[0].fingerprint(),
              "SHA256:Go7HO0CVPYG+BSDSk9ZUJBKGSrtBExp6obTa9iqzIUo");
    const std::vector<std::string> bad_values = {"",
                                                 "publickey " + key,
                                                 "publickey\n",
                                                 "PUBLICKEY x\n",
                                                 "publickey " + key + " trailing\n",
                                                 "pass\tword\n",
                                                 std::string(kMaxAuthInfoBytes + 1, 'a')};
    for (const auto& bad : bad_values)
        EXPECT_FALSE(AuthInfo::parse(bad).ok()) << printable(bad);
}

TEST(Text, SplitQuotedWordsReadsQuotesAsSshdAndSystemdDo) {
    using V = std::vector<std::string>;
    EXPECT_EQ(split_quoted_words("Match User \"alice\""), (V{"Match", "User", "alice"}));
    EXPECT_EQ(split_quoted_words("-o \"AuthorizedKeysCommand /x %u\" -D"),
              (V{"-o", "AuthorizedKeysCommand /x %u", "-D"}));
    EXPECT_EQ(split_quoted_words("'-oA=none'  b\t\"c\\\"d\""), (V{"-oA=none", "b", "c\"d"}));
    EXPECT_EQ(split_quoted_words("a\"\"b \"\""), (V{"ab", ""}));
    EXPECT_EQ(split_quoted_words("\"unterminated x"), (V{"unterminated x"}));
    EXPECT_EQ(split_quoted_words(" \f\v "), V{});
}

TEST(Args, AWholeNumberInRangeOrNothing) {
    EXPECT_EQ(parse_integer_in("60", 1, 3600), 60);
    EXPECT_EQ(parse_integer_in("3600", 1, 3600), 3600);
    EXPECT_EQ(parse_integer_in("-5", -10, 10), -5);
    for (const char* bad : {"", "0", "3601", "-5", "10s", " 5", "5 ", "+5", "1e3", "abc",
                            "99999999999999999999", "0x10"})
        EXPECT_FALSE(parse_integer_in(bad, 1, 3600).has_value()) << bad;
    ArgParser a({"--timeout"}, {});
    ASSERT_TRUE(a.parse({"--timeout", "abc"}).ok());
    auto t = a.integer("--timeout", 1, 3600, 60);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.error().message, "--timeout must be a whole number from 1 to 3600, not \"abc\"");
    ArgParser none({"--timeout"}, {});
    ASSERT_TRUE(none.parse({}).ok());
    EXPECT_EQ(*none.integer("--timeout", 1, 3600, 60), 60);
}

// No thread outlives its group: join_all wakes a job blocked reading its
// socket (as the agent's clients are when it stops) and joins it.
TEST(ThreadGroup, JoinAllWakesABlockedReaderAndJoinsIt) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    std::atomic<ssize_t> got{-2};
    std::atomic<bool> finished{false};
    {
        ThreadGroup group;
        ASSERT_TRUE(group
                        .start(
                            [&] {
                                char c;
                                got = read(sv[0], &c, 1);  // only shutdown ends it
                                finished = true;
                            },
                            sv[0])
                        .ok());
        ASSERT_TRUE(group.start([] {}).ok());
        EXPECT_EQ(group.running(), 2u);
        // A connection the group could not own is refused, not run unwakeable.
        std::atomic<bool> ran{false};
        int closed = dup(sv[1]);
        close(closed);
        auto refused = group.start([&] { ran = true; }, closed);
        ASSERT_FALSE(refused.ok());
        EXPECT_NE(refused.error().message.find("no descriptor"), std::string::npos);
        EXPECT_EQ(group.running(), 2u);
        group.join_all();
        EXPECT_TRUE(finished.load());
        EXPECT_EQ(got.load(), 0);  // end of file, from the shutdown
        EXPECT_EQ(group.running(), 0u);
        EXPECT_FALSE(ran.load());
        ASSERT_TRUE(group.start([] {}).ok());
    }  // the destructor joins what is left
    close(sv[0]);
    close(sv[1]);
}

// The one framing of the agent protocol and the link: what a hostile peer
// can send is refused with a reason, never read past its bounds.
TEST(FrameIo, FramesRoundTripAndBadLengthsAreRefused) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    const Bytes body = {1, 2, 3};
    ASSERT_TRUE(write_frame(sv[0], body, 16, 0).ok());
    auto got = read_frame(sv[1], 16, 0);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(*got, body);
    // too large to send, and nothing at all
    EXPECT_EQ(write_frame(sv[0], Bytes(17, 0), 16, 0).error().code, ErrorCode::invalid);
    EXPECT_EQ(write_frame(sv[0], Bytes{}, 16, 0).error().code, ErrorCode::invalid);
    // a length of 0, and one above the bound, from the peer
    const uint8_t zero[] = {0, 0, 0, 0};
    ASSERT_EQ(write(sv[0], zero, 4), 4);
    EXPECT_EQ(read_frame(sv[1], 16, 0).error().code, ErrorCode::invalid);
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
    ASSERT_EQ(write(sv[0], huge, 4), 4);
    auto big = read_frame(sv[1], 16, 0);
    ASSERT_FALSE(big.ok());
    EXPECT_NE(big.error().message.find("4294967295 bytes is out of bounds (1..16)"),
              std::string::npos)
        << big.error().message;
    // nothing arrives before a deadline already past: a timeout, not a hang
    EXPECT_EQ(read_frame(sv[1], 16, 1).error().code, ErrorCode::not_found);
    // the peer goes away halfway through a frame
    const uint8_t half[] = {0, 0, 0, 8, 1, 2};
    ASSERT_EQ(write(sv[0], half, sizeof half), static_cast<ssize_t>(sizeof half));
    close(sv[0]);
    auto cut = read_frame(sv[1], 16, 0);
    ASSERT_FALSE(cut.ok());
    EXPECT_EQ(cut.error().code, ErrorCode::io);
    EXPECT_NE(cut.error().message.find("closed"), std::string::npos) << cut.error().message;
    close(sv[1]);
}
