// The authenticator anywhere, through a broker: the laptop (skgate-agent),
// the phone (skgate-authenticator) and a real mosquitto (TLS, a login) each
// in a network namespace of its own. The laptop and the phone each have a
// cable to the broker's machine only, which does not route between them:
// they cannot reach each other, and both dial out. ssh and Debian's sshd
// stay in the test's own namespace and reach the agent by its Unix socket.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "core/link/broker.h"
#include "tests/e2e/sshd_harness.h"
#include "tests/support/client_rig.h"
#include "tests/support/mqtt_broker.h"

using namespace skgate;
using namespace skgate::test;

namespace {

constexpr const char* kAlice = "skgt-alice";
constexpr const char* kBrokerIp = "10.231.10.1";
constexpr const char* kPhoneIp = "10.231.9.1";
constexpr int kBrokerPort = 8883;

// Three namespaces: laptop 10.231.8.1 -- 10.231.8.2 broker 10.231.9.2 --
// 10.231.9.1 phone; the broker's service address 10.231.10.1 is routed
// to from both sides, and the broker's machine forwards nothing.
class ThreeMachines {
  public:
    ThreeMachines()
        : laptop_("skgt-blap-" + std::to_string(getpid())),
          phone_("skgt-bpho-" + std::to_string(getpid())),
          broker_("skgt-bbrk-" + std::to_string(getpid())) {
        for (const auto& ns : {laptop_, phone_, broker_}) {
            must({"ip", "netns", "add", ns});
            must({"ip", "-n", ns, "link", "set", "lo", "up"});
        }
        cable(laptop_, "lb0", "10.231.8.1", "bl0", "10.231.8.2");
        cable(phone_, "pb0", kPhoneIp, "bp0", "10.231.9.2");
        must({"ip", "-n", broker_, "addr", "add", std::string(kBrokerIp) + "/32", "dev", "lo"});
        must({"ip", "-n", laptop_, "route", "add", std::string(kBrokerIp) + "/32", "via",
              "10.231.8.2"});
        must({"ip", "-n", phone_, "route", "add", std::string(kBrokerIp) + "/32", "via",
              "10.231.9.2"});
    }
    ~ThreeMachines() {
        for (const auto& ns : {phone_, laptop_, broker_})
            run({"ip", "netns", "del", ns});
    }
    const std::string& laptop() const { return laptop_; }
    const std::string& phone() const { return phone_; }
    const std::string& broker() const { return broker_; }

  private:
    void cable(const std::string& ns, const char* dev, const char* ip, const char* peer,
               const char* peer_ip) {
        must({"ip", "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", peer, "netns",
              broker_});
        must({"ip", "-n", ns, "addr", "add", std::string(ip) + "/30", "dev", dev});
        must({"ip", "-n", broker_, "addr", "add", std::string(peer_ip) + "/30", "dev", peer});
        must({"ip", "-n", ns, "link", "set", dev, "up"});
        must({"ip", "-n", broker_, "link", "set", peer, "up"});
    }
    static void must(const std::vector<std::string>& argv) {
        auto r = run(argv);
        if (r.status != 0)
            throw std::runtime_error("network setup failed: " + r.err);
    }
    std::string laptop_, phone_, broker_;
};

class E2eBroker : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        std::string dir = SshdHarness::e2e_dir();
        if (dir.empty() || !broker_supported())
            return;
        sshd_ = new SshdHarness(dir + "/broker-e2e");
        sshd_->install_helper();
    }
    static void TearDownTestSuite() {
        delete sshd_;
        sshd_ = nullptr;
    }

    void SetUp() override {
        if (!broker_supported())
            GTEST_SKIP() << "built without the broker transport";
        if (!sshd_)
            GTEST_SKIP() << "run through tests/scripts/e2e-env.sh (meson test does)";
        std::filesystem::remove_all(sshd_->path("keys.d"));
        net_ = std::make_unique<ThreeMachines>();
        client_dir_ = std::make_unique<TempDir>();
        MqttBroker::Options o;
        o.ips = {kBrokerIp};
        o.port = kBrokerPort;
        o.netns = net_->broker();
        broker_ = std::make_unique<MqttBroker>(client_dir_->file("broker"), o);
        rig_ = std::make_unique<ClientRig>(client_dir_->path());
        rig_->use_network_namespaces(net_->laptop(), net_->phone());
        rig_->init_authenticator();
        broker_->write_settings(rig_->agent_dir());
        broker_->write_settings(rig_->authenticator_dir());
        sshd_->start_with_skgate_keys("", "MaxStartups 64\n");
    }
    void TearDown() override {
        rig_.reset();
        broker_.reset();
        client_dir_.reset();
        net_.reset();
        if (sshd_)
            sshd_->stop();
    }

    void pair_through_the_broker() {
        auto paired = rig_->pair("", {"--broker", broker_->address()});
        ASSERT_EQ(paired.agent_status, 0) << paired.agent_output << paired.authenticator_output;
        ASSERT_EQ(paired.authenticator_status, 0) << paired.authenticator_output;
        pair_uri_ = "skgate-pair:" + word_after(paired.agent_output, "skgate-pair:");
        ASSERT_NE(pair_uri_.find("addr=mqtts:10.231.10.1:8883"), std::string::npos)
            << "the URI carries the broker: " << paired.agent_output;
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

    RunResult login_until_it_works(const std::string& pub) {
        RunResult r;
        for (int i = 0; i < 60; i++) {
            r = login(pub);
            if (r.status == 0)
                break;
            std::this_thread::sleep_for(std::chrono::seconds(1));
        }
        return r;
    }

    void wait_for_agent_log(const std::string& text) {
        for (int i = 0; i < 1200; i++) {
            if (rig_->agent_log().find(text) != std::string::npos)
                return;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        FAIL() << "the agent never logged '" << text << "': " << rig_->agent_log();
    }

    // Runs in the broker's namespace: a client of the broker with its login.
    std::vector<std::string> broker_client(const std::string& program) const {
        std::string password = read_file(rig_->agent_dir() + "/broker.password");
        password = password.substr(0, password.find('\n'));
        return {"ip",
                "netns",
                "exec",
                net_->broker(),
                program,
                "-h",
                kBrokerIp,
                "-p",
                std::to_string(kBrokerPort),
                "--cafile",
                broker_->ca_file(),
                "-u",
                MqttBroker::kUser,
                "-P",
                password};
    }

    static SshdHarness* sshd_;
    std::unique_ptr<ThreeMachines> net_;
    std::unique_ptr<TempDir> client_dir_;
    std::unique_ptr<MqttBroker> broker_;
    std::unique_ptr<ClientRig> rig_;
    std::string pair_uri_;
};

SshdHarness* E2eBroker::sshd_ = nullptr;

// Pair through the broker, make a key on the phone, log in with the stock
// ssh; the phone's "no" is a refused login. The laptop never reaches the
// phone, and the link uses a topic the pairing URI did not show.
TEST_F(E2eBroker, PairGenerateLogInAndDenyThroughTheBroker) {
    auto direct =
        run({"ip", "netns", "exec", net_->laptop(), "ping", "-c", "1", "-W", "1", kPhoneIp});
    ASSERT_NE(direct.status, 0) << "the laptop must not reach the phone: " << direct.out;
    pair_through_the_broker();
    auto listed = run({std::getenv("SKGATE_AUTHENTICATOR_BIN"), "list", "--passphrase-file",
                       rig_->passphrase_file()},
                      "", rig_->authenticator_env());
    std::string link = word_after(listed.out, "(");
    ASSERT_EQ(link.rfind("mqtts:10.231.10.1:8883/", 0), 0u) << listed.out << listed.err;
    std::string link_topic = link.substr(std::string("mqtts:10.231.10.1:8883/").size(), 32);
    EXPECT_EQ(pair_uri_.find(link_topic), std::string::npos)
        << "the link topic must not be the one the URI showed: " << pair_uri_ << " " << link;

    rig_->start_agent();
    rig_->start_authenticator("yes");
    std::string pub = generate_and_enroll("phone-key");
    auto ok = login(pub);
    EXPECT_EQ(ok.status, 0) << ok.err << rig_->agent_log() << rig_->authenticator_log();
    EXPECT_NE(ok.out.find("skgate-login-ok"), std::string::npos);
    EXPECT_NE(rig_->agent_log().find("broker link: connected to the broker 10.231.10.1:8883"),
              std::string::npos)
        << rig_->agent_log();

    rig_->stop_authenticator();
    rig_->start_authenticator("no");
    auto denied = login(pub);
    EXPECT_NE(denied.status, 0);
    EXPECT_NE(rig_->agent_log().find("denied on the authenticator"), std::string::npos)
        << rig_->agent_log();
}

// The broker restarts while the phone is connected: the session ends on
// both sides, both reconnect by themselves, and the next login works.
TEST_F(E2eBroker, ABrokerRestartMidSessionAndTheLinkComesBack) {
    pair_through_the_broker();
    rig_->start_agent({"--timeout", "5"});
    rig_->start_authenticator("yes");
    std::string pub = generate_and_enroll("phone-key");
    broker_->restart();
    auto after = login_until_it_works(pub);
    EXPECT_EQ(after.status, 0) << after.err << rig_->agent_log() << rig_->authenticator_log();
    EXPECT_NE(rig_->authenticator_log().find("session ended"), std::string::npos)
        << rig_->authenticator_log();
}

// No broker when the agent starts: ssh hears no at once (not the hour of
// the agent's own timeout), the log says why, and once the broker is there
// both sides connect and logins work.
TEST_F(E2eBroker, AnUnreachableBrokerFailsFastAndTheLinkComesWhenItIsBack) {
    pair_through_the_broker();
    rig_->start_agent();
    rig_->start_authenticator("yes");
    std::string pub = generate_and_enroll("phone-key");
    rig_->stop_authenticator();
    rig_->stop_agent();
    broker_->stop();
    rig_->start_agent({"--timeout", "3600"});
    auto r = login(pub);
    EXPECT_NE(r.status, 0);
    std::string log = rig_->agent_log();
    EXPECT_NE(log.find("no authenticator is connected"), std::string::npos) << log;
    EXPECT_NE(log.find("broker link: cannot reach the broker 10.231.10.1:8883"), std::string::npos)
        << log;
    auto status = rig_->agent_command({"status"});
    EXPECT_NE(status.out.find("broker link: cannot reach the broker 10.231.10.1:8883"),
              std::string::npos)
        << status.out;
    broker_->start();
    wait_for_agent_log("broker link: connected to the broker");
    status = rig_->agent_command({"status"});
    EXPECT_NE(status.out.find("broker link: connected to the broker"), std::string::npos)
        << status.out;
    rig_->start_authenticator("yes");
    auto ok = login(pub);
    EXPECT_EQ(ok.status, 0) << ok.err << rig_->agent_log() << rig_->authenticator_log();
}

// The phone's program stops: its last will ends the session at once, and
// ssh hears no at once although the agent would wait an hour.
TEST_F(E2eBroker, AnOfflineAuthenticatorFailsFast) {
    pair_through_the_broker();
    rig_->start_agent({"--timeout", "3600"});
    rig_->start_authenticator("yes");
    std::string pub = generate_and_enroll("phone-key");
    rig_->stop_authenticator();
    rig_->wait_until_agent_sees_no_authenticator();
    auto r = login(pub);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(rig_->agent_log().find("no authenticator is connected"), std::string::npos)
        << rig_->agent_log();
}

// `unpair` on the laptop ends the connected phone's session through the
// broker and tells it: it stops retrying and says so.
TEST_F(E2eBroker, UnpairEndsTheConnectedSessionAndThePhoneStops) {
    pair_through_the_broker();
    rig_->start_agent();
    rig_->start_authenticator("yes");
    auto r = rig_->agent_command({"unpair"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("ended the session of 'test phone'"), std::string::npos) << r.out;
    EXPECT_EQ(rig_->wait_for_authenticator_exit(30000), 0) << rig_->authenticator_log();
    EXPECT_NE(rig_->authenticator_log().find("unpaired by"), std::string::npos)
        << rig_->authenticator_log();
}

// Two devices answer one pairing URI through the broker: the pairing is
// aborted on both sides and nothing is saved.
TEST_F(E2eBroker, ASecondResponderAbortsThePairing) {
    std::string second_dir = client_dir_->file("second-phone");
    auto init = run({std::getenv("SKGATE_AUTHENTICATOR_BIN"), "init", "--dir", second_dir,
                     "--passphrase-file", rig_->passphrase_file()});
    ASSERT_EQ(init.status, 0) << init.err;
    broker_->write_settings(second_dir);
    Process agent({"ip", "netns", "exec", net_->laptop(), std::getenv("SKGATE_AGENT_BIN"), "pair",
                   "--no-qr", "--timeout", "30", "--broker", broker_->address()},
                  rig_->agent_env(), client_dir_->file("pair-agent.log"));
    ASSERT_TRUE(agent.wait_for_output("Waiting for the authenticator", 20000)) << agent.output();
    std::string uri = "skgate-pair:" + word_after(agent.output(), "skgate-pair:");
    Process first({"ip", "netns", "exec", net_->phone(), std::getenv("SKGATE_AUTHENTICATOR_BIN"),
                   "pair", uri, "--passphrase-file", rig_->passphrase_file(), "--name", "phone"},
                  rig_->authenticator_env(), client_dir_->file("pair-first.log"));
    ASSERT_TRUE(agent.wait_for_output("Type the code", 20000)) << agent.output();
    Process second(
        {"ip", "netns", "exec", net_->phone(), std::getenv("SKGATE_AUTHENTICATOR_BIN"), "pair", uri,
         "--dir", second_dir, "--passphrase-file", rig_->passphrase_file(), "--name", "stranger"},
        {}, client_dir_->file("pair-second.log"));
    EXPECT_NE(second.wait(30000), 0) << second.output();
    EXPECT_NE(agent.wait(30000), 0) << agent.output();
    EXPECT_NE(agent.output().find("a second device answered"), std::string::npos) << agent.output();
    EXPECT_NE(first.wait(30000), 0) << first.output();
    EXPECT_FALSE(std::filesystem::exists(rig_->agent_dir() + "/pairing"));
}

// Anyone who may publish on the pairing topic sends junk there before the
// phone answers: the agent ignores that connection and the phone, which
// holds the URI, still pairs.
TEST_F(E2eBroker, JunkOnThePairingTopicDoesNotSpoilThePairing) {
    Process agent({"ip", "netns", "exec", net_->laptop(), std::getenv("SKGATE_AGENT_BIN"), "pair",
                   "--no-qr", "--timeout", "60", "--broker", broker_->address()},
                  rig_->agent_env(), client_dir_->file("pair-agent.log"));
    ASSERT_TRUE(agent.wait_for_output("Waiting for the authenticator", 20000)) << agent.output();
    std::string uri = "skgate-pair:" + word_after(agent.output(), "skgate-pair:");
    std::string after = uri.substr(uri.find("addr=mqtts:10.231.10.1:8883") + 27);
    after = after.substr(after.rfind("%2F", 0) == 0 ? 3 : 1);
    std::string topic = after.substr(0, after.find('&'));
    ASSERT_EQ(topic.size(), 32u) << uri;
    std::string junk = client_dir_->file("junk.bin");
    write_file(junk, std::string("\x00\x00\x00\x05GET /", 9));
    auto pub_argv = broker_client("mosquitto_pub");
    pub_argv.insert(pub_argv.end(),
                    {"-t", "skgate/" + topic + "/u/" + std::string(32, 'a'), "-f", junk});
    auto published = run(pub_argv);
    ASSERT_EQ(published.status, 0) << published.err;
    ASSERT_TRUE(agent.wait_for_output("ignored a connection", 20000)) << agent.output();
    Process phone({"ip", "netns", "exec", net_->phone(), std::getenv("SKGATE_AUTHENTICATOR_BIN"),
                   "pair", uri, "--passphrase-file", rig_->passphrase_file(), "--name", "phone"},
                  rig_->authenticator_env(), client_dir_->file("pair-phone.log"));
    ASSERT_TRUE(phone.wait_for_output("Confirmation code: ", 30000)) << phone.output();
    ASSERT_TRUE(agent.wait_for_output("Type the code", 30000)) << agent.output();
    agent.write_stdin(word_after(phone.output(), "Confirmation code: ") + "\n");
    EXPECT_EQ(agent.wait(30000), 0) << agent.output();
    EXPECT_EQ(phone.wait(30000), 0) << phone.output();
    EXPECT_TRUE(std::filesystem::exists(rig_->agent_dir() + "/pairing"));
}

// Whoever runs the broker (here a client with the broker's login that
// watches every topic) republishes one of the phone's sealed frames with a
// byte changed: the agent refuses it and ends that session, and nothing is
// signed that the phone did not approve; the phone reconnects and the next
// login works.
TEST_F(E2eBroker, AFrameTamperedOnTheBrokerIsRefused) {
    pair_through_the_broker();
    rig_->start_agent({"--timeout", "5"});
    auto spy_argv = broker_client("mosquitto_sub");
    spy_argv.insert(spy_argv.end(), {"-t", "skgate/+/u/+", "-F", "%t %x"});
    Process spy(spy_argv, {}, client_dir_->file("spy.log"));
    rig_->start_authenticator("yes");
    std::string pub = generate_and_enroll("phone-key");
    // The phone's last frame so far (its answer to the registration).
    std::string line;
    {
        std::string log = spy.output();
        size_t end = log.rfind('\n');
        ASSERT_NE(end, std::string::npos) << log;
        size_t start = log.rfind('\n', end - 1);
        line = log.substr(start == std::string::npos ? 0 : start + 1,
                          end - (start == std::string::npos ? 0 : start + 1));
    }
    size_t space = line.find(' ');
    ASSERT_NE(space, std::string::npos) << line;
    std::string topic = line.substr(0, space), hex = line.substr(space + 1);
    ASSERT_GT(hex.size(), 40u) << line;
    Bytes frame;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
        frame.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    frame[frame.size() / 2] ^= 0x01;
    std::string file = client_dir_->file("forged.bin");
    write_file(file, std::string(as_chars(frame)));
    auto pub_argv = broker_client("mosquitto_pub");
    pub_argv.insert(pub_argv.end(), {"-t", topic, "-f", file});
    auto published = run(pub_argv);
    ASSERT_EQ(published.status, 0) << published.err;
    wait_for_agent_log("the authenticator disconnected");
    EXPECT_EQ(rig_->wait_for_authenticator_exit(0), -1) << "the phone keeps running";
    auto ok = login_until_it_works(pub);
    EXPECT_EQ(ok.status, 0) << ok.err << rig_->agent_log() << rig_->authenticator_log();
}

}  // namespace
