// skgate-agent and skgate-authenticator as a person uses them, without a
// server: setup of ~/.ssh/config, pairing (and every way it must fail),
// generating a key, signing through the agent with stock OpenSSH tools, and
// libskgate-sk.so under ssh-keygen.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "core/decide/stepup.h"
#include "core/fido/attestation.h"
#include "core/link/channel.h"
#include "core/link/message_ids.h"
#include "core/link/pairing.h"
#include "core/link/pairing_handshake.h"
#include "core/ssh/agent_client.h"
#include "core/ssh/agent_protocol.h"
#include "core/ssh/sshkey.h"
#include "core/ssh/sshsig.h"
#include "core/ssh/wire.h"
#include "core/sys/base64.h"
#include "core/sys/text.h"
#include "tests/support/client_rig.h"
#include "tests/support/helpers.h"
#include "tests/support/softkey.h"

using namespace skgate;
using namespace skgate::test;

namespace {

std::string bin(const char* var) {
    return std::getenv(var) ? std::getenv(var) : "";
}

mode_t mode_of(const std::string& path) {
    struct stat st {};
    stat(path.c_str(), &st);
    return st.st_mode & 07777;
}

bool exists(const std::string& p) {
    return std::filesystem::exists(p);
}

}  // namespace

class AgentSetup : public ::testing::Test {
  protected:
    TempDir dir;
    std::string home() const { return dir.path(); }
    std::string config() const { return home() + "/.ssh/config"; }
    RunResult setup(const std::vector<std::string>& args) {
        std::vector<std::string> argv{bin("SKGATE_AGENT_BIN"), "setup", "--no-systemd"};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv, "", {{"HOME", home()}, {"SKGATE_AGENT_DIR", ""}});
    }
};

TEST_F(AgentSetup, MissingConfigIsCreatedAndRemovedAgain) {
    auto r = setup({});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(mode_of(home() + "/.ssh"), 0700u);
    EXPECT_EQ(mode_of(config()), 0600u);
    EXPECT_EQ(mode_of(home() + "/.skgate"), 0700u);
    std::string text = read_file(config());
    EXPECT_NE(text.find("IdentityAgent \"" + home() + "/.skgate/agent.sock\""), std::string::npos);
    EXPECT_NE(text.find("Host *\n"), std::string::npos);
    // Idempotent.
    ASSERT_EQ(setup({}).status, 0);
    EXPECT_EQ(read_file(config()), text);
    // ssh itself accepts the file and resolves the agent from it.
    auto g = run({"ssh", "-F", config(), "-G", "example.org"}, "", {{"HOME", home()}});
    EXPECT_NE(g.out.find("identityagent " + home() + "/.skgate/agent.sock"), std::string::npos)
        << g.out << g.err;
    ASSERT_EQ(setup({"--remove"}).status, 0);
    EXPECT_FALSE(exists(config()));
}

TEST_F(AgentSetup, EmptyConfigStaysAndComesBackEmpty) {
    std::filesystem::create_directories(home() + "/.ssh");
    write_file(config(), "", 0600);
    ASSERT_EQ(setup({}).status, 0);
    EXPECT_NE(read_file(config()), "");
    ASSERT_EQ(setup({"--remove"}).status, 0);
    ASSERT_TRUE(exists(config()));
    EXPECT_EQ(read_file(config()), "");
}

TEST_F(AgentSetup, HandWrittenConfigIsRestoredByteForByte) {
    std::filesystem::create_directories(home() + "/.ssh");
    const std::string mine =
        "# my hosts\nHost build\n\tHostName 10.1.2.3\n\tUser me\n\nHost *\n  "
        "ServerAliveInterval 15\n# no newline at the end";
    write_file(config(), mine, 0640);
    auto r = setup({"--hosts", "build web-*"});
    ASSERT_EQ(r.status, 0) << r.err;
    std::string text = read_file(config());
    EXPECT_EQ(text.rfind("# Begin skgate\n", 0), 0u);
    EXPECT_NE(text.find("Host build web-*\n"), std::string::npos);
    EXPECT_EQ(mode_of(config()), 0640u);
    auto only = run({"ssh", "-F", config(), "-G", "other"}, "", {{"HOME", home()}});
    EXPECT_EQ(only.out.find("identityagent " + home()), std::string::npos);
    EXPECT_NE(only.out.find("serveraliveinterval 15"), std::string::npos);
    auto web = run({"ssh", "-F", config(), "-G", "web-1"}, "", {{"HOME", home()}});
    EXPECT_NE(web.out.find("identityagent " + home()), std::string::npos);
    ASSERT_EQ(setup({"--remove"}).status, 0);
    EXPECT_EQ(read_file(config()), mine);
}

// A host the user sent to another agent (1Password, say) keeps it; every
// other host gets skgate's. Read back with the stock ssh's own evaluation of
// the file (ssh -G), not our parser.
TEST_F(AgentSetup, AHostWithItsOwnIdentityAgentKeepsIt) {
    std::filesystem::create_directories(home() + "/.ssh");
    std::filesystem::permissions(home() + "/.ssh", std::filesystem::perms::owner_all);
    const std::string original =
        "Host github.com gitlab.com\n    IdentityAgent ~/.1password/agent.sock\n"
        "Host *.corp !jump.corp\n    IdentityAgent=/run/corp-agent.sock\n"
        "Host web1\n    User deploy\n";
    write_file(config(), original, 0600);
    ASSERT_EQ(setup({}).status, 0);
    auto agent_for = [&](const std::string& host) {
        auto r = run({"ssh", "-G", "-F", config(), host}, "", {{"HOME", home()}});
        EXPECT_EQ(r.status, 0) << r.err;
        std::string v = word_after(r.out, "identityagent ");
        return v;
    };
    std::string ours = home() + "/.skgate/agent.sock";
    EXPECT_EQ(agent_for("web1"), ours);
    EXPECT_EQ(agent_for("jump.corp"), ours);
    EXPECT_NE(agent_for("github.com"), ours);
    EXPECT_NE(agent_for("github.com").find(".1password/agent.sock"), std::string::npos);
    EXPECT_NE(agent_for("gitlab.com").find(".1password/agent.sock"), std::string::npos);
    EXPECT_EQ(agent_for("db.corp"), "/run/corp-agent.sock");
    // Running setup again changes nothing; --remove gives the file back.
    std::string once = read_file(config());
    ASSERT_EQ(setup({}).status, 0);
    EXPECT_EQ(read_file(config()), once);
    ASSERT_EQ(setup({"--remove"}).status, 0);
    EXPECT_EQ(read_file(config()), original);
}

TEST_F(AgentSetup, RefusesASymlinkedConfig) {
    std::filesystem::create_directories(home() + "/.ssh");
    write_file(home() + "/real", "Host a\n", 0600);
    std::filesystem::create_symlink(home() + "/real", config());
    auto r = setup({});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("symbolic link"), std::string::npos);
    EXPECT_EQ(read_file(home() + "/real"), "Host a\n");
}

// A TCP connection to 127.0.0.1:PORT (a stranger's, for the pairing tests).
// A connection to 127.0.0.1:`port` from `from` (any of 127/8: another host,
// as the agent counts sources), or -1 with errno.
int try_connect_loopback(int port, const char* from) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || inet_pton(AF_INET, from, &local.sin_addr) != 1 ||
        bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
        connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int connect_loopback(int port, const char* from = "127.0.0.1") {
    int fd = try_connect_loopback(port, from);
    EXPECT_GE(fd, 0) << "connect from " << from << ": " << std::strerror(errno);
    return fd;
}

// `n` silent connections to the pairing port, four from each of 127.0.0.2,
// 127.0.0.3, ... (the most the agent hears from one host at once).
std::vector<int> hold_connections_open(int port, int n) {
    std::vector<int> held;
    for (int i = 0; i < n; i++) {
        std::string from = "127.0.0." + std::to_string(2 + i / 4);
        held.push_back(connect_loopback(port, from.c_str()));
    }
    return held;
}

class Client : public ::testing::Test {
  protected:
    TempDir dir;
    ClientRig rig{dir.path()};
    void SetUp() override { rig.init_authenticator(); }

    // The person's phone answering the pairing URI.
    std::unique_ptr<Process> start_phone(const std::string& uri) {
        return std::make_unique<Process>(
            std::vector<std::string>{bin("SKGATE_AUTHENTICATOR_BIN"), "pair", uri,
                                     "--passphrase-file", rig.passphrase_file(), "--name",
                                     "test phone"},
            rig.authenticator_env(), dir.file("phone.log"));
    }
    // `skgate-agent pair --address tcp:127.0.0.1:PORT --timeout SECONDS`,
    // waiting for the authenticator; `uri` is the URI it shows.
    void start_tcp_pairing(int port, int timeout_s, std::unique_ptr<Process>& agent,
                           std::string& uri) {
        agent = std::make_unique<Process>(
            std::vector<std::string>{bin("SKGATE_AGENT_BIN"), "pair", "--no-qr", "--timeout",
                                     std::to_string(timeout_s), "--address",
                                     "tcp:127.0.0.1:" + std::to_string(port)},
            rig.agent_env(), dir.file("pair.log"));
        ASSERT_TRUE(agent->wait_for_output("Waiting for the authenticator", 5000))
            << agent->output();
        uri = "skgate-pair:" + word_after(agent->output(), "skgate-pair:");
    }
    // start_tcp_pairing, then the phone answers: both show the code and the
    // agent waits for it to be typed (each wait at most `wait_ms`).
    void start_tcp_pairing_the_phone_answered(int port, int timeout_s,
                                              std::unique_ptr<Process>& agent, std::string& uri,
                                              std::unique_ptr<Process>& phone,
                                              int wait_ms = 20000) {
        ASSERT_NO_FATAL_FAILURE(start_tcp_pairing(port, timeout_s, agent, uri));
        phone = start_phone(uri);
        ASSERT_TRUE(phone->wait_for_output("Confirmation code: ", wait_ms)) << phone->output();
        ASSERT_TRUE(agent->wait_for_output("Type the code", wait_ms)) << agent->output();
    }
    // The person's own ssh-agent at `socket`, and an ordinary key
    // dir/plain, added to it unless `add_plain_key` is false.
    std::unique_ptr<Process> start_ssh_agent(const std::string& socket, bool add_plain_key = true) {
        auto agent = std::make_unique<Process>(
            std::vector<std::string>{"ssh-agent", "-D", "-a", socket},
            std::map<std::string, std::string>{}, dir.file("ssh-agent.log"));
        for (int i = 0; i < 100 && !exists(socket); i++)
            usleep(20000);
        EXPECT_EQ(
            run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir.file("plain")}).status,
            0);
        if (add_plain_key) {
            EXPECT_EQ(
                run({"ssh-add", "-q", dir.file("plain")}, "", {{"SSH_AUTH_SOCK", socket}}).status,
                0);
        }
        return agent;
    }
    // Both show the code; typed on the laptop, it pairs them, and nobody
    // was taken for a second responder.
    void confirm_pairing(Process& agent, Process& phone) {
        ASSERT_TRUE(phone.wait_for_output("Confirmation code: ", 20000)) << phone.output();
        ASSERT_TRUE(agent.wait_for_output("Type the code", 20000)) << agent.output();
        agent.write_stdin(word_after(phone.output(), "Confirmation code: ") + "\n");
        EXPECT_EQ(agent.wait(15000), 0) << agent.output();
        EXPECT_EQ(phone.wait(15000), 0) << phone.output();
        EXPECT_EQ(agent.output().find("second device"), std::string::npos) << agent.output();
        EXPECT_TRUE(exists(rig.agent_home() + "/.skgate/pairing"));
    }
};

TEST_F(Client, WrongConfirmationCodeSavesNothing) {
    auto out = rig.pair("000000x");
    EXPECT_EQ(out.agent_status, 1) << out.agent_output;
    EXPECT_NE(out.agent_output.find("codes differ"), std::string::npos) << out.agent_output;
    EXPECT_EQ(out.authenticator_status, 1);
    EXPECT_NE(out.authenticator_output.find("refused"), std::string::npos);
    EXPECT_FALSE(exists(rig.agent_home() + "/.skgate/pairing"));
    auto list =
        run({bin("SKGATE_AUTHENTICATOR_BIN"), "list", "--passphrase-file", rig.passphrase_file()},
            "", rig.authenticator_env());
    EXPECT_NE(list.out.find("paired with: nobody"), std::string::npos) << list.out;
}

// Someone else who saw the QR code answers too: which device is the
// person's nobody can tell, so the pairing ends on both sides, without the
// code being typed, and nothing is saved anywhere.
TEST_F(Client, ASecondResponderAbortsThePairingOnBothSides) {
    Process agent({bin("SKGATE_AGENT_BIN"), "pair", "--no-qr", "--timeout", "20"}, rig.agent_env(),
                  dir.file("pair.log"));
    ASSERT_TRUE(agent.wait_for_output("Waiting for the authenticator", 5000));
    std::string uri = "skgate-pair:" + word_after(agent.output(), "skgate-pair:");
    Process first(
        {bin("SKGATE_AUTHENTICATOR_BIN"), "pair", uri, "--passphrase-file", rig.passphrase_file()},
        rig.authenticator_env(), dir.file("first.log"));
    ASSERT_TRUE(first.wait_for_output("Confirmation code", 10000)) << first.output();
    TempDir other;
    ClientRig intruder(other.path());
    intruder.init_authenticator();
    auto second = run({bin("SKGATE_AUTHENTICATOR_BIN"), "pair", uri, "--passphrase-file",
                       intruder.passphrase_file()},
                      "", intruder.authenticator_env());
    EXPECT_NE(second.status, 0);
    EXPECT_NE(second.err.find("refused"), std::string::npos) << second.err;
    // Nobody types the code: the agent gives up by itself.
    EXPECT_EQ(agent.wait(20000), 1) << agent.output();
    EXPECT_NE(agent.output().find("second device"), std::string::npos) << agent.output();
    EXPECT_NE(agent.output().find("nothing was saved"), std::string::npos) << agent.output();
    EXPECT_EQ(first.wait(20000), 1) << first.output();
    EXPECT_NE(first.output().find("second device"), std::string::npos) << first.output();
    EXPECT_FALSE(exists(rig.agent_home() + "/.skgate/pairing"));
    for (ClientRig* r : {&rig, &intruder}) {
        auto list = run(
            {bin("SKGATE_AUTHENTICATOR_BIN"), "list", "--passphrase-file", r->passphrase_file()},
            "", r->authenticator_env());
        EXPECT_NE(list.out.find("paired with: nobody"), std::string::npos) << list.out;
    }
}

// A port scan of the pairing address (connect and close), a connection
// sending garbage, and a stranger who knows the address but not the URI's
// token (a well-formed pairing hello, then a confirmation it cannot seal)
// are no second responder: the pairing completes. (A real one, which holds
// the token, still aborts it: above.)
TEST_F(Client, AScanOfThePairingPortDoesNotAbortThePairing) {
    int port = free_port();
    std::unique_ptr<Process> agent, phone;
    std::string uri;
    ASSERT_NO_FATAL_FAILURE(
        start_tcp_pairing_the_phone_answered(port, 20, agent, uri, phone, 10000));
    auto connect_to_pairing = [port] { return connect_loopback(port); };
    close(connect_to_pairing());  // a port scan
    int garbage = connect_to_pairing();
    const char junk[] = "\x00\x00\x00\x05GET /";
    ASSERT_EQ(write(garbage, junk, sizeof junk - 1), static_cast<ssize_t>(sizeof junk - 1));
    // Both were read (and the garbage one closed by the agent) before the
    // code is typed.
    pollfd p{garbage, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 20'000), 1);
    close(garbage);
    {
        SocketTransport stranger(connect_to_pairing());
        CborFields hello;
        hello.set(msg::field::kType, msg::type::kPairHello);
        hello.set(msg::field::kKey, Bytes(32, 0x42));
        hello.set(msg::field::kName, std::string("stranger"));
        ASSERT_TRUE(send_plain(stranger, hello));
        auto ack = receive_plain(stranger, 20'000);
        ASSERT_TRUE(ack) << ack.error().message;
        ASSERT_TRUE(stranger.send(Bytes(40, 0x17)));  // no key made this
        auto closed = stranger.receive(20'000);
        EXPECT_FALSE(closed) << "the agent answered a stranger's confirmation";
    }
    for (int i = 0; i < 200; i++) {
        std::string out = agent->output();
        size_t n = 0;
        for (size_t at = out.find("ignored a connection"); at != std::string::npos;
             at = out.find("ignored a connection", at + 1))
            n++;
        if (n >= 3 || out.find("second device") != std::string::npos)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    confirm_pairing(*agent, *phone);
}

// Connections made before the person's device answers do not stand in its
// way: a silent one held open the whole time and one that sends garbage
// are read beside it, and the device that holds the URI pairs.
TEST_F(Client, ConnectionsBeforeThePhoneDoNotHoldUpThePairing) {
    int port = free_port();
    std::unique_ptr<Process> agent;
    std::string uri;
    ASSERT_NO_FATAL_FAILURE(start_tcp_pairing(port, 60, agent, uri));
    auto connect_to_pairing = [port] { return connect_loopback(port); };
    int silent = connect_to_pairing();
    int garbage = connect_to_pairing();
    const char junk[] = "\x00\x00\x00\x05GET /";
    ASSERT_EQ(write(garbage, junk, sizeof junk - 1), static_cast<ssize_t>(sizeof junk - 1));
    ASSERT_TRUE(agent->wait_for_output("ignored a connection", 20000)) << agent->output();
    close(garbage);
    auto phone = start_phone(uri);
    confirm_pairing(*agent, *phone);
    close(silent);
}

// Connections held open from many hosts take every place the agent hears
// pairing connections in, and one host gets no more than four: the
// person's device, connecting after them, pushes the oldest out and pairs.
TEST_F(Client, ConnectionsHeldOpenFromManyHostsDoNotKeepThePhoneOut) {
    int port = free_port();
    std::unique_ptr<Process> agent;
    std::string uri;
    ASSERT_NO_FATAL_FAILURE(start_tcp_pairing(port, 60, agent, uri));
    std::vector<int> held = hold_connections_open(port, 32);
    // A fifth from one host is not heard; the agent takes connections in
    // order, so by then it has every one before it.
    held.push_back(connect_loopback(port, "127.0.0.2"));
    ASSERT_TRUE(agent->wait_for_output("ignored a connection from 127.0.0.2", 20000))
        << agent->output();
    auto phone = start_phone(uri);
    confirm_pairing(*agent, *phone);
    EXPECT_NE(agent->output().find("closed a connection still in its exchange"), std::string::npos)
        << agent->output();
    for (int fd : held)
        close(fd);
}

// Once a device has answered, connections that push out others may have
// pushed out a second device that holds the URI: the pairing is aborted on
// both sides and nothing is saved.
TEST_F(Client, ConnectionsCrowdingOutOthersAfterTheAnswerAbortThePairing) {
    int port = free_port();
    std::unique_ptr<Process> agent, phone;
    std::string uri;
    ASSERT_NO_FATAL_FAILURE(start_tcp_pairing_the_phone_answered(port, 60, agent, uri, phone));
    std::vector<int> held = hold_connections_open(port, 33);
    EXPECT_EQ(agent->wait(20000), 1) << agent->output();
    EXPECT_NE(agent->output().find("crowded out one that may have been a second device"),
              std::string::npos)
        << agent->output();
    EXPECT_NE(agent->output().find("nothing was saved"), std::string::npos) << agent->output();
    EXPECT_EQ(phone->wait(20000), 1) << phone->output();
    EXPECT_NE(phone->output().find("second device"), std::string::npos) << phone->output();
    EXPECT_FALSE(exists(rig.agent_home() + "/.skgate/pairing"));
    for (int fd : held)
        close(fd);
}

// After a device answered, a second device refused at the door because its
// host already has four connections being heard (everyone behind one NAT
// shares an address, an IPv6 network one /64) is no less crowded out: the
// pairing is aborted.
TEST_F(Client, ASecondDeviceRefusedForItsHostAfterTheAnswerAbortsThePairing) {
    int port = free_port();
    std::unique_ptr<Process> agent, first;
    std::string uri;
    ASSERT_NO_FATAL_FAILURE(start_tcp_pairing_the_phone_answered(port, 60, agent, uri, first));
    std::vector<int> held;
    for (int i = 0; i < 4; i++)
        held.push_back(connect_loopback(port, "127.0.0.1"));
    TempDir other;
    ClientRig intruder(other.path());
    intruder.init_authenticator();
    auto second = run({bin("SKGATE_AUTHENTICATOR_BIN"), "pair", uri, "--passphrase-file",
                       intruder.passphrase_file()},
                      "", intruder.authenticator_env());
    EXPECT_NE(second.status, 0);
    EXPECT_EQ(agent->wait(20000), 1) << agent->output();
    EXPECT_NE(agent->output().find("crowded out"), std::string::npos) << agent->output();
    EXPECT_FALSE(exists(rig.agent_home() + "/.skgate/pairing"));
    for (int fd : held)
        close(fd);
}

// Nine hosts holding four connections each and reconnecting whenever the
// agent closes one: the connection pushed out for a new one is always one
// of a host that holds the most, never the device's own (it holds one),
// however slow its exchange (here 250 ms before each of its messages).
TEST_F(Client, ConnectionChurnFromNineHostsDoesNotPushOutASlowPhone) {
    int port = free_port();
    std::unique_ptr<Process> agent;
    std::string uri;
    ASSERT_NO_FATAL_FAILURE(start_tcp_pairing(port, 60, agent, uri));
    std::atomic<bool> churning{true};
    std::thread churn([&] {
        std::vector<pollfd> fds;
        std::vector<std::string> from;
        for (int h = 0; h < 9; h++)
            for (int i = 0; i < 4; i++) {
                from.push_back("127.0.0." + std::to_string(2 + h));
                fds.push_back({connect_loopback(port, from.back().c_str()), POLLIN, 0});
            }
        char buf[64];
        while (churning.load()) {
            if (poll(fds.data(), fds.size(), 50) <= 0)
                continue;
            for (size_t i = 0; i < fds.size(); i++)
                if (fds[i].fd >= 0 && fds[i].revents && read(fds[i].fd, buf, sizeof buf) <= 0) {
                    close(fds[i].fd);
                    // -1 once the agent is gone (poll skips it).
                    fds[i].fd = try_connect_loopback(port, from[i].c_str());
                }
        }
        for (auto& p : fds)
            if (p.fd >= 0)
                close(p.fd);
    });
    ASSERT_TRUE(agent->wait_for_output("closed a connection still in its exchange", 20000))
        << agent->output();
    struct Slow final : Transport {
        std::shared_ptr<Transport> inner;
        Status send(ByteView f) override {
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
            return inner->send(f);
        }
        Result<Bytes> receive(int ms) override { return inner->receive(ms); }
        void shutdown() override { inner->shutdown(); }
    };
    auto slow = std::make_shared<Slow>();
    slow->inner = std::make_shared<SocketTransport>(connect_loopback(port, "127.0.0.40"));
    auto parsed = PairingUri::parse(uri);
    ASSERT_TRUE(parsed) << parsed.error().message;
    auto answer = authenticator_pairing_answer(slow, *parsed, "slow phone", 20000);
    churning.store(false);
    churn.join();
    EXPECT_TRUE(answer) << answer.error().message;
    // The phone proved the token: the agent says so, or (the churn went on
    // after the answer, and pushed out connections then) aborts, which it
    // does only once a device has answered.
    bool heard = false;
    for (int i = 0; i < 200 && !heard; i++) {
        std::string out = agent->output();
        heard = out.find("Authenticator 'slow phone' answered") != std::string::npos ||
                out.find("crowded out one that may have been a second device") != std::string::npos;
        if (!heard)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(heard) << agent->output().substr(0, 4000);
}

// unpair while the authenticator is connected: its session ends at once, it
// is told (a sealed message), forgets the pairing and stops retrying.
TEST_F(Client, UnpairEndsTheConnectedSessionAndTellsTheAuthenticator) {
    ASSERT_EQ(rig.pair().agent_status, 0);
    rig.start_agent();
    rig.start_authenticator("yes");
    auto unpaired = rig.agent_command({"unpair"});
    EXPECT_EQ(unpaired.status, 0) << unpaired.err;
    EXPECT_NE(unpaired.out.find("ended the session of 'test phone'"), std::string::npos)
        << unpaired.out << rig.agent_log();
    ASSERT_TRUE(rig.wait_for_authenticator("unpaired by", 10000)) << rig.authenticator_log();
    EXPECT_NE(rig.authenticator_log().find("stopping"), std::string::npos);
    auto list =
        run({bin("SKGATE_AUTHENTICATOR_BIN"), "list", "--passphrase-file", rig.passphrase_file()},
            "", rig.authenticator_env());
    EXPECT_NE(list.out.find("paired with: nobody"), std::string::npos) << list.out;
    auto status = rig.agent_command({"status"});
    EXPECT_NE(status.out.find("was unpaired on this laptop"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("paired device: none"), std::string::npos) << status.out;
    // Again: nothing to unpair.
    EXPECT_NE(rig.agent_command({"unpair"}).out.find("Not paired"), std::string::npos);
}

// Pairing again (--replace) while the old pairing's session runs: the agent
// ends that session and tells the device. Here it is the same authenticator
// (one vault, two programs): the running one forgets only the old pairing,
// and the new pairing that `pair` wrote meanwhile is kept, not overwritten.
TEST_F(Client, ANewPairingEndsTheOldSessionAndLosesNothing) {
    ASSERT_EQ(rig.pair().agent_status, 0);
    rig.start_agent();
    rig.start_authenticator("yes");
    std::string pub = read_file(rig.generate("laptop"));
    auto again = rig.pair("", {"--replace"});
    ASSERT_EQ(again.agent_status, 0) << again.agent_output;
    EXPECT_EQ(again.authenticator_status, 0) << again.authenticator_output;
    EXPECT_NE(again.agent_output.find("ended the session of 'test phone'"), std::string::npos)
        << again.agent_output;
    ASSERT_TRUE(rig.wait_for_authenticator("unpaired by", 10000)) << rig.authenticator_log();
    auto list =
        run({bin("SKGATE_AUTHENTICATOR_BIN"), "list", "--passphrase-file", rig.passphrase_file()},
            "", rig.authenticator_env());
    EXPECT_EQ(list.out.find("paired with: nobody"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("key 'laptop'"), std::string::npos) << list.out;
    // The new pairing works: the key made before signs through it.
    rig.stop_authenticator();
    rig.start_authenticator("yes");
    write_file(dir.file("msg"), "hello\n");
    write_file(dir.file("laptop.pub"), pub);
    auto sig = run(
        {"ssh-keygen", "-Y", "sign", "-f", dir.file("laptop.pub"), "-n", "file", dir.file("msg")},
        "", {{"SSH_AUTH_SOCK", rig.agent_socket()}});
    EXPECT_EQ(sig.status, 0) << sig.err << rig.agent_log();
}

// A phone and a backup device paired with one agent (pair --add): each key
// is recorded as its device's, `list` says which, and a request goes only to
// the device that holds its key, so with the backup switched off the
// phone's key still signs at once and the backup's fails at once.
TEST_F(Client, TwoAuthenticatorsEachSignOnlyForTheirOwnKeys) {
    ASSERT_EQ(rig.pair().agent_status, 0);
    rig.use_phone("backup");
    rig.init_authenticator();
    auto added = rig.pair("", {"--add"});
    ASSERT_EQ(added.agent_status, 0) << added.agent_output;
    EXPECT_NE(added.agent_output.find("generate --device 'backup'"), std::string::npos)
        << added.agent_output;
    // The first pairing is kept, byte for byte, and the new one is private.
    std::string backup_record;
    for (const auto& e :
         std::filesystem::directory_iterator(rig.agent_home() + "/.skgate/pairings"))
        backup_record = e.path();
    ASSERT_FALSE(backup_record.empty());
    EXPECT_EQ(std::filesystem::status(backup_record).permissions(),
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    EXPECT_TRUE(std::filesystem::exists(rig.agent_home() + "/.skgate/pairing"));

    rig.start_agent();
    rig.use_phone("phone");
    rig.start_authenticator("yes");
    rig.use_phone("backup");
    rig.start_authenticator("yes");
    auto status = rig.agent_command({"status"});
    EXPECT_NE(status.out.find("paired devices: 'test phone', 'backup'"), std::string::npos)
        << status.out;
    EXPECT_NE(status.out.find("authenticator: 'test phone' connected; 'backup' connected"),
              std::string::npos)
        << status.out;

    // Which device? Never a guess.
    auto unnamed = rig.agent_command({"generate", "--name", "k"});
    EXPECT_EQ(unnamed.status, 1);
    EXPECT_NE(unnamed.err.find("several authenticators are paired ('test phone', 'backup')"),
              std::string::npos)
        << unnamed.err;
    auto unknown = rig.agent_command({"generate", "--name", "k", "--device", "tablet"});
    EXPECT_EQ(unknown.status, 1);
    EXPECT_NE(unknown.err.find("no paired authenticator is called 'tablet'"), std::string::npos)
        << unknown.err;
    EXPECT_FALSE(std::filesystem::exists(rig.agent_home() + "/.skgate/keys/k.pub"));

    std::string on_phone = rig.generate("on-phone", {"--device", "test phone"});
    std::string on_backup = rig.generate("on-backup", {"--device", "backup"});
    auto list = rig.agent_command({"list"});
    EXPECT_NE(list.out.find(" on 'test phone'\n"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find(" on 'backup'\n"), std::string::npos) << list.out;
    EXPECT_LT(list.out.find("on-backup"), list.out.find(" on 'backup'")) << list.out;

    write_file(dir.file("msg"), "hello\n");
    auto sign = [&](const std::string& pub) {
        return run({"ssh-keygen", "-Y", "sign", "-f", pub, "-n", "file", dir.file("msg")}, "",
                   {{"SSH_AUTH_SOCK", rig.agent_socket()}});
    };
    EXPECT_EQ(sign(on_backup).status, 0) << rig.agent_log();
    EXPECT_NE(rig.authenticator_log().find("'on-backup'"), std::string::npos)
        << rig.authenticator_log();
    EXPECT_EQ(rig.authenticator_log().find("'on-phone'"), std::string::npos);
    rig.use_phone("phone");
    EXPECT_EQ(rig.authenticator_log().find("'on-backup'"), std::string::npos)
        << rig.authenticator_log();

    // The backup switched off: its key fails, the phone's still signs.
    rig.use_phone("backup");
    rig.stop_authenticator();
    for (int i = 0; i < 600; i++) {
        if (rig.agent_command({"status"}).out.find("'backup' disconnected") != std::string::npos)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_NE(sign(on_backup).status, 0);
    EXPECT_NE(rig.agent_log().find("sign request with key 'on-backup' (sign data in namespace "
                                   "'file') failed: no authenticator is connected"),
              std::string::npos)
        << rig.agent_log();
    EXPECT_EQ(sign(on_phone).status, 0) << rig.agent_log();

    // unpair names the device when there are several; the other stays.
    auto ambiguous = rig.agent_command({"unpair"});
    EXPECT_EQ(ambiguous.status, 1);
    EXPECT_NE(ambiguous.err.find("name the one to forget with --device"), std::string::npos)
        << ambiguous.err;
    auto unpaired = rig.agent_command({"unpair", "--device", "backup"});
    EXPECT_EQ(unpaired.status, 0) << unpaired.err;
    EXPECT_FALSE(std::filesystem::exists(backup_record));
    list = rig.agent_command({"list"});
    EXPECT_NE(list.out.find(" made on a device no longer paired\n"), std::string::npos) << list.out;
    EXPECT_EQ(sign(on_phone).status, 0) << rig.agent_log();
    EXPECT_NE(rig.agent_command({"status"}).out.find("paired device: test phone\n"),
              std::string::npos);

    // A server the agent is forwarded to learns nothing of the devices: a
    // connection ssh bound as forwarded gets no status; the laptop's does.
    auto host = SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
    WireWriter host_key;
    host_key.put_string("ssh-ed25519");
    host_key.put_string(host.raw_public());
    Bytes sid(32, 5);
    WireWriter host_sig;
    host_sig.put_string("ssh-ed25519");
    host_sig.put_string(host.sign_message(sid));
    WireWriter bind;
    bind.put_u8(agentmsg::kExtension);
    bind.put_string(kExtSessionBind);
    bind.put_string(host_key.bytes());
    bind.put_string(sid);
    bind.put_string(host_sig.bytes());
    bind.put_bool(true);
    auto forwarded = AgentClient::connect(rig.agent_socket(), geteuid(), 10000);
    ASSERT_TRUE(forwarded);
    auto bound = forwarded->request(bind.bytes());
    ASSERT_TRUE(bound && bound->size() == 1 && (*bound)[0] == agentmsg::kSuccess);
    EXPECT_FALSE(forwarded->extension(kExtStatus, {}));
    auto local = AgentClient::connect(rig.agent_socket(), geteuid(), 10000);
    ASSERT_TRUE(local);
    EXPECT_TRUE(local->extension(kExtStatus, {}));
}

// pair --add refuses a second device of a name already paired (--device
// must name one) before any code is compared, and saves nothing; a plain
// `pair --replace` afterwards leaves only the new device.
TEST_F(Client, PairAddRefusesANameTakenAndReplaceEndsEveryOtherPairing) {
    ASSERT_EQ(rig.pair().agent_status, 0);
    rig.use_phone("backup");
    rig.init_authenticator();
    ASSERT_EQ(rig.pair("", {"--add"}).agent_status, 0);
    rig.use_phone("twin", "backup");
    rig.init_authenticator();
    auto twin = rig.pair("", {"--add"});
    EXPECT_EQ(twin.agent_status, 1);
    EXPECT_NE(twin.agent_output.find("an authenticator called 'backup' is paired already"),
              std::string::npos)
        << twin.agent_output;
    EXPECT_NE(twin.authenticator_status, 0);
    EXPECT_NE(twin.authenticator_output.find("paired already: give this one another name"),
              std::string::npos)
        << twin.authenticator_output;
    EXPECT_EQ(
        std::distance(std::filesystem::directory_iterator(rig.agent_home() + "/.skgate/pairings"),
                      std::filesystem::directory_iterator{}),
        1);
    EXPECT_NE(rig.agent_command({"pair", "--add", "--replace"}).status, 0);
    // One broker link per agent: a second device through a broker is
    // refused before anything is listened on or dialled.
    {
        auto p = PairingRecord::parse(as_bytes(read_file(rig.agent_home() + "/.skgate/pairing")));
        ASSERT_TRUE(p);
        p->address = "mqtts:127.0.0.1:1/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        write_file(rig.agent_home() + "/.skgate/pairing", std::string(as_chars(p->serialize())),
                   0600);
        auto broker = rig.agent_command(
            {"pair", "--add", "--no-qr", "--timeout", "5", "--broker", "mqtts:127.0.0.1:1"});
        EXPECT_EQ(broker.status, 1);
        EXPECT_NE(broker.err.find("'test phone' is paired through a broker already"),
                  std::string::npos)
            << broker.err;
    }

    rig.use_phone("new", "new phone");
    rig.init_authenticator();
    auto replaced = rig.pair("", {"--replace"});
    ASSERT_EQ(replaced.agent_status, 0) << replaced.agent_output;
    EXPECT_NE(rig.agent_command({"status"}).out.find("paired device: new phone\n"),
              std::string::npos);
    EXPECT_EQ(
        std::distance(std::filesystem::directory_iterator(rig.agent_home() + "/.skgate/pairings"),
                      std::filesystem::directory_iterator{}),
        0);
}

// pair on a paired laptop asks first; "no" (or no answer) keeps the pairing
// byte for byte.
TEST_F(Client, PairOnAPairedLaptopAsksBeforeReplacing) {
    ASSERT_EQ(rig.pair().agent_status, 0);
    std::string before = read_file(rig.agent_home() + "/.skgate/pairing");
    auto kept = rig.agent_command({"pair", "--no-qr", "--timeout", "5"}, "n\n");
    EXPECT_EQ(kept.status, 1);
    EXPECT_NE(kept.out.find("paired with 'test phone'. Replace that pairing?"), std::string::npos)
        << kept.out;
    EXPECT_NE(kept.err.find("kept the current pairing"), std::string::npos) << kept.err;
    EXPECT_EQ(read_file(rig.agent_home() + "/.skgate/pairing"), before);
    auto silent = rig.agent_command({"pair", "--no-qr", "--timeout", "5"}, "");
    EXPECT_EQ(silent.status, 1);
    EXPECT_EQ(read_file(rig.agent_home() + "/.skgate/pairing"), before);
    // A pairing file the agent cannot read is not replaced unasked either.
    write_file(rig.agent_home() + "/.skgate/pairing", "damaged", 0600);
    auto damaged = rig.agent_command({"pair", "--no-qr", "--timeout", "5"}, "");
    EXPECT_EQ(damaged.status, 1);
    EXPECT_NE(damaged.err.find("kept the current pairing"), std::string::npos) << damaged.err;
    EXPECT_EQ(read_file(rig.agent_home() + "/.skgate/pairing"), "damaged");
}

// A device that has the address but not the token is refused and
// forgotten: the pairing goes on, and the person's device, which has the
// whole URI, still pairs.
TEST_F(Client, ForgedUriWithoutTheTokenIsRefusedAndThePairingGoesOn) {
    Process agent({bin("SKGATE_AGENT_BIN"), "pair", "--no-qr", "--timeout", "30"}, rig.agent_env(),
                  dir.file("pair.log"));
    ASSERT_TRUE(agent.wait_for_output("Waiting for the authenticator", 5000));
    std::string uri = "skgate-pair:" + word_after(agent.output(), "skgate-pair:");
    std::string forged = uri;
    size_t tok = forged.find("token=") + 6;
    forged.replace(tok,
                   forged.find('&', tok) == std::string::npos ? std::string::npos
                                                              : forged.find('&', tok) - tok,
                   "AAAAAAAAAAAAAAAAAAAAAA");
    TempDir other;
    ClientRig stranger(other.path());
    stranger.init_authenticator();
    auto auth = run({bin("SKGATE_AUTHENTICATOR_BIN"), "pair", forged, "--passphrase-file",
                     stranger.passphrase_file()},
                    "", stranger.authenticator_env());
    EXPECT_NE(auth.status, 0);
    ASSERT_TRUE(agent.wait_for_output("does not hold this pairing's token", 20000))
        << agent.output();
    EXPECT_NE(agent.output().find("ignored a connection"), std::string::npos) << agent.output();
    auto phone = start_phone(uri);
    confirm_pairing(agent, *phone);
}

TEST_F(Client, PairGenerateAndSignWithStockOpenSsh) {
    auto paired = rig.pair();
    ASSERT_EQ(paired.agent_status, 0) << paired.agent_output;
    ASSERT_EQ(paired.authenticator_status, 0) << paired.authenticator_output;
    EXPECT_EQ(mode_of(rig.agent_home() + "/.skgate/pairing"), 0600u);
    rig.start_agent();
    rig.start_authenticator("yes");
    std::string pub_path = rig.generate("laptop");
    std::string pub = read_file(pub_path);
    EXPECT_EQ(pub.rfind("sk-ecdsa-sha2-nistp256@openssh.com ", 0), 0u);
    EXPECT_NE(pub.find(" skgate:laptop"), std::string::npos);
    // The attestation it kept verifies for the key and challenge.
    auto key = PublicKey::parse_text(pub);
    ASSERT_TRUE(key);
    std::string base = rig.agent_home() + "/.skgate/keys/laptop";
    auto att = SkAttestation::parse(as_bytes(read_file(base + ".attestation")));
    ASSERT_TRUE(att);
    auto v = verify_attestation(*att, *key, as_bytes(read_file(base + ".challenge")));
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(v->format, "packed-self");
    EXPECT_EQ(mode_of(base + ".key"), 0600u);

    auto listed = run({"ssh-add", "-L"}, "", {{"SSH_AUTH_SOCK", rig.agent_socket()}});
    EXPECT_NE(listed.out.find(std::string(trim(pub)).substr(0, 60)), std::string::npos)
        << listed.out;
    write_file(dir.file("msg"), "hello\n");
    auto sig = run({"ssh-keygen", "-Y", "sign", "-f", pub_path, "-n", "file", dir.file("msg")}, "",
                   {{"SSH_AUTH_SOCK", rig.agent_socket()}});
    ASSERT_EQ(sig.status, 0) << sig.err;
    auto check =
        run({"ssh-keygen", "-Y", "check-novalidate", "-n", "file", "-s", dir.file("msg") + ".sig"},
            "hello\n");
    EXPECT_EQ(check.status, 0) << check.err;
    EXPECT_TRUE(rig.authenticator_log().find("sign data in namespace 'file'") != std::string::npos)
        << rig.authenticator_log();

    auto status = rig.agent_command({"status"});
    EXPECT_NE(status.out.find("authenticator: connected test phone"), std::string::npos)
        << status.out;

    // A second key with the same name is refused before the authenticator
    // is asked: it holds no stray key. Ed25519 works too.
    auto keys_on_authenticator = [&] {
        auto list = run(
            {bin("SKGATE_AUTHENTICATOR_BIN"), "list", "--passphrase-file", rig.passphrase_file()},
            "", rig.authenticator_env());
        size_t n = 0;
        for (size_t at = list.out.find("key '"); at != std::string::npos;
             at = list.out.find("key '", at + 1))
            n++;
        return n;
    };
    size_t held = keys_on_authenticator();
    auto again = rig.agent_command({"generate", "--name", "laptop"});
    EXPECT_EQ(again.status, 1);
    EXPECT_NE(again.err.find("exists already"), std::string::npos) << again.err;
    EXPECT_EQ(again.out.find("Approve the new key"), std::string::npos) << again.out;
    EXPECT_EQ(keys_on_authenticator(), held);
    EXPECT_NE(rig.agent_command({"generate", "--name", "x", "--application", "web:x"}).status, 0);
    EXPECT_EQ(keys_on_authenticator(), held);
    std::string ed = read_file(rig.generate("second", {"--ed25519"}));
    EXPECT_EQ(ed.rfind("sk-ssh-ed25519@openssh.com ", 0), 0u);
}

TEST_F(Client, SecurityKeyProviderWorksWithSshKeygen) {
    ASSERT_EQ(rig.pair().agent_status, 0);
    rig.start_agent();
    rig.start_authenticator("yes");
    std::string provider = bin("SKGATE_SK_LIBRARY");
    std::string key = dir.file("id_ecdsa_sk");
    write_file(dir.file("challenge"), std::string(32, 'c'));
    auto gen =
        run({"ssh-keygen", "-q", "-t", "ecdsa-sk", "-w", provider, "-N", "", "-f", key, "-O",
             "write-attestation=" + key + ".att", "-O", "challenge=" + dir.file("challenge")},
            "", rig.agent_env());
    ASSERT_EQ(gen.status, 0) << gen.err << rig.agent_log();
    auto pub = PublicKey::parse_text(read_file(key + ".pub"));
    ASSERT_TRUE(pub);
    auto att = SkAttestation::parse(as_bytes(read_file(key + ".att")));
    ASSERT_TRUE(att) << att.error().message;
    auto v = verify_attestation(*att, *pub, as_bytes(std::string(32, 'c')));
    EXPECT_TRUE(v) << v.error().message;
    write_file(dir.file("msg"), "data\n");
    auto sig =
        run({"ssh-keygen", "-Y", "sign", "-w", provider, "-f", key, "-n", "file", dir.file("msg")},
            "", rig.agent_env());
    ASSERT_EQ(sig.status, 0) << sig.err;
    auto check =
        run({"ssh-keygen", "-Y", "check-novalidate", "-n", "file", "-s", dir.file("msg") + ".sig"},
            "data\n");
    EXPECT_EQ(check.status, 0) << check.err;
    // The authenticator denies: ssh-keygen fails and says why.
    rig.stop_authenticator();
    rig.start_authenticator("no");
    auto denied =
        run({"ssh-keygen", "-Y", "sign", "-w", provider, "-f", key, "-n", "file", dir.file("msg")},
            "y\n", rig.agent_env());
    EXPECT_NE(denied.status, 0);
    EXPECT_NE(denied.err.find("denied on the authenticator"), std::string::npos) << denied.err;
}

TEST_F(Client, AuthenticatorVaultIsEncryptedAndPrivate) {
    ASSERT_EQ(rig.pair().agent_status, 0);
    rig.start_agent();
    rig.start_authenticator("yes");
    // A name long enough that random ciphertext never holds it by chance
    // (a two-letter one did, about one run in a hundred).
    const std::string name = "vault-label-7c1e9a4b";
    rig.generate(name);
    rig.stop_authenticator();
    std::string vault = dir.path() + "/phone/.skgate-authenticator/vault";
    EXPECT_EQ(mode_of(vault), 0600u);
    EXPECT_EQ(mode_of(dir.path() + "/phone/.skgate-authenticator"), 0700u);
    std::string data = read_file(vault);
    EXPECT_EQ(data.find(name), std::string::npos);  // the key name is inside the ciphertext
    EXPECT_EQ(data.find("ssh:"), std::string::npos);
    write_file(dir.file("wrong"), "not the passphrase\n", 0600);
    auto r = run({bin("SKGATE_AUTHENTICATOR_BIN"), "list", "--passphrase-file", dir.file("wrong")},
                 "", rig.authenticator_env());
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("wrong passphrase"), std::string::npos) << r.err;
    chmod(dir.file("wrong").c_str(), 0644);
    auto loose =
        run({bin("SKGATE_AUTHENTICATOR_BIN"), "list", "--passphrase-file", dir.file("wrong")}, "",
            rig.authenticator_env());
    EXPECT_NE(loose.err.find("chmod 600"), std::string::npos) << loose.err;
}

// systemd starts the agent on the first connection and hands it both
// sockets (sd_listen_fds_with_names), as the units setup installs do.
TEST_F(Client, SocketActivationHandsTheAgentItsSockets) {
    std::string dir_path = rig.agent_home() + "/.skgate";
    std::filesystem::create_directories(dir_path);
    chmod(dir_path.c_str(), 0700);
    Process activator(
        {"systemd-socket-activate", "-l", rig.agent_socket(), "-l", dir_path + "/link.sock",
         "--fdname=agent:link", bin("SKGATE_AGENT_BIN"), "run"},
        rig.agent_env(), dir.file("activate.log"));
    ASSERT_TRUE(activator.wait_for_output("Listening on", 5000)) << activator.output();
    auto r = run({"ssh-add", "-l"}, "", {{"SSH_AUTH_SOCK", rig.agent_socket()}});
    EXPECT_EQ(r.status, 1) << r.out << r.err;  // started, and has no keys yet
    EXPECT_NE(r.out.find("no identities"), std::string::npos) << r.out << r.err;
    EXPECT_TRUE(activator.wait_for_output("listening on", 5000)) << activator.output();
}

TEST_F(AgentSetup, InstallsSystemdUserUnitsForSocketActivation) {
    std::vector<std::string> argv{bin("SKGATE_AGENT_BIN"), "setup"};
    auto r = run(argv, "", {{"HOME", home()}, {"XDG_RUNTIME_DIR", home() + "/no-manager"}});
    ASSERT_EQ(r.status, 0) << r.err;
    std::string units = home() + "/.config/systemd/user/";
    std::string sock = read_file(units + "skgate-agent.socket");
    EXPECT_NE(sock.find("ListenStream=" + home() + "/.skgate/agent.sock"), std::string::npos);
    EXPECT_NE(sock.find("FileDescriptorName=agent"), std::string::npos);
    EXPECT_NE(read_file(units + "skgate-agent-link.socket").find("FileDescriptorName=link"),
              std::string::npos);
    EXPECT_NE(read_file(units + "skgate-agent.service").find(" run"), std::string::npos);
    EXPECT_NE(r.out.find("start the agent with `skgate-agent run`"), std::string::npos) << r.out;
    ASSERT_EQ(run({bin("SKGATE_AGENT_BIN"), "setup", "--remove"}, "", {{"HOME", home()}}).status,
              0);
    EXPECT_FALSE(exists(units + "skgate-agent.socket"));
}

// --forward-agent: the user's other keys still work through skgate-agent.
TEST_F(Client, ForwardsOtherKeysToThePreviousAgentOnlyWhenAsked) {
    std::string upstream = dir.file("upstream.sock");
    auto ssh_agent = start_ssh_agent(upstream);
    write_file(dir.file("msg"), "m\n");
    rig.start_agent();
    auto off = run({"ssh-add", "-L"}, "", {{"SSH_AUTH_SOCK", rig.agent_socket()}});
    EXPECT_EQ(off.out.find("ssh-ed25519"), std::string::npos) << off.out;
    rig.stop_agent();
    rig.start_agent({"--forward-agent", upstream});
    auto on = run({"ssh-add", "-L"}, "", {{"SSH_AUTH_SOCK", rig.agent_socket()}});
    EXPECT_NE(on.out.find("ssh-ed25519"), std::string::npos) << on.out << on.err;
    auto sig = run(
        {"ssh-keygen", "-Y", "sign", "-f", dir.file("plain.pub"), "-n", "file", dir.file("msg")},
        "", {{"SSH_AUTH_SOCK", rig.agent_socket()}});
    EXPECT_EQ(sig.status, 0) << sig.err;
}

// A client that opens connections and sends only the start of a frame (root
// on a server the agent is forwarded to can): beyond its share of the
// descriptors the agent closes new connections at once, drops the stalled
// ones when their frame does not finish, never exits, and answers ssh again.
TEST_F(Client, StalledConnectionsNeitherStopNorStarveTheAgent) {
    Process agent({"prlimit", "--nofile=64:64", bin("SKGATE_AGENT_BIN"), "run"}, rig.agent_env(),
                  dir.file("agent-limited.log"));
    ASSERT_TRUE(agent.wait_for_output("listening on", 5000)) << agent.output();
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = rig.agent_socket();
    ASSERT_LT(path.size(), sizeof addr.sun_path);
    std::memcpy(addr.sun_path, path.data(), path.size());
    std::vector<int> stalled;
    for (int i = 0; i < 100; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_GE(fd, 0);
        if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            close(fd);
            continue;
        }
        const char first = 0;  // the first byte of a length prefix, and no more
        ASSERT_EQ(write(fd, &first, 1), 1);
        stalled.push_back(fd);
    }
    ASSERT_TRUE(agent.wait_for_output("connections are open already", 10000)) << agent.output();
    // The stalled frames do not finish: the agent closes those connections.
    pollfd p{stalled.front(), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 60'000), 1) << "the agent kept a stalled connection";
    char c;
    EXPECT_EQ(read(stalled.front(), &c, 1), 0);
    EXPECT_EQ(agent.wait(0), -1) << "the agent exited: " << agent.output();
    for (int fd : stalled)
        close(fd);
    // And ssh's requests are answered again.
    RunResult listed;
    for (int i = 0; i < 200; i++) {
        listed = run({"ssh-add", "-l"}, "", {{"SSH_AUTH_SOCK", rig.agent_socket()}});
        if (listed.out.find("has no identities") != std::string::npos)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_NE(listed.out.find("has no identities"), std::string::npos) << listed.out << listed.err;
}

// Strangers on the network opening handshakes to the TCP link (and saying
// nothing) get at most a few places; ssh's own clients still get theirs.
// Under a descriptor limit of 64 the agent serves 24 connections: without a
// separate limit for the link, 40 stalled handshakes would take them all.
TEST_F(Client, StalledLinkHandshakesLeaveRoomForSsh) {
    ASSERT_EQ(rig.pair().agent_status, 0);  // else a stranger is refused at once
    std::string listen = "tcp:127.0.0.1:" + std::to_string(free_port());
    Process agent({"prlimit", "--nofile=64:64", bin("SKGATE_AGENT_BIN"), "run", "--listen", listen},
                  rig.agent_env(), dir.file("agent-link-limited.log"));
    ASSERT_TRUE(agent.wait_for_output("listening on", 5000)) << agent.output();
    int port = std::stoi(listen.substr(listen.rfind(':') + 1));
    std::vector<int> strangers;
    for (int i = 0; i < 40; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_GE(fd, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            close(fd);
            continue;
        }
        strangers.push_back(fd);
    }
    // Refused by the link's places, or (one source) by that source's share.
    bool refused = false;
    for (int i = 0; i < 200 && !refused; i++) {
        std::string out = agent.output();
        refused = out.find("are connecting already") != std::string::npos ||
                  out.find("refused a link connection from 127.0.0.1") != std::string::npos;
        if (!refused)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(refused) << agent.output();
    auto listed = run({"ssh-add", "-l"}, "", {{"SSH_AUTH_SOCK", rig.agent_socket()}});
    EXPECT_NE(listed.out.find("has no identities"), std::string::npos) << listed.out << listed.err;
    EXPECT_EQ(agent.output().find("connections are open already"), std::string::npos)
        << agent.output();
    for (int fd : strangers)
        close(fd);
}

// A step-up's description comes from the server (root there can write any
// context): escape sequences in it must not reach the person's terminal,
// where they could rewrite the question. Through the real agent and the
// real authenticator, which writes the question as the terminal would show it.
TEST_F(Client, AStepUpDescriptionCannotRewriteThePrompt) {
    ASSERT_EQ(rig.pair().agent_status, 0);
    rig.start_agent();
    rig.start_authenticator("yes");
    auto key = PublicKey::parse_text(read_file(rig.generate("laptop")));
    ASSERT_TRUE(key);
    const std::string context =
        "skgate step-up v1\nnonce=00\nhost=web1\x1b[2K\rgood-host\nuser=alice\nrequester=alice\n"
        "service=sudo\ncommand=/bin/rm -rf /\x1b[1A\ntime=2026-12-03T00:00:00Z\n";
    auto data = stepup_signed_data(context);
    ASSERT_TRUE(data);
    auto agent = AgentClient::connect(rig.agent_socket(), geteuid(), 10000);
    ASSERT_TRUE(agent);
    WireWriter w;
    w.put_string(context);
    ASSERT_TRUE(agent->extension(kExtStepUpContext, w.bytes()));
    ASSERT_TRUE(agent->sign(*key, *data));
    std::string log = rig.authenticator_log();
    EXPECT_NE(log.find("step-up for 'alice'"), std::string::npos) << log;
    EXPECT_EQ(log.find('\x1b'), std::string::npos) << "a raw escape reached the prompt: " << log;
    EXPECT_NE(log.find("web1\\x1b[2K\\x0dgood-host"), std::string::npos) << log;
}

// A backup of the authenticator's vault put back while it runs (an older
// copy, with lower counters) must not make it issue a counter a server has
// seen already: the running authenticator keeps the highest it issued.
TEST_F(Client, ARestoredVaultDoesNotTurnTheCounterBack) {
    ASSERT_EQ(rig.pair().agent_status, 0);
    rig.start_agent();
    rig.start_authenticator("yes");
    std::string pub = rig.generate("laptop");
    std::string vault = dir.path() + "/phone/.skgate-authenticator/vault";
    std::string backup = read_file(vault);  // the key at counter 0
    write_file(dir.file("msg"), "hello\n");
    auto counter_of_a_signature = [&]() -> uint32_t {
        std::filesystem::remove(dir.file("msg") + ".sig");
        auto sig = run({"ssh-keygen", "-Y", "sign", "-f", pub, "-n", "file", dir.file("msg")}, "",
                       {{"SSH_AUTH_SOCK", rig.agent_socket()}});
        EXPECT_EQ(sig.status, 0) << sig.err << rig.agent_log();
        auto parsed = SshSig::parse_armored(read_file(dir.file("msg") + ".sig"));
        EXPECT_TRUE(parsed) << parsed.error().message;
        if (!parsed)
            return 0;
        auto v = sshsig_verify(*parsed, as_bytes(std::string("hello\n")), "file");
        EXPECT_TRUE(v) << v.error().message;
        return v ? v->counter : 0;
    };
    uint32_t first = counter_of_a_signature();
    uint32_t second = counter_of_a_signature();
    EXPECT_GT(second, first);
    write_file(vault, backup, 0600);  // the backup put back
    uint32_t after = counter_of_a_signature();
    EXPECT_GT(after, second) << "a counter was issued twice";
}

// skgate-agent doctor: each pitfall, met the way ssh meets it (the real ssh
// -V and ssh -G, the real agent and authenticator, a real ssh-agent), is
// named with its fix; the exit status is 1 while any is a problem.
class Doctor : public Client {
  protected:
    RunResult doctor(const std::vector<std::string>& args,
                     std::map<std::string, std::string> env = {}) {
        std::map<std::string, std::string> e = rig.agent_env();
        e["SSH_ASKPASS"] = "/bin/true";
        e["SSH_AUTH_SOCK"] = rig.agent_socket();
        for (const auto& [k, v] : env)
            e[k] = v;
        std::vector<std::string> argv{bin("SKGATE_AGENT_BIN"), "doctor", "-F", ssh_config()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv, "", e);
    }
    std::string ssh_config() const { return dir.file("ssh_config"); }
    // A directory with an `ssh` that says it is `version`.
    std::string path_with_ssh(const std::string& version) {
        std::string bindir = dir.file("oldssh");
        std::filesystem::create_directories(bindir);
        write_file(bindir + "/ssh", "#!/bin/sh\necho '" + version + ", OpenSSL 1.1.1' >&2\n", 0755);
        return bindir + ":/usr/bin:/bin";
    }
};

TEST_F(Doctor, NamesEachPitfallWithItsFix) {
    write_file(ssh_config(), "Host elsewhere\n    IdentityAgent " + dir.file("other.sock") + "\n");
    // Nothing running, nothing paired.
    auto bare = doctor({}, {{"SSH_ASKPASS", dir.file("no-askpass")}});
    EXPECT_EQ(bare.status, 1) << bare.out << bare.err;
    EXPECT_NE(bare.out.find("problem  agent: not running at " + rig.agent_socket()),
              std::string::npos)
        << bare.out;
    EXPECT_NE(bare.out.find("problem  authenticator: none paired\n         fix: skgate-agent pair"),
              std::string::npos)
        << bare.out;
    EXPECT_NE(bare.out.find("warning  ssh-askpass: " + dir.file("no-askpass") + " does not exist"),
              std::string::npos)
        << bare.out;
    EXPECT_NE(bare.out.find("ok       OpenSSH client: /usr/bin/ssh is OpenSSH_"), std::string::npos)
        << bare.out;

    // ssh older than 8.2 has no security keys; before 8.9, no verify-required
    // through an agent.
    auto ancient = doctor({}, {{"PATH", path_with_ssh("OpenSSH_8.1p1")}});
    EXPECT_NE(ancient.out.find("problem  OpenSSH client: " + dir.file("oldssh") +
                               "/ssh is OpenSSH_8.1p1: no security-key support"),
              std::string::npos)
        << ancient.out;
    auto older = doctor({}, {{"PATH", path_with_ssh("OpenSSH_8.4p1")}});
    EXPECT_NE(older.out.find("warning  OpenSSH client: " + dir.file("oldssh") +
                             "/ssh is OpenSSH_8.4p1: keys made with --verify-required"),
              std::string::npos)
        << older.out;

    // Paired, the agent and the authenticator running: all well for a host
    // that uses the agent; a host whose own block names another agent is not.
    auto paired = rig.pair();
    ASSERT_EQ(paired.agent_status, 0) << paired.agent_output;
    rig.start_agent();
    rig.start_authenticator("yes");
    bool connected = false;
    for (int i = 0; i < 200 && !connected; i++) {
        connected =
            rig.agent_command({"status"}).out.find("authenticator: connected") != std::string::npos;
        if (!connected)
            usleep(50'000);
    }
    ASSERT_TRUE(connected) << rig.agent_command({"status"}).out;
    auto well = doctor({"somewhere"});
    EXPECT_EQ(well.status, 0) << well.out << well.err;
    EXPECT_NE(well.out.find("ok       authenticator: connected test phone"), std::string::npos)
        << well.out;
    EXPECT_NE(well.out.find("ok       IdentityAgent for somewhere: skgate-agent (SSH_AUTH_SOCK)"),
              std::string::npos)
        << well.out;
    auto elsewhere = doctor({"elsewhere"});
    EXPECT_EQ(elsewhere.status, 1);
    EXPECT_NE(elsewhere.out.find("problem  IdentityAgent for elsewhere: ssh uses another agent, " +
                                 dir.file("other.sock")),
              std::string::npos)
        << elsewhere.out;
    EXPECT_NE(elsewhere.out.find("fix: skgate-agent setup --hosts \"elsewhere\""),
              std::string::npos)
        << elsewhere.out;
    // An SSH_AUTH_SOCK that is not the agent's.
    auto other_sock = doctor({"somewhere"}, {{"SSH_AUTH_SOCK", dir.file("other.sock")}});
    EXPECT_NE(other_sock.out.find("problem  IdentityAgent for somewhere: ssh uses SSH_AUTH_SOCK (" +
                                  dir.file("other.sock") + "), not skgate-agent"),
              std::string::npos)
        << other_sock.out;

    // The authenticator gone: paired, but not connected.
    rig.stop_authenticator();
    rig.wait_until_agent_sees_no_authenticator();
    auto away = doctor({});
    EXPECT_EQ(away.status, 1);
    EXPECT_NE(away.out.find("problem  authenticator: paired with test phone but not connected"),
              std::string::npos)
        << away.out;
}

// The keys of the person's other agent (SSH_AUTH_SOCK): doctor says when
// ssh does not offer them where skgate-agent is the IdentityAgent, and that
// with --forward-agent they are offered, ssh-add -h constraints kept.
TEST_F(Doctor, SaysWhereTheOtherAgentsKeysAreNotOffered) {
    write_file(ssh_config(), "Host *\n    IdentityAgent " + rig.agent_socket() + "\n");
    std::string upstream = dir.file("upstream.sock");
    auto ssh_agent = start_ssh_agent(upstream);
    rig.start_agent();
    auto alone = doctor({}, {{"SSH_AUTH_SOCK", upstream}});
    EXPECT_NE(alone.out.find("ok       IdentityAgent for any host: skgate-agent (IdentityAgent)"),
              std::string::npos)
        << alone.out;
    EXPECT_NE(alone.out.find("warning  keys of another agent: the agent in SSH_AUTH_SOCK (" +
                             upstream + ") holds 1 key(s) that ssh does not offer"),
              std::string::npos)
        << alone.out;
    EXPECT_NE(alone.out.find("ExecStart=skgate-agent run --forward-agent " + upstream),
              std::string::npos)
        << alone.out;
    rig.stop_agent();
    rig.start_agent({"--forward-agent", upstream});
    auto forwarding = doctor({}, {{"SSH_AUTH_SOCK", upstream}});
    EXPECT_NE(forwarding.out.find("ok       keys of another agent: 1 key(s) of the agent "
                                  "skgate-agent forwards to (run --forward-agent) are offered too; "
                                  "those added there with `ssh-add -h` keep"),
              std::string::npos)
        << forwarding.out;
}

// A key the upstream agent holds with a destination constraint (ssh-add
// -h) works through skgate-agent where it is meant to and nowhere else:
// ssh's session bind reaches the upstream agent on the connection it
// constrains. (Relayed on a new connection per request, no bind ever
// reached it, and ssh-agent signs with such a key on no unbound connection.)
TEST_F(Client, ADestinationConstrainedUpstreamKeyWorksOnlyForItsHost) {
    std::string upstream = dir.file("upstream.sock");
    auto ssh_agent = start_ssh_agent(upstream, false);
    auto host_blob = [](const SoftSkKey& k) {
        WireWriter w;
        w.put_string("ssh-ed25519");
        w.put_string(k.raw_public());
        return w.bytes();
    };
    auto host_a = SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
    auto host_b = SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
    write_file(dir.file("known_hosts"),
               "hosta ssh-ed25519 " + base64_encode(host_blob(host_a)) + "\n");
    auto added =
        run({"ssh-add", "-q", "-H", dir.file("known_hosts"), "-h", "hosta", dir.file("plain")}, "",
            {{"SSH_AUTH_SOCK", upstream}});
    ASSERT_EQ(added.status, 0) << added.err;
    auto plain = PublicKey::parse_text(read_file(dir.file("plain.pub")));
    ASSERT_TRUE(plain);
    rig.start_agent({"--forward-agent", upstream});

    // What ssh does on a connection to `host`: binds it, then asks for the
    // signature of its userauth request (publickey-hostbound).
    auto connect_bound = [&](const SoftSkKey& host, uint8_t sid_byte, bool forwarding) {
        auto c = AgentClient::connect(rig.agent_socket(), geteuid(), 10000);
        EXPECT_TRUE(c) << c.error().message;
        Bytes sid(32, sid_byte);
        WireWriter sig;
        sig.put_string("ssh-ed25519");
        sig.put_string(host.sign_message(sid));
        WireWriter bind;
        bind.put_u8(agentmsg::kExtension);
        bind.put_string(kExtSessionBind);
        bind.put_string(host_blob(host));
        bind.put_string(sid);
        bind.put_string(sig.bytes());
        bind.put_bool(forwarding);
        auto bound = c->request(bind.bytes());
        EXPECT_TRUE(bound && bound->size() == 1 && (*bound)[0] == agentmsg::kSuccess);
        return std::move(*c);
    };
    auto userauth = [&](const SoftSkKey& host, uint8_t sid_byte) {
        WireWriter w;
        w.put_string(Bytes(32, sid_byte));
        w.put_u8(50);
        w.put_string("alice");
        w.put_string("ssh-connection");
        w.put_string("publickey-hostbound-v00@openssh.com");
        w.put_bool(true);
        w.put_string("ssh-ed25519");
        w.put_string(plain->blob());
        w.put_string(host_blob(host));
        return w.bytes();
    };
    auto lists_plain = [&](AgentClient& c) {
        auto ids = c.identities();
        if (!ids)
            return false;
        return std::any_of(ids->begin(), ids->end(),
                           [&](const AgentIdentity& id) { return id.key.same_key(*plain); });
    };

    auto to_a = connect_bound(host_a, 0x11, false);
    EXPECT_TRUE(lists_plain(to_a));
    auto signed_for_a = to_a.sign(*plain, userauth(host_a, 0x11));
    EXPECT_TRUE(signed_for_a.ok()) << signed_for_a.error().message;

    auto to_b = connect_bound(host_b, 0x22, false);
    EXPECT_FALSE(to_b.sign(*plain, userauth(host_b, 0x22)).ok())
        << "signed with a key for hosta only on a connection to host B";
    auto forwarded_to_b = connect_bound(host_b, 0x33, true);
    EXPECT_FALSE(lists_plain(forwarded_to_b)) << "a key for hosta only, listed on a hop to B";
    EXPECT_FALSE(forwarded_to_b.sign(*plain, userauth(host_b, 0x33)).ok());
}
