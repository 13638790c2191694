// The authenticator on another machine, as far as one machine can show it:
// the laptop (skgate-agent) and the phone (skgate-authenticator) each in a
// network namespace of its own, joined only by a veth pair this test makes,
// the link over TCP between them. ssh and Debian's sshd stay in the test's
// own namespace and reach the agent by its Unix socket, as on a laptop.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "core/ssh/sshkey.h"
#include "tests/e2e/sshd_harness.h"
#include "tests/support/client_rig.h"

using namespace skgate;
using namespace skgate::test;

namespace {

constexpr const char* kAlice = "skgt-alice";
constexpr const char* kLaptopIp = "10.231.7.1";
constexpr const char* kPhoneIp = "10.231.7.2";

// Two namespaces and the cable between them; gone (with the veth) when the
// object is.
class TwoMachines {
  public:
    TwoMachines()
        : laptop_("skgt-laptop-" + std::to_string(getpid())),
          phone_("skgt-phone-" + std::to_string(getpid())) {
        must({"ip", "netns", "add", laptop_});
        must({"ip", "netns", "add", phone_});
        must({"ip", "-n", laptop_, "link", "add", "lap0", "type", "veth", "peer", "name", "pho0",
              "netns", phone_});
        must({"ip", "-n", laptop_, "addr", "add", std::string(kLaptopIp) + "/30", "dev", "lap0"});
        must({"ip", "-n", phone_, "addr", "add", std::string(kPhoneIp) + "/30", "dev", "pho0"});
        for (const auto& [ns, dev] : {std::pair{laptop_, "lap0"}, std::pair{phone_, "pho0"}}) {
            must({"ip", "-n", ns, "link", "set", "lo", "up"});
            must({"ip", "-n", ns, "link", "set", dev, "up"});
        }
    }
    ~TwoMachines() {
        run({"ip", "netns", "del", phone_});
        run({"ip", "netns", "del", laptop_});
    }
    const std::string& laptop() const { return laptop_; }
    const std::string& phone() const { return phone_; }
    // The cable: unplugged, the phone cannot reach the laptop at all.
    void unplug() { must({"ip", "-n", phone_, "link", "set", "pho0", "down"}); }
    void plug_in() { must({"ip", "-n", phone_, "link", "set", "pho0", "up"}); }

  private:
    static void must(const std::vector<std::string>& argv) {
        auto r = run(argv);
        if (r.status != 0)
            throw std::runtime_error("network setup failed: " + r.err);
    }
    std::string laptop_, phone_;
};

std::string tcp(const char* ip, int port) {
    return std::string("tcp:") + ip + ":" + std::to_string(port);
}

class E2eNetwork : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        std::string dir = SshdHarness::e2e_dir();
        if (dir.empty())
            return;
        sshd_ = new SshdHarness(dir + "/network-e2e");
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
        net_ = std::make_unique<TwoMachines>();
        client_dir_ = std::make_unique<TempDir>();
        rig_ = std::make_unique<ClientRig>(client_dir_->path());
        rig_->use_network_namespaces(net_->laptop(), net_->phone());
        rig_->init_authenticator();
        sshd_->start_with_skgate_keys("", "MaxStartups 64\n");
    }
    void TearDown() override {
        rig_.reset();
        client_dir_.reset();
        net_.reset();
        if (sshd_)
            sshd_->stop();
    }

    // Pairs over the network: the phone answers the URI's TCP address and
    // is told to connect to `link` from then on.
    void pair_over_tcp(const std::string& link) {
        auto paired = rig_->pair("", {"--address", tcp(kLaptopIp, kPairPort), "--link", link});
        ASSERT_EQ(paired.agent_status, 0) << paired.agent_output << paired.authenticator_output;
        ASSERT_EQ(paired.authenticator_status, 0) << paired.authenticator_output;
        ASSERT_NE(paired.agent_output.find("addr=tcp:10.231.7.1:7423&"), std::string::npos)
            << "the URI carries the TCP address: " << paired.agent_output;
    }

    std::string generate_and_enroll(const std::string& name) {
        std::string pub = rig_->generate(name);
        auto r = sshd_->enroll_generated(kAlice, pub, name);
        EXPECT_EQ(r.status, 0) << r.out << r.err;
        return pub;
    }

    RunResult login(const std::string& pub) {
        return sshd_->login(kAlice, pub, {}, "echo skgate-login-ok",
                            {"BatchMode=yes", "IdentityAgent=" + rig_->agent_socket()});
    }

    static constexpr int kLinkPort = 7422;
    static constexpr int kPairPort = 7423;
    static SshdHarness* sshd_;
    std::unique_ptr<TwoMachines> net_;
    std::unique_ptr<TempDir> client_dir_;
    std::unique_ptr<ClientRig> rig_;
};

SshdHarness* E2eNetwork::sshd_ = nullptr;

// Pair across the two machines, make a key on the phone, log in with the
// stock ssh; the phone's "no" is a refused login.
TEST_F(E2eNetwork, PairGenerateLogInAndDenyAcrossTheNetwork) {
    pair_over_tcp(tcp(kLaptopIp, kLinkPort));
    rig_->start_agent({"--listen", tcp(kLaptopIp, kLinkPort)});
    rig_->start_authenticator("yes");
    std::string pub = generate_and_enroll("phone-key");
    auto ok = login(pub);
    EXPECT_EQ(ok.status, 0) << ok.err << rig_->agent_log() << rig_->authenticator_log();
    EXPECT_NE(ok.out.find("skgate-login-ok"), std::string::npos);
    EXPECT_NE(rig_->authenticator_log().find("connected to"), std::string::npos);

    rig_->stop_authenticator();
    rig_->start_authenticator("no");
    auto denied = login(pub);
    EXPECT_NE(denied.status, 0);
    EXPECT_NE(rig_->agent_log().find("denied on the authenticator"), std::string::npos)
        << rig_->agent_log();
}

// The phone goes away (its program stops): ssh hears no at once (the agent's
// own timeout is an hour), and once the phone is back the next login works.
TEST_F(E2eNetwork, AnOfflineAuthenticatorFailsFastAndTheNextLoginWorks) {
    pair_over_tcp(tcp(kLaptopIp, kLinkPort));
    rig_->start_agent({"--listen", tcp(kLaptopIp, kLinkPort), "--timeout", "3600"});
    rig_->start_authenticator("yes");
    std::string pub = generate_and_enroll("phone-key");
    rig_->stop_authenticator();
    rig_->wait_until_agent_sees_no_authenticator();
    auto r = login(pub);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(rig_->agent_log().find("no authenticator is connected"), std::string::npos)
        << rig_->agent_log();
    rig_->start_authenticator("yes");
    auto again = login(pub);
    EXPECT_EQ(again.status, 0) << again.err << rig_->agent_log();
}

// Whoever sits on the path (here a relay between the machines that changes
// one byte of the phone's first sealed message) gets the session refused,
// and nothing the phone did not approve is signed.
TEST_F(E2eNetwork, AFrameChangedOnTheWayIsRefused) {
    constexpr int kRelayPort = 7424;
    pair_over_tcp(tcp(kLaptopIp, kRelayPort));
    sshd_->mark_journal();
    rig_->start_agent({"--listen", tcp(kLaptopIp, kLinkPort)});
    std::string relay_script = client_dir_->file("relay.py");
    write_file(relay_script, R"PY(
import socket, sys, threading
listen_ip, listen_port, to_ip, to_port, flip_in_second = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((listen_ip, listen_port)); srv.listen(8)
print("relay ready", flush=True)
def pump(src, dst, flip):
    # Frames are u32-length-prefixed: the flipped byte is one inside the
    # second frame (the phone's sealed 'ready'), wherever the hello ends.
    seen, head, flip_at = 0, b"", None
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            data = bytearray(data)
            if flip and flip_at is None:
                head += bytes(data[:max(0, 4 - len(head))])
                if len(head) == 4:
                    flip_at = 4 + int.from_bytes(head, "big") + 4 + flip_in_second
            if flip and flip_at is not None and seen <= flip_at < seen + len(data):
                data[flip_at - seen] ^= 0x01
            seen += len(data)
            dst.sendall(bytes(data))
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    c, _ = srv.accept()
    u = socket.create_connection((to_ip, to_port))
    threading.Thread(target=pump, args=(c, u, True), daemon=True).start()
    threading.Thread(target=pump, args=(u, c, False), daemon=True).start()
)PY");
    // Byte 12 of the phone's second frame, its sealed 'ready'.
    Process relay({"ip", "netns", "exec", net_->laptop(), "python3", relay_script, kLaptopIp,
                   std::to_string(kRelayPort), kLaptopIp, std::to_string(kLinkPort), "12"},
                  {}, client_dir_->file("relay.log"));
    ASSERT_TRUE(relay.wait_for_output("relay ready", 10000)) << relay.output();
    Process phone(
        {"ip", "netns", "exec", net_->phone(), std::getenv("SKGATE_AUTHENTICATOR_BIN"), "run",
         "--approve", "yes", "--passphrase-file", rig_->passphrase_file(), "--once"},
        rig_->authenticator_env(), client_dir_->file("phone.log"));
    EXPECT_EQ(phone.wait(30000), 1) << phone.output();
    EXPECT_NE(phone.output().find("session refused"), std::string::npos) << phone.output();
    std::string log = rig_->agent_log();
    EXPECT_NE(log.find("refused an authenticator"), std::string::npos) << log;
    EXPECT_NE(log.find("failed to prove the pairing"), std::string::npos) << log;
    EXPECT_EQ(log.find("authenticator 'test phone' connected"), std::string::npos) << log;
    // The first refusal is audited (later ones at most once per 10 s).
    std::string events = sshd_->journal({"SKGATE_EVENT=agent-link", "SKGATE_DECISION=deny"},
                                        "failed to prove the pairing");
    EXPECT_NE(events.find("failed to prove the pairing"), std::string::npos) << events;
}

// One host on the network (here the laptop itself, 10.231.7.1) opens as
// many silent handshakes to the link as the agent serves at once (16) and
// holds them: it gets 4 places, the rest are refused at once, and the phone
// (10.231.7.2) gets in at its first try. Without a per-source share the 16
// took every place, and the phone's tries were refused ("are connecting
// already") until the stranger's handshakes timed out.
TEST_F(E2eNetwork, OneHostsSilentHandshakesDoNotKeepThePhoneOut) {
    pair_over_tcp(tcp(kLaptopIp, kLinkPort));
    rig_->start_agent({"--listen", tcp(kLaptopIp, kLinkPort)});
    std::string script = client_dir_->file("strangers.py");
    write_file(script, R"PY(
import socket, sys, time
held = [socket.create_connection((sys.argv[1], int(sys.argv[2]))) for _ in range(16)]
print("strangers connected", flush=True)
time.sleep(3600)
)PY");
    Process strangers({"ip", "netns", "exec", net_->laptop(), "python3", script, kLaptopIp,
                       std::to_string(kLinkPort)},
                      {}, client_dir_->file("strangers.log"));
    ASSERT_TRUE(strangers.wait_for_output("strangers connected", 10000)) << strangers.output();
    // The agent has taken all 16: 4 in their handshake, 12 refused.
    std::string log;
    for (int i = 0; i < 200; i++) {
        log = rig_->agent_log();
        size_t refused = 0;
        for (size_t at = log.find("refused a link connection from 10.231.7.1");
             at != std::string::npos;
             at = log.find("refused a link connection from 10.231.7.1", at + 1))
            refused++;
        if (refused >= 12)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_NE(log.find("refused a link connection from 10.231.7.1: 4 from there"),
              std::string::npos)
        << log;
    rig_->start_authenticator("yes");
    log = rig_->agent_log();
    size_t connected = log.find("authenticator 'test phone' connected");
    ASSERT_NE(connected, std::string::npos) << log;
    EXPECT_EQ(log.rfind("are connecting already", connected), std::string::npos)
        << "the phone found no place while the stranger held them: " << log;
}

// The cable is pulled while the phone is connected: a request fails with a
// reason instead of hanging, and once it is plugged in again the phone
// reconnects by itself and the next login works.
TEST_F(E2eNetwork, ANetworkOutageFailsTheRequestAndTheLinkComesBack) {
    pair_over_tcp(tcp(kLaptopIp, kLinkPort));
    rig_->start_agent({"--listen", tcp(kLaptopIp, kLinkPort), "--timeout", "5"});
    rig_->start_authenticator("yes");
    std::string pub = generate_and_enroll("phone-key");
    net_->unplug();
    auto during = login(pub);
    EXPECT_NE(during.status, 0);
    EXPECT_NE(rig_->agent_log().find("did not answer within 5 s"), std::string::npos)
        << rig_->agent_log();
    net_->plug_in();
    RunResult after;
    for (int i = 0; i < 60; i++) {
        after = login(pub);
        if (after.status == 0)
            break;
        std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    EXPECT_EQ(after.status, 0) << after.err << rig_->agent_log() << rig_->authenticator_log();
}

}  // namespace
