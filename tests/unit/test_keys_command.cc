// The command key source without sshd: KeysCommand's settings and tokens,
// running it as another account within the lookup's budget, its output as
// untrusted input, and the answer recorded for pam_skgate. Debian's sshd
// runs it for real in tests/e2e/test_e2e_sources.cc.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "core/decide/keylookup.h"
#include "core/sources/keys_command.h"
#include "core/sources/source_cache.h"
#include "core/sys/monotonic.h"
#include "core/sys/percent_tokens.h"
#include "core/sys/text.h"
#include "tests/support/helpers.h"

using namespace skgate;

namespace {

std::string key(const std::string& name) {
    return std::string(trim(test::read_file(test::vectors_dir() + "/openssh/sshkey/" + name)));
}

PublicKey public_key(const std::string& name) {
    auto k = parse_authorized_key(key(name));
    EXPECT_TRUE(k.ok()) << k.error().message;
    return k->key;
}

Result<Policy> parse(const std::string& text) {
    return Policy::parse(text, "test.conf");
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> out;
    std::string line;
    for (char c : text) {
        if (c == '\n') {
            out.push_back(line);
            line.clear();
        } else {
            line += c;
        }
    }
    return out;
}

bool exists(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0;
}

uint64_t in_seconds(int s) {
    return monotonic_us() + static_cast<uint64_t>(s) * 1'000'000;
}

class KeysCommand : public ::testing::Test {
  protected:
    void SetUp() override {
        // nobody must reach the scripts, and the trusted-file rules want
        // root's directories that nobody else can write to.
        chmod(dir.path().c_str(), 0755);
        mkdir(dir.file("sources").c_str(), 0700);
    }
    // A root-owned script, mode 0755, that KeysCommand may name.
    std::string script(const std::string& name, const std::string& body) {
        std::string path = dir.file(name);
        test::write_file(path, "#!/bin/sh\n" + body, 0755);
        return path;
    }
    KeysCommandSettings settings(const std::string& command, const std::string& user = "nobody") {
        auto p = parse("KeysCommand " + command + "\nKeysCommandUser " + user + "\n");
        EXPECT_TRUE(p.ok()) << p.error().message;
        return p->global().keys_command;
    }
    Policy policy(const std::string& extra = "") {
        auto p = parse("StateDirectory " + dir.path() + "\nKeySources command\nKeysCommand " +
                       script("noop", "exit 0\n") + "\nKeysCommandUser nobody\n" + extra);
        EXPECT_TRUE(p.ok()) << p.error().message;
        return std::move(*p);
    }
    test::TempDir dir;
};

}  // namespace

TEST(PercentTokens, ExpandsKnownTokensAndRefusesTheRest) {
    EXPECT_TRUE(check_percent_tokens("%u-%f-%%", "uf").ok());
    auto unknown = check_percent_tokens("%C", "uUhtkf");
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.error().message.find("unknown token %C"), std::string::npos);
    auto lone = check_percent_tokens("100%", "u");
    ASSERT_FALSE(lone.ok());
    EXPECT_NE(lone.error().message.find("lone '%'"), std::string::npos);

    auto done = expand_percent_tokens("a%ub%%c%u", {{'u', "alice"}});
    ASSERT_TRUE(done.ok());
    EXPECT_EQ(*done, "aaliceb%calice");
    // A value is never expanded again: a user name holding %k stays text.
    auto literal = expand_percent_tokens("%u", {{'u', "%k"}, {'k', "KEY"}});
    ASSERT_TRUE(literal.ok());
    EXPECT_EQ(*literal, "%k");
    auto missing = expand_percent_tokens("%k", {{'u', "alice"}});
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message.find("no value for %k"), std::string::npos);
}

TEST(KeysCommandPolicy, SettingsParseAndTheirMistakesAreRefused) {
    auto p = parse(
        "KeySources local command\nKeysCommand /usr/bin/userdbctl ssh-authorized-keys "
        "%u\nKeysCommandUser root\n");
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->global().keys_command.argv,
              (std::vector<std::string>{"/usr/bin/userdbctl", "ssh-authorized-keys", "%u"}));
    EXPECT_EQ(p->global().keys_command.user, "root");
    auto u = p->for_user(
        {"alice", [] { return Result<std::vector<std::string>>(std::vector<std::string>{}); }});
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->key_sources, (std::vector<KeySource>{KeySource::local, KeySource::command}));

    struct Case {
        std::string text, expect;
    } cases[] = {
        {"KeySources command\n", "test.conf:1: KeySources: the command source needs KeysCommand"},
        {"KeysCommand /bin/true\n", "test.conf:1: KeysCommand: needs KeysCommandUser"},
        {"KeysCommand true %u\nKeysCommandUser nobody\n", "is not an absolute path"},
        {"KeysCommand /bin/echo %C\nKeysCommandUser nobody\n", "unknown token %C"},
        {"KeysCommand /bin/echo 50%\nKeysCommandUser nobody\n", "lone '%'"},
        {"KeysCommand\n", "expects a program's absolute path"},
        {"KeysCommand /bin/true\nKeysCommandUser -x\n", "KeysCommandUser"},
        {"KeysCommand /bin/true\nKeysCommandUser nobody\nMatch User a\nKeysCommand /bin/false\n",
         "not allowed in a Match block"},
    };
    for (const auto& c : cases) {
        auto bad = parse(c.text);
        ASSERT_FALSE(bad.ok()) << c.text;
        EXPECT_NE(bad.error().message.find(c.expect), std::string::npos)
            << c.text << " -> " << bad.error().message;
    }
    auto none = parse("KeysCommand none\n");
    ASSERT_TRUE(none.ok()) << none.error().message;
    EXPECT_TRUE(none->global().keys_command.argv.empty());
}

TEST_F(KeysCommand, GetsSshdsTokensAndRunsAsKeysCommandUser) {
    std::string cmd = script("show", "id -un; for a in \"$@\"; do echo \"[$a]\"; done; env\n");
    auto offered = public_key("ed25519_sk1.pub");
    auto a = run_keys_command(settings(cmd + " %u %U %h %t %k %f %%"), "root",
                              OfferedKeyTokens::of(offered), in_seconds(10));
    ASSERT_EQ(a.error, "");
    auto lines = split_lines(a.output);
    ASSERT_GE(lines.size(), 8u) << a.output;
    EXPECT_EQ(lines[0], "nobody");
    EXPECT_EQ(lines[1], "[root]");
    EXPECT_EQ(lines[2], "[0]");
    EXPECT_EQ(lines[3], "[/root]");
    EXPECT_EQ(lines[4], "[sk-ssh-ed25519@openssh.com]");
    EXPECT_EQ(lines[5], "[" + OfferedKeyTokens::of(offered).base64 + "]");
    EXPECT_EQ(lines[6], "[" + offered.fingerprint() + "]");
    EXPECT_EQ(lines[7], "[%]");
    // Nothing of the caller's environment reaches it.
    EXPECT_EQ(a.output.find("SKGATE_TEST_TMPDIR"), std::string::npos) << a.output;
    EXPECT_NE(a.output.find("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), std::string::npos);
}

// A descriptor the caller holds without close-on-exec (as a process may
// inherit one) does not reach the program.
TEST_F(KeysCommand, NoDescriptorButStdioReachesIt) {
    int leaked = open("/dev/null", O_RDONLY);
    ASSERT_GE(leaked, 3);
    std::string n = std::to_string(leaked);
    std::string cmd =
        script("fds", "if [ -e /proc/$$/fd/" + n + " ]; then echo leaked; else echo closed; fi\n");
    auto as_nobody = run_keys_command(settings(cmd), "root", {}, in_seconds(10));
    auto as_root = run_keys_command(settings(cmd, "root"), "root", {}, in_seconds(10));
    close(leaked);
    EXPECT_EQ(as_nobody.output, "closed\n") << as_nobody.error;
    // As root, with no identity to change: the same.
    EXPECT_EQ(as_root.output, "closed\n") << as_root.error;
}

TEST_F(KeysCommand, WithoutAnOfferedKeyItsKeyTokensAreAnErrorNotEmpty) {
    std::string cmd = script("show", "echo \"$@\"\n");
    auto a = run_keys_command(settings(cmd + " %u %f"), "root", {}, in_seconds(10));
    EXPECT_NE(a.error.find("no value for %f"), std::string::npos) << a.error;
    EXPECT_EQ(a.output, "");
}

TEST_F(KeysCommand, AHangingCommandIsKilledWithItsChildrenAtTheDeadline) {
    std::string pidfile = dir.file("child.pid");
    test::write_file(pidfile, "", 0666);
    std::string cmd = script("hang", "sleep 300 & echo $! > " + pidfile + "\nwait\n");
    auto a = run_keys_command(settings(cmd), "root", {}, in_seconds(1));
    EXPECT_NE(a.error.find("did not finish"), std::string::npos) << a.error;
    EXPECT_NE(a.error.find("killed with everything it started"), std::string::npos) << a.error;
    std::string pid(trim(test::read_file(pidfile)));
    ASSERT_FALSE(pid.empty());
    // The background sleep was in the command's process group: gone too
    // (waited for, as the kill is delivered asynchronously).
    // A zombie not yet reaped by init counts as gone.
    auto gone_now = [&] {
        if (kill(std::stoi(pid), 0) != 0)
            return true;
        std::string text;
        if (FILE* f = std::fopen(("/proc/" + pid + "/stat").c_str(), "r")) {
            char buf[512];
            text.assign(buf, std::fread(buf, 1, sizeof buf, f));
            std::fclose(f);
        }
        size_t paren = text.rfind(')');
        return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'Z';
    };
    bool gone = false;
    for (int i = 0; i < 3000 && !gone; i++) {
        gone = gone_now();
        if (!gone)
            usleep(10'000);
    }
    EXPECT_TRUE(gone) << "the command's child " << pid << " outlived it";
}

// Closing its output does not end the bound: the program is waited for
// only until the deadline, then killed.
TEST_F(KeysCommand, ACommandThatClosesItsOutputAndStaysIsStillBounded) {
    std::string cmd =
        script("closes", "echo " + key("ed25519_sk1.pub") + "\nexec >&- 2>&-\nsleep 300\n");
    auto a = run_keys_command(settings(cmd), "root", {}, in_seconds(1));
    EXPECT_NE(a.error.find("did not finish within"), std::string::npos) << a.error;
    EXPECT_EQ(a.output, "");
}

// It starts in / with default signal handling and nothing blocked, whatever
// the caller had.
TEST_F(KeysCommand, StartsWithNoneOfTheCallersSignalStateOrDirectory) {
    // grep reads its own status, the started program's (exec, no fork): a
    // shell blocks every signal for a moment while it forks a child, so
    // the shell's status read from its child would sometimes say so.
    std::string cmd = script("state", "pwd\nexec grep -E '^Sig(Blk|Ign):' /proc/self/status\n");
    struct sigaction ignore {
    }, old_hup{};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &ignore, &old_hup);
    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old_mask);
    auto a = run_keys_command(settings(cmd), "root", {}, in_seconds(10));
    sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    sigaction(SIGHUP, &old_hup, nullptr);
    EXPECT_EQ(a.output, "/\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n") << a.error;
}

TEST_F(KeysCommand, ASpentBudgetRunsNothing) {
    std::string marker = dir.file("ran");
    std::string cmd = script("mark", "touch " + marker + "\n");
    auto a = run_keys_command(settings(cmd, "root"), "root", {}, monotonic_us());
    EXPECT_NE(a.error.find("time budget (SourceTimeout) is spent"), std::string::npos) << a.error;
    EXPECT_FALSE(exists(marker));
}

TEST_F(KeysCommand, FailuresSayWhatHappened) {
    auto failed = run_keys_command(settings(script("fail", "echo 'no such user' >&2\nexit 3\n")),
                                   "root", {}, in_seconds(10));
    EXPECT_NE(failed.error.find("exited with status 3: no such user"), std::string::npos)
        << failed.error;

    auto chatty = run_keys_command(settings(script("chatty", "yes ssh-ed25519 AAAA\n")), "root", {},
                                   in_seconds(10));
    EXPECT_NE(chatty.error.find("printed more than"), std::string::npos) << chatty.error;

    std::string writable = script("writable", "exit 0\n");
    chmod(writable.c_str(), 0775);
    auto unsafe = run_keys_command(settings(writable), "root", {}, in_seconds(10));
    EXPECT_NE(unsafe.error.find("writable by group or others"), std::string::npos) << unsafe.error;

    // A symbolic link is followed to the real program, which is checked.
    std::string link = dir.file("link");
    ASSERT_EQ(symlink(writable.c_str(), link.c_str()), 0);
    auto linked = run_keys_command(settings(link), "root", {}, in_seconds(10));
    EXPECT_NE(linked.error.find(writable + " has mode"), std::string::npos) << linked.error;

    auto missing = run_keys_command(settings(dir.file("absent")), "root", {}, in_seconds(10));
    EXPECT_NE(missing.error.find("No such file"), std::string::npos) << missing.error;

    auto nobody_here = run_keys_command(settings(script("ok", "exit 0\n"), "no-such-account"),
                                        "root", {}, in_seconds(10));
    EXPECT_NE(nobody_here.error.find("KeysCommandUser no-such-account"), std::string::npos)
        << nobody_here.error;
}

TEST(KeysCommandOutput, EachBadLineIsRefusedAndTheOthersCount) {
    std::string sk = key("ed25519_sk1.pub"), plain = key("ed25519_1.pub");
    std::string text = "# comment\n\n" + sk + "\n" + "expiry-time=\"20301231\" " + plain + "\r\n" +
                       "cert-authority " + plain + "\n" + "not a key\n" + "environment=\"A=B\" " +
                       sk + "\n" + std::string(9000, 'a') + "\n" +
                       "from=\"10.0.0.0/8\",command=\"/bin/true\" " + plain;
    auto parsed = parse_keys_command_output(text);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    ASSERT_EQ(parsed->keys.size(), 4u);
    EXPECT_EQ(parsed->keys[0].origin, "line 3");
    ASSERT_TRUE(parsed->keys[1].expires.has_value());
    EXPECT_EQ(parsed->keys[3].entry.options.size(), 2u);
    ASSERT_EQ(parsed->refused.size(), 3u);
    EXPECT_NE(parsed->refused[0].find("line 5: cert-authority"), std::string::npos);
    EXPECT_EQ(parsed->refused[1].rfind("line 6: ", 0), 0u);
    EXPECT_NE(parsed->refused[2].find("line 8: longer than"), std::string::npos);

    // A flood of bad lines is reported as 20 and a count.
    std::string junk;
    for (int i = 0; i < 5000; i++)
        junk += "junk\n";
    auto flood = parse_keys_command_output(junk);
    ASSERT_TRUE(flood.ok());
    ASSERT_EQ(flood->refused.size(), 21u);
    EXPECT_EQ(flood->refused.back(), "4980 more lines");

    std::string many;
    for (size_t i = 0; i <= kMaxRemoteKeysPerUser; i++)
        many += sk + "\n";
    auto too_many = parse_keys_command_output(many);
    ASSERT_FALSE(too_many.ok());
    EXPECT_NE(too_many.error().message.find("more than 64 keys"), std::string::npos);
    EXPECT_FALSE(parse_keys_command_output(std::string(kMaxKeysCommandOutput + 1, '#')).ok());
}

TEST_F(KeysCommand, TheAnswerIsRecordedForPamAndNeverServedAfterAFailure) {
    auto p = policy();
    std::string sk = key("ed25519_sk1.pub");
    const std::time_t now = 1'800'000'000;
    KeysCommandAnswer answer{"expiry-time=\"20301231\" " + sk + "\n", "", 1000};
    auto ran = keys_from_command(p, "alice", answer, now);
    EXPECT_EQ(ran.status.state, SourceState::fetched);
    ASSERT_EQ(ran.keys.keys.size(), 1u);
    EXPECT_EQ(ran.keys.keys[0].source, KeySource::command);
    EXPECT_EQ(ran.keys.keys[0].origin, "command:line 1");

    // pam_skgate (no answer of its own): the record, while younger than
    // SourceCacheTTL, with the expiry the command gave.
    auto recorded = keys_from_command(p, "alice", std::nullopt, now + 10);
    EXPECT_EQ(recorded.status.state, SourceState::fresh);
    ASSERT_EQ(recorded.keys.keys.size(), 1u);
    ASSERT_EQ(recorded.keys.keys[0].user_options.size(), 1u);
    EXPECT_EQ(recorded.keys.keys[0].user_options[0].name, "expiry-time");
    auto stale = keys_from_command(p, "alice", std::nullopt, now + 300);
    EXPECT_EQ(stale.status.state, SourceState::denied);
    EXPECT_NE(stale.status.error.find("not younger than SourceCacheTTL"), std::string::npos);
    auto future = keys_from_command(p, "alice", std::nullopt, now - 10);
    EXPECT_EQ(future.status.state, SourceState::denied);

    // explain looks without recording, even when the command fails.
    KeysCommandAnswer looked{"", "", 10};
    looked.record = false;
    keys_from_command(p, "alice", looked, now + 11);
    KeysCommandAnswer looked_failed{"", "KeysCommand /x exited with status 1", 10};
    looked_failed.record = false;
    keys_from_command(p, "alice", looked_failed, now + 12);
    auto still = keys_from_command(p, "alice", std::nullopt, now + 13);
    EXPECT_EQ(still.keys.keys.size(), 1u);

    // The command failing now gives no keys, and takes back its record:
    // pam_skgate does not confirm from what it no longer says.
    KeysCommandAnswer failed{"", "KeysCommand /x exited with status 1", 10};
    auto down = keys_from_command(p, "alice", failed, now + 20);
    EXPECT_EQ(down.status.state, SourceState::denied);
    EXPECT_TRUE(down.keys.keys.empty());
    EXPECT_NE(down.status.describe().find("command: no keys from it"), std::string::npos);
    auto after = keys_from_command(p, "alice", std::nullopt, now + 21);
    EXPECT_EQ(after.status.state, SourceState::denied);
    EXPECT_NE(after.status.error.find("no answer recorded"), std::string::npos);
    // A malformed answer as well.
    keys_from_command(p, "alice", answer, now + 30);
    KeysCommandAnswer too_many{std::string(kMaxKeysCommandOutput + 1, '#'), "", 10};
    keys_from_command(p, "alice", too_many, now + 31);
    EXPECT_TRUE(keys_from_command(p, "alice", std::nullopt, now + 32).keys.keys.empty());

    auto nobody = keys_from_command(p, "bob", std::nullopt, now);
    EXPECT_NE(nobody.status.error.find("no answer recorded"), std::string::npos);
}

TEST_F(KeysCommand, PolicyDecidesItsKeysInEveryMode) {
    std::string sk = key("ed25519_sk1.pub"), plain = key("ed25519_1.pub");
    KeysCommandAnswer answer{sk + "\n" + "no-touch-required " + plain + "\n", "", 5};
    for (const char* mode : {"enforce", "audit"}) {
        auto p = policy(std::string("Mode ") + mode + "\n");
        LookupRequest req{"root", std::nullopt, std::time(nullptr)};
        req.keys_command = answer;
        auto r = lookup_keys(p, req);
        ASSERT_TRUE(r.ok()) << r.error().message;
        ASSERT_EQ(r->verdicts.size(), 2u) << mode;
        EXPECT_EQ(r->verdicts[0].decision, Decision::allow);
        EXPECT_EQ(r->verdicts[0].line.find("no-touch-required"), std::string::npos);
        bool audit = std::string(mode) == "audit";
        EXPECT_EQ(r->verdicts[1].decision, audit ? Decision::would_deny : Decision::deny);
        EXPECT_NE(r->verdicts[1].reason.find("not a security key"), std::string::npos);
        // audit mode: sshd is told what the chained command said, unchanged.
        EXPECT_EQ(r->verdicts[1].line, audit ? "no-touch-required " + plain : "") << mode;
        ASSERT_EQ(r->remote.size(), 1u);
        EXPECT_EQ(r->remote[0].source, KeySource::command);
        auto event = lookup_audit_event(*r, req, 1);
        EXPECT_NE(event.sources.find("command: 2 key(s) from KeysCommand"), std::string::npos)
            << event.sources;
    }
}
