// What skgate-keys tells sshd, for every policy keyword that affects it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "core/decide/keylookup.h"
#include "core/store/revocation.h"
#include "core/store/user_keyfiles.h"
#include "tests/support/helpers.h"
#include "tests/support/softkey.h"

using namespace skgate;
using namespace skgate::test;

namespace {

constexpr std::time_t kNow = 1795000000;  // 2026-11-18
constexpr std::time_t kDay = 86400;

class Lookup : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!running_as_root())
            GTEST_SKIP() << "the store and config must be root-owned";
        std::filesystem::create_directories(dir.file("home/alice/.ssh"));
        chmod(dir.file("home").c_str(), 0755);
        chmod(dir.file("home/alice").c_str(), 0755);
        chmod(dir.file("home/alice/.ssh").c_str(), 0700);
    }

    std::string config(const std::string& extra) {
        return "KeysDirectory " + dir.file("keys.d") + "\nRevokedKeys " + dir.file("revoked") +
               "\nStateDirectory " + dir.file("state") + "\n" + extra;
    }

    Policy policy(const std::string& extra = "") {
        auto p = Policy::parse(config(extra), "test.conf");
        if (!p)
            throw std::runtime_error(p.error().message);
        return std::move(*p);
    }

    void enroll(const std::string& user, const PublicKey& key, std::time_t enrolled = kNow - kDay,
                std::optional<std::time_t> expires = {}, std::string attestation = "",
                std::string aaguid = "", bool chained = true) {
        KeyStore store(dir.file("keys.d"));
        auto st = store.add(user, {key, user + "-key", "k", enrolled, expires, aaguid, attestation,
                                   false, chained});
        if (!st)
            throw std::runtime_error(st.error().message);
    }

    void authorized_keys(const std::string& text, mode_t mode = 0600) {
        write_file(dir.file("home/alice/.ssh/authorized_keys"), text, mode);
    }

    LookupRequest request(const std::string& user, std::optional<PublicKey> offered = {}) {
        LookupRequest r{user, std::move(offered), kNow};
        std::string home = dir.file("home/" + user);
        r.account_lookup = [home](const std::string& u) -> Result<Account> {
            return Account{u, 0, 0, home};
        };
        r.groups_lookup = [this](const std::string&) {
            return Result<std::vector<std::string>>(groups);
        };
        return r;
    }

    LookupResult lookup(const Policy& p, const LookupRequest& r) {
        auto res = lookup_keys(p, r);
        if (!res)
            throw std::runtime_error(res.error().message);
        return std::move(*res);
    }

    TempDir dir;
    std::vector<std::string> groups{"users"};
    SoftSkKey sk = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    SoftSkKey sk2 = SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
    PublicKey ordinary =
        *PublicKey::parse_text(read_file(vectors_dir() + "/openssh/sshkey/ed25519_1.pub"));
};

std::string options_of(const std::string& line) {
    return line.substr(0, line.find("sk-") == 0 || line.find("ssh-") == 0 ? 0 : line.find(' '));
}

}  // namespace

TEST_F(Lookup, EnrolledSecurityKeyIsPrintedWithoutWeakeningOptions) {
    enroll("alice", sk.public_key());
    auto r = lookup(policy(), request("alice"));
    ASSERT_EQ(r.lines().size(), 1u);
    EXPECT_EQ(r.lines()[0], sk.public_key().to_text() + " alice-key");
    EXPECT_EQ(r.verdicts[0].decision, Decision::allow);
}

TEST_F(Lookup, VerifyRequiredAndTouchRequiredBecomeOptions) {
    enroll("alice", sk.public_key());
    auto v = lookup(policy("VerifyRequired yes\n"), request("alice"));
    EXPECT_EQ(options_of(v.lines()[0]), "verify-required");
    auto t = lookup(policy("TouchRequired no\n"), request("alice"));
    EXPECT_EQ(options_of(t.lines()[0]), "no-touch-required");
    auto m = lookup(policy("Match User alice\n  VerifyRequired yes\n"), request("alice"));
    EXPECT_EQ(options_of(m.lines()[0]), "verify-required");
    auto g = lookup(policy("Match Group admins\n  VerifyRequired yes\n"), request("alice"));
    EXPECT_EQ(options_of(g.lines()[0]), "");
    groups = {"admins"};
    auto g2 = lookup(policy("Match Group admins\n  VerifyRequired yes\n"), request("alice"));
    EXPECT_EQ(options_of(g2.lines()[0]), "verify-required");
}

TEST_F(Lookup, OrdinaryKeysDependOnRequireSecurityKeyAndMode) {
    enroll("alice", ordinary);
    auto enforce = lookup(policy(), request("alice"));
    EXPECT_TRUE(enforce.lines().empty());
    EXPECT_EQ(enforce.verdicts[0].decision, Decision::deny);
    EXPECT_NE(enforce.verdicts[0].reason.find("not a security key"), std::string::npos);

    auto audit = lookup(policy("Mode audit\n"), request("alice"));
    ASSERT_EQ(audit.lines().size(), 1u);
    EXPECT_EQ(audit.verdicts[0].decision, Decision::would_deny);

    auto off = lookup(policy("RequireSecurityKey no\nVerifyRequired yes\n"), request("alice"));
    ASSERT_EQ(off.lines().size(), 1u);
    EXPECT_EQ(options_of(off.lines()[0]), "") << "sk options only go on sk keys";
}

TEST_F(Lookup, RevokedKeysNeverPassEvenInAuditMode) {
    enroll("alice", sk.public_key());
    enroll("alice", sk2.public_key());
    ASSERT_TRUE(RevocationList::append(dir.file("revoked"), sk.public_key(), "lost").ok());
    for (const char* mode : {"Mode enforce\n", "Mode audit\n"}) {
        auto r = lookup(policy(mode), request("alice"));
        ASSERT_EQ(r.lines().size(), 1u) << mode;
        EXPECT_EQ(r.lines()[0].find(sk.public_key().to_text()), std::string::npos);
        EXPECT_EQ(r.verdicts[0].decision, Decision::deny);
        EXPECT_EQ(r.verdicts[0].reason, "key is revoked");
    }
}

TEST_F(Lookup, ExpiryAndKeyMaxAge) {
    enroll("alice", sk.public_key(), kNow - 10 * kDay, kNow - 1);
    enroll("alice", sk2.public_key(), kNow - 10 * kDay, kNow + kDay);
    auto r = lookup(policy(), request("alice"));
    ASSERT_EQ(r.lines().size(), 1u);
    EXPECT_EQ(r.verdicts[0].reason, "key expired");
    EXPECT_EQ(options_of(r.lines()[0]), "expiry-time=\"" + format_expiry_time(kNow + kDay) + "\"");

    auto aged = lookup(policy("KeyMaxAge 1w\n"), request("alice"));
    EXPECT_TRUE(aged.lines().empty()) << "enrolled 10 days ago, max age 7 days";
    auto young = lookup(policy("KeyMaxAge 30d\n"), request("alice"));
    ASSERT_EQ(young.lines().size(), 1u);
    EXPECT_EQ(options_of(young.lines()[0]),
              "expiry-time=\"" + format_expiry_time(kNow + kDay) + "\"")
        << "the earlier of the two";
}

TEST_F(Lookup, AttestationAndAuthenticatorPolicy) {
    const std::string yubikey = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
    enroll("alice", sk.public_key(), kNow - kDay, {}, "packed", yubikey);
    enroll("alice", sk2.public_key());
    auto att = lookup(policy("RequireAttestation yes\n"), request("alice"));
    ASSERT_EQ(att.lines().size(), 1u);
    EXPECT_EQ(att.verdicts[1].reason, "no verified attestation");
    auto allowed = lookup(
        policy("AttestationRoots /etc/skgate/roots\nAllowedAuthenticators " + yubikey + "\n"),
        request("alice"));
    ASSERT_EQ(allowed.lines().size(), 1u);
    EXPECT_NE(allowed.lines()[0].find(sk.public_key().to_text()), std::string::npos);
    auto other = lookup(policy("AttestationRoots /etc/skgate/roots\n"
                               "AllowedAuthenticators ee882879-721c-4913-9775-3dfcce97072a\n"),
                        request("alice"));
    EXPECT_TRUE(other.lines().empty());
    EXPECT_NE(other.verdicts[0].reason.find("not in AllowedAuthenticators"), std::string::npos);
}

// Entries whose AAGUID nothing vouches for (enrolled without AttestationRoots,
// fido-u2f or self-attested, as earlier versions stored them) never satisfy
// AllowedAuthenticators, whatever AAGUID they carry.
TEST_F(Lookup, OnlyAChainedAttestationVouchesForAnAaguid) {
    const std::string yubikey = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
    const std::string allow =
        "AttestationRoots /etc/skgate/roots\nAllowedAuthenticators " + yubikey + "\n";
    struct Case {
        std::string attestation;
        bool chained;
        std::string reason;
    };
    for (const auto& c :
         std::vector<Case>{{"packed", false, "attestation not verified against AttestationRoots"},
                           {"fido-u2f", false, "attestation not verified against AttestationRoots"},
                           {"packed-self", true, "self-attested"},
                           {"", false, "(no attestation)"}}) {
        std::filesystem::remove_all(dir.file("keys.d"));
        enroll("alice", sk.public_key(), kNow - kDay, {}, c.attestation, yubikey, c.chained);
        auto r = lookup(policy(allow), request("alice"));
        EXPECT_TRUE(r.lines().empty()) << c.attestation;
        ASSERT_EQ(r.verdicts.size(), 1u);
        EXPECT_NE(r.verdicts[0].reason.find(c.reason), std::string::npos) << r.verdicts[0].reason;
    }
    std::filesystem::remove_all(dir.file("keys.d"));
    enroll("alice", sk.public_key(), kNow - kDay, {}, "packed", yubikey, true);
    EXPECT_EQ(lookup(policy(allow), request("alice")).lines().size(), 1u);
}

TEST_F(Lookup, BreakGlassUsersMayUseOrdinaryKeys) {
    enroll("root", ordinary);
    auto r = lookup(policy("BreakGlassUsers root\n"), request("root"));
    ASSERT_EQ(r.lines().size(), 1u);
    EXPECT_EQ(r.verdicts[0].reason, "break-glass user");
    ASSERT_TRUE(RevocationList::append(dir.file("revoked"), ordinary, "").ok());
    EXPECT_TRUE(lookup(policy("BreakGlassUsers root\n"), request("root")).lines().empty())
        << "revocation still applies";
}

TEST_F(Lookup, CertificatesAreRefused) {
    auto cert =
        *PublicKey::parse_text(read_file(vectors_dir() + "/openssh/sshkey/ecdsa_sk1-cert.pub"));
    authorized_keys(cert.to_text() + "\n");
    auto r = lookup(policy("KeySources authorized_keys\n"), request("alice"));
    EXPECT_TRUE(r.lines().empty());
    EXPECT_EQ(r.verdicts[0].reason, "certificates are not accepted");
}

TEST_F(Lookup, UserAuthorizedKeysAreSanitised) {
    authorized_keys(
        "no-touch-required,no-verify-required,cert-authority,environment=\"LD_PRELOAD=/x\","
        "command=\"backup\",from=\"10.0.0.0/8\",restrict " +
        sk.public_key().to_text() + " mine\n" + ordinary.to_text() + " old\n");
    auto r = lookup(policy("KeySources authorized_keys\nVerifyRequired yes\n"), request("alice"));
    ASSERT_EQ(r.lines().size(), 1u);
    EXPECT_EQ(options_of(r.lines()[0]),
              "command=\"backup\",from=\"10.0.0.0/8\",restrict,verify-required");
    EXPECT_EQ(r.verdicts[1].decision, Decision::deny);
}

TEST_F(Lookup, AuditModePrintsUserLinesUnchanged) {
    authorized_keys("no-touch-required " + sk.public_key().to_text() + " mine\n" +
                    ordinary.to_text() + " old\n");
    auto r = lookup(policy("KeySources authorized_keys\nMode audit\n"), request("alice"));
    ASSERT_EQ(r.lines().size(), 2u);
    EXPECT_EQ(r.lines()[0], "no-touch-required " + sk.public_key().to_text() + " mine");
    EXPECT_EQ(r.verdicts[0].decision, Decision::allow);
    EXPECT_EQ(r.verdicts[1].decision, Decision::would_deny);
}

TEST_F(Lookup, UnsafeAuthorizedKeysIsSkippedWithAWarning) {
    authorized_keys(sk.public_key().to_text() + "\n", 0666);
    auto r = lookup(policy("KeySources authorized_keys\n"), request("alice"));
    EXPECT_TRUE(r.lines().empty());
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_NE(r.warnings[0].find("authorized_keys skipped"), std::string::npos) << r.warnings[0];
    authorized_keys(sk.public_key().to_text() + "\n", 0600);
    chmod(dir.file("home/alice/.ssh").c_str(), 0777);
    auto d = lookup(policy("KeySources authorized_keys\n"), request("alice"));
    EXPECT_TRUE(d.lines().empty());
    EXPECT_NE(d.warnings[0].find("unsafe directory"), std::string::npos);
}

// Root (pam_skgate inside sshd or sudo) reads a user's files with the
// user's identity, as sshd does: a ~/.ssh the user points into a directory
// only root can enter gives nothing, although root could read it.
TEST_F(Lookup, RootReadsTheUsersFilesAsTheUser) {
    if (!running_as_root())
        GTEST_SKIP() << "needs root to take another identity";
    constexpr uid_t kNobody = 65534;
    chmod(dir.path().c_str(), 0755);
    const std::string home = dir.file("home/nobody");
    std::filesystem::create_directories(home + "/.ssh");
    chmod(dir.file("home").c_str(), 0755);
    write_file(home + "/.ssh/authorized_keys", sk.public_key().to_text() + "\n", 0600);
    for (const std::string& p : {home, home + "/.ssh", home + "/.ssh/authorized_keys"})
        ASSERT_EQ(chown(p.c_str(), kNobody, kNobody), 0);
    auto req = request("nobody");
    req.account_lookup = [&](const std::string& u) -> Result<Account> {
        return Account{u, kNobody, kNobody, home};
    };
    auto own = lookup(policy("KeySources authorized_keys\n"), req);
    EXPECT_EQ(own.lines().size(), 1u) << "the user's own file is read";

    // Root's own directory, 0700, with a file root may own: root could read
    // it, the user cannot.
    std::filesystem::create_directories(dir.file("rootonly/.ssh"));
    chmod(dir.file("rootonly").c_str(), 0700);
    write_file(dir.file("rootonly/.ssh/authorized_keys"), sk2.public_key().to_text() + "\n", 0600);
    std::filesystem::remove_all(home + "/.ssh");
    ASSERT_EQ(symlink(dir.file("rootonly/.ssh").c_str(), (home + "/.ssh").c_str()), 0);
    auto pointed = lookup(policy("KeySources authorized_keys\n"), req);
    EXPECT_TRUE(pointed.lines().empty());
    ASSERT_FALSE(pointed.warnings.empty());
    EXPECT_NE(pointed.warnings[0].find("Permission denied"), std::string::npos)
        << pointed.warnings[0];
    EXPECT_EQ(geteuid(), 0u) << "root is back afterwards";
}

// The user writes these files: a flood of bad lines gives at most 20
// warnings a file and one count of the rest, not one journal entry each.
TEST_F(Lookup, BadLinesInAUsersFileGiveBoundedWarnings) {
    std::string junk;
    for (int i = 0; i < 5000; i++)
        junk += "x\n";
    authorized_keys(junk + sk.public_key().to_text() + "\n");
    auto r = lookup(policy("KeySources authorized_keys\n"), request("alice"));
    EXPECT_EQ(r.lines().size(), 1u);
    ASSERT_EQ(r.warnings.size(), 21u);
    EXPECT_NE(r.warnings.back().find("4980 more lines skipped"), std::string::npos)
        << r.warnings.back();
}

TEST_F(Lookup, SourcesAreConsultedInOrder) {
    enroll("alice", sk.public_key());
    authorized_keys(sk2.public_key().to_text() + " from-file\n");
    auto r = lookup(policy("KeySources authorized_keys local\n"), request("alice"));
    ASSERT_EQ(r.lines().size(), 2u);
    EXPECT_EQ(r.verdicts[0].candidate.source, KeySource::authorized_keys);
    EXPECT_EQ(r.verdicts[1].candidate.source, KeySource::local);
    auto local_only = lookup(policy(), request("alice"));
    EXPECT_EQ(local_only.lines().size(), 1u);
}

TEST_F(Lookup, OfferedKeyGetsAtMostOneLine) {
    enroll("alice", sk.public_key());
    enroll("alice", sk2.public_key());
    auto r = lookup(policy(), request("alice", sk2.public_key()));
    ASSERT_EQ(r.lines().size(), 1u);
    EXPECT_NE(r.lines()[0].find(sk2.public_key().to_text()), std::string::npos);
    auto e = lookup_audit_event(r, request("alice", sk2.public_key()), 42);
    EXPECT_EQ(e.decision, Decision::allow);
    EXPECT_EQ(e.key_fp, sk2.public_key().fingerprint());
    EXPECT_EQ(e.source, "local");
    EXPECT_EQ(*e.latency_us, 42u);

    auto stranger = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    auto none = lookup(policy(), request("alice", stranger.public_key()));
    EXPECT_TRUE(none.lines().empty());
    auto ne = lookup_audit_event(none, request("alice", stranger.public_key()), 1);
    EXPECT_EQ(ne.decision, Decision::deny);
    EXPECT_EQ(ne.reason, "key is not enrolled for alice");
}

TEST_F(Lookup, AnotherUsersKeyIsNotOffered) {
    enroll("bob", sk.public_key());
    auto r = lookup(policy(), request("alice", sk.public_key()));
    EXPECT_TRUE(r.lines().empty());
}

TEST_F(Lookup, SummaryEventCountsDecisions) {
    enroll("alice", sk.public_key());
    enroll("alice", ordinary);
    auto r = lookup(policy("Mode audit\n"), request("alice"));
    auto e = lookup_audit_event(r, request("alice"), 5);
    EXPECT_EQ(e.decision, Decision::would_deny);
    EXPECT_NE(e.reason.find("1 allowed, 0 refused, 1 would be refused"), std::string::npos)
        << e.reason;
    auto none = lookup(policy(), request("nobody-here"));
    EXPECT_EQ(lookup_audit_event(none, request("nobody-here"), 5).decision, Decision::deny);
}

TEST_F(Lookup, UnreadableStoreOrRevocationFailsClosed) {
    enroll("alice", sk.public_key());
    chmod(dir.file("keys.d/alice").c_str(), 0666);
    auto r = lookup_keys(policy(), request("alice"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::permission);
    chmod(dir.file("keys.d/alice").c_str(), 0644);
    write_file(dir.file("revoked"), "this is not a key\n");
    auto rv = lookup_keys(policy(), request("alice"));
    ASSERT_FALSE(rv.ok());
    EXPECT_NE(rv.error().message.find("revoked:1:"), std::string::npos);
}

TEST_F(Lookup, GroupLookupFailureFailsClosed) {
    enroll("alice", sk.public_key());
    auto req = request("alice");
    req.groups_lookup = [](const std::string&) {
        return Result<std::vector<std::string>>(make_error(ErrorCode::io, "LDAP down"));
    };
    EXPECT_FALSE(lookup_keys(policy("Match Group admins\n  VerifyRequired yes\n"), req).ok());
}

TEST(LookupSanitize, KeepsOnlyRestrictions) {
    std::vector<std::string> dropped;
    KeyOptions in = {{"no-touch-required", {}}, {"touch-required", {}},
                     {"verify-required", {}},   {"no-verify-required", {}},
                     {"restrict", {}},          {"pty", {}},
                     {"cert-authority", {}},    {"principals", "x"},
                     {"environment", "A=b"},    {"tunnel", "1"},
                     {"command", "c"},          {"from", "*"},
                     {"permitopen", "h:1"}};
    KeyOptions out = sanitize_user_options(in, &dropped);
    std::vector<std::string> kept;
    for (const auto& o : out)
        kept.push_back(o.name);
    EXPECT_EQ(kept, (std::vector<std::string>{"verify-required", "restrict", "pty", "command",
                                              "from", "permitopen"}));
    EXPECT_EQ(dropped.size(), 7u);
}

// The -a patterns, as AuthorizedKeysFile takes them (skgate-keys(8)).
TEST(UserKeyFiles, PatternsExpandAsSshdDoes) {
    Account a{"alice", 1001, 1001, "/home/alice"};
    EXPECT_EQ(*user_key_file_path(".ssh/authorized_keys", a), "/home/alice/.ssh/authorized_keys");
    EXPECT_EQ(*user_key_file_path("/etc/ssh/keys/%u", a), "/etc/ssh/keys/alice");
    EXPECT_EQ(*user_key_file_path("%h/k-%U", a), "/home/alice/k-1001");
    EXPECT_EQ(*user_key_file_path("/k/%%u", a), "/k/%u");
    for (const char* bad : {"", "%x/k", "a b", "k%", "tab\tk", ".ssh/a#%u", "k\"q", "[k]"})
        EXPECT_FALSE(validate_user_key_file_pattern(bad).ok()) << bad;
    Account homeless{"daemon", 1, 1, ""};
    EXPECT_FALSE(user_key_file_path("%h", homeless).ok()) << "names no file";
    EXPECT_FALSE(user_key_file_path(".ssh/authorized_keys", homeless).ok());
}

// A security key's application is the relying party it was made for: by
// default only OpenSSH's own ("ssh:…") log in, so that a browser passkey
// (application: a site's domain) is the administrator's decision.
TEST_F(Lookup, AllowedApplicationsDecideWhichRelyingPartiesLogIn) {
    SoftSkKey passkey = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256, "localhost");
    SoftSkKey tagged = SoftSkKey::generate(KeyAlgorithm::sk_ed25519, "ssh:test");
    enroll("alice", sk.public_key());
    enroll("alice", passkey.public_key());
    enroll("alice", tagged.public_key());

    auto by_default = lookup(policy(), request("alice"));
    ASSERT_EQ(by_default.verdicts.size(), 3u);
    EXPECT_EQ(by_default.verdicts[0].decision, Decision::allow);
    EXPECT_EQ(by_default.verdicts[1].decision, Decision::deny);
    EXPECT_EQ(by_default.verdicts[1].reason,
              "application \"localhost\" is not in AllowedApplications (ssh:*)");
    EXPECT_EQ(by_default.verdicts[2].decision, Decision::allow);

    auto allowed =
        lookup(policy("AllowedApplications ssh:* localhost !ssh:test\n"), request("alice"));
    EXPECT_EQ(allowed.verdicts[0].decision, Decision::allow);
    EXPECT_EQ(allowed.verdicts[1].decision, Decision::allow);
    EXPECT_EQ(allowed.verdicts[2].decision, Decision::deny) << "a negated pattern wins";
    EXPECT_EQ(allowed.lines().size(), 2u);

    // Per user, as every Match keyword; audit mode only logs the refusal.
    auto matched = lookup(policy("Mode audit\nMatch User alice\n    AllowedApplications local*\n"),
                          request("alice"));
    EXPECT_EQ(matched.verdicts[0].decision, Decision::would_deny);
    EXPECT_EQ(matched.verdicts[1].decision, Decision::allow);

    // Break-glass accounts too: their exemption is from needing a security
    // key, not from which relying parties count.
    enroll("root", passkey.public_key());
    auto glass = lookup(policy("BreakGlassUsers root\n"), request("root"));
    ASSERT_EQ(glass.verdicts.size(), 1u);
    EXPECT_EQ(glass.verdicts[0].decision, Decision::deny);
    EXPECT_NE(glass.verdicts[0].reason.find("AllowedApplications"), std::string::npos);
}

// An entry enrolled with a "none" attestation (a synced passkey's) is not
// attested: RequireAttestation refuses it as it refuses no attestation.
TEST_F(Lookup, AttestationNoneIsNoVerifiedAttestation) {
    enroll("alice", sk.public_key(), kNow - kDay, {}, "none", "", false);
    auto r = lookup(policy("RequireAttestation yes\n"), request("alice"));
    ASSERT_EQ(r.verdicts.size(), 1u);
    EXPECT_EQ(r.verdicts[0].decision, Decision::deny);
    EXPECT_EQ(r.verdicts[0].reason, "no verified attestation");
    EXPECT_EQ(lookup(policy(), request("alice")).verdicts[0].decision, Decision::allow);
}
