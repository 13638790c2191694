// The remote sources without the network: their settings, the cache file and
// its trust rules, the outage decisions, URL and LDAP filter expansion. The
// servers themselves are exercised in tests/e2e/test_e2e_sources.cc.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "core/sources/ldap_client.h"
#include "core/sources/remote_fetch.h"
#include "core/sources/remote_source.h"
#include "core/sources/source_cache.h"
#include "core/sys/monotonic.h"
#include "core/sys/text.h"
#include "tests/support/helpers.h"

using namespace skgate;

namespace {

std::string key(const std::string& name) {
    return std::string(trim(test::read_file(test::vectors_dir() + "/openssh/sshkey/" + name)));
}

RemoteKey remote_key(const std::string& line, std::optional<std::time_t> expires = {}) {
    return {*parse_remote_key_line(line), expires, "test"};
}

Policy policy(const std::string& text) {
    auto p = Policy::parse(text, "test.conf");
    EXPECT_TRUE(p.ok()) << p.error().message;
    return std::move(*p);
}

class SourcesCache : public ::testing::Test {
  protected:
    void SetUp() override {
        mkdir(dir.file("sources").c_str(), 0700);
        conf = "StateDirectory " + dir.path() +
               "\nKeySources http\nHttpKeysURL https://127.0.0.1:1/%u\n";
    }
    RemoteAccess offline(std::time_t now) {
        RemoteAccess a;
        a.may_fetch = false;
        a.now = now;
        return a;
    }
    test::TempDir dir;
    std::string conf;
};

}  // namespace

TEST(SourcesPolicy, RemoteSettingsParseAndDefault) {
    auto d = policy("");
    const auto& r = d.global().remote;
    EXPECT_EQ(r.metadata_url, "http://169.254.169.254");
    EXPECT_EQ(r.metadata_root_user, "root");
    EXPECT_EQ(r.timeout_seconds, 5);
    EXPECT_EQ(r.cache_ttl_seconds, 300);
    EXPECT_EQ(r.cache_max_age_seconds, 86400);
    EXPECT_EQ(r.outage, SourceOutage::cached);
    auto p = policy(
        "MetadataURL http://127.0.0.1:8080/\nMetadataRootUser none\n"
        "HttpKeysURL https://keys.example/v1/%u%2Fkeys\nHttpCAFile /etc/ca.pem\n"
        "HttpBearerTokenFile /etc/skgate/token\nLdapURI ldaps://ldap.example\n"
        "LdapBaseDN \"ou=people,dc=example,dc=com\"\nLdapFilter (uid=%u)\nLdapStartTLS yes\n"
        "LdapCAFile /etc/ldap-ca.pem\nLdapBindDN cn=skgate,dc=example,dc=com\n"
        "LdapBindPasswordFile /etc/skgate/ldap\nSourceTimeout 3s\nSourceCacheTTL 0\n"
        "SourceCacheMaxAge 2d\nSourceOutage deny\n");
    const auto& s = p.global().remote;
    EXPECT_EQ(s.metadata_url, "http://127.0.0.1:8080");
    EXPECT_EQ(s.metadata_root_user, "");
    EXPECT_EQ(s.http_keys_url, "https://keys.example/v1/%u%2Fkeys");
    EXPECT_EQ(s.ldap_base_dn, "ou=people,dc=example,dc=com");
    EXPECT_TRUE(s.ldap_starttls);
    EXPECT_EQ(s.timeout_seconds, 3);
    EXPECT_EQ(s.cache_ttl_seconds, 0);
    EXPECT_EQ(s.cache_max_age_seconds, 2 * 86400);
    EXPECT_EQ(s.outage, SourceOutage::deny);
    for (const char* kw : {"HttpKeysURL https://x/%u", "LdapURI ldaps://x", "SourceOutage deny",
                           "SourceTimeout 2", "MetadataURL http://x"}) {
        auto m = Policy::parse(std::string("Match User alice\n  ") + kw + "\n", "t");
        ASSERT_FALSE(m.ok()) << kw;
        EXPECT_NE(m.error().message.find("not allowed in a Match block"), std::string::npos);
    }
}

TEST(SourcesFetch, UserNamesArePercentEncodedInUrls) {
    EXPECT_EQ(expand_url_user("https://k/%u/keys", "alice"), "https://k/alice/keys");
    EXPECT_EQ(expand_url_user("https://k/%u?x=%u", "a.b_c-d"), "https://k/a.b_c-d?x=a.b_c-d");
    EXPECT_EQ(expand_url_user("https://k/%u", "al ice/../x?y#z"),
              "https://k/al%20ice%2F..%2Fx%3Fy%23z");
    EXPECT_EQ(expand_url_user("https://k/%2Fa/%u", "b"), "https://k/%2Fa/b");
}

TEST(SourcesFetch, MetadataRootKeysGoWherePolicySays) {
    RemoteSettings s;
    EXPECT_EQ(metadata_names_for(s, "root"), std::vector<std::string>{"root"});
    EXPECT_EQ(metadata_names_for(s, "alice"), std::vector<std::string>{"alice"});
    s.metadata_root_user = "admin";
    EXPECT_TRUE(metadata_names_for(s, "root").empty()) << "root's keys moved away from root";
    EXPECT_EQ(metadata_names_for(s, "admin"), (std::vector<std::string>{"admin", "root"}));
    s.metadata_root_user = "";
    EXPECT_TRUE(metadata_names_for(s, "root").empty());
}

TEST(SourcesFetch, LdapFilterValuesAreEscaped) {
    EXPECT_EQ(ldap_escape_filter_value("alice"), "alice");
    EXPECT_EQ(ldap_escape_filter_value("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
    EXPECT_EQ(ldap_escape_filter_value(std::string("a\\b\0c", 5)), "a\\5cb\\00c");
    RemoteSettings s;
    EXPECT_EQ(ldap_filter_for(s, "bob"), "(&(objectClass=ldapPublicKey)(uid=bob))");
    s.ldap_filter = "(|(uid=%u)(mail=%u@example.com))";
    EXPECT_EQ(ldap_filter_for(s, "b*"), "(|(uid=b\\2a)(mail=b\\2a@example.com))");
}

TEST(SourcesFetch, LdapSettingsMustProtectTheConnection) {
    RemoteSettings s;
    EXPECT_NE(check_ldap_settings(s).error().message.find("LdapURI is not set"), std::string::npos);
    s.ldap_uri = "ldap://ldap.example";
    s.ldap_base_dn = "dc=example";
    EXPECT_NE(check_ldap_settings(s).error().message.find("plain LDAP"), std::string::npos);
    s.ldap_starttls = true;
    EXPECT_TRUE(check_ldap_settings(s).ok());
    s.ldap_bind_dn = "cn=x";
    EXPECT_NE(check_ldap_settings(s).error().message.find("go together"), std::string::npos);
    s = {};
    s.ldap_uri = "ldaps://ldap.example";
    EXPECT_NE(check_ldap_settings(s).error().message.find("LdapBaseDN"), std::string::npos);
    s.ldap_base_dn = "dc=example";
    EXPECT_TRUE(check_ldap_settings(s).ok());
}

TEST(SourcesFetch, SecretFilesMustNotBeReadableByOthers) {
    if (!test::running_as_root())
        GTEST_SKIP() << "needs root to own the file as root";
    test::TempDir dir;
    chmod(dir.path().c_str(), 0755);
    std::string f = dir.file("token");
    test::write_file(f, "s3cret-token\nignored\n", 0640);
    auto ok = read_secret_file(f, "HttpBearerTokenFile");
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    EXPECT_EQ(*ok, "s3cret-token");
    chmod(f.c_str(), 0644);
    auto open = read_secret_file(f, "HttpBearerTokenFile");
    ASSERT_FALSE(open.ok());
    EXPECT_NE(open.error().message.find("chmod o-rwx"), std::string::npos) << open.error().message;
    test::write_file(f, "\n", 0600);
    EXPECT_FALSE(read_secret_file(f, "HttpBearerTokenFile").ok());
    EXPECT_FALSE(check_bearer_token("a b").ok());
    EXPECT_FALSE(check_bearer_token("tok\r\nX-Evil: 1").ok());
    EXPECT_TRUE(check_bearer_token("abc.DEF-123_~+/=").ok());
}

TEST(SourcesCacheFormat, RoundTrip) {
    CachedKeys c{
        1795000000,
        {remote_key(key("ecdsa_sk1.pub")), remote_key(key("ed25519_sk1.pub"), 1893456000)}};
    auto text = format_cached_keys(c);
    ASSERT_TRUE(text.ok());
    auto back = parse_cached_keys(*text);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->fetched, 1795000000);
    ASSERT_EQ(back->keys.size(), 2u);
    EXPECT_TRUE(back->keys[0].entry.key.same_key(c.keys[0].entry.key));
    EXPECT_EQ(back->keys[0].entry.comment, c.keys[0].entry.comment);
    EXPECT_FALSE(back->keys[0].expires);
    EXPECT_EQ(back->keys[1].expires, 1893456000);
    auto empty = parse_cached_keys(*format_cached_keys({5, {}}));
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty->keys.empty());
}

TEST(SourcesCacheFormat, MalformedFilesAreErrorsNeverEmpty) {
    const std::string header = "# skgate: last good answer of a key source; do not edit\n";
    const std::string k = key("ecdsa_sk1.pub");
    std::string many = header + "fetched 1\n";
    for (int i = 0; i < 65; i++)
        many += "key - " + k + "\n";
    const std::pair<std::string, std::string> cases[] = {
        {"", "header missing"},
        {"fetched 1\n", "header missing"},
        {header, "no \"fetched\" line"},
        {header + "fetched x\n", "bad time"},
        {header + "fetched -1\n", "bad time"},
        {header + "fetched 1\nkey - " + k, "truncated"},
        {header + "fetched 1\nkey " + k + "\n", "bad time"},
        {header + "fetched 1\nkey - restrict " + k + "\n", "options"},
        {header + "fetched 1\nkey - " + k + "\x01\n", "control character"},
        {header + "fetched 1\nkey - ssh-ed25519 AAAA\n", ""},
        {header + "fetched 1\nkeys - " + k + "\n", "expected"},
        {header + "fetched 1\nfetched 2\n", "expected"},
        {many, "more than 64 keys"},
        {header + std::string(1024 * 1024, '#'), "larger than"},
    };
    for (const auto& [text, why] : cases) {
        auto r = parse_cached_keys(text);
        ASSERT_FALSE(r.ok()) << printable(text, 60);
        EXPECT_NE(r.error().message.find(why), std::string::npos)
            << printable(text, 60) << " -> " << r.error().message;
    }
}

TEST_F(SourcesCache, StoreThenLoadAndUnsafeFilesAreRefused) {
    SourceCache cache(dir.path());
    CachedKeys c{100, {remote_key(key("ecdsa_sk1.pub"))}};
    ASSERT_TRUE(cache.store(KeySource::http, "alice", c).ok());
    auto back = cache.load(KeySource::http, "alice");
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->keys.size(), 1u);
    EXPECT_EQ(cache.load(KeySource::ldap, "alice").error().code, ErrorCode::not_found);
    EXPECT_EQ(cache.users(), std::vector<std::string>{"alice"});
    EXPECT_FALSE(cache.load(KeySource::http, "../alice").ok());

    std::string f = dir.file("sources/http/alice");
    chmod(f.c_str(), 0666);
    EXPECT_EQ(cache.load(KeySource::http, "alice").error().code, ErrorCode::permission);
    chmod(f.c_str(), 0644);
    std::filesystem::rename(f, dir.file("elsewhere"));
    ASSERT_EQ(symlink(dir.file("elsewhere").c_str(), f.c_str()), 0);
    EXPECT_EQ(cache.load(KeySource::http, "alice").error().code, ErrorCode::permission);
    chmod(dir.file("sources").c_str(), 0777);
    EXPECT_EQ(cache.load(KeySource::http, "bob").error().code, ErrorCode::permission)
        << "a cache directory others can write is not trusted";
}

TEST_F(SourcesCache, FailedSourceIsNotAskedAgainForAWhile) {
    SourceCache cache(dir.path());
    ASSERT_TRUE(cache.note_unreachable(KeySource::ldap, "Can't contact LDAP server", 1000).ok());
    EXPECT_EQ(cache.recently_unreachable(KeySource::ldap, 1005), "Can't contact LDAP server");
    EXPECT_FALSE(cache.recently_unreachable(KeySource::ldap, 1000 + kSourceRetryAfterSeconds));
    EXPECT_FALSE(cache.recently_unreachable(KeySource::ldap, 999)) << "a clock step back";
    EXPECT_FALSE(cache.recently_unreachable(KeySource::http, 1005));
    ASSERT_TRUE(cache.clear_unreachable(KeySource::ldap).ok());
    EXPECT_FALSE(cache.recently_unreachable(KeySource::ldap, 1005));
}

TEST_F(SourcesCache, FreshCacheAnswersWithoutAskingTheSource) {
    SourceCache cache(dir.path());
    ASSERT_TRUE(
        cache.store(KeySource::http, "alice", {1000, {remote_key(key("ecdsa_sk1.pub"), 5000)}})
            .ok());
    RemoteAccess a;
    a.fetch_helper = "/nonexistent/skgate-fetch";  // would fail if it were run
    a.now = 1000 + 299;
    a.deadline_us = UINT64_MAX;
    auto r = keys_from_remote(policy(conf), KeySource::http, "alice", a);
    EXPECT_EQ(r.status.state, SourceState::fresh);
    EXPECT_EQ(r.status.cache_age, 299);
    ASSERT_EQ(r.keys.keys.size(), 1u);
    EXPECT_EQ(r.keys.keys[0].source, KeySource::http);
    ASSERT_EQ(r.keys.keys[0].user_options.size(), 1u) << "expiry travels as expiry-time";
    EXPECT_EQ(r.keys.keys[0].user_options[0].name, "expiry-time");
    EXPECT_TRUE(r.keys.warnings.empty());
}

TEST_F(SourcesCache, OutageServesTheCacheOrNothingAsPolicySays) {
    SourceCache cache(dir.path());
    ASSERT_TRUE(
        cache.store(KeySource::http, "alice", {1000, {remote_key(key("ecdsa_sk1.pub"))}}).ok());
    RemoteAccess a;
    a.fetch_helper = "/nonexistent/skgate-fetch";  // the source cannot be asked
    a.now = 1000 + 600;
    a.deadline_us = UINT64_MAX;
    auto cached = keys_from_remote(policy(conf), KeySource::http, "alice", a);
    EXPECT_EQ(cached.status.state, SourceState::cached);
    EXPECT_EQ(cached.status.cache_age, 600);
    EXPECT_EQ(cached.keys.keys.size(), 1u);
    EXPECT_NE(cached.status.describe().find("outage, served 1 cached key(s) (age 600 s)"),
              std::string::npos)
        << cached.status.describe();

    auto denied =
        keys_from_remote(policy(conf + "SourceOutage deny\n"), KeySource::http, "alice", a);
    EXPECT_EQ(denied.status.state, SourceState::denied);
    EXPECT_TRUE(denied.keys.keys.empty());
    EXPECT_NE(denied.status.error.find("SourceOutage deny"), std::string::npos);

    a.now = 1000 + 86401;
    auto too_old = keys_from_remote(policy(conf), KeySource::http, "alice", a);
    EXPECT_EQ(too_old.status.state, SourceState::denied);
    EXPECT_NE(too_old.status.error.find("older than SourceCacheMaxAge"), std::string::npos);

    a.now = 500;  // the cache is dated after "now"
    auto future = keys_from_remote(policy(conf), KeySource::http, "alice", a);
    EXPECT_EQ(future.status.state, SourceState::denied);

    auto none = keys_from_remote(policy(conf), KeySource::http, "bob", a);
    EXPECT_EQ(none.status.state, SourceState::denied);
    EXPECT_NE(none.status.error.find("no cached answer"), std::string::npos);
}

TEST_F(SourcesCache, PamUsesTheCacheUpToMaxAgeWithoutFetching) {
    SourceCache cache(dir.path());
    ASSERT_TRUE(
        cache.store(KeySource::http, "alice", {1000, {remote_key(key("ecdsa_sk1.pub"))}}).ok());
    auto deny = policy(conf + "SourceOutage deny\n");
    auto r = keys_from_remote(deny, KeySource::http, "alice", offline(1000 + 3600));
    EXPECT_EQ(r.status.state, SourceState::cached);
    EXPECT_EQ(r.keys.keys.size(), 1u);
    EXPECT_TRUE(r.keys.warnings.empty()) << "a stale cache is normal for pam_skgate";
    auto old = keys_from_remote(deny, KeySource::http, "alice", offline(1000 + 86401));
    EXPECT_EQ(old.status.state, SourceState::denied);
    EXPECT_TRUE(old.keys.keys.empty());
}

TEST_F(SourcesCache, SpentBudgetAndRecentFailureSkipTheSource) {
    RemoteAccess a;
    a.fetch_helper = "/nonexistent/skgate-fetch";
    a.now = 2000;
    a.deadline_us = 0;  // already over
    auto spent = keys_from_remote(policy(conf), KeySource::http, "alice", a);
    EXPECT_NE(spent.status.error.find("time budget"), std::string::npos) << spent.status.error;
    SourceCache cache(dir.path());
    ASSERT_TRUE(cache.note_unreachable(KeySource::http, "connection refused", 1995).ok());
    a.deadline_us = UINT64_MAX;
    auto backoff = keys_from_remote(policy(conf), KeySource::http, "alice", a);
    EXPECT_NE(backoff.status.error.find("not asked again (connection refused)"), std::string::npos)
        << backoff.status.error;
}

// Only a source that could not be asked holds the next lookups (everyone's)
// back: a bad answer about one user (two LDAP entries, a malformed document)
// is that lookup's outage and nothing more, so one user's entry cannot keep
// the source from serving the others. The helpers stand in for skgate-fetch's
// exit statuses (sysexits: 65 bad answer, 69 unavailable).
TEST_F(SourcesCache, OnlyAnUnreachableSourceIsHeldBack) {
    auto helper = [&](const std::string& name, const std::string& said, int status) {
        test::write_file(
            dir.file(name),
            "#!/bin/sh\necho '" + said + "' >&2\nexit " + std::to_string(status) + "\n", 0755);
        return dir.file(name);
    };
    RemoteAccess a;
    a.now = 2000;
    a.deadline_us = monotonic_us() + 10'000'000;
    a.fetch_helper = helper("fetch-bad", "http: 2 entries match (uid=bob)", kFetchBadAnswer);
    auto bad = keys_from_remote(policy(conf), KeySource::http, "bob", a);
    EXPECT_EQ(bad.status.state, SourceState::denied);
    EXPECT_NE(bad.status.error.find("2 entries match"), std::string::npos) << bad.status.error;
    SourceCache cache(dir.path());
    EXPECT_FALSE(cache.recently_unreachable(KeySource::http, 2001));

    a.fetch_helper = helper("fetch-down", "http: Connection refused", kFetchUnavailable);
    auto down = keys_from_remote(policy(conf), KeySource::http, "alice", a);
    EXPECT_EQ(down.status.state, SourceState::denied);
    EXPECT_EQ(cache.recently_unreachable(KeySource::http, 2001), "http: Connection refused");
}
