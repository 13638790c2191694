// The broker transport against a real mosquitto on loopback, with TLS and a
// login (tests/support/mqtt_broker.h): frames both ways, closing, presence,
// the refusals a person would meet (wrong CA, wrong password, nothing
// there, agent offline), a broker restart, and a stranger flooding the
// topic.
#include <gtest/gtest.h>
#include <mosquitto.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <thread>

#include "core/link/broker.h"
#include "core/link/pairing.h"
#include "tests/support/mqtt_broker.h"
#include "tests/support/recording_transport.h"

using namespace skgate;
using namespace skgate::test;

namespace {

class BrokerLink : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!broker_supported())
            GTEST_SKIP() << "built without the broker transport";
        broker_ = std::make_unique<MqttBroker>(dir_.file("broker"), MqttBroker::Options{});
        broker_->write_settings(dir_.file("agent"));
        broker_->write_settings(dir_.file("phone"));
        auto topic = BrokerAddress::random_topic();
        ASSERT_TRUE(topic);
        auto a = BrokerAddress::parse(broker_->address() + "/" + *topic);
        ASSERT_TRUE(a) << a.error().message;
        address_ = *a;
    }

    BrokerSettings settings(const std::string& side) {
        auto s = BrokerSettings::load(dir_.file(side) + "/broker.conf");
        EXPECT_TRUE(s) << s.error().message;
        return s ? *s : BrokerSettings{};
    }

    std::unique_ptr<BrokerListener> listen() {
        auto l = BrokerListener::start(address_, settings("agent"));
        EXPECT_TRUE(l) << l.error().message;
        if (!l)
            return nullptr;
        auto ready = (*l)->wait_ready(20000);
        EXPECT_TRUE(ready) << ready.error().message << broker_->log();
        return std::move(*l);
    }

    Result<std::unique_ptr<Transport>> dial(const std::string& side = "phone") {
        return connect_broker(address_, settings(side), 20000);
    }

    // mosquitto_pub as a stranger who knows the login and the topic.
    RunResult publish(const std::string& topic, const std::string& message,
                      const std::vector<std::string>& extra = {}) {
        std::vector<std::string> argv{"mosquitto_pub",
                                      "-h",
                                      "127.0.0.1",
                                      "-p",
                                      std::to_string(broker_->port()),
                                      "--cafile",
                                      broker_->ca_file(),
                                      "-u",
                                      MqttBroker::kUser,
                                      "-P",
                                      password(),
                                      "-t",
                                      topic,
                                      "-m",
                                      message};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return run(argv);
    }
    std::string password() {
        std::string line = read_file(dir_.file("agent") + "/broker.password");
        return line.substr(0, line.find('\n'));
    }
    // A recorded frame published again, as a stranger would.
    void replay(const std::string& topic, const Bytes& recorded) {
        std::string file = dir_.file("replayed.bin");
        write_file(file, std::string(as_chars(recorded)));
        auto r = run({"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(broker_->port()),
                      "--cafile", broker_->ca_file(), "-u", MqttBroker::kUser, "-P", password(),
                      "-t", topic, "-f", file});
        ASSERT_EQ(r.status, 0) << r.err;
    }

    // A session between a phone and the agent through the broker, the
    // phone's frames recorded.
    struct RecordedSession {
        std::shared_ptr<RecordingTransport> phone;
        std::unique_ptr<SecureChannel> phone_side, agent_side;
    };
    static PairingRecord pairing() {
        PairingRecord rec;
        rec.device_id = Bytes(kDeviceIdBytes, 7);
        rec.device_name = "phone";
        rec.secret = Bytes(kPairingSecretBytes, 9);
        return rec;
    }
    void open_recorded_session(BrokerListener& listener, RecordedSession& out) {
        auto dialed = dial();
        ASSERT_TRUE(dialed) << dialed.error().message;
        out.phone =
            std::make_shared<RecordingTransport>(std::shared_ptr<Transport>(std::move(*dialed)));
        Result<std::unique_ptr<SecureChannel>> agent_side = invalid("not run");
        std::thread t([&] {
            auto conn = listener.accept(20000);
            if (conn)
                agent_side = session_accept(*conn, pairing(), 20000);
        });
        auto phone_side = session_connect(out.phone, pairing(), 20000);
        t.join();
        ASSERT_TRUE(phone_side) << phone_side.error().message;
        ASSERT_TRUE(agent_side) << agent_side.error().message;
        ASSERT_FALSE(out.phone->sent.empty());
        out.phone_side = std::move(*phone_side);
        out.agent_side = std::move(*agent_side);
    }
    // The agent's answer to a hello replayed on a connection it accepts.
    // Connections whose first frame is not a hello at all (a flood's late
    // junk, which a new epoch may let in again) are passed over.
    void expect_replay_refused(BrokerListener& listener) {
        for (int i = 0; i < 200; i++) {
            auto replayed = listener.accept(20000);
            ASSERT_TRUE(replayed) << replayed.error().message;
            bool counted = false;
            auto refused = session_accept(*replayed, pairing(), 5000, [&] { counted = true; });
            ASSERT_FALSE(refused);
            EXPECT_FALSE(counted) << "the replayed hello passed its proof";
            if (counted || refused.error().message.find("CBOR") == std::string::npos) {
                EXPECT_NE(refused.error().message.find("does not prove the pairing"),
                          std::string::npos)
                    << refused.error().message;
                return;
            }
        }
        ADD_FAILURE() << "the replayed hello never arrived";
    }

    TempDir dir_;
    std::unique_ptr<MqttBroker> broker_;
    BrokerAddress address_;
};

Bytes frame(const std::string& s) {
    return Bytes(s.begin(), s.end());
}

// A stranger's own MQTT client on the broker (libmosquitto, no skgate code
// in between), for more messages than mosquitto_pub could send in time.
class Stranger {
  public:
    Stranger(const MqttBroker& broker, const std::string& password) {
        mosquitto_lib_init();
        m_ = mosquitto_new(nullptr, true, nullptr);
        EXPECT_NE(m_, nullptr);
        EXPECT_EQ(
            mosquitto_tls_set(m_, broker.ca_file().c_str(), nullptr, nullptr, nullptr, nullptr),
            MOSQ_ERR_SUCCESS);
        EXPECT_EQ(mosquitto_username_pw_set(m_, MqttBroker::kUser, password.c_str()),
                  MOSQ_ERR_SUCCESS);
        mosquitto_message_callback_set(m_, [](mosquitto*, void* self, const mosquitto_message* m) {
            if (m && m->payloadlen >= 0)
                static_cast<Stranger*>(self)->heard_.emplace_back(
                    static_cast<const char*>(m->payload), static_cast<size_t>(m->payloadlen));
        });
        mosquitto_user_data_set(m_, this);
        mosquitto_connect_callback_set(m_, [](mosquitto*, void* self, int rc) {
            static_cast<Stranger*>(self)->connected_ = rc == 0;
        });
        EXPECT_EQ(mosquitto_connect(m_, "127.0.0.1", broker.port(), 30), MOSQ_ERR_SUCCESS);
        for (int i = 0; i < 400 && !connected_; i++)
            EXPECT_EQ(mosquitto_loop(m_, 50, 1), MOSQ_ERR_SUCCESS);
        EXPECT_TRUE(connected_) << "the stranger could not log in to the broker";
    }
    void subscribe(const std::string& topic) {
        ASSERT_EQ(mosquitto_subscribe(m_, nullptr, topic.c_str(), 0), MOSQ_ERR_SUCCESS);
    }
    // Runs the client until it hears a message `pred` likes (true) or
    // `timeout_ms` passes.
    bool hear(const std::function<bool(const std::string&)>& pred, int timeout_ms) {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (std::chrono::steady_clock::now() < until) {
            if (mosquitto_loop(m_, 50, 1) != MOSQ_ERR_SUCCESS)
                return false;
            // Each message is looked at once: the next call starts after it.
            while (seen_ < heard_.size())
                if (pred(heard_[seen_++]))
                    return true;
        }
        return false;
    }
    ~Stranger() {
        mosquitto_disconnect(m_);
        mosquitto_destroy(m_);
    }
    void publish(const std::string& topic, ByteView payload, bool retain = false) {
        ASSERT_EQ(mosquitto_publish(m_, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                                    payload.data(), 0, retain),
                  MOSQ_ERR_SUCCESS);
        // Sends what is queued.
        ASSERT_EQ(mosquitto_loop(m_, 0, 1), MOSQ_ERR_SUCCESS);
    }

  private:
    mosquitto* m_ = nullptr;
    bool connected_ = false;
    std::vector<std::string> heard_;
    size_t seen_ = 0;
};

std::string epoch_of(const Transport& t) {
    std::string b = t.binding();
    return b.substr(b.find(' ') + 1);
}

TEST_F(BrokerLink, FramesGoBothWaysInOrderAndACloseIsSeenOnTheOtherSide) {
    auto listener = listen();
    ASSERT_TRUE(listener);
    auto phone = dial();
    ASSERT_TRUE(phone) << phone.error().message;
    for (int i = 0; i < 20; i++)
        ASSERT_TRUE((*phone)->send(frame("hello " + std::to_string(i))));
    auto agent_side = listener->accept(20000);
    ASSERT_TRUE(agent_side) << agent_side.error().message;
    // Both ends name the connection alike (its id and the agent's epoch).
    EXPECT_EQ((*agent_side)->binding(), (*phone)->binding());
    EXPECT_GT((*phone)->binding().size(), 40u) << (*phone)->binding();
    for (int i = 0; i < 20; i++) {
        auto f = (*agent_side)->receive(20000);
        ASSERT_TRUE(f) << f.error().message;
        EXPECT_EQ(std::string(as_chars(*f)), "hello " + std::to_string(i));
    }
    ASSERT_TRUE((*agent_side)->send(frame("answer")));
    auto back = (*phone)->receive(20000);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(std::string(as_chars(*back)), "answer");

    (*phone)->shutdown();
    auto after = (*agent_side)->receive(20000);
    ASSERT_FALSE(after);
    EXPECT_EQ(after.error().code, ErrorCode::io);
    EXPECT_NE(after.error().message.find("the authenticator closed the connection"),
              std::string::npos)
        << after.error().message;
    // A second connection is a new one (its own id).
    auto again = dial();
    ASSERT_TRUE(again) << again.error().message;
    ASSERT_TRUE((*again)->send(frame("second")));
    auto second = listener->accept(20000);
    ASSERT_TRUE(second);
    EXPECT_EQ((*second)->binding(), (*again)->binding());
    EXPECT_NE((*second)->binding(), (*phone)->binding());
    auto f = (*second)->receive(20000);
    ASSERT_TRUE(f);
    EXPECT_EQ(std::string(as_chars(*f)), "second");
    // The agent closing it is seen by the phone.
    (*second)->shutdown();
    auto closed = (*again)->receive(20000);
    ASSERT_FALSE(closed);
    EXPECT_NE(closed.error().message.find("the agent closed the connection"), std::string::npos)
        << closed.error().message;
}

TEST_F(BrokerLink, ANeverEmptyFrameAndNoneLargerThanTheLimitIsSent) {
    auto listener = listen();
    ASSERT_TRUE(listener);
    auto phone = dial();
    ASSERT_TRUE(phone);
    EXPECT_FALSE((*phone)->send({}));
    EXPECT_FALSE((*phone)->send(Bytes(kMaxFrameBytes + 1, 1)));
    EXPECT_TRUE((*phone)->send(Bytes(kMaxFrameBytes, 1)));
}

TEST_F(BrokerLink, AnAgentThatIsNotOnTheBrokerIsSaidSo) {
    auto phone = dial();
    ASSERT_FALSE(phone);
    EXPECT_NE(phone.error().message.find("the agent is not connected to the broker"),
              std::string::npos)
        << phone.error().message;
    // Once it has been there and left, its last word says so as well.
    { auto listener = listen(); }
    auto after = dial();
    ASSERT_FALSE(after);
    EXPECT_NE(after.error().message.find("the agent is not connected to the broker"),
              std::string::npos)
        << after.error().message;
}

TEST_F(BrokerLink, TheAgentLeavingEndsThePhonesConnection) {
    auto listener = listen();
    ASSERT_TRUE(listener);
    auto phone = dial();
    ASSERT_TRUE(phone);
    listener.reset();
    auto r = (*phone)->receive(20000);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::io);
    EXPECT_NE(r.error().message.find("the agent"), std::string::npos) << r.error().message;
}

TEST_F(BrokerLink, ABrokerWhoseCertificateTheCaDidNotSignIsRefused) {
    auto listener = listen();
    ASSERT_TRUE(listener);
    broker_->write_settings(dir_.file("phone"), broker_->other_ca_file());
    auto phone = connect_broker(address_, settings("phone"), 5000);
    ASSERT_FALSE(phone);
    EXPECT_NE(phone.error().message.find("certificate verify failed"), std::string::npos)
        << phone.error().message;
}

TEST_F(BrokerLink, ABrokerCertificateForAnotherNameIsRefused) {
    auto listener = listen();
    ASSERT_TRUE(listener);
    // The certificate is for 127.0.0.1; localhost reaches the same broker.
    auto other = BrokerAddress::parse("mqtts:localhost:" + std::to_string(broker_->port()) + "/" +
                                      address_.topic);
    ASSERT_TRUE(other);
    auto phone = connect_broker(*other, settings("phone"), 5000);
    ASSERT_FALSE(phone);
    EXPECT_NE(phone.error().message.find("cannot reach the broker localhost"), std::string::npos)
        << phone.error().message;
}

TEST_F(BrokerLink, AWrongPasswordIsRefusedAtOnceSayingSo) {
    auto listener = listen();
    ASSERT_TRUE(listener);
    broker_->write_settings(dir_.file("phone"), "", "not-the-password");
    auto phone = connect_broker(address_, settings("phone"), 20000);
    ASSERT_FALSE(phone);
    EXPECT_EQ(phone.error().code, ErrorCode::permission);
    EXPECT_NE(phone.error().message.find("refused the login"), std::string::npos)
        << phone.error().message;
}

TEST_F(BrokerLink, NothingListeningIsAClearErrorAfterTheTimeout) {
    auto nowhere = BrokerAddress::parse("mqtts:127.0.0.1:" + std::to_string(free_port()) + "/" +
                                        address_.topic);
    ASSERT_TRUE(nowhere);
    auto phone = connect_broker(*nowhere, settings("phone"), 1500);
    ASSERT_FALSE(phone);
    EXPECT_NE(phone.error().message.find("cannot reach the broker 127.0.0.1"), std::string::npos)
        << phone.error().message;
    // An agent started while the broker is away neither fails nor hangs
    // when it stops.
    auto l = BrokerListener::start(*nowhere, settings("agent"));
    ASSERT_TRUE(l);
    EXPECT_FALSE((*l)->wait_ready(1500));
    EXPECT_NE((*l)->state().find("127.0.0.1"), std::string::npos) << (*l)->state();
}

TEST_F(BrokerLink, ABrokerRestartEndsBothSidesAndTheLinkComesBack) {
    auto listener = listen();
    ASSERT_TRUE(listener);
    auto phone = dial();
    ASSERT_TRUE(phone);
    ASSERT_TRUE((*phone)->send(frame("before")));
    auto agent_side = listener->accept(20000);
    ASSERT_TRUE(agent_side);
    ASSERT_TRUE((*agent_side)->receive(20000));
    broker_->restart();
    // Each side hears it, from its own client or from the other's last
    // will, which mosquitto sends as it stops.
    auto r = (*phone)->receive(30000);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::io) << r.error().message;
    auto a = (*agent_side)->receive(30000);
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error().code, ErrorCode::io) << a.error().message;
    // The agent reconnects by itself; a new connection works.
    ASSERT_TRUE(listener->wait_ready(30000)) << listener->state();
    Result<std::unique_ptr<Transport>> again = make_error(ErrorCode::io, "not tried");
    for (int i = 0; i < 30 && !again; i++) {
        again = dial();
        if (!again)
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ASSERT_TRUE(again) << again.error().message;
    ASSERT_TRUE((*again)->send(frame("after")));
    auto next = listener->accept(20000);
    ASSERT_TRUE(next);
    auto f = (*next)->receive(20000);
    ASSERT_TRUE(f);
    EXPECT_EQ(std::string(as_chars(*f)), "after");
}

// A stranger with the login and the topic publishes 100 frames nobody reads
// on one connection, and first frames for 100 connections: the agent holds
// at most kMaxBrokerQueuedFrames of the one (then closes it) and
// kMaxBrokerConnections connections.
TEST_F(BrokerLink, AFloodOnTheTopicCostsBoundedMemory) {
    auto listener = listen();
    ASSERT_TRUE(listener);
    const std::string conn(32, 'a');
    std::string lines;
    for (int i = 0; i < 100; i++)
        lines += "x" + std::to_string(i) + "\n";
    auto r = run({"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(broker_->port()),
                  "--cafile", broker_->ca_file(), "-u", MqttBroker::kUser, "-P", password(), "-t",
                  address_.upstream(conn), "-l"},
                 lines);
    ASSERT_EQ(r.status, 0) << r.err;
    auto flooded = listener->accept(20000);
    ASSERT_TRUE(flooded);
    size_t read = 0;
    Result<Bytes> f = make_error(ErrorCode::io, "");
    while ((f = (*flooded)->receive(20000)))
        read++;
    EXPECT_LE(read, kMaxBrokerQueuedFrames);
    EXPECT_NE(f.error().message.find("frames arrived unread"), std::string::npos)
        << f.error().message;

    std::string many;
    for (int i = 0; i < 100; i++) {
        char id[33];
        std::snprintf(id, sizeof id, "%032x", 0x1000 + i);
        auto p = publish(address_.upstream(id), "hello");
        ASSERT_EQ(p.status, 0) << p.err;
    }
    size_t accepted = 0;
    std::vector<std::shared_ptr<Transport>> held;
    while (auto t = listener->accept(3000)) {
        held.push_back(*t);
        accepted++;
    }
    EXPECT_EQ(accepted, kMaxBrokerConnections);
}

TEST_F(BrokerLink, MalformedConnectionIdsAndOtherTopicsAreIgnored) {
    auto listener = listen();
    ASSERT_TRUE(listener);
    for (const std::string& bad :
         std::vector<std::string>{"short", std::string(32, 'G'), std::string(33, 'a'), ""})
        (void)publish("skgate/" + address_.topic + "/u/" + bad, "hello");
    (void)publish("skgate/" + address_.topic + "/u/" + std::string(32, 'b') + "/deeper", "hello");
    auto none = listener->accept(1500);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code, ErrorCode::not_found);
}

// A session through the broker works; the phone's hello, recorded and
// published again on a connection of the stranger's own, is refused at
// once, before the agent answers or counts it as the device connecting,
// so replayed hellos cannot hold the agent's handshake places.
TEST_F(BrokerLink, AHelloReplayedOnAnotherConnectionIsRefusedAtOnce) {
    auto listener = listen();
    ASSERT_TRUE(listener);
    RecordedSession session;
    ASSERT_NO_FATAL_FAILURE(open_recorded_session(*listener, session));
    ASSERT_NO_FATAL_FAILURE(replay("skgate/" + address_.topic + "/u/" + std::string(32, 'c'),
                                   session.phone->sent.front()));
    expect_replay_refused(*listener);
    // The real session is untouched.
    CborFields ping;
    ping.set(msg::field::kType, msg::type::kSessionReady);
    ASSERT_TRUE(session.phone_side->send(ping));
    EXPECT_TRUE(session.agent_side->receive(20000));
}

// A stranger who may publish on the topic closes more connections than the
// agent remembers (thousands of ids, each refused at its first frame), so
// that the agent would forget the id of a connection whose hello was
// recorded: the agent starts a new presence epoch instead, and the hello
// replayed on its own id proves nothing. Authenticators connect again.
TEST_F(BrokerLink, AFloodOfClosedConnectionsDoesNotLetARecordedHelloBackIn) {
    auto listener = listen();
    ASSERT_TRUE(listener);
    RecordedSession session;
    ASSERT_NO_FATAL_FAILURE(open_recorded_session(*listener, session));
    const Bytes hello = session.phone->sent.front();
    const std::string conn = session.phone->binding().substr(0, session.phone->binding().find(' '));
    const std::string old_epoch = epoch_of(*session.phone);
    session = {};  // both ends closed: the agent remembers the id

    std::atomic<size_t> closed{0};
    std::atomic<bool> flooding{true};
    std::thread agent([&] {
        while (flooding.load())
            if (auto c = listener->accept(200)) {
                (*c)->shutdown();
                closed++;
            }
    });
    {
        Stranger stranger(*broker_, password());
        const Bytes junk = frame("junk");
        for (uint64_t i = 0; closed.load() < 4200 && i < 100'000; i++) {
            char id[33];
            std::snprintf(id, sizeof id, "%032llx", static_cast<unsigned long long>(i + 1));
            stranger.publish(address_.upstream(id), junk);
            // Stay within the agent's open connections, or they are dropped
            // unopened (and so never remembered); some are dropped anyway
            // while the agent starts its new epoch, so it waits a while at
            // most.
            for (int wait = 0; wait < 2000 && i + 1 > closed.load() + 32; wait++)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    flooding.store(false);
    agent.join();
    ASSERT_GE(closed.load(), 4200u);

    // Authenticators see the new epoch and connect in it. (An agent that
    // kept its epoch fails below, where the replay passes the proof.)
    std::string new_epoch = old_epoch;
    for (int i = 0; i < 20 && new_epoch == old_epoch; i++) {
        auto again = dial();
        ASSERT_TRUE(again) << again.error().message;
        new_epoch = epoch_of(**again);
        if (new_epoch == old_epoch)
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }

    ASSERT_NO_FATAL_FAILURE(replay(address_.upstream(conn), hello));
    expect_replay_refused(*listener);
    EXPECT_NE(new_epoch, old_epoch);
}

// Two forgeries of the presence in quick succession: the agent, which puts
// its presence back at most once a second, puts it back after the second
// too, so the last word is the agent's.
TEST_F(BrokerLink, TwoForgedPresencesInARowAreBothPutRight) {
    auto listener = listen();
    ASSERT_TRUE(listener);
    {
        Stranger stranger(*broker_, password());
        stranger.subscribe(address_.goodbye());
        auto online = [](const std::string& m) { return m.rfind("online ", 0) == 0; };
        ASSERT_TRUE(stranger.hear(online, 20000)) << "no retained presence";
        stranger.publish(address_.goodbye(), frame("offline"), true);
        ASSERT_TRUE(stranger.hear(online, 20000)) << "the first forgery was not put right";
        // At once, within the second in which the agent does not repeat itself.
        stranger.publish(address_.goodbye(), frame("offline"), true);
        ASSERT_TRUE(stranger.hear([](const std::string& m) { return m == "offline"; }, 20000));
    }
    Result<std::unique_ptr<Transport>> phone = make_error(ErrorCode::io, "not tried");
    for (int i = 0; i < 20 && !phone; i++) {
        phone = connect_broker(address_, settings("phone"), 20000);
        if (!phone)
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    ASSERT_TRUE(phone) << phone.error().message;
}

// A stranger who may publish on the topic replaces the agent's retained
// presence ("offline", or another agent's epoch): the agent hears it and
// puts its own back, so authenticators can still connect.
TEST_F(BrokerLink, AForgedPresenceIsPutRightByTheAgent) {
    auto listener = listen();
    ASSERT_TRUE(listener);
    for (const std::string& forged : {std::string("offline"), std::string("online deadbeef")}) {
        auto r = publish(address_.goodbye(), forged, {"-r"});
        ASSERT_EQ(r.status, 0) << r.err;
        Result<std::unique_ptr<Transport>> phone = make_error(ErrorCode::io, "not tried");
        for (int i = 0; i < 20 && !phone; i++) {
            phone = connect_broker(address_, settings("phone"), 20000);
            if (!phone)
                std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
        ASSERT_TRUE(phone) << forged << ": " << phone.error().message;
        ASSERT_TRUE((*phone)->send(frame("hello")));
        auto conn = listener->accept(20000);
        ASSERT_TRUE(conn) << conn.error().message;
        auto got = (*conn)->receive(20000);
        ASSERT_TRUE(got) << got.error().message;
        EXPECT_EQ(*got, frame("hello"));
    }
}

// Two agents on one topic (an administrator's second machine paired the
// same way, or a stranger playing agent): each puts its presence back, less
// often each time it is undone, and says in its state that its presence is
// contested, instead of the two replacing each other every second for ever.
TEST_F(BrokerLink, TwoAgentsOnOneTopicBackOffAndSaySo) {
    auto a = listen();
    auto b = listen();
    ASSERT_TRUE(a && b);
    auto contested = [](const BrokerListener& l) {
        return l.state().find("keeps being replaced") != std::string::npos;
    };
    for (int i = 0; i < 600 && !(contested(*a) && contested(*b)); i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(contested(*a) && contested(*b)) << a->state() << "\n" << b->state();
    // Each now waits 4 s or more before it puts its presence back.
    Stranger watcher(*broker_, password());
    watcher.subscribe(address_.goodbye());
    int heard = 0;
    (void)watcher.hear(
        [&](const std::string& m) {
            heard += m.rfind("online ", 0) == 0;
            return false;
        },
        5000);
    EXPECT_LE(heard, 5) << "the retained presence and " << heard - 1 << " changes in 5 s";
}

// `skgate-agent pair --broker` with no broker there fails, saying why,
// and saves nothing; an address with a topic of its own is a usage error.
TEST_F(BrokerLink, PairThroughABrokerThatIsNotThereFailsSayingWhy) {
    TempDir home;
    broker_->write_settings(home.file(".skgate"));
    std::map<std::string, std::string> env{{"HOME", home.path()}, {"SKGATE_AGENT_DIR", ""}};
    auto r = run({required_env("SKGATE_AGENT_BIN"), "pair", "--no-qr", "--broker",
                  "mqtts:127.0.0.1:" + std::to_string(free_port())},
                 "", env);
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("cannot reach the broker 127.0.0.1"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(home.file(".skgate/pairing")));
    auto topic = run({required_env("SKGATE_AGENT_BIN"), "pair", "--no-qr", "--broker",
                      broker_->address() + "/" + std::string(32, 'a')},
                     "", env);
    EXPECT_EQ(topic.status, 2) << topic.err;
    EXPECT_NE(topic.err.find("the topics are made here"), std::string::npos) << topic.err;
}

}  // namespace
