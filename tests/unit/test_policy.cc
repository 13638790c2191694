#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/policy/policy.h"
#include "core/sys/timeutil.h"
#include "tests/support/helpers.h"

using namespace skgate;
using namespace skgate::test;

namespace {

Policy parse_ok(const std::string& text) {
    auto p = Policy::parse(text, "test.conf");
    if (!p)
        throw std::runtime_error(p.error().message);
    return std::move(*p);
}

std::string parse_error(const std::string& text) {
    auto p = Policy::parse(text, "test.conf");
    if (p)
        return "(parsed fine)";
    return p.error().message;
}

UserPolicy for_user(const Policy& p, const std::string& user,
                    std::vector<std::string> groups = {}) {
    auto r = p.for_user({user, [groups] { return Result<std::vector<std::string>>(groups); }});
    if (!r)
        throw std::runtime_error(r.error().message);
    return *r;
}

}  // namespace

TEST(Policy, DefaultsAreSafe) {
    Policy p = parse_ok("");
    UserPolicy u = for_user(p, "alice");
    EXPECT_EQ(u.mode, Mode::enforce);
    EXPECT_TRUE(u.require_security_key);
    EXPECT_TRUE(u.touch_required);
    EXPECT_FALSE(u.verify_required);
    EXPECT_FALSE(u.require_attestation);
    EXPECT_EQ(u.key_sources, std::vector<KeySource>{KeySource::local});
    EXPECT_EQ(u.counter_check, CounterCheck::strict);
    EXPECT_EQ(u.stepup_timeout_seconds, 60);
    EXPECT_FALSE(u.key_max_age_seconds.has_value());
    EXPECT_EQ(p.global().keys_directory, std::string(SKGATE_SYSCONFDIR) + "/skgate/keys.d");
    EXPECT_EQ(p.global().revoked_keys, std::string(SKGATE_SYSCONFDIR) + "/skgate/revoked");
    EXPECT_EQ(p.global().state_directory, std::string(SKGATE_LOCALSTATEDIR) + "/lib/skgate");
}

TEST(Policy, EveryKeywordParses) {
    Policy p = parse_ok(R"(# comment
mode audit
KeySources authorized_keys local ldap http metadata
RequireSecurityKey no
TouchRequired no
VerifyRequired yes
RequireAttestation yes
AllowedAuthenticators CB69481E-8FF7-4039-93EC-0A2729A154A8 ee882879-721c-4913-9775-3dfcce97072a
AllowedApplications ssh:* localhost !ssh:old
KeyMaxAge 1w2d
CounterCheck warn
StepUpTimeout 2m
AttestationRoots /etc/skgate/roots
BreakGlassUsers root admin
KeysDirectory /srv/keys
RevokedKeys "/srv/revoked keys"
StateDirectory=/srv/state
)");
    UserPolicy u = for_user(p, "alice");
    EXPECT_EQ(for_user(parse_ok(""), "alice").allowed_applications,
              std::vector<std::string>{"ssh:*"});
    EXPECT_EQ(u.mode, Mode::audit);
    EXPECT_EQ(u.key_sources.size(), 5u);
    EXPECT_EQ(u.key_sources[0], KeySource::authorized_keys);
    EXPECT_FALSE(u.require_security_key);
    EXPECT_FALSE(u.touch_required);
    EXPECT_TRUE(u.verify_required);
    EXPECT_TRUE(u.require_attestation);
    ASSERT_EQ(u.allowed_authenticators.size(), 2u);
    EXPECT_EQ(u.allowed_authenticators[0], "cb69481e-8ff7-4039-93ec-0a2729a154a8");
    EXPECT_EQ(u.allowed_applications, (std::vector<std::string>{"ssh:*", "localhost", "!ssh:old"}));
    EXPECT_EQ(*u.key_max_age_seconds, 9 * 86400);
    EXPECT_EQ(u.counter_check, CounterCheck::warn);
    EXPECT_EQ(u.stepup_timeout_seconds, 120);
    EXPECT_EQ(p.global().attestation_roots, "/etc/skgate/roots");
    EXPECT_TRUE(p.is_break_glass("admin"));
    EXPECT_FALSE(p.is_break_glass("alice"));
    EXPECT_EQ(p.global().keys_directory, "/srv/keys");
    EXPECT_EQ(p.global().revoked_keys, "/srv/revoked keys");
    EXPECT_EQ(p.global().state_directory, "/srv/state");
}

TEST(Policy, FirstValueWins) {
    Policy p =
        parse_ok("VerifyRequired yes\nVerifyRequired no\nKeysDirectory /a\nKeysDirectory /b\n");
    EXPECT_TRUE(for_user(p, "alice").verify_required);
    EXPECT_EQ(p.global().keys_directory, "/a");
}

TEST(Policy, MatchUserAppliesOnlyToMatchingUsers) {
    Policy p = parse_ok(
        "Match User alice,b*\n  VerifyRequired yes\nMatch User carol\n  TouchRequired no\n");
    EXPECT_TRUE(for_user(p, "alice").verify_required);
    EXPECT_TRUE(for_user(p, "bob").verify_required);
    EXPECT_FALSE(for_user(p, "carol").verify_required);
    EXPECT_FALSE(for_user(p, "carol").touch_required);
    EXPECT_TRUE(for_user(p, "alice").touch_required);
}

TEST(Policy, GlobalValueBeforeMatchWinsOverMatch) {
    // sshd semantics: the first obtained value wins, so a global setting
    // above a Match block cannot be overridden by it.
    Policy p = parse_ok("VerifyRequired no\nMatch User alice\n  VerifyRequired yes\n");
    EXPECT_FALSE(for_user(p, "alice").verify_required);
}

TEST(Policy, MatchNegationAndAll) {
    Policy p =
        parse_ok("Match User *,!root\n  VerifyRequired yes\nMatch All\n  TouchRequired no\n");
    EXPECT_TRUE(for_user(p, "alice").verify_required);
    EXPECT_FALSE(for_user(p, "root").verify_required);
    EXPECT_FALSE(for_user(p, "root").touch_required);
}

// Mode is the sshd wiring's, which is global (skgatectl enable writes one
// global Mode line): a per-user Mode would be shadowed or half-applied, so
// it is refused where it is written.
TEST(Policy, ModeIsRefusedInAMatchBlock) {
    auto p = Policy::parse("Mode enforce\nMatch User carol\n  Mode audit\n", "skgate.conf");
    ASSERT_FALSE(p.ok());
    EXPECT_NE(p.error().message.find("skgate.conf:3: Mode: not allowed in a Match block"),
              std::string::npos)
        << p.error().message;
}

TEST(Policy, MatchGroup) {
    Policy p = parse_ok("Match Group admins,!contractors\n  VerifyRequired yes\n");
    EXPECT_TRUE(for_user(p, "alice", {"users", "admins"}).verify_required);
    EXPECT_FALSE(for_user(p, "bob", {"users"}).verify_required);
    EXPECT_FALSE(for_user(p, "eve", {"admins", "contractors"}).verify_required);
}

TEST(Policy, MatchUserAndGroupMustBothHold) {
    Policy p = parse_ok("Match User a* Group ops\n  TouchRequired no\n");
    EXPECT_FALSE(for_user(p, "alice", {"ops"}).touch_required);
    EXPECT_TRUE(for_user(p, "alice", {"dev"}).touch_required);
    EXPECT_TRUE(for_user(p, "bob", {"ops"}).touch_required);
}

TEST(Policy, GroupLookupFailureFailsTheEvaluation) {
    Policy p = parse_ok("Match Group admins\n  VerifyRequired yes\n");
    auto r = p.for_user(
        {"alice",
         [] { return Result<std::vector<std::string>>(make_error(ErrorCode::io, "NSS down")); }});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("NSS down"), std::string::npos);
    // groups are not looked up when no Match Group needs them
    Policy q = parse_ok("Match User bob\n  VerifyRequired yes\n");
    EXPECT_TRUE(q.for_user({"alice", nullptr}).ok());
}

TEST(Policy, ErrorsNameFileLineAndKeyword) {
    EXPECT_EQ(parse_error("\n\nFrobnicate yes\n"), "test.conf:3: unknown keyword \"Frobnicate\"");
    EXPECT_EQ(parse_error("VerifyRequired maybe\n"),
              "test.conf:1: VerifyRequired: value \"maybe\" is not yes or no");
    std::string both = parse_error("Mode off\nTouchRequired\n");
    EXPECT_NE(both.find("test.conf:1: Mode:"), std::string::npos);
    EXPECT_NE(both.find("test.conf:2: TouchRequired: expects exactly one value"),
              std::string::npos);
}

TEST(Policy, BadValuesForEveryKeyword) {
    const std::pair<std::string, std::string> cases[] = {
        {"Mode", "permissive"},
        {"KeySources", "local local"},
        {"KeySources", "ftp"},
        {"KeySources", ""},
        {"RequireSecurityKey", "1"},
        {"TouchRequired", "yes no"},
        {"VerifyRequired", ""},
        {"RequireAttestation", "true"},
        {"AllowedAuthenticators", "not-a-guid"},
        {"AllowedAuthenticators", "cb69481e8ff7403993ec0a2729a154a8"},
        {"AllowedApplications", ""},
        {"AllowedApplications", "ssh:*,localhost"},
        {"AllowedApplications", "!ssh:test"},
        {"AllowedApplications", "!"},
        {"KeyMaxAge", "0"},
        {"KeyMaxAge", "5y"},
        {"CounterCheck", "loose"},
        {"StepUpTimeout", "0"},
        {"StepUpTimeout", "2h"},
        {"AttestationRoots", "relative/dir"},
        {"BreakGlassUsers", "../etc"},
        {"BreakGlassUsers", ""},
        {"KeysDirectory", "keys.d"},
        {"RevokedKeys", ""},
        {"StateDirectory", "/a /b"},
        {"MetadataURL", "ftp://169.254.169.254"},
        {"MetadataURL", "http://meta/%u"},
        {"MetadataRootUser", "-root"},
        {"HttpKeysURL", "http://keys.example/%u"},
        {"HttpKeysURL", "https://keys.example/all"},
        {"HttpKeysURL", "https://keys.example/%s/%u"},
        {"HttpKeysURL", "https://keys example/%u"},
        {"HttpCAFile", "ca.pem"},
        {"HttpBearerTokenFile", "token"},
        {"LdapURI", "http://ldap"},
        {"LdapURI", "ldap://ldap.example"},  // plain LDAP without LdapStartTLS yes
        {"LdapBaseDN", ""},
        {"LdapFilter", "uid=%u"},
        {"LdapFilter", "(uid=%u))(|(uid=*)"},
        {"LdapFilter", "(objectClass=ldapPublicKey)"},
        {"LdapStartTLS", "maybe"},
        {"LdapCAFile", "ca.pem"},
        {"LdapBindPasswordFile", "pw"},
        {"SourceTimeout", "0"},
        {"SourceTimeout", "2m"},
        {"SourceCacheTTL", "2d"},
        {"SourceCacheMaxAge", "91d"},
        {"SourceOutage", "allow"},
    };
    for (const auto& [kw, value] : cases) {
        std::string err = parse_error(kw + " " + value + "\n");
        EXPECT_EQ(err.rfind("test.conf:1: " + kw + ": ", 0), 0u)
            << kw << " " << value << " -> " << err;
    }
}

TEST(Policy, PlainLdapNeedsStartTls) {
    EXPECT_NE(parse_error("LdapURI ldap://ldap.example\nLdapStartTLS no\n")
                  .find("test.conf:1: LdapURI: \"ldap://ldap.example\" is plain LDAP"),
              std::string::npos);
    for (const char* ok : {"LdapURI ldap://ldap.example\nLdapStartTLS yes\n",
                           "LdapStartTLS yes\nLdapURI ldap://ldap.example\n",
                           "LdapURI ldaps://ldap.example\n", "LdapURI ldapi:///\n"})
        EXPECT_EQ(parse_error(ok), "(parsed fine)") << ok;
}

TEST(Policy, GlobalOnlyKeywordsAreRefusedInMatch) {
    for (const char* kw : {"BreakGlassUsers root", "KeysDirectory /x", "RevokedKeys /x",
                           "StateDirectory /x", "AttestationRoots /x"}) {
        std::string err = parse_error(std::string("Match User alice\n  ") + kw + "\n");
        EXPECT_NE(err.find("not allowed in a Match block"), std::string::npos) << err;
    }
}

TEST(Policy, MatchErrors) {
    EXPECT_NE(parse_error("Match\n").find("needs criteria"), std::string::npos);
    EXPECT_NE(parse_error("Match Host x\n").find("unsupported Match criterion"), std::string::npos);
    EXPECT_NE(parse_error("Match User\n").find("pairs"), std::string::npos);
    EXPECT_NE(parse_error("Match User !root\n").find("only negations"), std::string::npos);
    EXPECT_NE(parse_error("Match User a,,b\n").find("empty user pattern"), std::string::npos);
    EXPECT_NE(parse_error("Match User a/b\n").find("invalid character"), std::string::npos);
}

TEST(Policy, BrokenMatchBlockDoesNotLeakIntoPreviousBlock) {
    auto p = Policy::parse("Match User alice\nMatch Bogus x\n  VerifyRequired yes\n", "t");
    ASSERT_FALSE(p.ok());  // the error is reported, and nothing is applied
}

TEST(Policy, LexicalErrors) {
    EXPECT_NE(parse_error("RevokedKeys \"/x\n").find("missing closing quote"), std::string::npos);
    EXPECT_NE(parse_error("RevokedKeys \"/x\"y\n").find("after a closing quote"),
              std::string::npos);
    EXPECT_NE(parse_error(std::string("Mode audit\x01\n")).find("control characters"),
              std::string::npos);
    EXPECT_NE(parse_error(std::string("Mode audit\0\n", 12)).find("control characters"),
              std::string::npos);
}

TEST(Policy, CommentsAndCrlf) {
    Policy p = parse_ok("# header\r\nVerifyRequired yes # trailing\r\n   \r\n\t# indented\n");
    EXPECT_TRUE(for_user(p, "alice").verify_required);
}

TEST(Policy, Durations) {
    EXPECT_EQ(*parse_duration("90"), 90);
    EXPECT_EQ(*parse_duration("1h30m"), 5400);
    EXPECT_EQ(*parse_duration("1W"), 604800);
    for (const char* bad : {"", "h", "1x", "-1", "99999999999"})
        EXPECT_FALSE(parse_duration(bad).ok()) << bad;
}

TEST(Policy, LoadRefusesUnsafeFiles) {
    if (!running_as_root())
        GTEST_SKIP() << "ownership checks need root";
    TempDir d;
    std::string f = d.file("skgate.conf");
    write_file(f, "VerifyRequired yes\n", 0644);
    ASSERT_TRUE(Policy::load(f).ok());
    chmod(f.c_str(), 0664);
    auto w = Policy::load(f);
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.error().code, ErrorCode::permission);
    EXPECT_NE(w.error().message.find("chmod go-w"), std::string::npos);
    chmod(f.c_str(), 0644);
    ASSERT_EQ(chown(f.c_str(), 65534, 0), 0);
    auto o = Policy::load(f);
    ASSERT_FALSE(o.ok());
    EXPECT_NE(o.error().message.find("owned by uid 65534"), std::string::npos);
    std::string link = d.file("link.conf");
    ASSERT_EQ(symlink(f.c_str(), link.c_str()), 0);
    auto l = Policy::load(link);
    ASSERT_FALSE(l.ok());
    EXPECT_NE(l.error().message.find("symbolic link"), std::string::npos);
    auto missing = Policy::load(d.file("nope.conf"));
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, ErrorCode::not_found);
    // only the default path may be missing
    EXPECT_FALSE(Policy::load_or_default(d.file("nope.conf")).ok());
}

// An AAGUID is believed only from a certificate chained to AttestationRoots.
TEST(Policy, AllowedAuthenticatorsNeedAttestationRoots) {
    auto p =
        Policy::parse("Mode enforce\nAllowedAuthenticators cb69481e-8ff7-4039-93ec-0a2729a154a8\n",
                      "skgate.conf");
    ASSERT_FALSE(p.ok());
    EXPECT_NE(
        p.error().message.find("skgate.conf:2: AllowedAuthenticators: needs AttestationRoots"),
        std::string::npos)
        << p.error().message;
    EXPECT_TRUE(Policy::parse("AllowedAuthenticators any\n", "skgate.conf").ok());
    EXPECT_TRUE(Policy::parse("AttestationRoots /etc/skgate/roots\nMatch User alice\n"
                              "AllowedAuthenticators cb69481e-8ff7-4039-93ec-0a2729a154a8\n",
                              "skgate.conf")
                    .ok());
}
