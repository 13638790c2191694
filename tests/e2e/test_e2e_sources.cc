// The remote key sources behind Debian's own sshd, against real servers on
// loopback: tests/servers/keyserver.py (the Metadata v1 endpoints over HTTP,
// the generic endpoint over HTTPS with a test CA and a bearer token) and a
// real slapd (StartTLS, openssh-lpk schema, bind required). Each scenario
// logs in with the stock ssh client or runs `skgatectl sources test`, and
// checks the journal events skgate-keys wrote.
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

#include "core/ssh/sshkey.h"
#include "core/sys/base64.h"
#include "core/sys/bytes.h"
#include "core/sys/text.h"
#include "core/wiring/sshd_wiring.h"
#include "tests/e2e/sshd_harness.h"

using namespace skgate;
using namespace skgate::test;

namespace {

constexpr const char* kAlice = "skgt-alice";
// AuthorizedKeysCommandUser: whichever "skgate" the account database
// finds first (tests/scripts/e2e-env.sh adds one if the machine has none).
uid_t skgate_uid() {
    const passwd* pw = getpwnam("skgate");
    if (!pw)
        throw std::runtime_error("no skgate account");
    return pw->pw_uid;
}
gid_t skgate_gid() {
    const passwd* pw = getpwnam("skgate");
    if (!pw)
        throw std::runtime_error("no skgate account");
    return pw->pw_gid;
}
const std::map<std::string, std::string> kTouch = {{"SKGATE_TEST_SK_FLAGS", "0x01"}};

std::string env_or_die(const char* name) {
    const char* v = std::getenv(name);
    if (!v)
        throw std::runtime_error(std::string(name) + " is not set");
    return v;
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos)
            nl = text.size();
        if (nl > pos)
            out.push_back(text.substr(pos, nl - pos));
        pos = nl + 1;
    }
    return out;
}

std::string json_str(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\')
            out += std::string("\\") + c;
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out + "\"";
}

std::string json_list(const std::vector<std::string>& items) {
    std::string out = "[";
    for (const auto& i : items)
        out += (out.size() > 1 ? ", " : "") + json_str(i);
    return out + "]";
}

class E2eSources : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { set_up_suite("sources-e2e"); }
    // Each suite its own directory: slapd's database is made afresh.
    static void set_up_suite(const std::string& name) {
        std::string dir = SshdHarness::e2e_dir();
        if (dir.empty())
            return;
        sshd_ = new SshdHarness(dir + "/" + name);
        sshd_->install_helper();
        ecdsa_ = sshd_->make_key("alice-ecdsa", "ecdsa-sk");
        other_ = sshd_->make_key("alice-other", "ed25519-sk");
        plain_ = sshd_->make_key("alice-plain", "ed25519");
        make_certificates();
        start_keyservers();
        start_slapd();
        write_secret("token", "bearer-for-tests\n");
        write_secret("ldap-pw", "ldap-secret\n");
        write_secret("ldap-wrong-pw", "not-the-password\n");
    }
    static void TearDownTestSuite() {
        metadata_server_.reset();
        http_server_.reset();
        if (slapd_pid_ > 0)
            kill(slapd_pid_, SIGTERM);
        delete sshd_;
        sshd_ = nullptr;
    }

    void SetUp() override {
        if (!sshd_)
            GTEST_SKIP() << "run through tests/scripts/e2e-env.sh (meson test does)";
        std::filesystem::remove_all(sshd_->path("state"));
        std::filesystem::create_directories(sshd_->path("state/sources"));
        chmod(sshd_->path("state").c_str(), 0755);
        ASSERT_EQ(chown(sshd_->path("state/sources").c_str(), skgate_uid(), skgate_gid()), 0);
        chmod(sshd_->path("state/sources").c_str(), 0700);
        set_server_state("{}");
        write_file(sshd_->path("requests.log"), "");
        write_file(sshd_->path("requests.log.peers"), "");
    }
    void TearDown() override {
        if (sshd_)
            sshd_->stop();
    }

    static void make_certificates() {
        std::string t = sshd_->path("tls");
        std::filesystem::create_directories(t);
        auto openssl = [](const std::vector<std::string>& args) {
            std::vector<std::string> argv{"openssl"};
            argv.insert(argv.end(), args.begin(), args.end());
            auto r = run(argv);
            if (r.status != 0)
                throw std::runtime_error("openssl: " + r.err);
        };
        for (const std::string ca : {"ca", "other-ca"}) {
            openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-nodes", "-keyout", t + "/" + ca + ".key", "-out", t + "/" + ca + ".crt",
                     "-subj", "/CN=skgate test " + ca, "-days", "2"});
        }
        openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                 t + "/server.key", "-out", t + "/server.csr", "-subj", "/CN=127.0.0.1"});
        write_file(t + "/ext", "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
        openssl({"x509", "-req", "-in", t + "/server.csr", "-CA", t + "/ca.crt", "-CAkey",
                 t + "/ca.key", "-CAcreateserial", "-out", t + "/server.crt", "-days", "2",
                 "-extfile", t + "/ext"});
        chmod((t + "/server.key").c_str(), 0600);
    }

    static int wait_port_file(const std::string& f) {
        for (int i = 0; i < 200; i++) {
            if (std::filesystem::exists(f))
                return std::stoi(read_file(f));
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        throw std::runtime_error("key server did not start (" + f + ")");
    }

    static void start_keyservers() {
        std::string server = env_or_die("SKGATE_SOURCE_ROOT") + "/tests/servers/keyserver.py";
        write_file(sshd_->path("state.json"), "{}");
        for (const auto& f : {"metadata.port", "http.port"})
            std::filesystem::remove(sshd_->path(f));
        metadata_server_ = std::make_unique<Process>(
            std::vector<std::string>{"python3", server, sshd_->path("state.json"),
                                     sshd_->path("requests.log"), sshd_->path("metadata.port")},
            std::map<std::string, std::string>{}, sshd_->path("metadata-server.log"));
        http_server_ = std::make_unique<Process>(
            std::vector<std::string>{"python3", server, sshd_->path("state.json"),
                                     sshd_->path("requests.log"), sshd_->path("http.port"),
                                     sshd_->path("tls/server.crt"), sshd_->path("tls/server.key")},
            std::map<std::string, std::string>{}, sshd_->path("http-server.log"));
        metadata_port_ = wait_port_file(sshd_->path("metadata.port"));
        http_port_ = wait_port_file(sshd_->path("http.port"));
    }

    static void start_slapd() {
        write_file(sshd_->path("ldap-root-pw"), "ldap-secret\n", 0600);
        const std::string alice = pub(ecdsa_), other = pub(other_);
        // carol: one good value and one that smuggles a second key behind a
        // newline (base64 in LDIF); skgt-bob: two entries, which is ambiguous;
        // dave: an entry larger than any answer skgate reads; erin: 65 keys,
        // one more than any source accepts.
        auto b64 = [](const std::string& v) { return base64_encode(as_bytes(v)); };
        std::string erin_keys;
        for (int i = 0; i < 65; i++)
            erin_keys += "sshPublicKey: " + alice + " key-" + std::to_string(i) + "\n";
        write_file(sshd_->path("data.ldif"),
                   "dn: dc=skgate,dc=test\nobjectClass: dcObject\nobjectClass: organization\n"
                   "o: skgate\ndc: skgate\n\n"
                   "dn: ou=people,dc=skgate,dc=test\nobjectClass: organizationalUnit\n"
                   "ou: people\n\n"
                   "dn: uid=skgt-alice,ou=people,dc=skgate,dc=test\nobjectClass: inetOrgPerson\n"
                   "objectClass: ldapPublicKey\nuid: skgt-alice\ncn: alice\nsn: alice\n"
                   "sshPublicKey: " +
                       alice + "\n\n" +
                       "dn: uid=carol,ou=people,dc=skgate,dc=test\nobjectClass: inetOrgPerson\n"
                       "objectClass: ldapPublicKey\nuid: carol\ncn: carol\nsn: carol\n"
                       "sshPublicKey: " +
                       other + "\nsshPublicKey:: " + b64(alice + "\n" + other) + "\n\n" +
                       "dn: cn=bob1,ou=people,dc=skgate,dc=test\nobjectClass: inetOrgPerson\n"
                       "objectClass: ldapPublicKey\nuid: skgt-bob\ncn: bob1\nsn: bob\n"
                       "sshPublicKey: " +
                       alice + "\n\n" +
                       "dn: cn=bob2,ou=people,dc=skgate,dc=test\nobjectClass: inetOrgPerson\n"
                       "objectClass: ldapPublicKey\nuid: skgt-bob\ncn: bob2\nsn: bob\n\n" +
                       "dn: uid=dave,ou=people,dc=skgate,dc=test\nobjectClass: inetOrgPerson\n"
                       "objectClass: ldapPublicKey\nuid: dave\ncn: dave\nsn: dave\n"
                       "sshPublicKey: " +
                       alice + "\nsshPublicKey: " + std::string(300 * 1024, 'A') + "\n\n" +
                       "dn: uid=erin,ou=people,dc=skgate,dc=test\nobjectClass: inetOrgPerson\n"
                       "objectClass: ldapPublicKey\nuid: erin\ncn: erin\nsn: erin\n" +
                       erin_keys);
        ldap_port_ = free_port();
        ldaps_port_ = free_port();
        std::string t = sshd_->path("tls");
        auto r = run({env_or_die("SKGATE_SOURCE_ROOT") + "/tests/servers/slapd-start.sh",
                      sshd_->path("slapd"), std::to_string(ldap_port_), std::to_string(ldaps_port_),
                      t + "/server.crt", t + "/server.key", t + "/ca.crt", sshd_->path("data.ldif"),
                      sshd_->path("ldap-root-pw")});
        if (r.status != 0)
            throw std::runtime_error("slapd: " + r.err);
        slapd_pid_ = std::stoi(r.out);
    }

    // root:skgate 0640, as skgate.conf(5) asks for secret files.
    static void write_secret(const std::string& name, const std::string& text) {
        write_file(sshd_->path(name), text, 0640);
        if (chown(sshd_->path(name).c_str(), 0, skgate_gid()) != 0)
            throw std::runtime_error("chown " + name);
    }

    static std::string base_policy() {
        std::string s = sshd_->dir();
        return "StateDirectory " + s +
               "/state\nMetadataURL http://127.0.0.1:" + std::to_string(metadata_port_) +
               "\nHttpKeysURL https://127.0.0.1:" + std::to_string(http_port_) +
               "/keys/%u\nHttpCAFile " + s + "/tls/ca.crt\nHttpBearerTokenFile " + s +
               "/token\nLdapURI ldap://127.0.0.1:" + std::to_string(ldap_port_) +
               "\nLdapStartTLS yes\nLdapCAFile " + s +
               "/tls/ca.crt\nLdapBaseDN ou=people,dc=skgate,dc=test\n"
               "LdapBindDN cn=admin,dc=skgate,dc=test\n";
    }

    // `extra` comes first so that it wins (the first value obtained wins).
    void configure(const std::string& extra, const std::string& password_file = "ldap-pw") {
        sshd_->start_with_skgate_keys(extra + base_policy() + "LdapBindPasswordFile " +
                                      sshd_->path(password_file) + "\n");
    }

    static void set_server_state(const std::string& json) {
        write_file(sshd_->path("state.json.tmp"), json);
        std::filesystem::rename(sshd_->path("state.json.tmp"), sshd_->path("state.json"));
    }

    static std::string pub(const std::string& key) {
        return std::string(trim(read_file(key + ".pub")));
    }

    static bool logged_in(const RunResult& r) {
        return r.status == 0 && r.out.find("skgate-login-ok") != std::string::npos;
    }

    // The journal lines matching `matches`, without waiting.
    static std::vector<std::string> journal_lines(const std::vector<std::string>& matches) {
        std::vector<std::string> args{"journalctl", "-D",   env_or_die("SKGATE_JOURNAL_DIR"),
                                      "-o",         "json", "--no-pager"};
        args.insert(args.end(), matches.begin(), matches.end());
        return split_lines(run(args).out);
    }

    // Runs `action`, then returns the newest journal entry matching
    // `matches` that arrived because of it (waiting up to two seconds).
    template <class F>
    static std::string new_event(const std::vector<std::string>& matches, F action) {
        size_t before = journal_lines(matches).size();
        action();
        for (int i = 0; i < 40; i++) {
            auto lines = journal_lines(matches);
            if (lines.size() > before)
                return lines.back();
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return "";
    }

    static std::string all_new_events(size_t before, const std::vector<std::string>& matches) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        auto lines = journal_lines(matches);
        std::string out;
        for (size_t i = before; i < lines.size(); i++)
            out += lines[i] + "\n";
        return out;
    }

    RunResult login(const std::string& key, RunResult* result = nullptr) {
        auto r = sshd_->login(kAlice, key, kTouch);
        if (result)
            *result = r;
        return r;
    }

    std::string lookup_event(const std::string& key) {
        std::string event;
        RunResult r;
        event = new_event({"SKGATE_EVENT=keys-lookup", "SKGATE_USER=skgt-alice",
                           "SKGATE_KEY_FP=" + PublicKey::parse_text(pub(key))->fingerprint()},
                          [&] { last_login_ = sshd_->login(kAlice, key, kTouch); });
        return event;
    }

    static std::string requests() { return read_file(sshd_->path("requests.log")); }

    RunResult skgatectl(const std::vector<std::string>& args) {
        std::vector<std::string> argv{env_or_die("SKGATE_SKGATECTL")};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv);
    }

    static SshdHarness* sshd_;
    static std::string ecdsa_, other_, plain_;
    static std::unique_ptr<Process> metadata_server_, http_server_;
    static int metadata_port_, http_port_, ldap_port_, ldaps_port_;
    static pid_t slapd_pid_;
    RunResult last_login_;
};

SshdHarness* E2eSources::sshd_ = nullptr;
std::string E2eSources::ecdsa_, E2eSources::other_, E2eSources::plain_;
std::unique_ptr<Process> E2eSources::metadata_server_, E2eSources::http_server_;
int E2eSources::metadata_port_ = 0, E2eSources::http_port_ = 0, E2eSources::ldap_port_ = 0,
    E2eSources::ldaps_port_ = 0;
pid_t E2eSources::slapd_pid_ = -1;

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

}  // namespace

// The metadata service: token first, then the keys; the login succeeds and
// the event names the source and the fetch.
TEST_F(E2eSources, MetadataKeysLogIn) {
    configure("KeySources metadata\n");
    set_server_state("{\"users\": {\"skgt-alice\": " + json_list({pub(ecdsa_)}) + "}}");
    std::string event = lookup_event(ecdsa_);
    EXPECT_TRUE(logged_in(last_login_)) << last_login_.err << sshd_->new_log();
    EXPECT_TRUE(contains(event, "\"SKGATE_DECISION\":\"allow\"")) << event;
    EXPECT_TRUE(contains(event, "\"SKGATE_SOURCE\":\"metadata\"")) << event;
    // sshd asks twice per login (before and after the signature): the
    // first lookup fetched, the second was answered from the fresh cache.
    EXPECT_TRUE(contains(event, "metadata: 1 key(s) from the cache (age ")) << event;
    EXPECT_EQ(requests(), "PUT /v1/token 200\nGET /v1/ssh-keys 200\n");
    // The token and the keys travel on one connection.
    auto peers = split_lines(read_file(sshd_->path("requests.log.peers")));
    ASSERT_EQ(peers.size(), 2u);
    EXPECT_EQ(peers[0], peers[1]);
}

// A token the service does not accept, even a second, new one: the service
// refuses skgate, which is no outage. The login is refused, and the event
// says why; a cached answer would not be served either.
TEST_F(E2eSources, MetadataRefusedTokenIsARefusal) {
    configure("KeySources metadata\n");
    set_server_state(
        "{\"mode\": \"bad-token\", \"users\": {\"skgt-alice\": " + json_list({pub(ecdsa_)}) + "}}");
    write_file(sshd_->path("requests.log"), "");
    std::string event = lookup_event(ecdsa_);
    EXPECT_FALSE(logged_in(last_login_));
    EXPECT_TRUE(contains(event, "\"SKGATE_DECISION\":\"deny\"")) << event;
    EXPECT_TRUE(contains(event, "answered HTTP 401: it refused skgate's credentials")) << event;
    EXPECT_TRUE(contains(event, "metadata: refused, no keys from it")) << event;
    EXPECT_EQ(requests(),
              "PUT /v1/token 200\nGET /v1/ssh-keys 401\nPUT /v1/token 200\nGET /v1/ssh-keys 401\n");
}

// A token that expired early costs one more token inside the same lookup:
// the keys are served, and the source is not held back for anyone.
TEST_F(E2eSources, MetadataTokenThatExpiredEarlyIsRenewedOnce) {
    configure("KeySources metadata\nSourceCacheTTL 0\n");
    set_server_state(
        "{\"mode\": \"expire-first-token\", \"epoch\": \"renewed-once\", \"users\": "
        "{\"skgt-alice\": " +
        json_list({pub(ecdsa_)}) + "}}");
    write_file(sshd_->path("requests.log"), "");
    std::string event = lookup_event(ecdsa_);
    EXPECT_TRUE(logged_in(last_login_)) << last_login_.err << event;
    EXPECT_TRUE(contains(event, "metadata: 1 key(s) fetched in ")) << event;
    // (sshd asks twice per login: the key, then its signature.)
    const std::string asked = requests();
    EXPECT_EQ(asked.rfind("PUT /v1/token 200\nGET /v1/ssh-keys 401\nPUT /v1/token 200\nGET "
                          "/v1/ssh-keys 200\n",
                          0),
              0u)
        << asked;
    EXPECT_EQ(asked.find("401"), asked.rfind("401")) << "one refusal, one renewal: " << asked;
    // Not held back: the next lookup asks the service again.
    std::string again = lookup_event(ecdsa_);
    EXPECT_TRUE(logged_in(last_login_)) << last_login_.err;
    EXPECT_FALSE(contains(again, "not asked again")) << again;
}

// MetadataRootUser: root's keys in the document log in as another account.
TEST_F(E2eSources, MetadataRootKeysGoToTheMappedAccount) {
    configure("KeySources metadata\nMetadataRootUser skgt-alice\n");
    set_server_state("{\"users\": {\"root\": " + json_list({pub(other_)}) + "}}");
    auto r = login(other_);
    EXPECT_TRUE(logged_in(r)) << r.err;
}

// The generic endpoint over TLS (test CA) with a bearer token and an expiry.
TEST_F(E2eSources, HttpKeysOverTlsWithBearerLogIn) {
    configure("KeySources http\n");
    set_server_state("{\"bearer\": \"bearer-for-tests\", \"http\": {\"skgt-alice\": [{\"key\": " +
                     json_str(pub(ecdsa_)) + ", \"expires\": \"2099-01-01T00:00:00Z\"}]}}");
    std::string event = lookup_event(ecdsa_);
    EXPECT_TRUE(logged_in(last_login_)) << last_login_.err;
    EXPECT_TRUE(contains(event, "\"SKGATE_SOURCE\":\"http\"")) << event;
    EXPECT_TRUE(contains(requests(), "GET /keys/skgt-alice 200")) << requests();

    // Another bearer token on the server: 401 refuses skgate's credentials.
    // That is no outage: the answer just cached is not served.
    set_server_state("{\"bearer\": \"rotated\", \"http\": {\"skgt-alice\": [{\"key\": " +
                     json_str(pub(ecdsa_)) + "}]}}");
    configure("KeySources http\nSourceCacheTTL 0\n");
    std::string refused = lookup_event(ecdsa_);
    EXPECT_FALSE(logged_in(last_login_));
    EXPECT_TRUE(contains(refused, "answered HTTP 401: it refused skgate's credentials")) << refused;
    EXPECT_TRUE(contains(refused,
                         "a credential or configuration error is a refusal, not an "
                         "outage: cached keys are not served"))
        << refused;
}

// An expired key from the key service does not log in.
TEST_F(E2eSources, HttpExpiredKeyIsRefused) {
    configure("KeySources http\n");
    set_server_state("{\"bearer\": \"bearer-for-tests\", \"http\": {\"skgt-alice\": [{\"key\": " +
                     json_str(pub(ecdsa_)) + ", \"expires\": \"2020-01-01T00:00:00Z\"}]}}");
    std::string event = lookup_event(ecdsa_);
    EXPECT_FALSE(logged_in(last_login_));
    EXPECT_TRUE(contains(event, "key expired")) << event;
}

// LDAP through StartTLS with a bind: the entry's sshPublicKey logs in.
TEST_F(E2eSources, LdapKeysLogIn) {
    configure("KeySources ldap\n");
    std::string event = lookup_event(ecdsa_);
    EXPECT_TRUE(logged_in(last_login_)) << last_login_.err << sshd_->new_log();
    EXPECT_TRUE(contains(event, "\"SKGATE_SOURCE\":\"ldap\"")) << event;
    auto other = login(other_);
    EXPECT_FALSE(logged_in(other)) << "a key the directory does not list";
}

// A refused bind is reported as what it is, by skgatectl and in the journal.
// It is the directory saying no, not an outage: the answer cached by the
// login before is not served.
TEST_F(E2eSources, LdapBindFailureIsAClearError) {
    configure("KeySources ldap\nSourceCacheTTL 0\n");
    auto warm = login(ecdsa_);
    ASSERT_TRUE(logged_in(warm)) << warm.err;
    configure("KeySources ldap\nSourceCacheTTL 0\n", "ldap-wrong-pw");
    auto t = skgatectl({"sources", "test", "-f", sshd_->path("skgate.conf"), "--user", kAlice,
                        "--fetch-helper", sshd_->path("libexec/skgate-fetch")});
    EXPECT_EQ(t.status, 1) << t.out << t.err;
    EXPECT_TRUE(contains(t.out, "FAILED: ldap: bind as cn=admin,dc=skgate,dc=test")) << t.out;
    EXPECT_TRUE(contains(t.out, "Invalid credentials")) << t.out;
    std::string event = lookup_event(ecdsa_);
    EXPECT_FALSE(logged_in(last_login_));
    EXPECT_TRUE(contains(event, "Invalid credentials")) << event;
    EXPECT_TRUE(contains(event, "ldap: refused, no keys from it")) << event;
    EXPECT_TRUE(contains(event, "cached keys are not served")) << event;

    // A base DN the directory does not have is a setting the source cannot
    // work with: a refusal too, not an outage that serves the warm cache.
    configure("KeySources ldap\nSourceCacheTTL 0\nLdapBaseDN ou=nobody,dc=skgate,dc=test\n");
    std::string nobase = lookup_event(ecdsa_);
    EXPECT_FALSE(logged_in(last_login_));
    EXPECT_TRUE(contains(nobase, "LdapBaseDN ou=nobody,dc=skgate,dc=test does not exist"))
        << nobase;
    EXPECT_TRUE(contains(nobase, "ldap: refused, no keys from it")) << nobase;
}

// A slow server that answers within SourceTimeout is waited for. One that
// stops answering in time: the lookup ends within SourceTimeout (far less
// than the server's 8 s), the cached answer serves, and the event carries
// the outage and the cache's age. With SourceOutage deny, the same outage
// refuses the login.
TEST_F(E2eSources, SlowServerServesCacheWithinBudgetOrDenies) {
    const std::string keys = "\"users\": {\"skgt-alice\": " + json_list({pub(ecdsa_)}) + "}";
    set_server_state("{\"mode\": \"slow\", \"delay\": 0.5, " + keys + "}");
    configure("KeySources metadata\nSourceCacheTTL 0\nSourceTimeout 2s\n");
    std::string waited = lookup_event(ecdsa_);
    ASSERT_TRUE(logged_in(last_login_)) << last_login_.err;
    EXPECT_TRUE(contains(waited, "metadata: 1 key(s) fetched in ")) << waited;
    EXPECT_FALSE(contains(waited, "outage")) << waited;

    set_server_state("{\"mode\": \"slow\", \"delay\": 8, " + keys + "}");
    std::string event = lookup_event(ecdsa_);
    EXPECT_TRUE(logged_in(last_login_)) << last_login_.err;
    EXPECT_TRUE(contains(event, "outage, served 1 cached key(s)")) << event;
    EXPECT_TRUE(contains(event, "\"SKGATE_CACHE_AGE\"")) << event;
    size_t at = event.find("\"SKGATE_LATENCY_US\":\"");
    ASSERT_NE(at, std::string::npos) << event;
    long latency_us = std::stol(event.substr(at + 21));
    EXPECT_LT(latency_us, 8'000'000) << "the lookup waited for the slow server";

    configure("KeySources metadata\nSourceCacheTTL 0\nSourceTimeout 2s\nSourceOutage deny\n");
    std::string denied = lookup_event(ecdsa_);
    EXPECT_FALSE(logged_in(last_login_));
    EXPECT_TRUE(contains(denied, "SourceOutage deny")) << denied;
    EXPECT_TRUE(contains(denied, "\"SKGATE_DECISION\":\"deny\"")) << denied;
}

// Malicious entries are refused and logged one by one; the good key still
// logs in, and a plain key from the source is refused by policy.
TEST_F(E2eSources, MaliciousEntriesAreRefusedOthersStillWork) {
    configure("KeySources metadata\n");
    set_server_state(
        "{\"users\": {\"skgt-alice\": " +
        json_list({pub(ecdsa_), pub(other_) + "\n" + pub(plain_),
                   "restrict,command=\"/bin/sh\" " + pub(other_),
                   "sk-ssh-ed25519@openssh.com AAAAC3NzaC1lZDI1NTE5AAAA", pub(plain_)}) +
        "}}");
    size_t before = journal_lines({"SKGATE_EVENT=keys-warning"}).size();
    auto r = login(ecdsa_);
    EXPECT_TRUE(logged_in(r)) << r.err;
    std::string warnings = all_new_events(before, {"SKGATE_EVENT=keys-warning"});
    EXPECT_TRUE(contains(warnings, "refused users.skgt-alice[1]: control character")) << warnings;
    EXPECT_TRUE(contains(warnings, "refused users.skgt-alice[2]: the key line carries options"))
        << warnings;
    EXPECT_TRUE(contains(warnings, "refused users.skgt-alice[3]")) << warnings;
    std::string plain = lookup_event(plain_);
    EXPECT_FALSE(logged_in(last_login_));
    EXPECT_TRUE(contains(plain, "not a security key")) << plain;
    auto smuggled = login(other_);
    EXPECT_FALSE(logged_in(smuggled)) << "the key smuggled behind a newline or options";
}

// An answer over the size limit is refused whole (an outage).
TEST_F(E2eSources, OversizedAnswerIsRefused) {
    configure("KeySources metadata\n");
    set_server_state("{\"mode\": \"oversized\"}");
    std::string event = lookup_event(ecdsa_);
    EXPECT_FALSE(logged_in(last_login_));
    EXPECT_TRUE(contains(event, "larger than")) << event;
}

// The server is down (nothing listens): the cached answer serves at once,
// and the event says why.
TEST_F(E2eSources, ServerDownServesCache) {
    set_server_state("{\"users\": {\"skgt-alice\": " + json_list({pub(ecdsa_)}) + "}}");
    configure("KeySources metadata\nSourceCacheTTL 0\n");
    auto first = login(ecdsa_);
    ASSERT_TRUE(logged_in(first)) << first.err;
    configure("KeySources metadata\nSourceCacheTTL 0\nMetadataURL http://127.0.0.1:" +
              std::to_string(free_port()) + "\n");
    std::string event = lookup_event(ecdsa_);
    EXPECT_TRUE(logged_in(last_login_)) << last_login_.err;
    EXPECT_TRUE(contains(event, "outage, served 1 cached key(s)")) << event;
    EXPECT_TRUE(contains(event, "Could not connect") || contains(event, "not asked again"))
        << event;
}

// LDAP answers are untrusted too: a value that smuggles a second key behind
// a newline is refused alone; two entries for one user, an entry over the
// size limit, or one with more keys than any source accepts, are refused whole.
TEST_F(E2eSources, LdapMaliciousValuesAreRefused) {
    configure("KeySources ldap\n");
    const std::vector<std::string> test{"sources",
                                        "test",
                                        "-f",
                                        sshd_->path("skgate.conf"),
                                        "--fetch-helper",
                                        sshd_->path("libexec/skgate-fetch"),
                                        "--user"};
    auto carol_args = test;
    carol_args.push_back("carol");
    auto carol = skgatectl(carol_args);
    EXPECT_EQ(carol.status, 0) << carol.out << carol.err;
    EXPECT_TRUE(contains(carol.out, "ok: 1 key(s)")) << carol.out;
    EXPECT_TRUE(contains(carol.out, "refused sshPublicKey[1]: control character")) << carol.out;
    auto bob_args = test;
    bob_args.push_back("skgt-bob");
    auto bob = skgatectl(bob_args);
    EXPECT_EQ(bob.status, 1) << bob.out;
    EXPECT_TRUE(contains(bob.out, "which one is skgt-bob's cannot be told")) << bob.out;
    auto dave_args = test;
    dave_args.push_back("dave");
    auto dave = skgatectl(dave_args);
    EXPECT_EQ(dave.status, 1) << dave.out;
    EXPECT_TRUE(contains(dave.out, "the directory sent a message larger than")) << dave.out;
    // Which 64 of 65 keys to keep cannot be told: none is served.
    auto erin_args = test;
    erin_args.push_back("erin");
    auto erin = skgatectl(erin_args);
    EXPECT_EQ(erin.status, 1) << erin.out;
    EXPECT_TRUE(contains(erin.out, "has 65 sshPublicKey values, more than 64")) << erin.out;
    EXPECT_FALSE(contains(erin.out, "ldap\n  ok")) << erin.out;
}

// skgatectl sources test asks every source and reports each; list shows
// where the cached keys came from.
TEST_F(E2eSources, SourcesTestAndListReportEachSource) {
    configure("KeySources metadata http ldap local\n");
    // The key service gives alice an expired key and an ordinary one: both
    // arrive, neither would log in, and sources test says so for each.
    set_server_state(
        "{\"bearer\": \"bearer-for-tests\", \"users\": {\"skgt-alice\": " +
        json_list({pub(ecdsa_), "ssh-rsa AAAA"}) +
        "}, \"http\": {\"skgt-alice\": [{\"key\": " + json_str(pub(other_)) +
        ", \"expires\": \"2020-01-01T00:00:00Z\"}, {\"key\": " + json_str(pub(plain_)) + "}]}}");
    auto t = skgatectl({"sources", "test", "-f", sshd_->path("skgate.conf"), "--user", kAlice,
                        "--fetch-helper", sshd_->path("libexec/skgate-fetch")});
    EXPECT_EQ(t.status, 0) << t.out << t.err;
    EXPECT_TRUE(contains(t.out, "metadata\n  ok: 1 key(s) in")) << t.out;
    EXPECT_TRUE(contains(t.out, "1 refused")) << t.out;
    EXPECT_TRUE(contains(t.out, "http\n  ok: 2 key(s) in")) << t.out;
    const std::string metadata = t.out.substr(0, t.out.find("\nhttp"));
    EXPECT_TRUE(contains(metadata, "\n    allowed\n")) << t.out;
    EXPECT_TRUE(contains(t.out, "\n    refused: key expired\n")) << t.out;
    EXPECT_TRUE(contains(t.out, "\n    refused: not a security key (ssh-ed25519)\n")) << t.out;
    EXPECT_TRUE(contains(t.out, "ldap\n  ok: 1 key(s) in")) << t.out;
    EXPECT_TRUE(contains(t.out, "no cache")) << "sources test leaves the cache alone";

    auto j = skgatectl({"sources", "test", "-f", sshd_->path("skgate.conf"), "--user", kAlice,
                        "--fetch-helper", sshd_->path("libexec/skgate-fetch"), "--json"});
    EXPECT_TRUE(contains(j.out,
                         "\"source\":\"ldap\",\"in_keysources\":true,\"ok\":true,"
                         "\"latency_ms\":"))
        << j.out;
    EXPECT_TRUE(contains(j.out, "\"verdict\":\"refused: key expired\"")) << j.out;

    // A source with settings that alice's KeySources leaves out gives her
    // nothing, whatever its keys are; and the key service's 404 is an
    // answer with no keys (bob has none there).
    configure("KeySources metadata local\n");
    auto narrow = skgatectl({"sources", "test", "-f", sshd_->path("skgate.conf"), "--user", kAlice,
                             "--fetch-helper", sshd_->path("libexec/skgate-fetch")});
    EXPECT_TRUE(contains(narrow.out, "http (configured, not in this user's KeySources)\n"))
        << narrow.out;
    EXPECT_TRUE(contains(narrow.out, "not used: the source is not in this user's KeySources"))
        << narrow.out;
    write_file(sshd_->path("requests.log"), "");
    auto nobody = skgatectl({"sources", "test", "-f", sshd_->path("skgate.conf"), "--user",
                             "skgt-bob", "--fetch-helper", sshd_->path("libexec/skgate-fetch")});
    EXPECT_TRUE(contains(nobody.out,
                         "http (configured, not in this user's KeySources)\n  ok: 0 "
                         "key(s) in"))
        << nobody.out;
    EXPECT_TRUE(contains(requests(), "GET /keys/skgt-bob 404")) << requests();

    // In audit mode skgate-keys still gives sshd what policy would refuse,
    // and sources test says so, as skgate-keys decides it (decide_key).
    configure("Mode audit\nKeySources metadata http ldap local\n");
    auto audit = skgatectl({"sources", "test", "-f", sshd_->path("skgate.conf"), "--user", kAlice,
                            "--fetch-helper", sshd_->path("libexec/skgate-fetch")});
    EXPECT_TRUE(contains(audit.out,
                         "\n    would be refused: not a security key (ssh-ed25519) "
                         "(audit mode: sshd is still given it)\n"))
        << audit.out;
    configure("KeySources metadata http ldap local\n");

    auto r = login(ecdsa_);
    ASSERT_TRUE(logged_in(r)) << r.err;
    auto list = skgatectl({"list", "-f", sshd_->path("skgate.conf"), "--user", kAlice});
    EXPECT_EQ(list.status, 0) << list.err;
    EXPECT_TRUE(contains(list.out, "metadata (cached ")) << list.out;
    EXPECT_TRUE(contains(list.out, "ldap (cached ")) << list.out;

    auto enroll = skgatectl({"enroll", "-f", sshd_->path("skgate.conf"), "--user", kAlice, "--key",
                             pub(other_), "--source", "ldap"});
    EXPECT_EQ(enroll.status, 1);
    EXPECT_TRUE(contains(enroll.err, "enrolls only into the local store")) << enroll.err;
}

// Certificates are verified: ldaps:// and HTTPS with the CA that signed the
// servers' certificate serve keys; with a CA that did not, both sources fail
// and say why, and nothing is served from them.
TEST_F(E2eSources, TlsCertificatesAreVerified) {
    const std::string ldaps =
        "LdapURI ldaps://127.0.0.1:" + std::to_string(ldaps_port_) + "\nLdapStartTLS no\n";
    const std::vector<std::string> test{"sources",
                                        "test",
                                        "-f",
                                        sshd_->path("skgate.conf"),
                                        "--user",
                                        kAlice,
                                        "--fetch-helper",
                                        sshd_->path("libexec/skgate-fetch")};
    set_server_state("{\"bearer\": \"bearer-for-tests\", \"http\": {\"skgt-alice\": [{\"key\": " +
                     json_str(pub(ecdsa_)) + "}]}}");
    configure("KeySources http ldap\n" + ldaps);
    auto good = skgatectl(test);
    EXPECT_EQ(good.status, 0) << good.out << good.err;
    EXPECT_TRUE(contains(good.out, "http\n  ok: 1 key(s) in")) << good.out;
    EXPECT_TRUE(contains(good.out, "ldap\n  ok: 1 key(s) in")) << good.out;

    write_file(sshd_->path("requests.log"), "");
    const std::string other_ca = sshd_->path("tls/other-ca.crt");
    configure("KeySources http ldap\n" + ldaps + "HttpCAFile " + other_ca + "\nLdapCAFile " +
              other_ca + "\n");
    auto bad = skgatectl(test);
    EXPECT_EQ(bad.status, 1) << bad.out << bad.err;
    EXPECT_TRUE(contains(bad.out, "FAILED: http: ")) << bad.out;
    EXPECT_TRUE(contains(bad.out, "(HttpCAFile " + other_ca +
                                      " does not hold the CA that signed the server's certificate"))
        << bad.out;
    EXPECT_TRUE(contains(bad.out, "FAILED: ldap: ")) << bad.out;
    EXPECT_TRUE(contains(bad.out, "check LdapCAFile")) << bad.out;
    EXPECT_EQ(requests().find("GET /keys/"), std::string::npos)
        << "no request reached the server over an unverified connection: " << requests();
    std::string event = lookup_event(ecdsa_);
    EXPECT_FALSE(logged_in(last_login_));
    EXPECT_TRUE(contains(event, "\"SKGATE_DECISION\":\"deny\"")) << event;
}

// The command source: a machine's own AuthorizedKeysCommand run by
// skgate-keys behind Debian's sshd, wired as skgatectl enable wires it
// (AuthorizedKeysCommandUser root, skgate-keys giving root up).
class E2eKeysCommand : public E2eSources {
  protected:
    static void SetUpTestSuite() { set_up_suite("keys-command-e2e"); }
    void SetUp() override {
        E2eSources::SetUp();
        if (!sshd_)
            return;
        write_file(sshd_->path("revoked"), "");
        write_file(sshd_->path("pushed-keys"), "");
        // Written by the command as KeysCommandUser nobody.
        write_file(sshd_->path("command.log"), "", 0666);
        chmod(sshd_->path("command.log").c_str(), 0666);
    }
    static wiring::Options wired(Mode mode) {
        wiring::Options o;
        o.mode = mode;
        return o;
    }
    // In the style of EC2 Instance Connect's eic_run_authorized_keys %u %f:
    // keys someone pushed for the user, printed for sshd. It notes who ran
    // it and with what, for the test.
    static std::string cloud_command() {
        std::string path = sshd_->path("libexec/eic-style-keys");
        write_file(path,
                   "#!/bin/sh\necho \"$(id -un) $*\" >> " + sshd_->path("command.log") +
                       "\n[ \"$1\" = skgt-alice ] || exit 0\ncat " + sshd_->path("pushed-keys") +
                       "\n",
                   0755);
        return path;
    }
    void push_keys(const std::vector<std::string>& keys) {
        std::string text;
        for (const auto& k : keys)
            text += pub(k) + "\n";
        write_file(sshd_->path("pushed-keys"), text);
    }
    std::string command_event(const std::string& key, const std::string& decision) {
        return sshd_->journal({"SKGATE_EVENT=keys-lookup", "SKGATE_USER=skgt-alice",
                               "SKGATE_KEY_FP=" + PublicKey::parse_text(pub(key))->fingerprint(),
                               "SKGATE_DECISION=" + decision});
    }
};

// Enforce: the security key the cloud pushed logs in; an ordinary key it
// pushed is refused, and the event says which source and why. The command
// ran as KeysCommandUser with the user and the offered key's fingerprint.
TEST_F(E2eKeysCommand, ACloudsCommandIsChainedAndItsKeysDecidedInEnforce) {
    push_keys({ecdsa_, plain_});
    sshd_->mark_journal();
    sshd_->start_enabled(
        "KeySources command\nKeysCommand " + cloud_command() + " %u %f\nKeysCommandUser nobody\n",
        wired(Mode::enforce));
    auto ok = login(ecdsa_);
    EXPECT_TRUE(logged_in(ok)) << ok.err << sshd_->new_log();
    std::string allowed = command_event(ecdsa_, "allow");
    EXPECT_TRUE(contains(allowed, "\"SKGATE_SOURCE\":\"command\"")) << allowed;
    EXPECT_TRUE(contains(allowed, "command: 2 key(s) from KeysCommand in")) << allowed;
    const std::string fp = PublicKey::parse_text(pub(ecdsa_))->fingerprint();
    EXPECT_TRUE(contains(read_file(sshd_->path("command.log")), "nobody skgt-alice " + fp))
        << read_file(sshd_->path("command.log"));

    // sshd in enforce mode does not even offer skgate an ordinary key type;
    // explain runs the command as skgate-keys would and says why.
    auto plain = sshd_->login(kAlice, plain_);
    EXPECT_FALSE(logged_in(plain)) << plain.out;
    auto why = skgatectl({"explain", "-f", sshd_->path("skgate.conf"), "--user", kAlice,
                          "--key-file", plain_ + ".pub"});
    EXPECT_EQ(why.status, 1) << why.out << why.err;
    EXPECT_TRUE(contains(why.out, "command")) << why.out;
    EXPECT_TRUE(contains(why.out, "not a security key")) << why.out;
    // explain ran the command as skgate-keys would: as KeysCommandUser,
    // with the key's fingerprint.
    const std::string log_after_explain = read_file(sshd_->path("command.log"));
    EXPECT_TRUE(contains(log_after_explain,
                         "nobody skgt-alice " + PublicKey::parse_text(pub(plain_))->fingerprint()))
        << log_after_explain;

    // What the cloud no longer lists no longer logs in.
    push_keys({});
    auto gone = login(ecdsa_);
    EXPECT_FALSE(logged_in(gone));
}

// Audit: the ordinary key the cloud pushed logs in as it did before skgate,
// recorded as would-deny for the command source.
TEST_F(E2eKeysCommand, AuditModeLetsTheChainedCommandsOrdinaryKeyInAsWouldDeny) {
    push_keys({plain_});
    sshd_->mark_journal();
    sshd_->start_enabled(
        "KeySources command\nKeysCommand " + cloud_command() + " %u %f\nKeysCommandUser nobody\n",
        wired(Mode::audit));
    auto r = sshd_->login(kAlice, plain_);
    EXPECT_TRUE(logged_in(r)) << r.err << sshd_->new_log();
    std::string ev = command_event(plain_, "would-deny");
    EXPECT_TRUE(contains(ev, "\"SKGATE_SOURCE\":\"command\"")) << ev;
    EXPECT_TRUE(contains(ev, "not a security key")) << ev;
}

// systemd's own: `userdbctl ssh-authorized-keys %u` as root, reading the
// user record's privileged section (a drop-in record in /run/userdb, which
// the private /run of the e2e world holds).
TEST_F(E2eKeysCommand, UserdbctlIsChained) {
    ASSERT_EQ(access("/usr/bin/userdbctl", X_OK), 0)
        << "userdbctl is missing: scripts/install-deps installs systemd-userdbd";
    std::filesystem::create_directories("/run/userdb");
    const std::string record = "/run/userdb/skgt-alice.user";
    write_file(record,
               "{\"userName\":\"skgt-alice\",\"privileged\":{\"sshAuthorizedKeys\":[" +
                   json_str(pub(other_)) + "]}}\n",
               0600);
    sshd_->mark_journal();
    sshd_->start_enabled(
        "KeySources command\nKeysCommand /usr/bin/userdbctl "
        "ssh-authorized-keys %u\nKeysCommandUser root\n",
        wired(Mode::enforce));
    auto r = login(other_);
    EXPECT_TRUE(logged_in(r)) << r.err << sshd_->new_log();
    std::string ev = command_event(other_, "allow");
    EXPECT_TRUE(contains(ev, "\"SKGATE_SOURCE\":\"command\"")) << ev;
    auto not_listed = login(ecdsa_);
    EXPECT_FALSE(logged_in(not_listed));
    std::filesystem::remove(record);
}

// A chained command that hangs costs the lookup its SourceTimeout and no
// more: it is killed with what it started, the other sources still answer,
// and the login with the user's own key goes through.
TEST_F(E2eKeysCommand, AHangingChainedCommandIsBounded) {
    std::string hang = sshd_->path("libexec/hanging-keys");
    write_file(hang, "#!/bin/sh\nsleep 3607 &\nwait\n", 0755);
    const std::string home = std::string(getpwnam(kAlice)->pw_dir);
    write_file(home + "/.ssh/authorized_keys", pub(other_) + "\n");
    sshd_->mark_journal();
    sshd_->start_enabled("KeySources command authorized_keys\nSourceTimeout 1\nKeysCommand " +
                             hang + "\nKeysCommandUser nobody\n",
                         wired(Mode::enforce));
    auto r = login(other_);
    EXPECT_TRUE(logged_in(r)) << r.err << sshd_->new_log();
    std::string ev = command_event(other_, "allow");
    EXPECT_TRUE(contains(ev, "\"SKGATE_SOURCE\":\"authorized_keys\"")) << ev;
    EXPECT_TRUE(contains(ev, "did not finish within")) << ev;
    EXPECT_TRUE(contains(ev, "killed with everything it started")) << ev;
    // Nothing it started is left.
    auto left = run({"pgrep", "-f", "sleep 3607"});
    EXPECT_NE(left.status, 0) << "still running: " << left.out;
    std::filesystem::remove(home + "/.ssh/authorized_keys");
}
