#include "core/link/broker.h"

#include <mosquitto.h>
#include <openssl/x509.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "core/link/channel_crypto.h"
#include "core/sys/text.h"

namespace skgate {

namespace {

constexpr int kKeepaliveSeconds = 20;
constexpr int kFirstReconnectMs = 1'000;
constexpr int kMaxReconnectMs = 10'000;
constexpr int kProbeTimeoutMs = 5'000;
// A connection that has not become an MQTT session by then is given up.
constexpr int kAttemptTimeoutMs = 10'000;
constexpr size_t kMaxPresenceBytes = 64;
constexpr size_t kConnIdChars = 32;
// A connection id once closed never opens again in its epoch: a hello
// recorded on it and replayed would otherwise pass its proof (the proof is
// bound to the id and the presence epoch). When more than this many have
// closed, the agent starts a new epoch instead of forgetting any.
constexpr size_t kRememberedClosed = 4096;
// A presence replaced again this soon after the agent put it back is
// contested: the agent waits longer each time, up to the maximum.
constexpr auto kPresenceContestedWindow = std::chrono::seconds(120);
// Short: a stranger who forges the presence right after each repair must
// not buy a long absence with each forgery.
constexpr auto kMaxPresenceRepairDelay = std::chrono::seconds(4);
constexpr std::string_view kOnline = "online ";
constexpr std::string_view kOffline = "offline";

void init_library() {
    static std::once_flag once;
    std::call_once(once, [] { mosquitto_lib_init(); });
}

Result<std::string> random_id() {
    SKGATE_TRY(raw, random_bytes(kConnIdChars / 2));
    return hex_encode(raw);
}

bool valid_conn_id(std::string_view id) {
    if (id.size() != kConnIdChars)
        return false;
    for (char c : id)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    return true;
}

// One libmosquitto client: TLS, login, subscriptions, reconnection, and
// why it is not connected. Callbacks run on libmosquitto's own thread and
// never throw (they are called from C).
class MqttClient {
  public:
    struct Hooks {
        std::function<void()> on_ready;  // connected and subscribed
        std::function<void(const std::string& topic, ByteView payload, bool retained)> on_message;
        std::function<void(const std::string& why)> on_lost;
        // Called on the client's thread at least every 100 ms while it is
        // connected, for work that waits on time (it may publish).
        std::function<void()> on_tick;
    };

    MqttClient(const BrokerAddress& address, Hooks hooks)
        : address_(address), hooks_(std::move(hooks)) {}
    ~MqttClient() { stop(); }
    MqttClient(const MqttClient&) = delete;
    MqttClient& operator=(const MqttClient&) = delete;

    // `will`: the retained message the broker publishes on `will_topic`
    // when this client vanishes ("" for none). Settings the library
    // refuses (a CA file it cannot read) are an error here.
    Status start(const BrokerSettings& settings, std::vector<std::string> filters,
                 const std::string& will_topic, std::string_view will) {
        init_library();
        settings_ = settings;
        filters_ = std::move(filters);
        will_topic_ = will_topic;
        will_ = std::string(will);
        SKGATE_TRY(first, make_client());
        mosquitto_destroy(first);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            problem_ = "connecting to the broker " + host_port();
        }
        thread_ = std::thread([this] { drive(); });
        return {};
    }

    void stop() {
        if (thread_.joinable()) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                stopping_ = true;
            }
            changed_.notify_all();
            thread_.join();
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;  // also when start() never ran: callbacks stay quiet
        }
        // The client leaves mosq_ under the lock and is run down outside
        // it: the last loops may still fire callbacks, and a hook that
        // publishes would wait for this very lock.
        mosquitto* last;
        {
            std::unique_lock<std::shared_mutex> lock(client_mutex_);
            last = mosq_;
            mosq_ = nullptr;
        }
        if (last) {
            // What is still queued (the agent's "offline") goes out before
            // the DISCONNECT, best effort.
            (void)mosquitto_loop(last, 50, 1);
            mosquitto_disconnect(last);
            (void)mosquitto_loop(last, 50, 1);
            mosquitto_destroy(last);
        }
    }

    Status publish(const std::string& topic, ByteView payload, bool retain = false) {
        std::shared_lock<std::shared_mutex> lock(client_mutex_);
        int rc =
            mosq_ ? mosquitto_publish(mosq_, nullptr, topic.c_str(),
                                      static_cast<int>(payload.size()), payload.data(), 0, retain)
                  : MOSQ_ERR_NO_CONN;
        if (rc != MOSQ_ERR_SUCCESS)
            return make_error(ErrorCode::io,
                              "cannot publish to the broker " + host_port() + ": " +
                                  (rc == MOSQ_ERR_NO_CONN ? std::string("not connected")
                                                          : std::string(mosquitto_strerror(rc))));
        return {};
    }

    // Waits until ready or the timeout; the error says what went wrong last.
    Status wait_ready(int timeout_ms) {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                          [&] { return ready_ || refused_; });
        if (refused_)
            return make_error(ErrorCode::permission, refusal_);
        if (!ready_)
            return make_error(ErrorCode::io, problem_.rfind("connecting", 0) == 0
                                                 ? "cannot reach the broker " + host_port() +
                                                       ": no answer within " +
                                                       std::to_string(timeout_ms) + " ms"
                                                 : problem_);
        return {};
    }
    bool ready() {
        std::lock_guard<std::mutex> lock(mutex_);
        return ready_;
    }
    std::string problem() {
        std::lock_guard<std::mutex> lock(mutex_);
        return ready_ ? "" : problem_;
    }
    std::string host_port() const { return address_.host + ":" + std::to_string(address_.port); }

  private:
    static int no_key_passphrase(char*, int, int, void*) { return 0; }

    static std::string describe(int rc) {
        if (rc == MOSQ_ERR_ERRNO)
            return std::strerror(errno);
        return mosquitto_strerror(rc);
    }

    // A failed TLS connect is logged by OpenSSL's reason in one call and
    // returned as a bare MOSQ_ERR_TLS in the same or a later one (which
    // depends on timing), so the last reason logged since the broker was
    // last reached stands for a bare TLS error. Called with mutex_ held.
    std::string reason_for(int rc) const {
        if (!last_log_.empty())
            return last_log_;
        if ((rc == MOSQ_ERR_TLS || rc == MOSQ_ERR_TLS_HANDSHAKE) && !tls_reason_.empty())
            return tls_reason_;
        return describe(rc);
    }

    // A client with every setting applied, not yet connected.
    Result<mosquitto*> make_client() {
        SKGATE_TRY(id, random_id());
        mosquitto* m = mosquitto_new(("skgate-" + id).c_str(), true, this);
        if (!m)
            return make_error(ErrorCode::internal, "cannot make an MQTT client");
        Status st = configure(m);
        if (!st) {
            mosquitto_destroy(m);
            return st.error();
        }
        return m;
    }

    Status configure(mosquitto* m) {
        const BrokerSettings& s = settings_;
        mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
        int rc;
        if (!s.ca_file.empty()) {
            rc = mosquitto_tls_set(
                m, s.ca_file.c_str(), nullptr, s.cert_file.empty() ? nullptr : s.cert_file.c_str(),
                s.key_file.empty() ? nullptr : s.key_file.c_str(), no_key_passphrase);
        } else {
            rc = mosquitto_int_option(m, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
            if (rc == MOSQ_ERR_SUCCESS && !s.cert_file.empty())
                rc = mosquitto_tls_set(m, nullptr, X509_get_default_cert_dir(), s.cert_file.c_str(),
                                       s.key_file.c_str(), no_key_passphrase);
        }
        if (rc != MOSQ_ERR_SUCCESS)
            return invalid("broker TLS settings: " + describe(rc) +
                           " (check the ca, cert and key files of broker.conf)");
        // The broker's certificate must be valid for the host the address
        // names: libmosquitto checks it unless told to be insecure, which
        // skgate never is.
        if (int r = mosquitto_tls_opts_set(m, 1, "tlsv1.2", nullptr); r != MOSQ_ERR_SUCCESS)
            return make_error(ErrorCode::internal, "broker TLS options: " + describe(r));
        if (!s.user.empty()) {
            rc = mosquitto_username_pw_set(m, s.user.c_str(),
                                           s.password.empty() ? nullptr : s.password.c_str());
            if (rc != MOSQ_ERR_SUCCESS)
                return invalid("broker login: " + describe(rc));
        }
        if (!will_topic_.empty()) {
            rc = mosquitto_will_set(m, will_topic_.c_str(), static_cast<int>(will_.size()),
                                    will_.data(), 0, true);
            if (rc != MOSQ_ERR_SUCCESS)
                return make_error(ErrorCode::internal, "broker last will: " + describe(rc));
        }
        // Our thread drives it (drive()); libmosquitto's own would
        // reconnect with a blocking connect, which can take minutes where
        // packets are dropped, and stop() would wait for it.
        mosquitto_threaded_set(m, true);
        mosquitto_connect_callback_set(m, on_connect);
        mosquitto_disconnect_callback_set(m, on_disconnect);
        mosquitto_subscribe_callback_set(m, on_subscribe);
        mosquitto_message_callback_set(m, on_message);
        mosquitto_log_callback_set(m, on_log);
        return {};
    }

    // Waits `ms` unless stop() is called; false when it is.
    bool pause(int ms) {
        std::unique_lock<std::mutex> lock(mutex_);
        return !changed_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping_; });
    }
    bool stopping() {
        std::lock_guard<std::mutex> lock(mutex_);
        return stopping_;
    }

    // A fresh client for each try: one whose connection failed can be left
    // in a state it never leaves (libmosquitto 2.0 with TLS).
    Status try_connect() {
        // A plain TCP connection first, for a clear reason (refused, no
        // route, nothing answering) that a failed TLS connect hides.
        std::string host = address_.host.find(':') != std::string::npos ? "[" + address_.host + "]"
                                                                        : address_.host;
        auto probe = connect_socket_channel("tcp:" + host + ":" + std::to_string(address_.port),
                                            kProbeTimeoutMs);
        if (!probe) {
            // Another cause now: an earlier TLS reason no longer stands.
            {
                std::lock_guard<std::mutex> lock(mutex_);
                tls_reason_.clear();
            }
            const std::string& m = probe.error().message;
            size_t colon = m.rfind(": ");
            return make_error(ErrorCode::io, colon == std::string::npos ? m : m.substr(colon + 2));
        }
        probe->reset();
        SKGATE_TRY(fresh, make_client());
        mosquitto* old;
        {
            std::unique_lock<std::shared_mutex> lock(client_mutex_);
            old = mosq_;
            mosq_ = fresh;
        }
        if (old)
            mosquitto_destroy(old);
        int rc =
            mosquitto_connect_async(fresh, address_.host.c_str(), address_.port, kKeepaliveSeconds);
        if (rc != MOSQ_ERR_SUCCESS) {
            std::lock_guard<std::mutex> lock(mutex_);
            std::string why = reason_for(rc);
            last_log_.clear();
            return make_error(ErrorCode::io, why);
        }
        return {};
    }

    // Connects, runs the client, and tries again after 1 s, doubling to
    // 10 s, until stop().
    void drive() {
        int delay_ms = kFirstReconnectMs;
        bool need_connect = true;
        auto attempt_start = std::chrono::steady_clock::now();
        auto retry_later = [&] {
            need_connect = true;
            if (!pause(delay_ms))
                return false;
            delay_ms = std::min(delay_ms * 2, kMaxReconnectMs);
            return true;
        };
        while (!stopping()) {
            if (need_connect) {
                if (Status st = try_connect(); !st) {
                    note_problem(st.error().message);
                    if (!retry_later())
                        return;
                    continue;
                }
                need_connect = false;
                attempt_start = std::chrono::steady_clock::now();
            }
            // Only this thread changes mosq_: it reads it without the lock.
            int rc = mosquitto_loop(mosq_, 100, 1);
            if (rc == MOSQ_ERR_SUCCESS) {
                if (ready()) {
                    delay_ms = kFirstReconnectMs;
                    if (hooks_.on_tick && !stopping())
                        hooks_.on_tick();
                } else if (std::chrono::steady_clock::now() - attempt_start >
                           std::chrono::milliseconds(kAttemptTimeoutMs)) {
                    {
                        std::lock_guard<std::mutex> lock(mutex_);
                        if (!refused_ && last_log_.empty())
                            problem_ = "cannot reach the broker " + host_port() +
                                       ": no TLS or MQTT answer within " +
                                       std::to_string(kAttemptTimeoutMs / 1000) + " s";
                    }
                    if (!retry_later())
                        return;
                }
                continue;
            }
            {
                std::lock_guard<std::mutex> lock(mutex_);
                if (!ready_ && !refused_)
                    problem_ = "cannot reach the broker " + host_port() + ": " + reason_for(rc);
                last_log_.clear();
            }
            if (!retry_later())
                return;
        }
    }

    void note_problem(const std::string& why) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!refused_)
            problem_ = "cannot reach the broker " + host_port() + ": " + why;
    }

    static void on_connect(mosquitto* m, void* obj, int rc) {
        auto* self = static_cast<MqttClient*>(obj);
        try {
            if (rc != 0) {
                // libmosquitto tries again with its backoff (the account
                // may be fixed meanwhile); a waiter hears it at once.
                std::lock_guard<std::mutex> lock(self->mutex_);
                self->refusal_ = "the broker " + self->host_port() +
                                 " refused the login: " + mosquitto_connack_string(rc) +
                                 " (check user and password-file in broker.conf)";
                self->problem_ = self->refusal_;
                self->refused_ = true;
                self->changed_.notify_all();
                return;
            }
            std::lock_guard<std::mutex> lock(self->mutex_);
            self->refused_ = false;
            self->tls_reason_.clear();
            self->pending_subs_.clear();
            for (const auto& f : self->filters_) {
                int mid = 0;
                if (mosquitto_subscribe(m, &mid, f.c_str(), 0) == MOSQ_ERR_SUCCESS)
                    self->pending_subs_.push_back(mid);
            }
            self->problem_ = "subscribing on the broker " + self->host_port();
        } catch (...) {
        }
    }

    static void on_subscribe(mosquitto*, void* obj, int mid, int count, const int* granted) {
        auto* self = static_cast<MqttClient*>(obj);
        try {
            bool now_ready = false;
            {
                std::lock_guard<std::mutex> lock(self->mutex_);
                for (int i = 0; i < count; i++)
                    if (granted[i] > 2) {
                        self->problem_ = "the broker " + self->host_port() +
                                         " refused the subscription (does its access control "
                                         "let this login use skgate/#?)";
                        return;
                    }
                std::erase(self->pending_subs_, mid);
                if (self->pending_subs_.empty() && !self->ready_) {
                    self->ready_ = true;
                    now_ready = true;
                }
            }
            if (now_ready && !self->stopping()) {
                if (self->hooks_.on_ready)
                    self->hooks_.on_ready();
                self->changed_.notify_all();
            }
        } catch (...) {
        }
    }

    static void on_message(mosquitto*, void* obj, const mosquitto_message* msg) {
        auto* self = static_cast<MqttClient*>(obj);
        try {
            if (!msg || !msg->topic || msg->payloadlen < 0 || !self->hooks_.on_message ||
                self->stopping())
                return;
            ByteView payload(static_cast<const uint8_t*>(msg->payload),
                             static_cast<size_t>(msg->payloadlen));
            self->hooks_.on_message(msg->topic, payload, msg->retain);
        } catch (...) {
        }
    }

    static void on_disconnect(mosquitto*, void* obj, int rc) {
        auto* self = static_cast<MqttClient*>(obj);
        try {
            std::string why;
            {
                std::lock_guard<std::mutex> lock(self->mutex_);
                self->ready_ = false;
                if (self->refused_) {
                    why = self->refusal_;
                } else if (rc != 0) {
                    why = self->last_log_.empty() ? mosquitto_strerror(rc) : self->last_log_;
                    self->problem_ = "lost the broker " + self->host_port() + ": " + why;
                } else {
                    why = "disconnected";
                }
            }
            if (self->hooks_.on_lost && !self->stopping())
                self->hooks_.on_lost(why);
            self->changed_.notify_all();
        } catch (...) {
        }
    }

    static void on_log(mosquitto*, void* obj, int level, const char* text) {
        auto* self = static_cast<MqttClient*>(obj);
        if (!(level & MOSQ_LOG_ERR) || !text)
            return;
        try {
            std::lock_guard<std::mutex> lock(self->mutex_);
            self->last_log_ = printable(text, 200);
            if (!self->ready_ && self->last_log_.find("OpenSSL") != std::string::npos)
                self->tls_reason_ = self->last_log_;
            if (!self->ready_)
                self->problem_ =
                    "cannot reach the broker " + self->host_port() + ": " + self->last_log_;
        } catch (...) {
        }
    }

    BrokerAddress address_;
    Hooks hooks_;
    BrokerSettings settings_;
    std::vector<std::string> filters_;
    std::string will_topic_, will_;
    std::shared_mutex client_mutex_;  // publish() shares mosq_; drive() replaces it
    mosquitto* mosq_ = nullptr;
    std::thread thread_;
    bool stopping_ = false;
    std::mutex mutex_;
    std::condition_variable changed_;
    bool ready_ = false;
    bool refused_ = false;  // the broker refused the login (refusal_ says how)
    std::string refusal_;
    std::vector<int> pending_subs_;
    std::string problem_;
    std::string last_log_;
    std::string tls_reason_;  // OpenSSL's last reason logged since the broker was reached
};

// Frames of one connection, queued for its reader.
class FrameQueue {
  public:
    // False when the queue is full (the connection is then closed).
    bool push(ByteView frame) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_)
            return true;
        if (frames_.size() >= kMaxBrokerQueuedFrames) {
            closed_ = true;
            why_ = "more than " + std::to_string(kMaxBrokerQueuedFrames) + " frames arrived unread";
            changed_.notify_all();
            return false;
        }
        frames_.emplace_back(frame.begin(), frame.end());
        changed_.notify_all();
        return true;
    }
    void close(const std::string& why) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!closed_) {
            closed_ = true;
            why_ = why;
        }
        changed_.notify_all();
    }
    bool closed() {
        std::lock_guard<std::mutex> lock(mutex_);
        return closed_;
    }
    Result<Bytes> pop(int timeout_ms) {
        std::unique_lock<std::mutex> lock(mutex_);
        auto ready = [&] { return !frames_.empty() || closed_; };
        if (timeout_ms < 0)
            changed_.wait(lock, ready);
        else if (!changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready))
            return make_error(ErrorCode::not_found, "channel receive: timed out");
        // What arrived before the close is still read (the agent's
        // "unpaired" message precedes its close).
        if (!frames_.empty()) {
            Bytes f = std::move(frames_.front());
            frames_.pop_front();
            return f;
        }
        return make_error(ErrorCode::io, "channel receive: " + why_);
    }

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<Bytes> frames_;
    bool closed_ = false;
    std::string why_;
};

Status check_frame(ByteView frame) {
    if (frame.empty() || frame.size() > kMaxFrameBytes)
        return invalid("channel send: a frame must be 1 to " + std::to_string(kMaxFrameBytes) +
                       " bytes");
    return {};
}

// The authenticator's connection.
class BrokerClientTransport final : public Transport {
  public:
    BrokerClientTransport(const BrokerAddress& address, std::string conn)
        : address_(address), conn_(std::move(conn)) {}
    ~BrokerClientTransport() override {
        shutdown();
        client_.reset();  // joins libmosquitto's thread before the queue goes
    }

    Status start(const BrokerSettings& settings, int timeout_ms) {
        MqttClient::Hooks hooks;
        hooks.on_message = [this](const std::string& topic, ByteView payload, bool) {
            on_message(topic, payload);
        };
        hooks.on_lost = [this, where = address_.host + ":" +
                                       std::to_string(address_.port)](const std::string& why) {
            queue_.close("lost the broker " + where + ": " + why);
        };
        client_ = std::make_unique<MqttClient>(address_, std::move(hooks));
        // The will closes this connection on the agent's side when the
        // phone vanishes without a word.
        SKGATE_CHECK(client_->start(settings, {address_.downstream(conn_), address_.goodbye()},
                                    address_.upstream(conn_), ""));
        const auto deadline =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        SKGATE_CHECK(client_->wait_ready(timeout_ms));
        // The broker sends the retained presence right after the
        // subscription; an agent that is not online gets no hello.
        std::unique_lock<std::mutex> lock(mutex_);
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        auto wait = std::min<std::chrono::milliseconds>(
            std::max<std::chrono::milliseconds>(left, std::chrono::milliseconds(1)),
            std::chrono::milliseconds(kBrokerPresenceWaitMs));
        presence_changed_.wait_for(lock, wait, [&] { return !epoch_.empty() || offline_; });
        if (epoch_.empty())
            return make_error(ErrorCode::io, "the agent is not connected to the broker " +
                                                 client_->host_port() +
                                                 " (is `skgate-agent run` running?)");
        return {};
    }

    Status send(ByteView frame) override {
        SKGATE_CHECK(check_frame(frame));
        if (queue_.closed())
            return make_error(ErrorCode::io, "channel send: the connection is closed");
        return client_->publish(address_.upstream(conn_), frame);
    }
    Result<Bytes> receive(int timeout_ms) override { return queue_.pop(timeout_ms); }
    std::string binding() const override {
        std::lock_guard<std::mutex> lock(mutex_);
        return conn_ + " " + epoch_;
    }
    void shutdown() override {
        bool was_open = !queue_.closed();
        queue_.close("the connection was shut down");
        if (was_open && client_ && client_->ready())
            (void)client_->publish(address_.upstream(conn_), {});
    }

  private:
    void on_message(const std::string& topic, ByteView payload) {
        if (topic == address_.goodbye()) {
            std::string text(
                as_chars(payload.subspan(0, std::min(payload.size(), kMaxPresenceBytes))));
            std::lock_guard<std::mutex> lock(mutex_);
            if (text.rfind(kOnline, 0) == 0 && payload.size() <= kMaxPresenceBytes) {
                if (epoch_.empty()) {
                    epoch_ = text.substr(kOnline.size());
                } else if (epoch_ != text.substr(kOnline.size())) {
                    queue_.close(
                        "the agent's presence on the broker changed (it reconnected or "
                        "started a new epoch, or someone replaced it): its sessions ended");
                }
            } else {
                offline_ = true;
                queue_.close("the agent left the broker");
            }
            presence_changed_.notify_all();
            return;
        }
        if (topic != address_.downstream(conn_))
            return;
        if (payload.empty()) {
            queue_.close("the agent closed the connection");
            return;
        }
        if (payload.size() > kMaxFrameBytes) {
            queue_.close("the agent sent a frame larger than " + std::to_string(kMaxFrameBytes) +
                         " bytes");
            return;
        }
        (void)queue_.push(payload);
    }

    BrokerAddress address_;
    std::string conn_;
    FrameQueue queue_;
    mutable std::mutex mutex_;
    std::condition_variable presence_changed_;
    std::string epoch_;
    bool offline_ = false;
    std::unique_ptr<MqttClient> client_;
};

}  // namespace

bool broker_supported() {
    return true;
}

Result<std::unique_ptr<Transport>> connect_broker(const BrokerAddress& address,
                                                  const BrokerSettings& settings, int timeout_ms) {
    SKGATE_TRY(conn, random_id());
    auto t = std::make_unique<BrokerClientTransport>(address, conn);
    SKGATE_CHECK(t->start(settings, timeout_ms));
    return std::unique_ptr<Transport>(std::move(t));
}

// The agent's side: one client for the topic, its connections by id.
struct BrokerListener::Hub : std::enable_shared_from_this<BrokerListener::Hub> {
    class Stream;

    explicit Hub(const BrokerAddress& a) : address(a) {}

    BrokerAddress address;
    std::unique_ptr<MqttClient> client;
    std::mutex mutex;
    std::condition_variable arrived;
    std::map<std::string, std::shared_ptr<Stream>> streams;
    std::deque<std::shared_ptr<Stream>> unaccepted;
    // Late frames of these make no new connection in this epoch.
    std::set<std::string> closed_set;
    std::string epoch;
    bool stopping = false;
    bool new_epoch_due = false;  // closed_set is full
    uint64_t dropped = 0;        // see dropped_connections()
    // Putting the presence back (on_presence).
    std::chrono::steady_clock::time_point last_restored{};
    std::chrono::steady_clock::time_point repair_at{};
    bool repair_due = false;  // someone replaced the presence: put it back at repair_at
    int repair_strikes = 0;   // repairs undone in a row
    bool presence_contested = false;

    void on_ready();
    void on_presence(ByteView payload);
    void on_tick();
    void start_new_epoch();
    void on_message(const std::string& topic, ByteView payload);
    void on_lost(const std::string& why);
    void forget(const std::string& conn);
    void remember_closed(const std::string& conn);  // with `mutex` held
    size_t close_all(const std::string& why);       // how many it ended
};

class BrokerListener::Hub::Stream final : public Transport {
  public:
    // `epoch`: the agent's presence when the connection's first frame
    // came; the authenticator saw the same one, or the hello fails.
    Stream(std::weak_ptr<Hub> hub, std::string conn, std::string epoch)
        : hub_(std::move(hub)), conn_(std::move(conn)), binding_(conn_ + " " + epoch) {}
    ~Stream() override { shutdown(); }

    Status send(ByteView frame) override {
        SKGATE_CHECK(check_frame(frame));
        auto hub = hub_.lock();
        if (!hub || queue_.closed())
            return make_error(ErrorCode::io, "channel send: the connection is closed");
        return hub->client->publish(hub->address.downstream(conn_), frame);
    }
    Result<Bytes> receive(int timeout_ms) override { return queue_.pop(timeout_ms); }
    std::string binding() const override { return binding_; }
    void shutdown() override {
        bool was_open = !queue_.closed();
        queue_.close("the connection was shut down");
        if (auto hub = hub_.lock()) {
            if (was_open)
                (void)hub->client->publish(hub->address.downstream(conn_), {});
            hub->forget(conn_);
        }
    }
    FrameQueue& queue() { return queue_; }

  private:
    std::weak_ptr<Hub> hub_;
    std::string conn_;
    std::string binding_;
    FrameQueue queue_;
};

// Every connection (re)made to the broker starts a new epoch: hellos
// recorded in an earlier one prove nothing now, so the ids closed then need
// not be remembered.
void BrokerListener::Hub::on_ready() {
    std::lock_guard<std::mutex> lock(mutex);
    // After ~BrokerListener set `stopping` its "offline" is the last word.
    if (stopping)
        return;
    auto id = random_id();
    epoch = id ? *id : std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
    closed_set.clear();
    new_epoch_due = false;
    repair_due = false;
    (void)client->publish(address.goodbye(), as_bytes(std::string(kOnline) + epoch), true);
}

// More connections have closed in this epoch than are remembered (a
// stranger publishing on thousands of ids): forgetting the oldest would let
// a hello recorded on one of them in this epoch be replayed there, so the
// epoch ends instead. Every connection of it ends (the authenticator sees
// the new presence and connects again) and the remembered ids start over.
void BrokerListener::Hub::start_new_epoch() {
    size_t ended = close_all(
        "the agent started a new presence epoch on the broker (too many connections "
        "closed)");
    {
        std::lock_guard<std::mutex> lock(mutex);
        dropped += ended;
    }
    on_ready();
}

// Anyone who may publish on the topic can replace the retained presence
// ("offline", another epoch), and authenticators would then stay away: the
// agent, which hears its own topic, puts its own back (on_tick). At once
// the first time; when it is replaced again within kPresenceContestedWindow
// of the last repair, after 1 s, then 2, then 4 s each time, so that two
// agents on one topic (a misconfiguration) or a stranger do not keep the
// broker busy, and state() says the presence is contested.
void BrokerListener::Hub::on_presence(ByteView payload) {
    std::lock_guard<std::mutex> lock(mutex);
    if (stopping || epoch.empty())
        return;
    if (std::string_view(as_chars(payload)) == std::string(kOnline) + epoch) {
        repair_due = false;
        return;
    }
    if (repair_due)
        return;  // already planned
    auto now = std::chrono::steady_clock::now();
    bool contested = last_restored != std::chrono::steady_clock::time_point{} &&
                     now - last_restored < kPresenceContestedWindow;
    repair_strikes = contested ? std::min(repair_strikes + 1, 3) : 0;
    if (repair_strikes >= 3)
        presence_contested = true;
    else if (repair_strikes == 0)
        presence_contested = false;
    std::chrono::seconds delay(0);
    if (repair_strikes > 0)
        delay = std::min<std::chrono::seconds>(std::chrono::seconds(1 << (repair_strikes - 1)),
                                               kMaxPresenceRepairDelay);
    repair_at = now + delay;
    repair_due = true;
}

void BrokerListener::Hub::on_tick() {
    bool renew = false;
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (stopping || epoch.empty())
            return;
        renew = new_epoch_due;
        if (!renew && repair_due && std::chrono::steady_clock::now() >= repair_at) {
            repair_due = false;
            last_restored = std::chrono::steady_clock::now();
            (void)client->publish(address.goodbye(), as_bytes(std::string(kOnline) + epoch), true);
        }
    }
    if (renew)
        start_new_epoch();
}

void BrokerListener::Hub::on_message(const std::string& topic, ByteView payload) {
    const std::string prefix = "skgate/" + address.topic + "/u/";
    if (topic.rfind(prefix, 0) != 0)
        return;
    std::string conn = topic.substr(prefix.size());
    if (!valid_conn_id(conn))
        return;
    std::shared_ptr<Stream> stream;
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (stopping)
            return;
        if (auto it = streams.find(conn); it != streams.end()) {
            stream = it->second;
        } else {
            if (payload.empty() || payload.size() > kMaxFrameBytes || closed_set.count(conn) != 0)
                return;
            if (streams.size() >= kMaxBrokerConnections || new_epoch_due) {
                dropped++;
                return;
            }
            stream = std::make_shared<Stream>(weak_from_this(), conn, epoch);
            streams.emplace(conn, stream);
            unaccepted.push_back(stream);
            arrived.notify_all();
        }
    }
    if (payload.empty()) {
        stream->queue().close("the authenticator closed the connection");
        forget(conn);
    } else if (payload.size() > kMaxFrameBytes) {
        stream->shutdown();
    } else if (!stream->queue().push(payload)) {
        stream->shutdown();
    }
}

void BrokerListener::Hub::remember_closed(const std::string& conn) {
    closed_set.insert(conn);
    // No new connection opens until the new epoch (on_tick, within 100 ms).
    if (closed_set.size() >= kRememberedClosed)
        new_epoch_due = true;
}

void BrokerListener::Hub::forget(const std::string& conn) {
    // A stream's destructor calls this: the last reference must go after
    // the lock is released.
    std::shared_ptr<Stream> last;
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = streams.find(conn); it != streams.end()) {
        last = std::move(it->second);
        streams.erase(it);
        remember_closed(conn);
    }
}

size_t BrokerListener::Hub::close_all(const std::string& why) {
    std::map<std::string, std::shared_ptr<Stream>> gone;
    std::deque<std::shared_ptr<Stream>> never_accepted;
    {
        std::lock_guard<std::mutex> lock(mutex);
        gone.swap(streams);
        never_accepted.swap(unaccepted);
        for (const auto& [conn, s] : gone) {
            remember_closed(conn);
        }
    }
    for (auto& [conn, s] : gone)
        s->queue().close(why);
    return gone.size();
}

void BrokerListener::Hub::on_lost(const std::string& why) {
    close_all("lost the broker " + address.host + ":" + std::to_string(address.port) + ": " + why);
}

Result<std::unique_ptr<BrokerListener>> BrokerListener::start(const BrokerAddress& address,
                                                              const BrokerSettings& settings) {
    auto hub = std::make_shared<Hub>(address);
    std::weak_ptr<Hub> weak = hub;
    MqttClient::Hooks hooks;
    // The hub outlives its client (it owns it), so the raw pointer is safe
    // in the callbacks.
    Hub* h = hub.get();
    hooks.on_ready = [h] { h->on_ready(); };
    hooks.on_message = [h, goodbye = address.goodbye()](const std::string& topic, ByteView payload,
                                                        bool retained) {
        if (topic == goodbye)
            h->on_presence(payload);
        else if (!retained)
            h->on_message(topic, payload);
    };
    hooks.on_lost = [h](const std::string& why) { h->on_lost(why); };
    hooks.on_tick = [h] { h->on_tick(); };
    hub->client = std::make_unique<MqttClient>(address, std::move(hooks));
    SKGATE_CHECK(hub->client->start(settings, {address.upstream_filter(), address.goodbye()},
                                    address.goodbye(), kOffline));
    return std::unique_ptr<BrokerListener>(new BrokerListener(std::move(hub)));
}

BrokerListener::~BrokerListener() {
    {
        std::lock_guard<std::mutex> lock(hub_->mutex);
        hub_->stopping = true;
    }
    hub_->arrived.notify_all();
    hub_->close_all("the agent stopped");
    if (hub_->client->ready())
        (void)hub_->client->publish(hub_->address.goodbye(), as_bytes(kOffline), true);
    hub_->client->stop();
}

Status BrokerListener::wait_ready(int timeout_ms) {
    return hub_->client->wait_ready(timeout_ms);
}

Result<std::shared_ptr<Transport>> BrokerListener::accept(int timeout_ms) {
    std::unique_lock<std::mutex> lock(hub_->mutex);
    if (!hub_->arrived.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                                [&] { return !hub_->unaccepted.empty() || hub_->stopping; }) ||
        hub_->unaccepted.empty())
        return make_error(ErrorCode::not_found, "no authenticator connected");
    std::shared_ptr<Transport> s = hub_->unaccepted.front();
    hub_->unaccepted.pop_front();
    return s;
}

void BrokerListener::close_all() {
    hub_->close_all("closed by the agent");
}

uint64_t BrokerListener::dropped_connections() const {
    std::lock_guard<std::mutex> lock(hub_->mutex);
    return hub_->dropped;
}

std::string BrokerListener::state() const {
    std::string problem = hub_->client->problem();
    if (!problem.empty())
        return problem;
    std::string out = "connected to the broker " + hub_->client->host_port();
    std::lock_guard<std::mutex> lock(hub_->mutex);
    if (hub_->presence_contested)
        out += ", but its presence on " + hub_->address.goodbye() +
               " keeps being replaced (another agent on this topic, or someone else who may "
               "publish on it): sessions end each time, and the agent puts it back less often";
    return out;
}

const BrokerAddress& BrokerListener::address() const {
    return hub_->address;
}

}  // namespace skgate
