// The agent's end of the channel to the paired authenticator: one session
// at a time (a new one replaces the old), many requests in flight on it,
// answers matched to requests by id. A request never waits longer than its
// timeout, whatever the authenticator does, and when no authenticator is
// connected or connecting it fails within kNoAuthenticatorGraceMs.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/link/channel.h"
#include "core/link/link_messages.h"
#include "core/link/pairing.h"
#include "core/sys/result.h"

namespace skgate::agent {

// How long a request waits when no authenticator is connected and none is in
// its handshake: time for one that is reconnecting, short enough that ssh
// hears the refusal at once (ssh tries each key in turn; the full request
// timeout per key would keep the person waiting minutes).
inline constexpr int kNoAuthenticatorGraceMs = 1'500;

class AuthenticatorLink {
  public:
    AuthenticatorLink() = default;
    ~AuthenticatorLink() { stop(); }
    AuthenticatorLink(const AuthenticatorLink&) = delete;
    AuthenticatorLink& operator=(const AuthenticatorLink&) = delete;

    // Takes over an authenticated session and reads it in a thread the link
    // owns (the previous session's reader is stopped and joined first).
    void attach(std::unique_ptr<SecureChannel> channel, const std::string& device_name,
                const Bytes& device_id);
    // The pairing changed (`unpair`, or a new `pair`): unless the connected
    // authenticator is still the paired device, it is told it was unpaired
    // and its session ends. Returns the name of the device it ended, or "".
    std::string end_unless_paired(const std::optional<Bytes>& paired_device);
    // Ends the session, fails every waiting and later request at once, and
    // joins the reader: after it, no thread of the link runs.
    void stop();
    bool connected();
    std::string device_name();
    // "connected NAME", or "disconnected: " and why (for `status`), and
    // the transport's own state when it has one.
    std::string status_text();
    // The broker link's state (BrokerListener::state), "" for none.
    void set_transport_state(const std::string& state);

    // A connection on the link socket whose hello named the paired device is
    // in its handshake: until it ends, requests wait for it rather than fail
    // fast. (One that said nothing of the kind never counts: strangers
    // opening connections must not hold up every request.) `refused` says
    // why it was not attached ("" when it was).
    void begin_connecting();
    void end_connecting(const std::string& refused);
    // A connection that never began connecting was refused.
    void note_refused(const std::string& refused);

    // Waits for an authenticator up to the timeout, then for the answer.
    // Timeouts and disconnects are ErrorCode::io errors that say so.
    Result<SignResponse> sign(SignRequest req, int timeout_ms);
    Result<RegisterResponse> register_key(RegisterRequest req, int timeout_ms);

  private:
    Result<CborFields> round_trip(const CborFields& request, uint64_t id, int timeout_ms);
    void read_loop(std::shared_ptr<SecureChannel> channel, uint64_t generation);

    std::mutex attach_mutex_;  // attach() and stop(): one of them touches reader_ at a time
    std::thread reader_;
    std::mutex mutex_;
    std::condition_variable changed_;
    bool stopping_ = false;
    std::shared_ptr<SecureChannel> channel_;
    std::string device_name_;
    Bytes device_id_;
    int connecting_ = 0;
    std::string last_problem_ = "no authenticator has connected since the agent started";
    std::string transport_state_;
    uint64_t generation_ = 0;
    uint64_t next_id_ = 1;
    // id -> answer (empty while pending); entries belong to their waiter.
    std::map<uint64_t, std::optional<CborFields>> pending_;
};

// One link per paired device, made when first needed and kept until stop():
// client threads hold references to them, so an unpaired device's link only
// ends its session.
class LinkSet {
  public:
    LinkSet() = default;
    LinkSet(const LinkSet&) = delete;
    LinkSet& operator=(const LinkSet&) = delete;

    AuthenticatorLink& of(ByteView device_id);
    // Ends the session of each device not in `paired` (telling it); the
    // names of those it ended.
    std::vector<std::string> end_unpaired(const std::vector<PairingRecord>& paired);
    // Stops every link (and any made later).
    void stop();
    // For `status`: one device's link text as it is; with several, each as
    // "'NAME' connected" or "'NAME' disconnected: why", joined by "; ".
    std::string status_text(const std::vector<PairingRecord>& paired);

  private:
    std::mutex mutex_;
    bool stopped_ = false;
    std::map<std::string, std::unique_ptr<AuthenticatorLink>> links_;  // by hex device id
};

}  // namespace skgate::agent
