// skgate-agent's daemon: the ssh-agent socket (one thread per client, so no
// client ever waits for another) and the link socket the paired
// authenticators connect to (each request goes to the one holding its key).
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/event_limit.h"
#include "agent/handshake_limit.h"
#include "agent/keyring.h"
#include "agent/link.h"
#include "core/link/channel.h"
#include "core/ssh/agent_client.h"
#include "core/ssh/agent_protocol.h"
#include "core/sys/thread_group.h"

namespace skgate::agent {

// What the agent knows of one client connection.
struct ClientSession {
    // The client's last step-up description (one request's worth).
    std::string stepup_context;
    // ssh said (session-bind@openssh.com) that it forwards this connection
    // to a server: requests on it may come from anyone there.
    bool forwarded = false;
    // ssh bound it (a well-formed session-bind@openssh.com) and said it
    // does not forward it, and no bind on it failed to parse: only then is
    // a request on it the person's own ssh, which may use a host window.
    bool bound_locally = false;
    bool bind_malformed = false;
    bool may_use_window() const { return bound_locally && !forwarded && !bind_malformed; }

    // The upstream agent (run --forward-agent), one connection for the
    // client's lifetime: the session binds ssh sends reach it on the
    // connection whose requests they constrain, so a key added there with
    // `ssh-add -h` keeps its destination constraint through skgate-agent.
    std::optional<AgentClient> upstream;
    bool bind_relayed = false;  // the upstream agent took a bind on `upstream`
    // A forwarded connection whose bind the upstream agent did not take
    // (it refused it, or its connection broke after one): its keys are
    // not used on it, since the upstream agent would take the requests
    // for local use.
    bool upstream_refused = false;
};

struct ServerOptions {
    int sign_timeout_ms = 60000;
    // The user's previous agent, for keys that are not skgate's (off unless
    // given): its identities are listed too and its keys' requests forwarded.
    std::string upstream_socket;
};

class AgentServer {
  public:
    AgentServer(AgentPaths paths, ServerOptions options)
        : paths_(std::move(paths)), options_(std::move(options)) {}

    // Runs until SIGTERM/SIGINT (or a fatal listener error); when it returns,
    // no thread it started runs.
    // `link_listeners`: the local link socket, and a TCP one (run --listen).
    Status run(Listener agent_listener, std::vector<Listener> link_listeners,
               Listener control_listener);

    // One request of a client, answered (public for tests and fuzzing).
    Bytes handle_request(ByteView message, ClientSession& session);

  private:
    void serve_client(int fd);
    void serve_link(int fd);
    void serve_link_transport(std::shared_ptr<Transport> transport);
    // The broker link (a pairing made with `pair --broker`): follows the
    // pairing record, reconnects, and serves each connection.
    void broker_loop();
    void serve_control(int fd);
    // The session handshake; "" when attached, else why it was refused.
    // `on_hello`: the peer's hello named a paired device (that device's link).
    std::string accept_link(std::shared_ptr<Transport> transport,
                            const std::function<void(AuthenticatorLink&)>& on_hello);
    // Which authenticator a request goes to: a named device (empty: the
    // only one paired), the device holding a key, or the one holding a key
    // handle the SK provider sends.
    Result<AuthenticatorLink*> link_of_device(const Bytes& device_id);
    Result<AuthenticatorLink*> link_of_key(const AgentKey& key);
    Result<AuthenticatorLink*> link_of_handle(const std::string& application,
                                              const Bytes& key_handle);
    Bytes sign(const AgentKey& key, const AgentRequest& req, const ClientSession& session);
    // A browser passkey's signature, through the one-time loopback page.
    enum class SignPurposeKind { login, described, unknown };
    Bytes sign_with_passkey(const AgentKey& key, const AgentRequest& req, const std::string& what,
                            SignPurposeKind kind, uint64_t start);
    Bytes extension(const AgentRequest& ext, ClientSession& session);
    Bytes identities(ClientSession& session);
    Result<AgentClient*> upstream_of(ClientSession& session);
    void upstream_lost(ClientSession& session);
    Result<Bytes> forward_upstream(ByteView message, ClientSession& session);
    void relay_bind_upstream(ByteView message, ClientSession& session);

    AgentPaths paths_;
    ServerOptions options_;
    LinkSet links_;
    // Held while a handshake's device is checked and attached, and while the
    // pairing-changed message ends unpaired devices' sessions.
    std::mutex pairing_change_mutex_;
    // Held while a passkey page waits for the browser (sign_with_passkey).
    std::mutex passkey_page_mutex_;
    // Handshake places per source of the TCP link (outlives connections_).
    PeerHandshakeLimit link_sources_;
    // The agent-link audit events of refused handshakes.
    EventRateLimit link_refusals_;
    // Bumped by each pairing-changed control message (broker_loop reloads).
    std::atomic<uint64_t> pairing_generation_{0};
    // Declared after links_, so destroyed (joined) before it: the client
    // threads use the link.
    ThreadGroup connections_;
};

// The most connections (ssh clients, authenticator handshakes, control) the
// agent serves at once; fewer when the descriptor limit is low.
inline constexpr size_t kMaxAgentConnections = 512;
// The most connections on one authenticator link listener (the Unix socket,
// and the TCP one apart) in their session handshake at once; a handshake
// lasts at most kSessionHandshakeTimeoutMs.
inline constexpr size_t kMaxLinkHandshakes = 16;

// Stops run() (async-signal-safe).
void request_stop();

// What the laptop's commands say on the control socket, and the longest
// answer.
inline constexpr std::string_view kControlPairingChanged = "pairing-changed";
inline constexpr size_t kMaxControlMessage = 1024;

// Tells a running agent that ~/.skgate/pairing changed; its answer (what it
// did), or an ErrorCode::not_found error when no agent runs.
Result<std::string> notify_pairing_changed(const AgentPaths& paths);

}  // namespace skgate::agent
