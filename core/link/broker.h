// The link through an MQTT broker (libmosquitto, TLS only): both sides dial
// out, so neither needs an inbound port, and the broker, an existing
// service, is the only thing both must reach. It moves sealed frames only
// (SecureChannel above it); what it can do is drop, delay or reorder them,
// which the channel turns into a refused session, never into a signature.
//
// Topics and the settings file: core/link/broker_settings.h. QoS 0: a frame
// the broker drops fails the session (the sequence numbers notice), which
// is how a network outage must end it anyway; QoS 1 would resend frames
// the channel then refuses as replays.
//
// Presence: the agent keeps a retained "online EPOCH" message on the
// goodbye topic while it is connected, and its last will (and its clean
// goodbye) replaces it with "offline". An authenticator connects only when
// the agent is online, and its connection ends when the epoch changes: an
// agent that lost the broker and came back has lost every connection.
#pragma once

#include <memory>
#include <string>

#include "core/link/broker_settings.h"
#include "core/link/channel.h"
#include "core/sys/result.h"

namespace skgate {

// At most this many authenticator connections (open or in their first
// frame) on one topic, and frames queued unread on one connection: a
// stranger publishing on the topic costs bounded memory.
inline constexpr size_t kMaxBrokerConnections = 64;
inline constexpr size_t kMaxBrokerQueuedFrames = 64;
// How long after the broker confirms the subscription the agent's presence
// must have arrived (the broker sends retained messages at once).
inline constexpr int kBrokerPresenceWaitMs = 2'000;

// Whether this build has the broker transport (meson -Dbroker).
bool broker_supported();

// The authenticator's end: one connection, ready when the broker accepted
// the login, the subscriptions are in place and the agent is online.
// Errors say why (the broker unreachable, TLS, login, agent offline).
Result<std::unique_ptr<Transport>> connect_broker(const BrokerAddress& address,
                                                  const BrokerSettings& settings, int timeout_ms);

// The agent's end: every authenticator connection on the topic. It
// connects in the background and keeps reconnecting (1 s, doubling to
// 10 s), so an agent started offline works once the network is back.
class BrokerListener {
  public:
    static Result<std::unique_ptr<BrokerListener>> start(const BrokerAddress& address,
                                                         const BrokerSettings& settings);
    // Says goodbye (offline), disconnects and ends every connection.
    ~BrokerListener();
    BrokerListener(const BrokerListener&) = delete;
    BrokerListener& operator=(const BrokerListener&) = delete;

    // Until connected and online, or why not (for `pair`, which needs it).
    Status wait_ready(int timeout_ms);
    // The next authenticator connection (its first frame has arrived), or an
    // ErrorCode::not_found error on timeout.
    Result<std::shared_ptr<Transport>> accept(int timeout_ms);
    // Ends every connection (they fail their reads at once).
    void close_all();
    // How many connections were lost unheard so far: a first frame ignored
    // for lack of room (or while a new epoch starts), or a connection ended
    // by one. `pair` aborts when, after a device answered, one may have
    // been a second device.
    uint64_t dropped_connections() const;
    // "connected to HOST:PORT", or why not.
    std::string state() const;
    const BrokerAddress& address() const;

    struct Hub;

  private:
    explicit BrokerListener(std::shared_ptr<Hub> hub) : hub_(std::move(hub)) {}
    std::shared_ptr<Hub> hub_;
};

}  // namespace skgate
