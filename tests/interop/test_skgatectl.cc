// skgatectl as an administrator runs it: exit codes, messages, JSON.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "core/fido/attestation.h"
#include "core/store/counters.h"
#include "core/sys/text.h"
#include "tests/support/helpers.h"
#include "tests/support/softkey.h"

using namespace skgate;
using namespace skgate::test;

namespace {

RunResult ctl(std::vector<std::string> args, const std::string& input = "") {
    const char* bin = std::getenv("SKGATE_SKGATECTL");
    if (!bin)
        throw std::runtime_error("SKGATE_SKGATECTL is not set (run through meson test)");
    std::vector<std::string> argv{std::string(bin)};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, input);
}

std::string key_line(const std::string& name) {
    return std::string(trim(read_file(vectors_dir() + "/openssh/sshkey/" + name)));
}

}  // namespace

TEST(Skgatectl, UsageErrorsExitTwo) {
    EXPECT_EQ(ctl({}).status, 2);
    EXPECT_EQ(ctl({"frobnicate"}).status, 2);
    EXPECT_EQ(ctl({"inspect-key", "--bogus"}).status, 2);
    EXPECT_EQ(ctl({"check-config", "-f"}).status, 2);
    auto help = ctl({"--help"});
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.out.find("inspect-key"), std::string::npos);
}

// The commands a program's own --help lists ("  NAME ..." lines), so that a
// command added to the table is covered without touching this test.
std::vector<std::string> listed_commands(const std::string& help) {
    std::vector<std::string> out;
    std::istringstream in(help);
    for (std::string line; std::getline(in, line);) {
        if (line.size() > 3 && line.starts_with("  ") && line[2] >= 'a' && line[2] <= 'z')
            out.emplace_back(line.substr(2, line.find(' ', 2) - 2));
    }
    return out;
}

TEST(Skgatectl, EverySubcommandOfEveryProgramAnswersHelp) {
    const std::vector<std::pair<std::string, std::string>> programs = {
        {"skgatectl", required_env("SKGATE_SKGATECTL")},
        {"skgate-agent", required_env("SKGATE_AGENT_BIN")},
        {"skgate-authenticator", required_env("SKGATE_AUTHENTICATOR_BIN")},
    };
    for (const auto& [name, bin] : programs) {
        auto top = run({bin, "--help"});
        ASSERT_EQ(top.status, 0) << name;
        auto commands = listed_commands(top.out);
        ASSERT_GE(commands.size(), 4u) << name << ": " << top.out;
        for (const auto& cmd : commands) {
            for (const char* form : {"--help", "-h"}) {
                auto r = run({bin, cmd, form});
                SCOPED_TRACE(name + " " + cmd + " " + form);
                EXPECT_EQ(r.status, 0) << r.err;
                EXPECT_TRUE(r.out.starts_with("usage: " + name + " " + cmd)) << r.out;
                EXPECT_EQ(r.err, "");
            }
            // Only as the first argument: later it may be an option's value.
            auto late = run({bin, cmd, "--no-such-option", "--help"});
            EXPECT_EQ(late.status, 2) << name << " " << cmd << ": " << late.out;
        }
    }
    // The helpers sshd and skgate-keys run answer a person too, with no keys.
    for (const char* bin_env : {"SKGATE_KEYS", "SKGATE_FETCH"}) {
        auto r = run({required_env(bin_env), "--help"});
        EXPECT_EQ(r.status, 0) << bin_env << ": " << r.err;
        EXPECT_TRUE(r.out.starts_with("usage: skgate-")) << r.out;
    }
}

TEST(Skgatectl, ABadCommandLinePrintsTheSameUsageAsHelp) {
    for (const std::string cmd : {"enroll", "revoke", "list", "enable", "audit", "sources"}) {
        auto help = ctl({cmd, "--help"});
        auto bad = ctl({cmd, "--no-such-option"});
        EXPECT_EQ(bad.status, 2) << cmd;
        EXPECT_NE(bad.err.find(help.out), std::string::npos) << cmd << ": " << bad.err;
    }
    // "--help" as an option's value is that value: nothing exits 0 having
    // done nothing (a script would take that for a revocation).
    auto r = ctl({"revoke", "--user", "root", "--key", "--help"});
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_EQ(r.out.find("usage:"), std::string::npos) << r.out;
}

// A number option is a whole number in its range or a usage error, before
// anything happens (std::atoi read "abc" as 0 and "10s" as 10).
TEST(Skgatectl, ANumberOptionThatIsNotOneIsAUsageError) {
    const std::string agent = required_env("SKGATE_AGENT_BIN");
    const std::string auth = required_env("SKGATE_AUTHENTICATOR_BIN");
    TempDir d;
    const std::vector<std::vector<std::string>> cases = {
        {agent, "run", "--timeout", "abc"},
        {agent, "run", "--timeout", "0"},
        {agent, "run", "--timeout", "3601"},
        {agent, "pair", "--timeout", "10s"},
        {agent, "generate", "--name", "k", "--timeout", "-5"},
        {auth, "run", "--dir", d.path(), "--prompt-timeout", "1e3"},
        {auth, "run", "--dir", d.path(), "--approve", "yes", "--approve-delay-ms", "600001"},
        {auth, "run", "--dir", d.path(), "--approve", "host:10x"},
        {required_env("SKGATE_SKGATECTL"), "audit", "--lines", " 5"},
    };
    for (const auto& argv : cases) {
        std::map<std::string, std::string> env = {{"HOME", d.path()},
                                                  {"XDG_RUNTIME_DIR", d.path()}};
        auto r = run(argv, "", env);
        std::string shown = argv[1] + " " + argv[argv.size() - 2] + " " + argv.back();
        EXPECT_EQ(r.status, 2) << shown << ": " << r.out << r.err;
        EXPECT_TRUE(r.err.find("must be a whole number from") != std::string::npos ||
                    r.err.find("needs 1..1440 minutes") != std::string::npos)
            << shown << ": " << r.err;
    }
}

// skgatectl(8): sources test runs the skgate-fetch in skgatectl's own
// directory when there is one, as skgate-keys does (one rule for both).
TEST(Skgatectl, SourcesTestRunsTheSkgateFetchBesideIt) {
    if (!running_as_root())
        GTEST_SKIP() << "config files must be root-owned";
    TempDir d;
    const std::string copy = d.file("skgatectl");
    write_file(copy, read_file(required_env("SKGATE_SKGATECTL")));
    chmod(copy.c_str(), 0755);
    write_file(d.file("skgate-fetch"),
               "#!/bin/sh\necho \"the skgate-fetch beside skgatectl asked for $6\" >&2\nexit 69\n");
    chmod(d.file("skgate-fetch").c_str(), 0755);
    write_file(d.file("c.conf"), "HttpKeysURL https://127.0.0.1:9/keys/%u\nStateDirectory " +
                                     d.file("state") + "\nRevokedKeys " + d.file("revoked") + "\n");
    auto r = run({copy, "sources", "test", "-f", d.file("c.conf"), "--user", "root"});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("FAILED: the skgate-fetch beside skgatectl asked for root"),
              std::string::npos)
        << r.out << r.err;
    EXPECT_NE(r.out.find("\nran " + d.file("skgate-fetch") + "\n"), std::string::npos) << r.out;

    // A file someone else could have put there is never run: another
    // owner, a mode others may write, a symlink. The installed one is.
    const std::string installed = "\nran /usr/libexec/skgate/skgate-fetch\n";
    ASSERT_EQ(chown(d.file("skgate-fetch").c_str(), 65534, 65534), 0);
    auto foreign = run({copy, "sources", "test", "-f", d.file("c.conf"), "--user", "root"});
    EXPECT_NE(foreign.out.find(installed), std::string::npos) << foreign.out;
    EXPECT_EQ(foreign.out.find("beside skgatectl"), std::string::npos) << foreign.out;
    ASSERT_EQ(chown(d.file("skgate-fetch").c_str(), 0, 0), 0);
    chmod(d.file("skgate-fetch").c_str(), 0775);
    auto writable = run({copy, "sources", "test", "-f", d.file("c.conf"), "--user", "root"});
    EXPECT_NE(writable.out.find(installed), std::string::npos) << writable.out;
    chmod(d.file("skgate-fetch").c_str(), 0755);
    ASSERT_EQ(rename(d.file("skgate-fetch").c_str(), d.file("real-fetch").c_str()), 0);
    ASSERT_EQ(symlink(d.file("real-fetch").c_str(), d.file("skgate-fetch").c_str()), 0);
    auto linked = run({copy, "sources", "test", "-f", d.file("c.conf"), "--user", "root"});
    EXPECT_NE(linked.out.find(installed), std::string::npos) << linked.out;
}

TEST(Skgatectl, InspectKeyArgument) {
    auto r = ctl({"inspect-key", key_line("ecdsa_sk1.pub")});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("fingerprint:  SHA256:Go7HO0CVPYG+BSDSk9ZUJBKGSrtBExp6obTa9iqzIUo"),
              std::string::npos);
    EXPECT_NE(r.out.find("security key: yes (FIDO2)"), std::string::npos);
    EXPECT_NE(r.out.find("valid:        yes"), std::string::npos);
}

TEST(Skgatectl, InspectKeyStdinJsonLines) {
    std::string input =
        "# keys\n" + key_line("ed25519_sk1.pub") + "\n\n" + key_line("rsa_1.pub") + "\n";
    auto r = ctl({"inspect-key", "--json"}, input);
    EXPECT_EQ(r.status, 0) << r.err;
    auto nl = r.out.find('\n');
    ASSERT_NE(nl, std::string::npos);
    std::string first = r.out.substr(0, nl), second = r.out.substr(nl + 1);
    EXPECT_NE(first.find(R"("type":"sk-ssh-ed25519@openssh.com")"), std::string::npos);
    EXPECT_NE(first.find(R"("security_key":true)"), std::string::npos);
    EXPECT_NE(second.find(R"("type":"ssh-rsa")"), std::string::npos);
    EXPECT_NE(second.find(R"("security_key":false)"), std::string::npos);
    EXPECT_NE(second.find(R"("application":null)"), std::string::npos);
}

TEST(Skgatectl, InspectKeyInvalidExitsOneWithReason) {
    auto r = ctl({"inspect-key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA=="});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("invalid key"), std::string::npos);
    auto j = ctl({"inspect-key", "--json", "-"}, "garbage\n");
    EXPECT_EQ(j.status, 1);
    EXPECT_EQ(j.out.rfind(R"({"valid":false,"error":)", 0), 0u);
    auto empty = ctl({"inspect-key"}, "\n# nothing\n");
    EXPECT_EQ(empty.status, 1);
    EXPECT_NE(empty.err.find("no key found"), std::string::npos);
}

TEST(Skgatectl, CheckConfigSilentWhenFine) {
    if (!running_as_root())
        GTEST_SKIP() << "config files must be root-owned";
    TempDir d;
    write_file(d.file("ok.conf"), "Mode audit\nMatch User alice\n  VerifyRequired yes\n");
    auto r = ctl({"check-config", "-f", d.file("ok.conf")});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "");
}

TEST(Skgatectl, CheckConfigReportsFileLineReason) {
    if (!running_as_root())
        GTEST_SKIP() << "config files must be root-owned";
    TempDir d;
    write_file(d.file("bad.conf"), "Mode audit\nVerifyRequired perhaps\nBogus 1\n");
    auto r = ctl({"check-config", "-f", d.file("bad.conf")});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(
        r.err.find(d.file("bad.conf") + ":2: VerifyRequired: value \"perhaps\" is not yes or no"),
        std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find(d.file("bad.conf") + ":3: unknown keyword \"Bogus\""), std::string::npos);
    auto missing = ctl({"check-config", "-f", d.file("missing.conf")});
    EXPECT_EQ(missing.status, 1);
    EXPECT_NE(missing.err.find("does not exist"), std::string::npos);
}

// The command source: a program skgate-keys would refuse to run fails the
// check now; a KeysCommandUser other programs share is a warning.
TEST(Skgatectl, CheckConfigChecksKeysCommand) {
    if (!running_as_root())
        GTEST_SKIP() << "config files must be root-owned";
    TempDir d;
    chmod(d.path().c_str(), 0755);
    write_file(d.file("run"), "#!/bin/sh\n", 0755);
    write_file(d.file("ok.conf"), "KeySources command\nKeysCommand " + d.file("run") +
                                      " %u\nKeysCommandUser nobody\n");
    auto shared = ctl({"check-config", "-f", d.file("ok.conf")});
    EXPECT_EQ(shared.status, 0) << shared.err;
    EXPECT_NE(shared.err.find("warning: KeysCommandUser nobody is shared with other programs"),
              std::string::npos)
        << shared.err;
    // Whether Yama stops other processes of that account from tracing it.
    std::string scope = "0";
    if (FILE* f = std::fopen("/proc/sys/kernel/yama/ptrace_scope", "r")) {
        int c = std::fgetc(f);
        scope = c == EOF ? "0" : std::string(1, static_cast<char>(c));
        std::fclose(f);
    }
    EXPECT_EQ(shared.err.find("ptrace_scope is 0") != std::string::npos, scope == "0")
        << shared.err;

    write_file(d.file("root.conf"),
               "KeySources command\nKeysCommand " + d.file("run") + "\nKeysCommandUser root\n");
    auto as_root = ctl({"check-config", "-f", d.file("root.conf")});
    EXPECT_EQ(as_root.status, 0) << as_root.err;
    EXPECT_NE(as_root.err.find("KeysCommandUser root: KeysCommand runs with every privilege"),
              std::string::npos)
        << as_root.err;

    chmod(d.file("run").c_str(), 0775);
    auto writable = ctl({"check-config", "-f", d.file("ok.conf")});
    EXPECT_EQ(writable.status, 1);
    EXPECT_NE(writable.err.find("KeysCommand: " + d.file("run") + " has mode"), std::string::npos)
        << writable.err;
}

TEST(Skgatectl, CheckConfigShowsEffectivePolicyForAUser) {
    if (!running_as_root())
        GTEST_SKIP() << "config files must be root-owned";
    TempDir d;
    write_file(d.file("c.conf"),
               "SourceOutage deny\nLdapURI ldaps://ldap.example\n"
               "Match User alice\n  VerifyRequired yes\n  CounterCheck warn\n");
    auto r = ctl({"check-config", "-f", d.file("c.conf"), "-u", "alice"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("verifyrequired yes"), std::string::npos);
    EXPECT_NE(r.out.find("\nsourceoutage deny\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\nldapuri ldaps://ldap.example\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\nhttpkeysurl none\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("countercheck warn"), std::string::npos) << r.out;
    auto b = ctl({"check-config", "-f", d.file("c.conf"), "-u", "bob"});
    EXPECT_NE(b.out.find("verifyrequired no"), std::string::npos);
    EXPECT_EQ(ctl({"check-config", "-f", d.file("c.conf"), "-u", "../x"}).status, 2);
}

namespace {

class Enroll : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!running_as_root())
            GTEST_SKIP() << "enroll writes root-owned files";
        conf = dir.file("skgate.conf");
        write_file(conf, "KeysDirectory " + dir.file("keys.d") + "\nRevokedKeys " +
                             dir.file("revoked") + "\nStateDirectory " + dir.file("state") +
                             "\nAttestationRoots " + dir.file("roots") + "\n");
        write_file(dir.file("sk.pub"), key_line("ecdsa_sk1.pub") + "\n");
    }
    TempDir dir;
    std::string conf;
};

}  // namespace

// MinimumKeys: enroll, list and status say who has fewer keys than policy
// asks for (a backup authenticator's), until they have enough.
TEST_F(Enroll, MinimumKeysIsWarnedAboutUntilTheBackupIsEnrolled) {
    write_file(conf, read_file(conf) + "Match User root\n  MinimumKeys 2\n");
    auto first = ctl({"enroll", "-f", conf, "--user", "root", "--key-file", dir.file("sk.pub"),
                      "--name", "phone"});
    EXPECT_EQ(first.status, 0) << first.err;
    EXPECT_NE(first.out.find("note: root has 1 enrolled key; MinimumKeys asks for 2: enroll a key "
                             "of a second authenticator"),
              std::string::npos)
        << first.out;
    auto listed = ctl({"list", "-f", conf});
    EXPECT_EQ(listed.status, 0) << listed.err;
    EXPECT_NE(listed.err.find("warning: root has 1 enrolled key; MinimumKeys asks for 2"),
              std::string::npos)
        << listed.err;
    auto status = ctl({"status", "-f", conf, "--json"});
    EXPECT_NE(status.out.find(R"("short_of_keys":[{"user":"root","keys":1,"minimum":2}])"),
              std::string::npos)
        << status.out;

    auto second = ctl({"enroll", "-f", conf, "--user", "root", "--key", key_line("ed25519_sk1.pub"),
                       "--name", "backup"});
    EXPECT_EQ(second.status, 0) << second.err;
    EXPECT_EQ(second.out.find("note:"), std::string::npos) << second.out;
    auto enough = ctl({"list", "-f", conf});
    EXPECT_EQ(enough.err.find("MinimumKeys"), std::string::npos) << enough.err;
    auto now = ctl({"status", "-f", conf, "--json"});
    EXPECT_NE(now.out.find(R"("short_of_keys":[])"), std::string::npos) << now.out;
    for (const char* bad : {"0", "17", "two", "-1"}) {
        write_file(dir.file("bad.conf"), std::string("MinimumKeys ") + bad + "\n");
        auto r = ctl({"check-config", "-f", dir.file("bad.conf")});
        EXPECT_EQ(r.status, 1) << bad;
        EXPECT_NE(r.err.find("MinimumKeys: value"), std::string::npos) << r.err;
    }
}

TEST_F(Enroll, EnrollListRevoke) {
    auto e = ctl({"enroll", "-f", conf, "--user", "root", "--key-file", dir.file("sk.pub"),
                  "--name", "laptop", "--expires", "2099-01-01"});
    EXPECT_EQ(e.status, 0) << e.err;
    EXPECT_NE(
        e.out.find("enrolled ECDSA-SK SHA256:Go7HO0CVPYG+BSDSk9ZUJBKGSrtBExp6obTa9iqzIUo for root"),
        std::string::npos);
    auto dup = ctl({"enroll", "-f", conf, "--user", "root", "--key", key_line("ecdsa_sk1.pub")});
    EXPECT_EQ(dup.status, 1);
    EXPECT_NE(dup.err.find("already enrolled"), std::string::npos);
    // The same key, name and expiry again (configuration management): unchanged, exit 0.
    const std::string store_before = read_file(dir.file("keys.d/root"));
    auto same = ctl({"enroll", "-f", conf, "--user", "root", "--key-file", dir.file("sk.pub"),
                     "--name", "laptop", "--expires", "2099-01-01"});
    EXPECT_EQ(same.status, 0) << same.err;
    EXPECT_EQ(same.out.rfind("unchanged: ECDSA-SK SHA256:Go7HO0CVPYG", 0), 0u) << same.out;
    auto later = ctl({"enroll", "-f", conf, "--user", "root", "--key-file", dir.file("sk.pub"),
                      "--name", "laptop", "--expires", "2098-01-01"});
    EXPECT_EQ(later.status, 1) << "another expiry is no repeat: " << later.out;
    // --dry-run decides and writes nothing.
    auto dry = ctl({"enroll", "-f", conf, "--user", "root", "--key", key_line("ed25519_sk1.pub"),
                    "--name", "spare", "--dry-run"});
    EXPECT_EQ(dry.status, 0) << dry.err;
    EXPECT_NE(dry.out.find("would enroll ED25519-SK"), std::string::npos) << dry.out;
    EXPECT_EQ(read_file(dir.file("keys.d/root")), store_before);
    auto refused_dry = ctl(
        {"enroll", "-f", conf, "--user", "root", "--key", key_line("ed25519_1.pub"), "--dry-run"});
    EXPECT_EQ(refused_dry.status, 1) << "policy refuses in a dry run too";

    auto l = ctl({"list", "-f", conf, "--json"});
    EXPECT_EQ(l.status, 0) << l.err;
    EXPECT_NE(l.out.find(R"("name":"laptop")"), std::string::npos);
    EXPECT_NE(l.out.find(R"("expires":"2099-01-01T00:00:00Z")"), std::string::npos);
    EXPECT_NE(l.out.find(R"("source":"local")"), std::string::npos);
    auto table = ctl({"list", "-f", conf, "--user", "root"});
    EXPECT_NE(table.out.find("laptop"), std::string::npos);
    EXPECT_NE(l.out.find(R"("last_used":null)"), std::string::npos);
    // pam_skgate's session phase records the last use; list shows it.
    ASSERT_TRUE(
        LastUseStore(dir.file("state"))
            .record("root", "SHA256:Go7HO0CVPYG+BSDSk9ZUJBKGSrtBExp6obTa9iqzIUo", 1795000000)
            .ok());
    auto used = ctl({"list", "-f", conf, "--json"});
    EXPECT_NE(used.out.find(R"("last_used":"2026-11-18T11:06:40Z")"), std::string::npos)
        << used.out;

    auto rv = ctl({"revoke", "-f", conf, "--user", "root", "--fingerprint",
                   "SHA256:Go7HO0CVPYG+BSDSk9ZUJBKGSrtBExp6obTa9iqzIUo"});
    EXPECT_EQ(rv.status, 0) << rv.err;
    EXPECT_EQ(ctl({"list", "-f", conf, "--json"}).out, "[]\n");
    auto again = ctl({"enroll", "-f", conf, "--user", "root", "--key-file", dir.file("sk.pub")});
    EXPECT_EQ(again.status, 1);
    EXPECT_NE(again.err.find("is revoked"), std::string::npos);
}

// revoke --key-file, the index sshd reads, and check-config refusing a
// revocation list or index that sshd and skgate would not see as it is.
TEST_F(Enroll, RevokeKeepsTheIndexAndCheckConfigChecksIt) {
    auto rv = ctl({"revoke", "-f", conf, "--user", "root", "--key-file", dir.file("sk.pub")});
    ASSERT_EQ(rv.status, 0) << rv.err;
    EXPECT_NE(rv.out.find("SHA256:Go7HO0CVPYG+BSDSk9ZUJBKGSrtBExp6obTa9iqzIUo"), std::string::npos);
    auto q = run({"ssh-keygen", "-Q", "-f", dir.file("revoked.krl"), dir.file("sk.pub")});
    EXPECT_NE(q.out.find("REVOKED"), std::string::npos) << q.out << q.err;
    auto ok = ctl({"check-config", "-f", conf, "-u", "root"});
    EXPECT_EQ(ok.status, 0) << ok.err;
    EXPECT_NE(ok.out.find("revokedkeyscount 1 "), std::string::npos) << ok.out;

    // Edited by hand: sshd would not see it until the index is rebuilt.
    write_file(dir.file("revoked"),
               read_file(dir.file("revoked")) + "SHA256:" + std::string(42, 'A') + "E\n");
    auto stale = ctl({"check-config", "-f", conf});
    EXPECT_EQ(stale.status, 1);
    EXPECT_NE(stale.err.find("revoke --rebuild-index"), std::string::npos) << stale.err;
    auto rebuilt = ctl({"revoke", "-f", conf, "--rebuild-index"});
    EXPECT_EQ(rebuilt.status, 0) << rebuilt.err;
    EXPECT_NE(rebuilt.out.find("2 revoked keys"), std::string::npos) << rebuilt.out;
    EXPECT_EQ(ctl({"check-config", "-f", conf}).status, 0);

    // A damaged index, or a line that does not parse: an error naming it.
    write_file(dir.file("revoked.krl"), "not a krl");
    auto damaged = ctl({"check-config", "-f", conf});
    EXPECT_EQ(damaged.status, 1);
    EXPECT_NE(damaged.err.find("revoked.krl"), std::string::npos) << damaged.err;
    write_file(dir.file("revoked"), "garbage line\n");
    auto garbage = ctl({"check-config", "-f", conf});
    EXPECT_EQ(garbage.status, 1);
    EXPECT_NE(garbage.err.find(":1:"), std::string::npos) << garbage.err;
    EXPECT_EQ(ctl({"revoke", "-f", conf, "--rebuild-index", "--user", "root"}).status, 2);
}

// status would tell anyone but root "disabled": it refuses instead.
TEST(Skgatectl, StatusNeedsRoot) {
    if (!running_as_root())
        GTEST_SKIP() << "needs root to run it as someone else";
    auto r = run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                  required_env("SKGATE_SKGATECTL"), "status"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("must be run as root"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
}

TEST_F(Enroll, RefusalsSayWhatAndHow) {
    auto plain = ctl({"enroll", "-f", conf, "--user", "root", "--key", key_line("ed25519_1.pub")});
    EXPECT_EQ(plain.status, 1);
    EXPECT_NE(plain.err.find("ssh-keygen -t ecdsa-sk"), std::string::npos);
    auto cert =
        ctl({"enroll", "-f", conf, "--user", "root", "--key", key_line("ecdsa_sk1-cert.pub")});
    EXPECT_NE(cert.err.find("certificates cannot be enrolled"), std::string::npos);
    auto opts = ctl({"enroll", "-f", conf, "--user", "root", "--key",
                     "no-touch-required " + key_line("ecdsa_sk1.pub")});
    EXPECT_NE(opts.err.find("has options"), std::string::npos);
    auto past = ctl({"enroll", "-f", conf, "--user", "root", "--key-file", dir.file("sk.pub"),
                     "--expires", "2001-01-01"});
    EXPECT_NE(past.err.find("not in the future"), std::string::npos);
    EXPECT_EQ(
        ctl({"enroll", "-f", conf, "--user", "../x", "--key-file", dir.file("sk.pub")}).status, 1);
    EXPECT_EQ(ctl({"enroll", "-f", conf, "--user", "root"}).status, 2);
    EXPECT_EQ(ctl({"enroll", "-f", conf, "--user", "root", "--key-file", dir.file("sk.pub"),
                   "--attestation", "x"})
                  .status,
              2);
    write_file(conf, read_file(conf) + "RequireAttestation yes\n");
    auto att = ctl({"enroll", "-f", conf, "--user", "root", "--key-file", dir.file("sk.pub")});
    EXPECT_EQ(att.status, 1);
    EXPECT_NE(att.err.find("write-attestation"), std::string::npos);
}

TEST_F(Enroll, AttestationFromSshKeygen) {
    const char* provider = std::getenv("SKGATE_TEST_SK_PROVIDER");
    ASSERT_NE(provider, nullptr);
    std::map<std::string, std::string> env;
    write_file(dir.file("challenge"), std::string(32, 'z'));
    auto g = run(
        {"ssh-keygen", "-t", "ed25519-sk", "-w", provider, "-f", dir.file("id"), "-N", "", "-q",
         "-O", "write-attestation=" + dir.file("att"), "-O", "challenge=" + dir.file("challenge")},
        "", env);
    ASSERT_EQ(g.status, 0) << g.err;
    // Self-attestation cannot chain to roots: with AttestationRoots set it is refused.
    auto refused = ctl({"enroll", "-f", conf, "--user", "root", "--key-file", dir.file("id.pub"),
                        "--attestation", dir.file("att"), "--challenge", dir.file("challenge")});
    EXPECT_EQ(refused.status, 1);
    EXPECT_NE(refused.err.find("self-attestation"), std::string::npos) << refused.err;
    // AllowedAuthenticators without AttestationRoots is a configuration
    // error: an AAGUID nobody signed for is only the authenticator's claim.
    write_file(conf, "KeysDirectory " + dir.file("keys.d") + "\nRevokedKeys " +
                         dir.file("revoked") +
                         "\nAllowedAuthenticators 736b6761-7465-2d74-6573-742d736b2d31\n");
    auto unrooted = ctl({"check-config", "-f", conf});
    EXPECT_NE(unrooted.status, 0);
    EXPECT_NE(
        (unrooted.out + unrooted.err).find(":3: AllowedAuthenticators: needs AttestationRoots"),
        std::string::npos)
        << unrooted.out << unrooted.err;
    auto claimed = ctl({"enroll", "-f", conf, "--user", "root", "--key-file", dir.file("id.pub"),
                        "--attestation", dir.file("att"), "--challenge", dir.file("challenge")});
    EXPECT_NE(claimed.status, 0);
    write_file(conf, "KeysDirectory " + dir.file("keys.d") + "\nRevokedKeys " +
                         dir.file("revoked") + "\n");
    auto e = ctl({"enroll", "-f", conf, "--user", "root", "--key-file", dir.file("id.pub"),
                  "--attestation", dir.file("att"), "--challenge", dir.file("challenge")});
    EXPECT_EQ(e.status, 0) << e.err;
    EXPECT_NE(e.out.find("attestation packed-self"), std::string::npos) << e.out;
    EXPECT_EQ(e.out.find("AAGUID"), std::string::npos) << e.out;
}

// explain: the decision for one key with the lines of skgate.conf that took
// part, the same line skgate-keys prints for sshd, and an exit status a
// script can test (0 allowed, 1 not, 2 usage, 3 cannot tell).
TEST_F(Enroll, ExplainSaysWhyWithTheLinesThatApplied) {
    write_file(conf, read_file(conf) + "Match User root\n  VerifyRequired yes\n");
    const std::string fp = "SHA256:Go7HO0CVPYG+BSDSk9ZUJBKGSrtBExp6obTa9iqzIUo";
    auto missing = ctl({"explain", "-f", conf, "--user", "root", "--key-file", dir.file("sk.pub")});
    EXPECT_EQ(missing.status, 1) << missing.err;
    EXPECT_NE(missing.out.find("decision: not found"), std::string::npos) << missing.out;
    ASSERT_EQ(
        ctl({"enroll", "-f", conf, "--user", "root", "--key-file", dir.file("sk.pub")}).status, 0);

    auto e = ctl({"explain", "-f", conf, "--user", "root", "--key-file", dir.file("sk.pub")});
    EXPECT_EQ(e.status, 0) << e.err;
    EXPECT_NE(e.out.find("decision: allowed"), std::string::npos) << e.out;
    EXPECT_NE(e.out.find(conf + ":6: VerifyRequired yes  (in Match User root)"), std::string::npos)
        << e.out;
    EXPECT_NE(e.out.find(conf + ":2: RevokedKeys " + dir.file("revoked")), std::string::npos)
        << e.out;
    EXPECT_NE(e.out.find("skgatectl audit --user root"), std::string::npos) << e.out;
    // What sshd is told is skgate-keys' own line, to the byte.
    auto keys = run({required_env("SKGATE_KEYS"), "-u", "root", "-f", conf, "root"});
    ASSERT_EQ(keys.status, 0) << keys.err;
    std::string line(trim(keys.out));
    ASSERT_NE(line.find("verify-required sk-ecdsa"), std::string::npos) << line;
    EXPECT_NE(e.out.find("sshd is told: " + line + "\n"), std::string::npos) << e.out;

    auto j = ctl({"explain", "-f", conf, "--user", "root", "--fingerprint", fp, "--json"});
    EXPECT_EQ(j.status, 0) << j.err;
    EXPECT_NE(j.out.find(R"("decision":"allow")"), std::string::npos) << j.out;
    EXPECT_NE(j.out.find(R"("keyword":"VerifyRequired","value":"yes","where":")" + conf +
                         R"(:6","block":"Match User root")"),
              std::string::npos)
        << j.out;

    // Revoked (listed, although still in the store): refused, saying so.
    write_file(dir.file("revoked"), fp + "\n");
    auto r = ctl({"explain", "-f", conf, "--user", "root", "--fingerprint", fp});
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.out.find("decision: refused"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("revoked"), std::string::npos) << r.out;
    std::remove(dir.file("revoked").c_str());

    // Audit mode: what enforce would refuse is still given to sshd.
    std::string text = read_file(conf);
    write_file(conf, "Mode audit\nRequireAttestation yes\n" + text);
    auto audit = ctl({"explain", "-f", conf, "--user", "root", "--fingerprint", fp, "--json"});
    EXPECT_EQ(audit.status, 1) << audit.err;
    EXPECT_NE(audit.out.find(R"("decision":"would-deny")"), std::string::npos) << audit.out;
    EXPECT_NE(audit.out.find(R"("keyword":"Mode","value":"audit","where":")" + conf + R"(:1")"),
              std::string::npos)
        << audit.out;
}

TEST_F(Enroll, ExplainRefusesWhatItCannotAnswer) {
    EXPECT_EQ(ctl({"explain", "-f", conf, "--key-file", dir.file("sk.pub")}).status, 2);
    EXPECT_EQ(ctl({"explain", "-f", conf, "--user", "root"}).status, 2);
    EXPECT_EQ(ctl({"explain", "-f", conf, "--user", "root", "--key-file", dir.file("sk.pub"),
                   "--fingerprint", "SHA256:x"})
                  .status,
              2);
    auto fp = ctl({"explain", "-f", conf, "--user", "root", "--fingerprint", "MD5:aa"});
    EXPECT_EQ(fp.status, 2);
    EXPECT_NE(fp.err.find("is not a SHA256: fingerprint"), std::string::npos) << fp.err;
    auto bad = ctl({"explain", "-f", conf, "--user", "root", "--key", "ssh-ed25519 AAAA!!"});
    EXPECT_EQ(bad.status, 3);
    EXPECT_NE(bad.err.find("skgatectl: explain: "), std::string::npos) << bad.err;
    auto user = ctl({"explain", "-f", conf, "--user", "../x", "--key-file", dir.file("sk.pub")});
    EXPECT_EQ(user.status, 2) << user.err;
    write_file(conf, "NoSuchKeyword yes\n");
    auto config = ctl({"explain", "-f", conf, "--user", "root", "--key-file", dir.file("sk.pub")});
    EXPECT_EQ(config.status, 3);
    EXPECT_NE(config.err.find(conf + ":1: unknown keyword"), std::string::npos) << config.err;
}

// skgatectl enroll refuses a security key made for a relying party policy
// does not allow (a browser passkey's domain), saying where to allow it, and
// enrolls it once AllowedApplications names it.
TEST_F(Enroll, AnApplicationOutsideAllowedApplicationsIsRefused) {
    auto passkey = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256, "localhost");
    std::string line = passkey.public_key().to_text();
    auto refused = ctl({"enroll", "-f", conf, "--user", "root", "--key", line});
    EXPECT_EQ(refused.status, 1);
    EXPECT_NE(refused.err.find("application \"localhost\" is not in AllowedApplications (ssh:*)"),
              std::string::npos)
        << refused.err;
    EXPECT_NE(refused.err.find("adds it there"), std::string::npos) << refused.err;
    EXPECT_FALSE(std::filesystem::exists(dir.file("keys.d/root")));

    write_file(conf, read_file(conf) + "AllowedApplications ssh:* localhost\n");
    auto enrolled = ctl({"enroll", "-f", conf, "--user", "root", "--key", line});
    EXPECT_EQ(enrolled.status, 0) << enrolled.err;
    auto shown = ctl({"check-config", "-f", conf, "-u", "root"});
    EXPECT_NE(shown.out.find("\nallowedapplications ssh:* localhost\n"), std::string::npos)
        << shown.out;
}

// A synced passkey's attestation is "none": checked against the key, then
// enrolled as a key without attestation (nothing vouched for), and refused
// with its reason under RequireAttestation.
TEST_F(Enroll, AttestationNoneIsRecordedAndRequireAttestationRefusesIt) {
    auto passkey = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256, "localhost");
    Bytes ad = *AuthenticatorData::encode("localhost", kAuthDataUserPresent, 0, Aaguid{},
                                          as_bytes("credential"), passkey.public_key());
    Bytes none = SkAttestation{{}, {}, ad}.serialize();
    write_file(dir.file("none.att"), std::string(as_chars(none)));
    write_file(dir.file("client-data"), R"({"type":"webauthn.create"})");
    std::string unrooted = dir.file("unrooted.conf");
    write_file(unrooted, "KeysDirectory " + dir.file("keys.d") + "\nRevokedKeys " +
                             dir.file("revoked") + "\nStateDirectory " + dir.file("state") +
                             "\nAllowedApplications localhost\n");
    std::vector<std::string> args = {"enroll",
                                     "-f",
                                     unrooted,
                                     "--user",
                                     "root",
                                     "--key",
                                     passkey.public_key().to_text(),
                                     "--attestation",
                                     dir.file("none.att"),
                                     "--challenge",
                                     dir.file("client-data")};
    write_file(unrooted, read_file(unrooted) + "RequireAttestation yes\n");
    auto refused = ctl(args);
    EXPECT_EQ(refused.status, 1);
    EXPECT_NE(refused.err.find("attestation is \"none\""), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("synced passkeys never do"), std::string::npos) << refused.err;

    write_file(unrooted, "KeysDirectory " + dir.file("keys.d") + "\nRevokedKeys " +
                             dir.file("revoked") + "\nStateDirectory " + dir.file("state") +
                             "\nAllowedApplications localhost\n");
    auto enrolled = ctl(args);
    EXPECT_EQ(enrolled.status, 0) << enrolled.err;
    // Nothing is recorded for "none": an older skgate-keys would count any
    // recorded attestation as verified.
    std::string store = read_file(dir.file("keys.d/root"));
    EXPECT_NE(store.find(passkey.public_key().to_text()), std::string::npos) << store;
    EXPECT_EQ(store.find("attestation="), std::string::npos) << store;
    // With AttestationRoots, "none" cannot chain: enroll it without --attestation.
    write_file(conf, read_file(conf) + "AllowedApplications localhost\n");
    auto rooted =
        ctl({"enroll", "-f", conf, "--user", "root", "--key", passkey.public_key().to_text(),
             "--attestation", dir.file("none.att"), "--challenge", dir.file("client-data")});
    EXPECT_EQ(rooted.status, 1);
    EXPECT_NE(rooted.err.find("enroll the key without --attestation"), std::string::npos)
        << rooted.err;
}
