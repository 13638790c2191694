#include <gtest/gtest.h>

#include <random>

#include "core/ssh/authkeys.h"
#include "tests/support/helpers.h"
#include "tests/support/softkey.h"

using namespace skgate;
using namespace skgate::test;

namespace {

std::string sk_key_text() {
    static const std::string k =
        std::string(read_file(vectors_dir() + "/openssh/sshkey/ecdsa_sk1.pub"));
    return k.substr(0, k.find(" ECDSA-SK"));
}

AuthorizedKey parse_ok(const std::string& line) {
    auto e = parse_authorized_key(line);
    if (!e)
        throw std::runtime_error(line + ": " + e.error().message);
    return *e;
}

}  // namespace

TEST(AuthKeys, PlainKeyWithComment) {
    auto e = parse_ok(sk_key_text() + "  alice@laptop  ");
    EXPECT_TRUE(e.options.empty());
    EXPECT_EQ(e.comment, "alice@laptop");
    EXPECT_TRUE(e.key.is_security_key());
}

TEST(AuthKeys, OptionsWithQuotesCommasAndSpaces) {
    auto e =
        parse_ok(R"(no-touch-required,command="echo \"a, b\" c",from="10.0.0.1,*.example.org" )" +
                 sk_key_text() + " c");
    ASSERT_EQ(e.options.size(), 3u);
    EXPECT_EQ(e.options[0], (KeyOption{"no-touch-required", std::nullopt}));
    EXPECT_EQ(e.options[1], (KeyOption{"command", std::string(R"(echo "a, b" c)")}));
    EXPECT_EQ(e.options[2], (KeyOption{"from", std::string("10.0.0.1,*.example.org")}));
}

TEST(AuthKeys, OptionNamesAreCaseInsensitive) {
    auto e = parse_ok("No-X11-Forwarding,VERIFY-REQUIRED " + sk_key_text());
    EXPECT_EQ(e.options[0].name, "no-x11-forwarding");
    EXPECT_EQ(e.options[1].name, "verify-required");
}

TEST(AuthKeys, BackslashesOtherThanQuoteEscapesStayLiteral) {
    auto e = parse_ok(R"(command="a\nb\\c" )" + sk_key_text());
    EXPECT_EQ(*e.options[0].value, R"(a\nb\\c)");
    // As in sshd, \\" is a backslash and an escaped quote: the value goes on.
    auto open = parse_authorized_key(R"(command="a\\" )" + sk_key_text());
    ASSERT_FALSE(open.ok());
    EXPECT_NE(open.error().message.find("missing end quote"), std::string::npos);
}

TEST(AuthKeys, MalformedLinesAreRejectedWithAReason) {
    const std::string k = sk_key_text();
    const std::pair<std::string, std::string> cases[] = {
        {"", "blank"},
        {"# comment", "comment"},
        {"command=\"unterminated " + k, "missing end quote"},
        {"command=unquoted " + k, "double quotes"},
        {"no-pty, " + k, "comma"},
        {"no-pty,,no-agent-forwarding " + k, "bad option name"},
        {"no-pty", "no key"},
        {"no-pty ", "no key"},
        {"ssh-foo AAAAB3NzaC1yc2E", "unknown key type \"ssh-foo\""},
        {k.substr(0, k.size() - 7), "base64"},
        {k.substr(0, k.size() - 8), "application"},
        {"no-pty ssh-foo AAAA", "unknown key type \"ssh-foo\""},
        {"no-pty " + k + std::string("\0x", 2), "NUL"},
        {k + "\nssh-ed25519 AAAA", "newline"},
        {"command=\"x\"junk " + k, "unexpected character"},
        {std::string(kMaxAuthorizedKeyLine + 1, 'a'), "longer than"},
    };
    for (const auto& [line, why] : cases) {
        auto e = parse_authorized_key(line);
        ASSERT_FALSE(e.ok()) << line;
        EXPECT_NE(e.error().message.find(why), std::string::npos)
            << "line: " << line.substr(0, 60) << "\nerror: " << e.error().message;
    }
}

TEST(AuthKeys, SshdInterpretation) {
    auto o = interpret_sshd_options(
        parse_ok("restrict,pty,no-touch-required,verify-required " + sk_key_text()).options);
    ASSERT_TRUE(o.ok());
    EXPECT_TRUE(o->restrict);
    EXPECT_EQ(o->pty, true);
    EXPECT_EQ(o->port_forwarding, false);
    EXPECT_FALSE(o->touch_required);
    EXPECT_TRUE(o->verify_required);

    // restrict after pty wins, as in sshd
    auto later = interpret_sshd_options(parse_ok("pty,restrict " + sk_key_text()).options);
    EXPECT_EQ(later->pty, false);
    // last flag wins
    auto touch = interpret_sshd_options(
        parse_ok("no-touch-required,touch-required " + sk_key_text()).options);
    EXPECT_TRUE(touch->touch_required);
    auto defaults = interpret_sshd_options({});
    EXPECT_TRUE(defaults->touch_required);
    EXPECT_FALSE(defaults->verify_required);
}

TEST(AuthKeys, SshdInterpretationErrors) {
    const std::pair<std::string, std::string> cases[] = {
        {"frobnicate", "unknown option"},
        {"no-restrict", "unknown option"},
        {R"(pty="yes")", "takes no value"},
        {"command", "needs a value"},
        {R"(command="a",command="b")", "multiple \"command\""},
        {R"(from="a",from="b")", "multiple \"from\""},
        {R"(environment="NOEQUALS")", "NAME=value"},
        {R"(expiry-time="2026")", "YYYYMMDD"},
        {R"(expiry-time="20261399")", "valid date"},
        {R"(expiry-time="20260231")", "valid date"},
    };
    for (const auto& [opts, why] : cases) {
        auto parsed = parse_key_options(opts);
        ASSERT_TRUE(parsed.ok()) << opts;
        auto o = interpret_sshd_options(*parsed);
        ASSERT_FALSE(o.ok()) << opts;
        EXPECT_NE(o.error().message.find(why), std::string::npos) << o.error().message;
    }
}

TEST(AuthKeys, ExpiryTime) {
    auto t = parse_expiry_time("20300102030405Z");
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(format_expiry_time(*t), "20300102030405Z");
    EXPECT_EQ(*parse_expiry_time("20300102Z"), *parse_expiry_time("203001020000Z"));
    auto o = interpret_sshd_options(
        *parse_key_options(R"(expiry-time="20310101Z",expiry-time="20300101Z")"));
    EXPECT_EQ(*o->expiry_time, *parse_expiry_time("20300101Z"));
}

TEST(AuthKeys, FormatterRefusesWhatCouldInject) {
    auto key = parse_ok(sk_key_text()).key;
    for (const std::string& v : {std::string("a\nb"), std::string("a\rb"), std::string("a\0b", 3),
                                 std::string("a\x1b"), std::string("ends\\")}) {
        AuthorizedKey e{{{"command", v}}, key, ""};
        EXPECT_FALSE(format_authorized_key(e).ok()) << v;
    }
    AuthorizedKey bad_name{{{"no pty", std::nullopt}}, key, ""};
    EXPECT_FALSE(format_authorized_key(bad_name).ok());
    AuthorizedKey comma_name{{{"a,b", std::nullopt}}, key, ""};
    EXPECT_FALSE(format_authorized_key(comma_name).ok());
}

TEST(AuthKeys, CommentControlCharactersAreNeutralised) {
    auto key = parse_ok(sk_key_text()).key;
    AuthorizedKey e{{}, key, std::string("evil\nno-touch-required ssh-ed25519 AAAA\r\0x", 42)};
    auto line = format_authorized_key(e);
    ASSERT_TRUE(line.ok());
    EXPECT_EQ(line->find('\n'), std::string::npos);
    EXPECT_EQ(line->find('\r'), std::string::npos);
    EXPECT_EQ(line->find('\0'), std::string::npos);
    auto back = parse_ok(*line);
    EXPECT_TRUE(back.options.empty());
}

TEST(AuthKeys, QuoteInValueCannotOpenANewOption) {
    auto key = parse_ok(sk_key_text()).key;
    AuthorizedKey e{{{"command", std::string(R"(x",no-touch-required,from="*)")}}, key, ""};
    auto line = format_authorized_key(e);
    ASSERT_TRUE(line.ok());
    auto back = parse_ok(*line);
    ASSERT_EQ(back.options.size(), 1u);
    EXPECT_EQ(back.options[0], e.options[0]);
}

TEST(AuthKeys, RoundTripOverGeneratedInputs) {
    auto key = parse_ok(sk_key_text()).key;
    std::mt19937 rng(20261122);
    const std::string alphabet = "abcXYZ019 ,=\"\\'#!*?@./-_\t";
    const char* names[] = {"command",          "from",   "environment", "permitopen",
                           "principals",       "no-pty", "restrict",    "verify-required",
                           "no-touch-required"};
    size_t formatted = 0;
    for (int iter = 0; iter < 5000; iter++) {
        AuthorizedKey e{{}, key, ""};
        size_t nopts = rng() % 4;
        for (size_t i = 0; i < nopts; i++) {
            KeyOption o{names[rng() % std::size(names)], std::nullopt};
            if (rng() % 2) {
                std::string v;
                size_t len = rng() % 12;
                for (size_t j = 0; j < len; j++) {
                    // mostly printable, sometimes any byte
                    v += rng() % 10 ? alphabet[rng() % alphabet.size()]
                                    : static_cast<char>(rng() % 256);
                }
                o.value = v;
            }
            e.options.push_back(o);
        }
        size_t clen = rng() % 20;
        for (size_t j = 0; j < clen; j++)
            e.comment +=
                rng() % 10 ? alphabet[rng() % alphabet.size()] : static_cast<char>(rng() % 256);
        auto line = format_authorized_key(e);
        if (!line.ok())
            continue;  // refused: a control character or a trailing backslash
        formatted++;
        for (char c : *line) {
            ASSERT_NE(c, '\n');
            ASSERT_NE(c, '\r');
            ASSERT_NE(c, '\0');
        }
        auto back = parse_authorized_key(*line);
        ASSERT_TRUE(back.ok()) << *line << ": " << back.error().message;
        EXPECT_EQ(back->options, e.options) << *line;
        EXPECT_EQ(back->key, key);
    }
    EXPECT_GT(formatted, 2000u);
}
