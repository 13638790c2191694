// The whole client story against Debian's own sshd: pair, generate on the
// authenticator, enroll with skgatectl (attestation checked), and log in with
// the stock ssh client through skgate-agent while the authenticator
// approves, denies, stays silent or asks for the PIN.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "core/link/channel.h"
#include "core/ssh/agent_client.h"
#include "core/ssh/sshkey.h"
#include "core/ssh/wire.h"
#include "core/sys/text.h"
#include "tests/e2e/sshd_harness.h"
#include "tests/support/client_rig.h"

using namespace skgate;
using namespace skgate::test;

namespace {

constexpr const char* kAlice = "skgt-alice";

class E2eAgent : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        std::string dir = SshdHarness::e2e_dir();
        if (dir.empty())
            return;
        sshd_ = new SshdHarness(dir + "/agent-e2e");
        sshd_->install_helper();
    }
    static void TearDownTestSuite() {
        delete sshd_;
        sshd_ = nullptr;
    }

    void SetUp() override {
        if (!sshd_)
            GTEST_SKIP() << "run through tests/scripts/e2e-env.sh (meson test does)";
        std::filesystem::remove_all(sshd_->path("keys.d"));
        client_dir_ = std::make_unique<TempDir>();
        rig_ = std::make_unique<ClientRig>(client_dir_->path());
        rig_->init_authenticator();
        auto paired = rig_->pair();
        ASSERT_EQ(paired.agent_status, 0) << paired.agent_output << paired.authenticator_output;
    }
    void TearDown() override {
        rig_.reset();
        client_dir_.reset();
        if (sshd_)
            sshd_->stop();
    }

    void configure(const std::string& policy) {
        sshd_->start_with_skgate_keys(policy, "MaxStartups 64\n");
    }

    // Generates NAME on the authenticator and enrolls it as skgatectl would
    // for an administrator, with the attestation the agent kept.
    std::string generate_and_enroll(const std::string& name,
                                    const std::vector<std::string>& extra = {}) {
        std::string pub = rig_->generate(name, extra);
        auto r = sshd_->enroll_generated(kAlice, pub, name);
        EXPECT_EQ(r.status, 0) << r.out << r.err;
        return pub;
    }

    // An enrolled key whose authenticator has gone: the agent (its request
    // timeout an hour, so a request that waited for it would hang the test)
    // has seen it disconnect.
    std::string enroll_then_stop_the_authenticator() {
        configure("");
        rig_->start_agent({"--timeout", "3600"});
        rig_->start_authenticator("yes");
        std::string pub = generate_and_enroll("laptop");
        rig_->stop_authenticator();
        rig_->wait_until_agent_sees_no_authenticator();
        return pub;
    }

    RunResult login(const std::string& pub) {
        return sshd_->login(kAlice, pub, {}, "echo skgate-login-ok",
                            {"BatchMode=yes", "IdentityAgent=" + rig_->agent_socket()});
    }

    static SshdHarness* sshd_;
    std::unique_ptr<TempDir> client_dir_;
    std::unique_ptr<ClientRig> rig_;
};

SshdHarness* E2eAgent::sshd_ = nullptr;

}  // namespace

// pair -> generate -> enroll -> ssh: accepted, approved on the authenticator.
TEST_F(E2eAgent, LoginApprovedOnTheAuthenticator) {
    configure("");
    rig_->start_agent();
    rig_->start_authenticator("yes");
    std::string pub = generate_and_enroll("laptop");
    auto r = login(pub);
    EXPECT_EQ(r.status, 0) << r.err << sshd_->new_log() << rig_->agent_log();
    EXPECT_NE(r.out.find("skgate-login-ok"), std::string::npos);
    std::string fp = PublicKey::parse_text(read_file(pub))->fingerprint();
    EXPECT_NE(rig_->authenticator_log().find("log in as 'skgt-alice' to the server with host key"),
              std::string::npos)
        << rig_->authenticator_log();
    EXPECT_NE(
        sshd_->journal({"SKGATE_EVENT=agent-sign", "SKGATE_DECISION=allow", "SKGATE_KEY_FP=" + fp}),
        "");
    EXPECT_NE(sshd_->journal(
                  {"SKGATE_EVENT=keys-lookup", "SKGATE_DECISION=allow", "SKGATE_KEY_FP=" + fp}),
              "");
}

// The person says no: sshd never sees a signature; the reason is logged.
TEST_F(E2eAgent, AuthenticatorDeniesAndTheLoginIsRefused) {
    configure("");
    rig_->start_agent();
    rig_->start_authenticator("yes");
    std::string pub = generate_and_enroll("laptop");
    rig_->stop_authenticator();
    rig_->start_authenticator("no");
    auto r = login(pub);
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_EQ(r.out.find("skgate-login-ok"), std::string::npos);
    EXPECT_NE(rig_->agent_log().find("denied on the authenticator"), std::string::npos)
        << rig_->agent_log();
    std::string fp = PublicKey::parse_text(read_file(pub))->fingerprint();
    std::string events =
        sshd_->journal({"SKGATE_EVENT=agent-sign", "SKGATE_DECISION=deny", "SKGATE_KEY_FP=" + fp});
    EXPECT_NE(events.find("denied on the authenticator"), std::string::npos) << events;
}

// Nobody answers: the request times out with a reason, and the agent goes on
// serving the next login.
TEST_F(E2eAgent, SilentAuthenticatorTimesOutAndTheAgentKeepsServing) {
    configure("");
    rig_->start_agent({"--timeout", "2"});
    rig_->start_authenticator("yes");
    std::string pub = generate_and_enroll("laptop");
    rig_->stop_authenticator();
    rig_->start_authenticator("silent");
    auto r = login(pub);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(rig_->agent_log().find("did not answer within 2 s"), std::string::npos)
        << rig_->agent_log();
    std::string fp = PublicKey::parse_text(read_file(pub))->fingerprint();
    EXPECT_NE(
        sshd_->journal({"SKGATE_EVENT=agent-sign", "SKGATE_DECISION=deny", "SKGATE_KEY_FP=" + fp})
            .find("did not answer"),
        std::string::npos);
    rig_->stop_authenticator();
    rig_->start_authenticator("yes");
    auto again = login(pub);
    EXPECT_EQ(again.status, 0) << again.err << rig_->agent_log();
}

// A prompt nobody answers is refused at once: the agent's own timeout is an
// hour here, so the login would hang (and the test time out) if the
// authenticator kept the refusal to itself.
TEST_F(E2eAgent, APromptNobodyAnswersIsRefusedAtOnce) {
    configure("");
    rig_->start_agent({"--timeout", "3600"});
    rig_->start_authenticator("yes");
    std::string pub = generate_and_enroll("laptop");
    rig_->stop_authenticator();
    rig_->start_authenticator("silent", {"--prompt-timeout", "1"});
    auto r = login(pub);
    EXPECT_NE(r.status, 0);
    EXPECT_EQ(r.out.find("skgate-login-ok"), std::string::npos);
    EXPECT_NE(rig_->agent_log().find("nobody answered on the authenticator"), std::string::npos)
        << rig_->agent_log();
}

// No authenticator connected: ssh hears the refusal at once, not after the
// agent's request timeout (an hour here, so a login that waited for it would
// hang the test), and the agent says why in its log and in `status`.
TEST_F(E2eAgent, WithNoAuthenticatorConnectedTheLoginFailsAtOnce) {
    std::string pub = enroll_then_stop_the_authenticator();
    auto r = login(pub);
    EXPECT_NE(r.status, 0);
    EXPECT_EQ(r.out.find("skgate-login-ok"), std::string::npos);
    std::string log = rig_->agent_log();
    EXPECT_NE(log.find("no authenticator is connected"), std::string::npos) << log;
    EXPECT_NE(log.find("disconnected ("), std::string::npos) << log;
    auto status = rig_->agent_command({"status"});
    EXPECT_NE(status.out.find("authenticator: disconnected: at "), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("' disconnected ("), std::string::npos) << status.out;
    // The next login works once the authenticator is back.
    rig_->start_authenticator("yes");
    auto again = login(pub);
    EXPECT_EQ(again.status, 0) << again.err << rig_->agent_log();
}

// Strangers who open connections to the link and say nothing (anyone on the
// network can, to run --listen) do not hold a request up: with no
// authenticator running, a sign request fails with the agent's reason while
// their connections are still open and in their handshake. A request that
// waited for them (as it did when any accepted connection counted as an
// authenticator connecting) failed only once the agent had refused them
// when their handshake time was up, so its failure would follow those
// refusals in the agent's log. The request is sent straight to the agent
// socket (no ssh between), so it reaches the agent at once after them.
TEST_F(E2eAgent, SilentLinkConnectionsDoNotHoldUpTheFastFailure) {
    std::string pub = enroll_then_stop_the_authenticator();
    auto key = PublicKey::parse_text(read_file(pub));
    ASSERT_TRUE(key);
    auto agent = AgentClient::connect(rig_->agent_socket(), geteuid(), 30000);
    ASSERT_TRUE(agent);
    std::vector<std::unique_ptr<Transport>> silent;
    for (int i = 0; i < 3; i++) {
        auto t = connect_channel("unix:" + rig_->agent_home() + "/.skgate/link.sock", 5000);
        ASSERT_TRUE(t) << t.error().message;
        silent.push_back(std::move(*t));
    }
    auto sig = agent->sign(*key, as_bytes(std::string("data to sign")));
    std::string log = rig_->agent_log();
    silent.clear();  // closed only now that the request has returned
    EXPECT_FALSE(sig);
    size_t failed = log.find("no authenticator is connected");
    ASSERT_NE(failed, std::string::npos) << log;
    EXPECT_EQ(log.rfind("refused an authenticator", failed), std::string::npos)
        << "the request waited for the silent connections' handshakes to end: " << log;
}

// The person at the terminal: what was typed before the prompt appeared
// (an 'o' and Enter, pressed ahead) is thrown away; only what is typed in
// answer to the prompt counts. Here that is 'd', so the login is refused;
// had the typed-ahead 'o' been read, it would have succeeded.
TEST_F(E2eAgent, InputTypedBeforeThePromptDoesNotApprove) {
    configure("");
    rig_->start_agent();
    rig_->start_authenticator("yes");
    std::string pub = generate_and_enroll("laptop");
    rig_->stop_authenticator();
    rig_->start_authenticator_on_terminal();
    rig_->type_on_authenticator("o\n");
    // The terminal echoes it: the line is in the pty's input queue.
    ASSERT_TRUE(rig_->wait_for_authenticator("requests\r\no\r\n", 10000))
        << rig_->authenticator_log();
    RunResult r;
    std::thread ssh([&] { r = login(pub); });
    bool asked = rig_->wait_for_authenticator("[o] allow once", 30000);
    rig_->type_on_authenticator("d\n");
    ssh.join();
    ASSERT_TRUE(asked) << rig_->authenticator_log();
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_EQ(r.out.find("skgate-login-ok"), std::string::npos);
    EXPECT_NE(rig_->agent_log().find("denied on the authenticator"), std::string::npos)
        << rig_->agent_log();
    // And an answer typed after the prompt is what counts (so the refusal
    // above was the typed 'd', not a terminal that reads nothing).
    rig_->stop_authenticator();
    rig_->start_authenticator_on_terminal();
    std::thread again([&] { r = login(pub); });
    asked = rig_->wait_for_authenticator("[o] allow once", 30000);
    rig_->type_on_authenticator("o\n");
    again.join();
    ASSERT_TRUE(asked) << rig_->authenticator_log();
    EXPECT_EQ(r.status, 0) << r.err << rig_->agent_log();
    EXPECT_NE(r.out.find("skgate-login-ok"), std::string::npos);
}

// VerifyRequired: the PIN turns UV on; without it sshd refuses the login.
TEST_F(E2eAgent, VerifyRequiredNeedsThePin) {
    configure("VerifyRequired yes\n");
    rig_->start_agent();
    rig_->start_authenticator("yes", {"--pin-file", rig_->passphrase_file()});
    std::string pub = generate_and_enroll("pinned", {"--verify-required"});
    auto ok = login(pub);
    EXPECT_EQ(ok.status, 0) << ok.err << sshd_->new_log() << rig_->agent_log();

    rig_->stop_authenticator();
    rig_->start_authenticator("yes");  // the person does not enter the PIN
    sshd_->new_log();
    auto refused = login(pub);
    EXPECT_NE(refused.status, 0);
    EXPECT_NE(rig_->agent_log().find("user verification (PIN) failed"), std::string::npos)
        << rig_->agent_log();
}

// A key made without --verify-required cannot satisfy VerifyRequired even if
// the authenticator is asked nicely: skgate-keys adds verify-required, and a
// signature without UV is refused by sshd.
TEST_F(E2eAgent, VerifyRequiredRefusesAKeyWithoutUserVerification) {
    configure("VerifyRequired yes\n");
    rig_->start_agent();
    rig_->start_authenticator("yes");
    std::string pub = generate_and_enroll("touch-only");
    sshd_->new_log();
    auto r = login(pub);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(sshd_->new_log().find("user verification requirement not met"), std::string::npos);
}

// One agent, sixteen logins at once: all succeed.
TEST_F(E2eAgent, SixteenParallelLoginsThroughOneAgent) {
    configure("");
    rig_->start_agent();
    rig_->start_authenticator("yes", {"--approve-delay-ms", "200"});
    std::string pub = generate_and_enroll("laptop");
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 16; i++)
        threads.emplace_back([&] {
            if (login(pub).status == 0)
                ok++;
        });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(ok.load(), 16) << rig_->agent_log() << sshd_->new_log();
}

// "Allow this host for N minutes": the next login to the same server as the
// same user is approved without asking, and the log says so.
TEST_F(E2eAgent, AllowThisHostSkipsThePromptForTheWindow) {
    configure("");
    rig_->start_agent();
    rig_->start_authenticator("host:5");
    std::string pub = generate_and_enroll("laptop");
    ASSERT_EQ(login(pub).status, 0) << rig_->agent_log();
    ASSERT_EQ(login(pub).status, 0) << rig_->agent_log();
    std::string log = rig_->authenticator_log();
    EXPECT_NE(log.find("(allowed for this host)"), std::string::npos) << log;
}

// The prompt names the server as the laptop's known_hosts does (the host
// key's fingerprint alone tells a person little).
TEST_F(E2eAgent, ThePromptNamesTheServerAsKnownHostsDoes) {
    configure("");
    rig_->start_agent();
    rig_->start_authenticator("yes");
    std::string pub = generate_and_enroll("laptop");
    std::string host_key = read_file(sshd_->path("host_ed25519.pub"));
    auto words = split_whitespace(host_key);
    ASSERT_GE(words.size(), 2u);
    std::string ssh_dir = rig_->agent_home() + "/.ssh";
    std::filesystem::create_directories(ssh_dir);
    write_file(ssh_dir + "/known_hosts",
               "[127.0.0.1]:" + std::to_string(sshd_->port()) + ",skgate-test-server " + words[0] +
                   " " + words[1] + "\n",
               0600);
    ASSERT_EQ(login(pub).status, 0) << rig_->agent_log();
    std::string log = rig_->authenticator_log();
    EXPECT_NE(log.find("([127.0.0.1]:" + std::to_string(sshd_->port()) +
                       ", skgate-test-server in the laptop's known_hosts)"),
              std::string::npos)
        << log;
}

// "This host for 5 minutes" is the person's answer to their own ssh. With
// the agent forwarded to that host, anyone there can ask the agent for a
// login to the same host as the same user (here: ssh back into it from the
// session); ssh marks that agent connection as forwarded
// (session-bind@openssh.com), and such a request is asked again, never
// answered by the window.
TEST_F(E2eAgent, AForwardedAgentDoesNotRideTheHostWindow) {
    configure("");
    rig_->start_agent();
    rig_->start_authenticator("host:5");
    std::string pub = generate_and_enroll("laptop");
    ASSERT_EQ(login(pub).status, 0) << rig_->agent_log();  // opens the window
    std::string nested = "ssh -F /dev/null -p " + std::to_string(sshd_->port()) +
                         " -o BatchMode=yes -o StrictHostKeyChecking=no"
                         " -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR " +
                         kAlice + "@127.0.0.1 echo nested-login-ok";
    auto r = sshd_->login(kAlice, pub, {}, nested,
                          {"BatchMode=yes", "IdentityAgent=" + rig_->agent_socket(),
                           "ForwardAgent=" + rig_->agent_socket()});
    EXPECT_EQ(r.status, 0) << r.err << rig_->agent_log();
    EXPECT_NE(r.out.find("nested-login-ok"), std::string::npos) << r.out << r.err;
    std::string log = rig_->authenticator_log();
    // The outer login rode the window; the nested one was asked.
    EXPECT_NE(log.find("(allowed for this host)"), std::string::npos) << log;
    EXPECT_NE(log.find("through an agent forwarded to a server"), std::string::npos) << log;
    size_t at = log.find("through an agent forwarded to a server");
    EXPECT_EQ(log.find("(allowed for this host)", at), std::string::npos)
        << "a forwarded request was answered by the window: " << log;
}

// The window is for the person's own ssh, which binds its agent connection
// (session-bind@openssh.com, forwarding 0) before it signs. A client that
// sends no bind (anything that can reach the agent socket) asking for a
// login to the same host as the same user is asked again, never answered by
// the window a normal login opened.
TEST_F(E2eAgent, AClientThatDoesNotBindItsConnectionDoesNotRideTheHostWindow) {
    configure("");
    rig_->start_agent();
    rig_->start_authenticator("host:5");
    std::string pub = generate_and_enroll("laptop");
    ASSERT_EQ(login(pub).status, 0) << rig_->agent_log();  // opens the window
    auto key = PublicKey::parse_text(read_file(pub));
    auto host_key = PublicKey::parse_text(read_file(sshd_->path("host_ed25519.pub")));
    ASSERT_TRUE(key);
    ASSERT_TRUE(host_key);
    WireWriter w;  // a publickey-hostbound login request, as ssh signs it
    w.put_string(std::string(32, 's'));
    w.put_u8(50);
    w.put_string(std::string(kAlice));
    w.put_string(std::string("ssh-connection"));
    w.put_string(std::string("publickey-hostbound-v00@openssh.com"));
    w.put_bool(true);
    w.put_string(key->type_name());
    w.put_string(key->blob());
    w.put_string(host_key->blob());
    auto agent = AgentClient::connect(rig_->agent_socket(), geteuid(), 30000);
    ASSERT_TRUE(agent);
    auto sig = agent->sign(*key, w.bytes());
    EXPECT_TRUE(sig) << rig_->agent_log();  // host:5 approves when asked
    std::string log = rig_->authenticator_log();
    EXPECT_EQ(log.find("(allowed for this host)"), std::string::npos)
        << "a request without session-bind was answered by the window: " << log;
    // And the window is open: the person's next ssh login rides it.
    ASSERT_EQ(login(pub).status, 0) << rig_->agent_log();
    EXPECT_NE(rig_->authenticator_log().find("(allowed for this host)"), std::string::npos)
        << rig_->authenticator_log();
}

// Automation: one "any host" approval, bounded by the owner's --any-host-max,
// serves logins to five servers with different host keys, each still sent
// to the authenticator and logged by the agent with its host. Once the
// window has passed (the authenticator's clock moved on with libfaketime;
// no test waits for minutes), the next login is asked about again.
TEST_F(E2eAgent, OneAnyHostApprovalServesFiveHostsUntilTheWindowEnds) {
    const std::string faketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
    ASSERT_EQ(access(faketime.c_str(), R_OK), 0) << "scripts/install-deps installs libfaketime";
    const std::string clock = client_dir_->file("authenticator-clock");
    write_file(clock, "+0\n");
    configure("");
    rig_->start_agent();
    // Under ASan, its runtime is not first once libfaketime is preloaded:
    // told not to mind.
    const char* asan = std::getenv("ASAN_OPTIONS");
    rig_->start_authenticator(
        "any:30", {"--any-host-max", "5"},
        {{"LD_PRELOAD", faketime},
         {"FAKETIME_TIMESTAMP_FILE", clock},
         {"FAKETIME_NO_CACHE", "1"},
         {"ASAN_OPTIONS", std::string(asan ? asan : "") + ":verify_asan_link_order=0"}});
    std::string pub = generate_and_enroll("laptop");
    std::vector<std::unique_ptr<SshdHarness>> others;
    for (int i = 0; i < 4; i++) {
        others.push_back(std::make_unique<SshdHarness>(SshdHarness::e2e_dir() + "/agent-e2e-host" +
                                                       std::to_string(i)));
        others.back()->install_helper();
        others.back()->start_with_skgate_keys("", "MaxStartups 64\n");
        auto enrolled = others.back()->enroll_generated(kAlice, pub, "laptop");
        ASSERT_EQ(enrolled.status, 0) << enrolled.err;
    }
    auto login_to = [&](SshdHarness& h) {
        return h.login(kAlice, pub, {}, "echo skgate-login-ok",
                       {"BatchMode=yes", "IdentityAgent=" + rig_->agent_socket()});
    };
    auto count = [](const std::string& text, const std::string& what) {
        size_t n = 0;
        for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
            n++;
        return n;
    };
    sshd_->mark_journal();
    auto first = login(pub);
    ASSERT_EQ(first.status, 0) << first.err << rig_->authenticator_log();
    for (auto& h : others) {
        auto r = login_to(*h);
        ASSERT_EQ(r.status, 0) << r.err << rig_->authenticator_log();
    }
    std::string log = rig_->authenticator_log();
    // One question, held to the owner's 5 minutes although 30 were asked for.
    EXPECT_EQ(count(log, "logins to any host from this laptop are allowed for 5 minute(s)"), 1u)
        << log;
    EXPECT_EQ(count(log, "(allowed: any host from this laptop"), 4u) << log;
    // The agent logged every use, each with its own server.
    std::string signs = sshd_->journal({"SKGATE_EVENT=agent-sign", "SKGATE_DECISION=allow"});
    std::vector<SshdHarness*> hosts{sshd_};
    for (auto& h : others)
        hosts.push_back(h.get());
    for (auto* h : hosts) {
        auto fp = run({"ssh-keygen", "-lf", h->path("host_ed25519.pub")});
        std::string host_fp = fp.out.substr(fp.out.find(' ') + 1);
        host_fp = host_fp.substr(0, host_fp.find(' '));
        EXPECT_NE(signs.find("to the server with host key " + host_fp), std::string::npos)
            << host_fp << "\n"
            << signs;
    }

    // A client that does not bind its agent connection (not the person's
    // own ssh) is asked while the window is open, and opens none.
    auto key = PublicKey::parse_text(read_file(pub));
    auto host_key = PublicKey::parse_text(read_file(sshd_->path("host_ed25519.pub")));
    ASSERT_TRUE(key);
    ASSERT_TRUE(host_key);
    WireWriter w;  // a publickey-hostbound login request, as ssh signs it
    w.put_string(std::string(32, 's'));
    w.put_u8(50);
    w.put_string(std::string(kAlice));
    w.put_string(std::string("ssh-connection"));
    w.put_string(std::string("publickey-hostbound-v00@openssh.com"));
    w.put_bool(true);
    w.put_string(key->type_name());
    w.put_string(key->blob());
    w.put_string(host_key->blob());
    auto agent = AgentClient::connect(rig_->agent_socket(), geteuid(), 30000);
    ASSERT_TRUE(agent);
    EXPECT_TRUE(agent->sign(*key, w.bytes())) << rig_->agent_log();
    log = rig_->authenticator_log();
    EXPECT_EQ(count(log, "(allowed: any host from this laptop"), 4u) << log;
    EXPECT_EQ(count(log, "logins to any host from this laptop are allowed"), 1u) << log;

    // Ten minutes later on the authenticator's clock: asked again.
    write_file(clock, "+10m\n");
    auto later = login(pub);
    EXPECT_EQ(later.status, 0) << later.err << rig_->authenticator_log();
    log = rig_->authenticator_log();
    EXPECT_EQ(count(log, "logins to any host from this laptop are allowed for 5 minute(s)"), 2u)
        << log;
    for (auto& h : others)
        h->stop();
}

// Losing the phone, as the README's laptop section walks through it: a phone
// and a backup paired with one agent, a key made on each and enrolled; each
// login goes to the device that holds its key. The phone is lost: its key is
// revoked on the server and the phone unpaired; the backup still logs in,
// the phone's key no longer does. A new phone is paired, makes a key, is
// enrolled, and logs in.
TEST_F(E2eAgent, LosingThePhoneTheBackupLogsInAndANewPhoneIsEnrolled) {
    configure("");
    rig_->start_agent();
    rig_->start_authenticator("yes");
    std::string phone_pub = generate_and_enroll("phone");
    rig_->use_phone("backup");
    rig_->init_authenticator();
    auto added = rig_->pair("", {"--add"});
    ASSERT_EQ(added.agent_status, 0) << added.agent_output << added.authenticator_output;
    rig_->start_authenticator("yes");
    std::string backup_pub = generate_and_enroll("backup", {"--device", "backup"});
    auto list = rig_->agent_command({"list"});
    EXPECT_NE(list.out.find(" on 'test phone'\n"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find(" on 'backup'\n"), std::string::npos) << list.out;

    const std::string asked = "log in as 'skgt-alice'";
    auto r = login(backup_pub);
    EXPECT_EQ(r.status, 0) << r.err << sshd_->new_log() << rig_->agent_log();
    EXPECT_NE(rig_->authenticator_log().find(asked), std::string::npos);
    rig_->use_phone("phone");
    EXPECT_EQ(rig_->authenticator_log().find(asked), std::string::npos)
        << "the phone was asked for the backup's key: " << rig_->authenticator_log();
    r = login(phone_pub);
    EXPECT_EQ(r.status, 0) << r.err << sshd_->new_log() << rig_->agent_log();
    EXPECT_NE(rig_->authenticator_log().find(asked), std::string::npos);
    rig_->use_phone("backup");
    std::string backup_log = rig_->authenticator_log();
    EXPECT_EQ(backup_log.find(asked), backup_log.rfind(asked))
        << "the backup was asked for the phone's key: " << backup_log;

    // The phone is lost: the administrator revokes its key, the person
    // unpairs it (the running agent ends its session).
    auto revoked = run({required_env("SKGATE_SKGATECTL"), "revoke", "-f",
                        sshd_->path("skgate.conf"), "--user", kAlice, "--key-file", phone_pub});
    ASSERT_EQ(revoked.status, 0) << revoked.out << revoked.err;
    auto unpaired = rig_->agent_command({"unpair", "--device", "test phone"});
    EXPECT_EQ(unpaired.status, 0) << unpaired.err;
    EXPECT_NE(unpaired.out.find("ended the session of 'test phone'"), std::string::npos)
        << unpaired.out;
    r = login(phone_pub);
    EXPECT_NE(r.status, 0) << r.out;
    std::string fp = PublicKey::parse_text(read_file(phone_pub))->fingerprint();
    std::string refusal =
        sshd_->journal({"SKGATE_EVENT=keys-lookup", "SKGATE_DECISION=deny", "SKGATE_KEY_FP=" + fp});
    EXPECT_NE(refusal.find("deny (key is not enrolled"), std::string::npos) << refusal;
    rig_->use_phone("backup");
    r = login(backup_pub);
    EXPECT_EQ(r.status, 0) << r.err << sshd_->new_log() << rig_->agent_log();

    // A new phone: paired next to the backup, its key made and enrolled.
    rig_->use_phone("new-phone");
    rig_->init_authenticator();
    added = rig_->pair("", {"--add"});
    ASSERT_EQ(added.agent_status, 0) << added.agent_output << added.authenticator_output;
    rig_->start_authenticator("yes");
    std::string new_pub = generate_and_enroll("new-phone", {"--device", "new-phone"});
    r = login(new_pub);
    EXPECT_EQ(r.status, 0) << r.err << sshd_->new_log() << rig_->agent_log();
    EXPECT_NE(rig_->authenticator_log().find(asked), std::string::npos);
    list = rig_->agent_command({"list"});
    EXPECT_NE(list.out.find(" made on a device no longer paired\n"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find(" on 'new-phone'\n"), std::string::npos) << list.out;
    // The lost phone's key, asked for anyway (here by ssh-keygen): with two
    // devices paired it goes to neither, and the agent says why.
    write_file(client_dir_->path() + "/msg", "hello\n");
    auto sig = run(
        {"ssh-keygen", "-Y", "sign", "-f", phone_pub, "-n", "file", client_dir_->path() + "/msg"},
        "", {{"SSH_AUTH_SOCK", rig_->agent_socket()}});
    EXPECT_NE(sig.status, 0);
    EXPECT_NE(
        rig_->agent_log().find("the authenticator that holds key 'phone' is no longer paired"),
        std::string::npos)
        << rig_->agent_log();
}
