#include "agent/server.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>

#include "agent/event_limit.h"
#include "agent/handshake_limit.h"
#include "agent/known_hosts.h"
#include "agent/passkey_page.h"
#include "core/audit/audit.h"
#include "core/fido/webauthn.h"
#include "core/link/broker.h"
#include "core/link/pairing.h"
#include "core/ssh/agent_client.h"
#include "core/ssh/agent_protocol.h"
#include "core/ssh/sign_purpose.h"
#include "core/ssh/sksig.h"
#include "core/ssh/wire.h"
#include "core/sys/digest.h"
#include "core/sys/monotonic.h"

namespace skgate::agent {

// The user's previous agent (--forward-agent) may wait for its own prompt; a
// hung one holds up only the ssh client whose connection it serves.
constexpr int kUpstreamRequestTimeoutMs = 30'000;

namespace {

std::atomic<bool> g_stop{false};

// A request for the authenticator carried in an extension (libskgate-sk.so):
// parsed as on the channel, forwarded, and answered in the same encoding; a
// link failure becomes an answer that says why.
// libskgate-sk.so's requests and `skgate-agent generate`'s, forwarded to the
// authenticator `route` picks as they are; a link failure becomes an answer
// that says why. `generate` names the device after the request (its id);
// the SK provider does not.
template <class Req, class Resp, class Route>
Bytes forward_to_authenticator(ByteView contents, Route route,
                               Result<Resp> (AuthenticatorLink::*call)(Req, int), int timeout_ms) {
    WireReader r(contents);
    auto body = r.read_string();
    if (!body)
        return agent_failure();
    Bytes device;
    if (!r.at_end()) {
        auto named = r.read_string();
        if (!named || named->size() != kDeviceIdBytes)
            return agent_failure();
        device.assign(named->begin(), named->end());
    }
    if (!r.at_end())
        return agent_failure();
    auto fields = CborFields::parse(*body);
    auto req = fields ? Req::from_fields(*fields) : Result<Req>(fields.error());
    if (!req)
        return agent_failure();
    Result<AuthenticatorLink*> link = route(*req, device);
    auto resp = link ? ((*link)->*call)(std::move(*req), timeout_ms) : Result<Resp>(link.error());
    if (!resp) {
        Resp fail;
        fail.status = LinkStatus::timeout;
        fail.reason = resp.error().message;
        resp = std::move(fail);
    }
    WireWriter w;
    w.put_string(resp->to_fields().encode());
    return agent_success(w.bytes());
}

void audit_sign(const AgentKey& key, Decision d, const std::string& reason,
                const std::string& purpose, uint64_t start_us) {
    AuditEvent e;
    e.event = "agent-sign";
    e.decision = d;
    e.key_fp = key.key.fingerprint();
    e.key_type = key.key.type_name();
    e.reason = reason;
    e.latency_us = monotonic_us() - start_us;
    e.message = "sign request with key '" + key.name + "' (" + purpose +
                "): " + (d == Decision::allow ? "signed" : "refused: " + reason);
    audit_record(e);
}

}  // namespace

void request_stop() {
    g_stop.store(true);
}

Result<AuthenticatorLink*> AgentServer::link_of_device(const Bytes& device_id) {
    SKGATE_TRY(paired, load_pairings(paths_));
    if (paired.empty())
        return make_error(ErrorCode::not_found,
                          "no authenticator is paired (run `skgate-agent pair`)");
    if (device_id.empty()) {
        if (paired.records.size() > 1)
            return make_error(ErrorCode::invalid,
                              "several authenticators are paired (" + paired.names() +
                                  "): name one with `skgate-agent generate --device NAME`");
        return &links_.of(paired.records.front().device_id);
    }
    if (!paired.by_id(device_id))
        return make_error(ErrorCode::not_found, "that authenticator is no longer paired");
    return &links_.of(device_id);
}

Result<AuthenticatorLink*> AgentServer::link_of_key(const AgentKey& key) {
    SKGATE_TRY(paired, load_pairings(paths_));
    const PairingRecord* device = paired.holding(key);
    if (!device)
        return make_error(ErrorCode::not_found,
                          "the authenticator that holds key '" + key.name +
                              "' is no longer paired (pair it again, or revoke the key)");
    return &links_.of(device->device_id);
}

Result<AuthenticatorLink*> AgentServer::link_of_handle(const std::string& application,
                                                       const Bytes& key_handle) {
    // A key this agent made knows its device; one ssh-keygen made through
    // the SK provider is on the only paired device, or unknown.
    if (auto keys = load_keys(paths_))
        for (const auto& k : *keys)
            if (k.key.application() == application && equal_bytes(k.key_handle, key_handle))
                return link_of_key(k);
    return link_of_device({});
}

Bytes AgentServer::identities(ClientSession& session) {
    std::vector<AgentIdentityEntry> ids;
    auto keys = load_keys(paths_);
    if (!keys)
        std::fprintf(stderr, "skgate-agent: %s\n", keys.error().message.c_str());
    else
        for (const auto& k : *keys) {
            // ssh's own connection (bound, not forwarded) is for a login,
            // which a passkey cannot make: offering it would cost an
            // authentication attempt and a browser prompt for nothing.
            if (k.passkey && session.bound_locally && !session.forwarded)
                continue;
            ids.push_back({k.key.blob(), "skgate:" + k.name});
        }
    if (!options_.upstream_socket.empty()) {
        // The upstream agent lists only what the binds on this connection
        // permit: asked on the client's own connection.
        auto up = upstream_of(session);
        auto list = up ? (*up)->identities() : Result<std::vector<AgentIdentity>>(up.error());
        if (!list && up)
            upstream_lost(session);
        if (list)
            for (const auto& id : *list)
                ids.push_back({id.key.blob(), id.comment});
    }
    return agent_identities_answer(ids);
}

Result<AgentClient*> AgentServer::upstream_of(ClientSession& session) {
    if (session.upstream_refused)
        return make_error(ErrorCode::permission,
                          "the upstream agent did not take ssh's session bind for this "
                          "forwarded connection");
    if (!session.upstream) {
        SKGATE_TRY(up, AgentClient::connect(options_.upstream_socket, geteuid(),
                                            kUpstreamRequestTimeoutMs));
        session.upstream.emplace(std::move(up));
    }
    return &*session.upstream;
}

void AgentServer::upstream_lost(ClientSession& session) {
    // A new connection would have none of the binds: not for a forwarded
    // client.
    session.upstream.reset();
    session.upstream_refused = session.upstream_refused || session.forwarded;
    session.bind_relayed = false;
}

Result<Bytes> AgentServer::forward_upstream(ByteView message, ClientSession& session) {
    SKGATE_TRY(up, upstream_of(session));
    auto answer = up->request(message);
    if (!answer)
        upstream_lost(session);
    return answer;
}

void AgentServer::relay_bind_upstream(ByteView message, ClientSession& session) {
    if (options_.upstream_socket.empty() || session.upstream_refused)
        return;
    auto answer = forward_upstream(message, session);
    bool taken = answer && !answer->empty() && (*answer)[0] == agentmsg::kSuccess;
    session.bind_relayed = session.bind_relayed || taken;
    if (!taken && session.forwarded)
        session.upstream_refused = true;
}

Bytes AgentServer::sign_with_passkey(const AgentKey& key, const AgentRequest& req,
                                     const std::string& what, SignPurposeKind kind,
                                     uint64_t start) {
    auto refuse = [&](const std::string& reason) {
        std::fprintf(stderr, "skgate-agent: sign request with key '%s' (%s): %s\n",
                     key.name.c_str(), what.c_str(), reason.c_str());
        audit_sign(key, Decision::deny, reason, what, start);
        return agent_failure();
    };
    if (kind == SignPurposeKind::login)
        return refuse(
            "a passkey cannot log in: the ssh client refuses its WebAuthn signature (log in with "
            "a key on a paired device)");
    // Only what the page can name: data the agent cannot read (a login it
    // cannot parse, say) is never put before the person.
    if (kind == SignPurposeKind::unknown)
        return refuse("a passkey signs only SSHSIGs and step-ups, and this is neither");
    // One page at a time: a forwarded requester must not open tabs without
    // end, nor put a second prompt next to the one the person expects.
    std::unique_lock<std::mutex> one_page(passkey_page_mutex_, std::try_to_lock);
    if (!one_page.owns_lock())
        return refuse("another passkey request is waiting in the browser");
    PageRequest page;
    page.kind = PageRequest::Kind::get;
    page.challenge = req.data;
    page.credential_id = key.key_handle;
    page.verify_required = key.verify_required;
    page.purpose = "Approve with the passkey '" + key.name + "': " + what + ".";
    uint64_t deadline = start + static_cast<uint64_t>(options_.sign_timeout_ms) * 1000;
    auto answer = serve_passkey_page(page, deadline, [&](const std::string& url) {
        std::fprintf(stderr, "skgate-agent: approve '%s' (%s) in your browser: %s\n",
                     key.name.c_str(), what.c_str(), url.c_str());
        if (auto opened = open_browser(url); !opened)
            std::fprintf(stderr, "skgate-agent: could not open a browser: %s\n",
                         opened.error().message.c_str());
    });
    if (!answer)
        return refuse(answer.error().message);
    WebauthnAssertion a;
    for (auto [field, into] :
         {std::pair{"authenticatorData", &a.authenticator_data},
          std::pair{"clientDataJSON", &a.client_data_json}, std::pair{"signature", &a.signature}}) {
        auto it = answer->fields.find(field);
        if (it == answer->fields.end())
            return refuse(std::string("the page's answer lacks ") + field);
        *into = it->second;
    }
    // The browser is checked, not trusted, as an authenticator is.
    auto blob = webauthn_signature_blob(key.key, a, answer->where, req.data);
    if (!blob)
        return refuse(blob.error().message);
    auto verified = verify_sk_signature(key.key, *blob, req.data);
    if (!verified || !verified->user_present())
        return refuse("the browser's signature lacks user presence");
    if (key.verify_required && !verified->user_verified())
        return refuse("the passkey did not verify the person (no PIN or biometric)");
    audit_sign(key, Decision::allow, "approved in the browser", what, start);
    return agent_sign_response(*blob);
}

Bytes AgentServer::sign(const AgentKey& key, const AgentRequest& req,
                        const ClientSession& session) {
    const std::string& context = session.stepup_context;
    uint64_t start = monotonic_us();
    auto purpose = describe_signed_data(req.data, context);
    std::string what = purpose ? purpose->describe() : "unrecognised data";
    if (key.passkey)
        return sign_with_passkey(key, req, what,
                                 !purpose ? SignPurposeKind::unknown
                                 : purpose->kind == SignPurpose::Kind::login
                                     ? SignPurposeKind::login
                                     : SignPurposeKind::described,
                                 start);
    SignRequest sr;
    sr.application = key.key.application();
    sr.key_handle = key.key_handle;
    sr.data = req.data;
    // A login request on a connection not known to be the person's own ssh
    // (no session-bind, or a malformed one) is treated as forwarded: the
    // authenticator neither offers nor uses a host window for it.
    bool login = purpose && purpose->kind == SignPurpose::Kind::login;
    bool not_own = session.forwarded || (login && !session.may_use_window());
    sr.options = (key.verify_required ? kLinkRequireUV : 0) | (not_own ? kLinkForwarded : 0);
    if (purpose && purpose->kind == SignPurpose::Kind::stepup)
        sr.context = context;
    if (purpose && purpose->kind == SignPurpose::Kind::login && !purpose->host_key_fp.empty())
        if (const char* home = std::getenv("HOME"); home && *home)
            sr.host_names = known_host_names_for(home, purpose->host_key_fp, kMaxHostNames);
    auto link = link_of_key(key);
    auto resp =
        link ? (*link)->sign(sr, options_.sign_timeout_ms) : Result<SignResponse>(link.error());
    if (!resp) {
        std::fprintf(stderr, "skgate-agent: sign request with key '%s' (%s) failed: %s\n",
                     key.name.c_str(), what.c_str(), resp.error().message.c_str());
        audit_sign(key, Decision::deny, resp.error().message, what, start);
        return agent_failure();
    }
    if (resp->status != LinkStatus::ok) {
        std::string reason(link_status_text(resp->status));
        std::fprintf(stderr, "skgate-agent: sign request with key '%s' (%s): %s\n",
                     key.name.c_str(), what.c_str(), reason.c_str());
        audit_sign(key, Decision::deny, reason, what, start);
        return agent_failure();
    }
    auto blob =
        encode_sk_signature(key.key.algorithm(), resp->signature, resp->flags, resp->counter);
    // The authenticator is checked, not trusted: a signature that does not
    // verify (wrong key, wrong data) never reaches ssh.
    auto verified =
        blob ? verify_sk_signature(key.key, *blob, req.data) : Result<SkVerified>(blob.error());
    if (!verified) {
        std::string reason =
            "the authenticator's signature does not verify: " + verified.error().message;
        std::fprintf(stderr, "skgate-agent: %s\n", reason.c_str());
        audit_sign(key, Decision::deny, reason, what, start);
        return agent_failure();
    }
    audit_sign(key, Decision::allow, "approved on the authenticator", what, start);
    return agent_sign_response(*blob);
}

Bytes AgentServer::extension(const AgentRequest& ext, ClientSession& session) {
    if (ext.name == kExtSessionBind) {
        auto bind = SessionBind::parse(ext.contents);
        if (!bind) {
            session.bind_malformed = true;
            return agent_failure();
        }
        session.forwarded = session.forwarded || bind->forwarding;
        session.bound_locally = session.bound_locally || !bind->forwarding;
        return agent_success();
    }
    if (ext.name == kExtStepUpContext) {
        WireReader r(ext.contents);
        auto text = r.read_string();
        if (!text || !r.at_end() || text->size() > kMaxLinkText)
            return agent_failure();
        session.stepup_context.assign(as_chars(*text));
        return agent_success();
    }
    // The devices' names and states are the laptop's business, not a
    // server's the agent is forwarded to.
    if (ext.name == kExtStatus && session.forwarded)
        return agent_failure();
    if (ext.name == kExtStatus) {
        auto paired = load_pairings(paths_);
        WireWriter w;
        w.put_string(paired ? links_.status_text(paired->records)
                            : "error: " + paired.error().message);
        return agent_success(w.bytes());
    }
    // libskgate-sk.so's requests (make a key, sign with any options it
    // chooses) are the laptop's own, never a server's the agent is
    // forwarded to.
    if ((ext.name == kExtRegister || ext.name == kExtSign) && session.forwarded)
        return agent_failure();
    if (ext.name == kExtRegister)
        return forward_to_authenticator(
            ext.contents,
            [this](const RegisterRequest&, const Bytes& device) { return link_of_device(device); },
            &AuthenticatorLink::register_key, options_.sign_timeout_ms);
    if (ext.name == kExtSign)
        return forward_to_authenticator(
            ext.contents,
            [this](const SignRequest& req, const Bytes& device) {
                return device.empty() ? link_of_handle(req.application, req.key_handle)
                                      : link_of_device(device);
            },
            &AuthenticatorLink::sign, options_.sign_timeout_ms);
    return Bytes{agentmsg::kExtensionFailure};
}

Bytes AgentServer::handle_request(ByteView message, ClientSession& session) {
    auto req = parse_agent_request(message);
    if (!req)
        return agent_failure();
    switch (req->kind) {
        case AgentRequest::Kind::identities:
            return identities(session);
        case AgentRequest::Kind::sign: {
            auto keys = load_keys(paths_);
            if (!keys) {
                std::fprintf(stderr, "skgate-agent: %s\n", keys.error().message.c_str());
                return agent_failure();
            }
            for (const auto& k : *keys) {
                if (equal_bytes(k.key.blob(), req->key_blob)) {
                    Bytes answer = sign(k, *req, session);
                    session.stepup_context.clear();  // a description serves one request
                    return answer;
                }
            }
            if (!options_.upstream_socket.empty()) {
                auto answer = forward_upstream(message, session);
                return answer ? *answer : agent_failure();
            }
            return agent_failure();
        }
        case AgentRequest::Kind::extension: {
            Bytes answer = extension(*req, session);
            if (req->name == kExtSessionBind && !answer.empty() && answer[0] == agentmsg::kSuccess)
                relay_bind_upstream(message, session);
            return answer;
        }
        case AgentRequest::Kind::other:
            break;
    }
    if (!options_.upstream_socket.empty()) {
        auto answer = forward_upstream(message, session);
        return answer ? *answer : agent_failure();
    }
    return agent_failure();
}

void AgentServer::serve_client(int fd) {
    SocketTransport client(fd, kMaxAgentMessage);
    ClientSession session;
    for (;;) {
        auto message = client.receive(-1);
        if (!message || !client.send(handle_request(*message, session)))
            return;
    }
}

void AgentServer::serve_link(int fd) {
    // One host on the network gets a few handshake places, never all of
    // them: the real authenticator's reconnect must find one.
    std::string source = PeerHandshakeLimit::source_of_peer(fd);
    auto place = link_sources_.acquire(source);
    if (!place) {
        std::fprintf(stderr,
                     "skgate-agent: refused a link connection from %s: %zu from there are in "
                     "their handshake already\n",
                     source.c_str(), kMaxLinkHandshakesPerSource);
        close(fd);
        return;
    }
    serve_link_transport(std::make_shared<SocketTransport>(fd));
}

void AgentServer::serve_link_transport(std::shared_ptr<Transport> transport) {
    // Requests wait for a connection only once its hello named a paired
    // device: a stranger's silent connection to run --listen must not keep
    // every ssh request waiting for its handshake to time out.
    AuthenticatorLink* connecting = nullptr;
    std::string refused = accept_link(std::move(transport), [&](AuthenticatorLink& link) {
        link.begin_connecting();
        connecting = &link;
    });
    if (connecting) {
        connecting->end_connecting(refused);
    } else if (!refused.empty()) {
        if (auto paired = load_pairings(paths_))
            for (const auto& r : paired->records)
                links_.of(r.device_id).note_refused(refused);
    }
}

std::string AgentServer::accept_link(std::shared_ptr<Transport> transport,
                                     const std::function<void(AuthenticatorLink&)>& on_hello) {
    auto paired = load_pairings(paths_);
    if (!paired || paired->empty()) {
        CborFields refused;
        refused.set(msg::field::kType, msg::type::kRefused);
        (void)send_plain(*transport, refused);
        std::string why = paired ? "not paired (run `skgate-agent pair`)" : paired.error().message;
        std::fprintf(stderr, "skgate-agent: refused an authenticator: %s\n", why.c_str());
        return why;
    }
    const std::vector<PairingRecord>& records = paired->records;
    auto accepted =
        session_accept_any(transport, records, kSessionHandshakeTimeoutMs,
                           [&](size_t i) { on_hello(links_.of(records[i].device_id)); });
    if (!accepted) {
        std::fprintf(stderr, "skgate-agent: refused an authenticator: %s\n",
                     accepted.error().message.c_str());
        // Anyone who reaches the link can cause this: one event per
        // interval, the next saying how many were left out.
        if (auto left_out = link_refusals_.admit(monotonic_us())) {
            AuditEvent e;
            e.event = "agent-link";
            e.decision = Decision::deny;
            e.reason = accepted.error().message;
            e.message =
                "refused a connection on the authenticator link: " + accepted.error().message;
            if (*left_out > 0)
                e.message += " (and " + std::to_string(*left_out) +
                             " more refused since the last such event)";
            audit_record(e);
        }
        return accepted.error().message;
    }
    const PairingRecord& device = records[accepted->record];
    // An `unpair` during the handshake: the device is attached only if it is
    // still paired (with the same secret), checked under the lock the
    // pairing-changed message ends sessions under, so it is either refused
    // here or ended there.
    std::lock_guard<std::mutex> lock(pairing_change_mutex_);
    auto now = load_pairings(paths_);
    const PairingRecord* still = now ? now->by_id(device.device_id) : nullptr;
    if (!still || !equal_bytes(still->secret, device.secret)) {
        accepted->channel->transport().shutdown();
        std::string why = "'" + device.device_name + "' was unpaired during its handshake";
        std::fprintf(stderr, "skgate-agent: refused an authenticator: %s\n", why.c_str());
        return why;
    }
    std::fprintf(stderr, "skgate-agent: authenticator '%s' connected\n",
                 device.device_name.c_str());
    links_.of(device.device_id)
        .attach(std::move(accepted->channel), device.device_name, device.device_id);
    return "";
}

namespace {

// Each connection holds two descriptors (its socket and the group's
// duplicate); a quarter of the limit stays free for files, the listeners and
// the authenticator.
size_t max_connections() {
    rlimit rl{};
    size_t limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                       ? static_cast<size_t>(rl.rlim_cur)
                       : 1024;
    return std::clamp<size_t>(limit * 3 / 8, 8, kMaxAgentConnections);
}

// The next connection on `listener` that may be served, or nothing (time to
// look at g_stop again). A fatal listener error is returned; running out of
// descriptors is waited out, and beyond kMaxConnections a connection is
// closed at once, so that a client opening connections (root on a server
// the agent is forwarded to can) neither stops the agent nor takes the
// descriptors the others need.
Result<std::optional<int>> next_connection(Listener& listener, ThreadGroup& connections,
                                           const char* what) {
    auto fd = listener.accept(500);
    connections.reap();
    if (!fd) {
        if (fd.error().code == ErrorCode::not_found)
            return std::optional<int>();
        if (fd.error().code != ErrorCode::unavailable)
            return fd.error();
        std::fprintf(stderr, "skgate-agent: cannot take %s now: %s\n", what,
                     fd.error().message.c_str());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        return std::optional<int>();
    }
    if (connections.running() >= max_connections()) {
        std::fprintf(stderr, "skgate-agent: refused %s: %zu connections are open already\n", what,
                     connections.running());
        close(*fd);
        return std::optional<int>();
    }
    return std::optional<int>(*fd);
}

// Accepts on `listener` until the agent stops, each connection served by
// `serve` in a thread of `connections`. With `in_flight`, at most
// `max_in_flight` of this listener's connections are served at once and the
// rest closed at once: handshakes from strangers on a TCP link must not take
// the places of ssh's own clients.
std::thread accept_loop(Listener& listener, ThreadGroup& connections, const char* what,
                        std::function<void(int)> serve,
                        std::shared_ptr<std::atomic<size_t>> in_flight = nullptr,
                        size_t max_in_flight = 0) {
    if (in_flight)
        serve = [in_flight, inner = std::move(serve)](int fd) {
            inner(fd);
            in_flight->fetch_sub(1);
        };
    return std::thread(
        [&listener, &connections, what, serve = std::move(serve), in_flight, max_in_flight] {
            while (!g_stop.load()) {
                auto next = next_connection(listener, connections, what);
                if (!next) {
                    std::fprintf(stderr, "skgate-agent: %s\n", next.error().message.c_str());
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                    continue;
                }
                if (!*next)
                    continue;
                auto fd = *next;
                if (in_flight && in_flight->fetch_add(1) >= max_in_flight) {
                    in_flight->fetch_sub(1);
                    std::fprintf(stderr, "skgate-agent: refused %s: %zu are connecting already\n",
                                 what, max_in_flight);
                    close(*fd);
                    continue;
                }
                if (Status st = connections.start([serve, fd = *fd] { serve(fd); }, *fd); !st) {
                    if (in_flight)
                        in_flight->fetch_sub(1);
                    std::fprintf(stderr, "skgate-agent: refused %s: %s\n", what,
                                 st.error().message.c_str());
                    close(*fd);
                }
            }
        });
}

bool peer_is_us(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == geteuid();
}

}  // namespace

void AgentServer::serve_control(int fd) {
    SocketTransport control(fd, kMaxControlMessage);
    if (!peer_is_us(fd))
        return;
    auto message = control.receive(kSessionHandshakeTimeoutMs);
    if (!message)
        return;
    std::string answer;
    if (std::string_view(as_chars(*message)) == kControlPairingChanged) {
        pairing_generation_.fetch_add(1);
        std::lock_guard<std::mutex> lock(pairing_change_mutex_);
        // Unreadable pairings end nothing: the person sees the error in
        // `status`, and no session ends on a guess.
        auto paired = load_pairings(paths_);
        std::vector<std::string> ended =
            paired ? links_.end_unpaired(paired->records) : std::vector<std::string>{};
        for (const auto& name : ended) {
            std::fprintf(stderr, "skgate-agent: ended the session of '%s': no longer paired\n",
                         name.c_str());
            AuditEvent e;
            e.event = "agent-pair";
            e.decision = Decision::deny;
            e.reason = "unpaired";
            e.message = "ended the session of '" + name + "', which is no longer paired";
            audit_record(e);
            answer += (answer.empty() ? "ended the session of '" : " and of '") + name + "'";
        }
        answer = answer.empty() ? "no other authenticator was connected" : answer + " and told it";
    } else {
        answer = "unknown control message";
    }
    (void)control.send(as_bytes(answer));
}

Result<std::string> notify_pairing_changed(const AgentPaths& paths) {
    auto transport = connect_channel("unix:" + paths.control_socket(), kLinkConnectTimeoutMs);
    if (!transport)
        return make_error(ErrorCode::not_found, "the agent is not running");
    SKGATE_CHECK((*transport)->send(as_bytes(kControlPairingChanged)));
    SKGATE_TRY(answer, (*transport)->receive(kSessionHandshakeTimeoutMs));
    if (answer.size() > kMaxControlMessage)
        return invalid("the agent's answer is too long");
    return std::string(as_chars(answer));
}

void AgentServer::broker_loop() {
    std::unique_ptr<BrokerListener> listener;
    std::string current, last_state;
    AuthenticatorLink* state_link = nullptr;  // the broker device's
    uint64_t seen_generation = ~uint64_t{0};
    auto in_flight = std::make_shared<std::atomic<size_t>>(0);
    while (!g_stop.load()) {
        if (uint64_t g = pairing_generation_.load(); g != seen_generation) {
            seen_generation = g;
            // The first device paired through a broker (one broker link
            // per agent: `pair --add --broker` refuses a second).
            auto paired = load_pairings(paths_);
            std::string wanted;
            Bytes wanted_device;
            if (paired)
                for (const auto& r : paired->records)
                    if (is_broker_address(r.address)) {
                        wanted = r.address;
                        wanted_device = r.device_id;
                        break;
                    }
            if (wanted != current) {
                listener.reset();  // its connections end
                current = wanted;
                last_state.clear();
                if (state_link)
                    state_link->set_transport_state("");
                state_link = wanted.empty() ? nullptr : &links_.of(wanted_device);
                if (!wanted.empty()) {
                    auto address = BrokerAddress::parse(wanted);
                    auto settings = address ? BrokerSettings::load(paths_.broker_settings())
                                            : Result<BrokerSettings>(address.error());
                    auto started = settings
                                       ? BrokerListener::start(*address, *settings)
                                       : Result<std::unique_ptr<BrokerListener>>(settings.error());
                    if (!started)
                        std::fprintf(stderr, "skgate-agent: cannot use the broker link: %s\n",
                                     started.error().message.c_str());
                    else
                        listener = std::move(*started);
                }
            }
        }
        if (!listener) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            continue;
        }
        auto transport = listener->accept(200);
        if (std::string state = listener->state(); state != last_state) {
            std::fprintf(stderr, "skgate-agent: broker link: %s\n", state.c_str());
            if (state_link)
                state_link->set_transport_state(state);
            last_state = state;
        }
        connections_.reap();
        if (!transport)
            continue;
        if (in_flight->fetch_add(1) >= kMaxLinkHandshakes) {
            in_flight->fetch_sub(1);
            std::fprintf(stderr,
                         "skgate-agent: refused an authenticator on the broker: %zu are "
                         "connecting already\n",
                         kMaxLinkHandshakes);
            (*transport)->shutdown();
            continue;
        }
        auto t = *transport;
        if (Status st = connections_.start([this, t, in_flight] {
                serve_link_transport(t);
                in_flight->fetch_sub(1);
            });
            !st) {
            in_flight->fetch_sub(1);
            t->shutdown();
        }
    }
    // Every connection it made ends here, before connections_ is joined.
}

Status AgentServer::run(Listener agent_listener, std::vector<Listener> link_listeners,
                        Listener control_listener) {
    std::thread broker_thread([this] { broker_loop(); });
    // A count for each link listener: strangers filling the TCP one's places
    // never keep the same machine's authenticator off the Unix socket.
    std::vector<std::thread> link_threads;
    for (Listener& l : link_listeners)
        link_threads.push_back(accept_loop(
            l, connections_, "an authenticator", [this](int fd) { serve_link(fd); },
            std::make_shared<std::atomic<size_t>>(0), kMaxLinkHandshakes));
    std::thread control_thread = accept_loop(control_listener, connections_, "a control client",
                                             [this](int fd) { serve_control(fd); });
    Status result;
    while (!g_stop.load()) {
        auto next = next_connection(agent_listener, connections_, "a client");
        if (!next) {
            result = next.error();
            break;
        }
        if (!*next)
            continue;
        auto fd = *next;
        ucred cred{};
        socklen_t len = sizeof cred;
        if (getsockopt(*fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
            (cred.uid != geteuid() && cred.uid != 0)) {
            std::fprintf(stderr, "skgate-agent: refused a client of uid %u\n", cred.uid);
            close(*fd);
            continue;
        }
        if (Status st = connections_.start([this, fd = *fd] { serve_client(fd); }, *fd); !st) {
            std::fprintf(stderr, "skgate-agent: refused a client: %s\n",
                         st.error().message.c_str());
            close(*fd);
        }
    }
    g_stop.store(true);
    for (auto& t : link_threads)
        t.join();
    control_thread.join();
    broker_thread.join();
    // Requests waiting for the authenticator fail at once, then every
    // client's socket is shut down and its thread joined.
    links_.stop();
    connections_.join_all();
    return result;
}

}  // namespace skgate::agent
