// skgate-agent with a passkey in Debian's Chromium (headless, a DevTools
// virtual authenticator in one tab, driven by webauthn_browser.py --serve):
// `generate --passkey` through the agent's one-time page, skgatectl enroll
// with what it kept, SSHSIGs the agent signs through the page that the
// stock ssh-keygen verifies, the person refusing in the browser, and a
// login request the agent refuses for a passkey at once.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "core/ssh/agent_client.h"
#include "core/ssh/sshkey.h"
#include "core/ssh/wire.h"
#include "tests/support/helpers.h"

using namespace skgate;
using namespace skgate::test;

namespace {

// Starting a program and waiting for the file it writes when ready: a bound
// for a broken start only, generous for a loaded machine.
bool wait_for_text(const std::string& path, const std::string& text, int seconds = 120) {
    for (int i = 0; i < seconds * 20; i++) {
        std::error_code ec;
        if (std::filesystem::exists(path, ec) && read_file(path).find(text) != std::string::npos)
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

pid_t spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            const std::string& log) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        for (const auto& [k, v] : env)
            setenv(k.c_str(), v.c_str(), 1);
        std::vector<char*> args;
        for (const auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        _exit(127);
    }
    return pid;
}

class BrowserAgent : public ::testing::Test {
  protected:
    void SetUp() override {
        if (run({"sh", "-c", "command -v chromium"}).status != 0)
            GTEST_SKIP() << "Debian's chromium is not installed (scripts/install-deps installs it)";
        std::filesystem::create_directories(dir.file("browser"));
        std::filesystem::create_directories(dir.file("agent"));
        chmod(dir.file("agent").c_str(), 0700);
        driver_ = spawn(
            {"python3", required_env("SKGATE_SOURCE_ROOT") + "/tests/browser/webauthn_browser.py",
             "--serve", dir.file("browser")},
            {}, dir.file("driver.log"));
        ASSERT_TRUE(wait_for_text(dir.file("browser/log"), "ready"))
            << read_file_or_empty(dir.file("driver.log"));
        env_ = {{"SKGATE_AGENT_DIR", dir.file("agent")}, {"BROWSER", dir.file("browser/open")}};
    }
    void TearDown() override {
        if (agent_ > 0) {
            kill(agent_, SIGTERM);
            waitpid(agent_, nullptr, 0);
        }
        if (driver_ > 0) {
            command("quit");
            int status = 0;
            for (int i = 0; i < 600 && waitpid(driver_, &status, WNOHANG) == 0; i++)
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            kill(driver_, SIGKILL);
            waitpid(driver_, nullptr, 0);
        }
    }

    static std::string read_file_or_empty(const std::string& path) {
        std::error_code ec;
        return std::filesystem::exists(path, ec) ? read_file(path) : "";
    }
    // A line for the browser driver ("uv no", "uv yes", "quit").
    void command(const std::string& line) {
        int fd = open(dir.file("browser/commands").c_str(), O_WRONLY | O_NONBLOCK);
        if (fd < 0)
            return;
        std::string l = line + "\n";
        (void)!write(fd, l.data(), l.size());
        close(fd);
    }
    RunResult agent_cmd(const std::vector<std::string>& args) {
        std::vector<std::string> argv{required_env("SKGATE_AGENT_BIN")};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv, "", env_);
    }
    void start_agent() {
        agent_ = spawn({required_env("SKGATE_AGENT_BIN"), "run"}, env_, dir.file("agent.log"));
        ASSERT_TRUE(wait_for_text(dir.file("agent.log"), "listening on"))
            << read_file_or_empty(dir.file("agent.log"));
    }
    RunResult sign(const std::string& key, const std::string& message) {
        write_file(dir.file("message"), message);
        std::filesystem::remove(dir.file("message.sig"));
        return run(
            {"ssh-keygen", "-Y", "sign", "-n", "skgate-test", "-f", key, dir.file("message")}, "",
            {{"SSH_AUTH_SOCK", dir.file("agent/agent.sock")}});
    }
    RunResult check(const std::string& message) {
        return run({"ssh-keygen", "-Y", "check-novalidate", "-n", "skgate-test", "-s",
                    dir.file("message.sig")},
                   message);
    }

    TempDir dir;
    std::map<std::string, std::string> env_;
    pid_t driver_ = -1, agent_ = -1;
};

}  // namespace

TEST_F(BrowserAgent, APasskeyIsMadeEnrolledAndSignsThroughTheAgentsPage) {
    auto made = agent_cmd({"generate", "--passkey", "--name", "phone", "--timeout", "120"});
    ASSERT_EQ(made.status, 0) << made.out << made.err
                              << read_file_or_empty(dir.file("browser/log"));
    EXPECT_NE(made.out.find("Create the passkey in your browser: http://localhost:"),
              std::string::npos)
        << made.out;
    EXPECT_NE(made.err.find("is a passkey (attestation: packed)"), std::string::npos) << made.err;
    std::string pub = dir.file("agent/keys/phone.pub");
    auto key = PublicKey::parse_text(read_file(pub));
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(key->application(), "localhost");
    auto listed = agent_cmd({"list"});
    EXPECT_NE(listed.out.find("a passkey, approved in your browser"), std::string::npos)
        << listed.out;
    struct stat st {};
    ASSERT_EQ(stat(dir.file("agent/keys/phone.key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    // What the agent kept is what an administrator enrolls.
    if (running_as_root()) {
        write_file(dir.file("skgate.conf"),
                   "KeysDirectory " + dir.file("keys.d") + "\nRevokedKeys " + dir.file("revoked") +
                       "\nStateDirectory " + dir.file("state") +
                       "\nAllowedApplications ssh:* localhost\nRequireAttestation yes\n");
        auto enrolled = run({required_env("SKGATE_SKGATECTL"), "enroll", "-f",
                             dir.file("skgate.conf"), "--user", "root", "--key-file", pub,
                             "--attestation", dir.file("agent/keys/phone.attestation"),
                             "--challenge", dir.file("agent/keys/phone.challenge")});
        EXPECT_EQ(enrolled.status, 0) << enrolled.err;
        EXPECT_NE(read_file(dir.file("keys.d/root")).find("attestation=\"packed\""),
                  std::string::npos);
    }

    start_agent();
    const std::string message = "sudo for skgt-alice\n";
    auto signed_ = sign(pub, message);
    ASSERT_EQ(signed_.status, 0) << signed_.err << read_file_or_empty(dir.file("agent.log"));
    EXPECT_EQ(check(message).status, 0);
    EXPECT_NE(check("sudo for skgt-mallory\n").status, 0);
    std::string agent_log = read_file(dir.file("agent.log"));
    EXPECT_NE(agent_log.find("approve 'phone' (sign data in namespace 'skgate-test') in your "
                             "browser: http://localhost:"),
              std::string::npos)
        << agent_log;

    // The person refuses in the browser (here: the authenticator fails to
    // verify them): the request fails at once with the browser's reason.
    command("uv no");
    ASSERT_TRUE(wait_for_text(dir.file("browser/log"), "uv no"));
    auto refused = sign(pub, message);
    EXPECT_NE(refused.status, 0);
    EXPECT_TRUE(
        wait_for_text(dir.file("agent.log"), "the browser did not approve (NotAllowedError)"))
        << read_file(dir.file("agent.log"));
    command("uv yes");
    ASSERT_TRUE(wait_for_text(dir.file("browser/log"), "uv yes"));
    EXPECT_EQ(sign(pub, message).status, 0) << read_file(dir.file("agent.log"));
}

// A login request (an SSH userauth blob) for a passkey is refused without
// a page: the stock ssh client would refuse the WebAuthn signature anyway.
TEST_F(BrowserAgent, ALoginRequestForAPasskeyIsRefusedAtOnce) {
    auto made = agent_cmd({"generate", "--passkey", "--name", "phone", "--timeout", "120"});
    ASSERT_EQ(made.status, 0) << made.err;
    auto key = PublicKey::parse_text(read_file(dir.file("agent/keys/phone.pub")));
    ASSERT_TRUE(key.ok());
    start_agent();
    auto pages = [&] {
        std::string log = read_file(dir.file("browser/log"));
        size_t n = 0;
        for (size_t at = log.find("open "); at != std::string::npos; at = log.find("open ", at + 1))
            n++;
        return n;
    };
    const size_t pages_before = pages();
    WireWriter userauth;
    userauth.put_string(Bytes(32, 7));  // session id
    userauth.put_u8(50);                // SSH_MSG_USERAUTH_REQUEST
    userauth.put_string("skgt-alice");
    userauth.put_string("ssh-connection");
    userauth.put_string("publickey");
    userauth.put_bool(true);
    userauth.put_string(key->type_name());
    userauth.put_string(key->blob());
    auto agent = AgentClient::connect(dir.file("agent/agent.sock"), geteuid(), 30'000);
    ASSERT_TRUE(agent.ok()) << agent.error().message;
    auto listed = [](AgentClient& c) {
        auto ids = c.identities();
        return ids.ok() ? ids->size() : size_t{99};
    };
    EXPECT_EQ(listed(*agent), 1u) << "ssh-keygen and forwarded connections see it";
    auto sig = agent->sign(*key, userauth.bytes());
    EXPECT_FALSE(sig.ok());
    EXPECT_TRUE(wait_for_text(dir.file("agent.log"), "a passkey cannot log in"))
        << read_file(dir.file("agent.log"));
    // Nor data the agent cannot read (which could be a login it does not
    // know): the page would have nothing to name.
    auto unknown = agent->sign(*key, as_bytes("no SSHSIG, no userauth request"));
    EXPECT_FALSE(unknown.ok());
    EXPECT_TRUE(wait_for_text(dir.file("agent.log"), "a passkey signs only SSHSIGs and step-ups"));
    EXPECT_EQ(pages(), pages_before) << "no page was opened";

    // ssh's own connection (session-bind, not forwarded) is not offered it.
    auto own = AgentClient::connect(dir.file("agent/agent.sock"), geteuid(), 30'000);
    ASSERT_TRUE(own.ok());
    auto bind_with = [&](bool forwarding) {
        WireWriter bind;
        bind.put_string(key->blob());  // a host key: any key blob
        bind.put_string(Bytes(32, 9));
        bind.put_string("a signature the agent keeps, not checks");
        bind.put_bool(forwarding);
        return bind;
    };
    ASSERT_TRUE(own->extension("session-bind@openssh.com", bind_with(false).bytes()).ok());
    EXPECT_EQ(listed(*own), 0u);
    auto forwarded = AgentClient::connect(dir.file("agent/agent.sock"), geteuid(), 30'000);
    ASSERT_TRUE(forwarded.ok());
    ASSERT_TRUE(forwarded->extension("session-bind@openssh.com", bind_with(true).bytes()).ok());
    EXPECT_EQ(listed(*forwarded), 1u);
}

// One passkey page at a time: while one waits for the person, another
// request (a forwarded requester's, say) is refused at once instead of
// opening a second tab beside it.
TEST_F(BrowserAgent, ASecondRequestWhileAPageWaitsIsRefusedAtOnce) {
    auto made = agent_cmd({"generate", "--passkey", "--name", "phone", "--timeout", "120"});
    ASSERT_EQ(made.status, 0) << made.err;
    std::string pub = dir.file("agent/keys/phone.pub");
    // A browser that opens nothing: the first page waits until its limit.
    write_file(dir.file("record"), "#!/bin/sh\necho \"$1\" >> " + dir.file("opened") + "\n", 0755);
    env_["BROWSER"] = dir.file("record");
    agent_ = spawn({required_env("SKGATE_AGENT_BIN"), "run", "--timeout", "20"}, env_,
                   dir.file("agent.log"));
    ASSERT_TRUE(wait_for_text(dir.file("agent.log"), "listening on"));
    write_file(dir.file("first"), "first\n");
    pid_t first =
        spawn({"ssh-keygen", "-Y", "sign", "-n", "skgate-test", "-f", pub, dir.file("first")},
              {{"SSH_AUTH_SOCK", dir.file("agent/agent.sock")}}, dir.file("first.log"));
    ASSERT_TRUE(wait_for_text(dir.file("opened"), "http://localhost:"));
    auto second = sign(pub, "second\n");
    EXPECT_NE(second.status, 0);
    EXPECT_TRUE(
        wait_for_text(dir.file("agent.log"), "another passkey request is waiting in the browser"))
        << read_file(dir.file("agent.log"));
    std::string opened = read_file(dir.file("opened"));
    EXPECT_EQ(std::count(opened.begin(), opened.end(), '\n'), 1) << "one page only";
    kill(first, SIGTERM);
    waitpid(first, nullptr, 0);
}
