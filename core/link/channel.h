// The agent-authenticator channel (DESIGN.md section 8): framed messages over
// a transport, sealed with per-direction ChaCha20-Poly1305 keys and strictly
// increasing sequence numbers, so that a tampered, replayed, reordered or
// foreign message is refused.
//
// A transport only moves frames; the first one is a local socket (the
// authenticator connects to the agent's address). A broker-based transport
// (MQTT) implements the same interface.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "core/fido/cbor_fields.h"
#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

// A frame holds one CBOR message (at most kMaxCborInput) plus the seal.
inline constexpr size_t kMaxFrameBytes = kMaxCborInput + 64;

class Transport {
  public:
    virtual ~Transport() = default;
    // Thread-safe: several threads may send; frames never interleave.
    virtual Status send(ByteView frame) = 0;
    // One reader at a time. timeout_ms < 0 waits for ever; a timeout is an
    // ErrorCode::not_found error, a closed peer an ErrorCode::io one.
    virtual Result<Bytes> receive(int timeout_ms) = 0;
    // Wakes a blocked receive() and refuses further traffic.
    virtual void shutdown() = 0;
    // What names this connection on both ends, where the transport has such
    // a name (a broker connection's id and the agent's presence epoch); ""
    // for a socket. The session hello is bound to it, so a hello recorded
    // on one connection proves nothing on another.
    virtual std::string binding() const { return {}; }
};

// A stream socket carrying u32-length-prefixed frames of 1..max_frame bytes
// (the framing of the ssh-agent protocol too).
class SocketTransport final : public Transport {
  public:
    explicit SocketTransport(int fd, size_t max_frame = kMaxFrameBytes)
        : fd_(fd), max_frame_(max_frame) {}
    ~SocketTransport() override;
    SocketTransport(const SocketTransport&) = delete;
    SocketTransport& operator=(const SocketTransport&) = delete;

    Status send(ByteView frame) override;
    Result<Bytes> receive(int timeout_ms) override;
    void shutdown() override;

  private:
    int fd_;
    size_t max_frame_;
    std::mutex send_mutex_;
};

// Channel addresses: "unix:/absolute/path", "tcp:HOST:PORT" (HOST a name,
// an IPv4 address or [IPv6]) for an authenticator on another machine of the
// same network, or "mqtts:HOST:PORT/TOPIC" through an MQTT broker
// (core/link/broker.h). Every byte on each is sealed (SecureChannel).
Status check_channel_address(std::string_view address);
struct BrokerSettings;
// `broker`: the TLS and login settings for an mqtts: address (without them,
// the system's CAs and no login).
// (In connect.cc, so that what links only the socket transport, such as
// the SK provider ssh loads, never pulls in libmosquitto.)
Result<std::unique_ptr<Transport>> connect_channel(std::string_view address, int timeout_ms,
                                                   const BrokerSettings* broker = nullptr);
// unix: and tcp: addresses only.
Result<std::unique_ptr<Transport>> connect_socket_channel(std::string_view address, int timeout_ms);

// HOST:PORT of a tcp: or mqtts: address (`rest`, the part after the
// scheme; `address` and `scheme` for the messages).
struct HostPort {
    std::string host;
    std::string port;
};
Result<HostPort> parse_host_port(std::string_view rest, std::string_view address,
                                 std::string_view scheme);

// A listening stream socket: a Unix socket bound with mode 0600, or one
// handed over by systemd (socket activation). A stale socket file is
// replaced; one that something still listens on is refused.
class Listener {
  public:
    static Result<Listener> bind_unix(const std::string& path);
    // "tcp:HOST:PORT": what HOST resolves to (0.0.0.0 or [::] for every
    // address); accepted sockets get keepalive probes.
    static Result<Listener> bind_tcp(std::string_view address);
    static Listener adopt(int fd) { return Listener(fd, ""); }
    Listener(Listener&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)), tcp_(o.tcp_) {
        o.fd_ = -1;
    }
    Listener& operator=(Listener&&) = delete;
    ~Listener();

    // A connected socket, or an ErrorCode::not_found error on timeout; when
    // descriptors or memory run out (which passes), ErrorCode::unavailable.
    Result<int> accept(int timeout_ms);
    int fd() const { return fd_; }

  private:
    Listener(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
    int fd_;
    std::string path_;  // unlinked on destruction when we bound it
    bool tcp_ = false;
};

// Both directions' keys of one session or pairing.
struct ChannelKeys {
    Bytes agent_to_authenticator;
    Bytes authenticator_to_agent;
    ChannelKeys() = default;
    ChannelKeys(ChannelKeys&&) noexcept = default;
    ChannelKeys& operator=(ChannelKeys&&) noexcept = default;
    ~ChannelKeys();
};

enum class ChannelRole { agent, authenticator };

// Sealed messages over a transport. Frame: u64 sequence || ciphertext || tag;
// the nonce is the sequence number, which is also authenticated, and each
// side accepts exactly the next sequence number of the other.
class SecureChannel {
  public:
    SecureChannel(std::shared_ptr<Transport> transport, ChannelRole role, const ChannelKeys& keys);
    ~SecureChannel();
    SecureChannel(const SecureChannel&) = delete;
    SecureChannel& operator=(const SecureChannel&) = delete;

    Status send(const CborFields& message);
    Result<CborFields> receive(int timeout_ms);
    // Opens one frame received by other means (tests, fuzzing).
    Result<CborFields> open(ByteView frame);
    Transport& transport() { return *transport_; }
    std::shared_ptr<Transport> shared_transport() const { return transport_; }

  private:
    std::shared_ptr<Transport> transport_;
    ChannelRole role_ = ChannelRole::agent;
    Bytes send_key_, recv_key_;
    std::mutex send_mutex_;
    uint64_t send_seq_ = 0;
    uint64_t recv_seq_ = 0;
};

// Sends or reads one unsealed message (the handshakes' first messages).
Status send_plain(Transport& t, const CborFields& message);
Result<CborFields> receive_plain(Transport& t, int timeout_ms);

}  // namespace skgate
