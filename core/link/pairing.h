// Pairing an agent with an authenticator, and the handshake that opens each
// later session (DESIGN.md section 8).
//
// Pairing: the agent shows skgate-pair:v1?addr=…&pk=…&token=… (its X25519 key,
// a one-time token and where to connect). The authenticator connects, sends
// its own X25519 key, and proves with a sealed message that it holds the
// token. Both derive, with HKDF-SHA256 over the X25519 secret salted with
// the token and bound to both public keys, the long-term pairing secret, the
// pairing's channel keys and a 6-digit confirmation code the person compares.
//
// Session (forward secret, in the manner of Noise NNpsk0): the authenticator
// sends its device id and a fresh ephemeral X25519 key, the agent its own
// fresh one; the session keys are HKDF-SHA256 over the ephemeral X25519
// result, salted with the pairing secret and bound to the device id and both
// ephemeral keys. Each side proves it made the same keys with its first
// sealed message. A stolen pairing secret opens no recorded session (the
// ephemeral private keys are wiped when the handshake ends), and a message
// of one session is worthless in any other.
#pragma once

#include <functional>
#include <span>
#include <string>

#include "core/link/channel.h"
#include "core/link/channel_crypto.h"
#include "core/link/message_ids.h"
#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

inline constexpr size_t kPairingTokenBytes = 16;
inline constexpr size_t kPairingSecretBytes = 32;
inline constexpr size_t kDeviceIdBytes = 16;
inline constexpr size_t kMaxPairingUri = 1024;
inline constexpr size_t kMaxDeviceName = 64;

struct PairingUri {
    std::string address;  // where the authenticator connects (unix:/path)
    Bytes agent_key;      // X25519 public key, 32 bytes
    Bytes token;          // 16 bytes

    static Result<PairingUri> parse(std::string_view uri);
    std::string format() const;
};

struct PairingKeys {
    Bytes secret;  // the long-term pairing secret
    ChannelKeys channel;
    std::string code;  // six digits
    PairingKeys() = default;
    PairingKeys(PairingKeys&&) noexcept = default;
    PairingKeys& operator=(PairingKeys&&) noexcept = default;
    ~PairingKeys();
};

Result<PairingKeys> derive_pairing_keys(ByteView shared, ByteView token, ByteView agent_key,
                                        ByteView authenticator_key);
// What a session's keys are bound to besides the two secrets.
struct SessionTranscript {
    ByteView device_id;
    ByteView authenticator_ephemeral;
    ByteView agent_ephemeral;
};
Result<ChannelKeys> derive_session_keys(ByteView pairing_secret, ByteView ephemeral_shared,
                                        const SessionTranscript& transcript);

// Constant-time comparison of what the person typed with the code.
bool confirmation_code_matches(std::string_view typed, std::string_view code);

// How long a session handshake, and a connection to the agent's link
// address, may take.
inline constexpr int kSessionHandshakeTimeoutMs = 10'000;
inline constexpr int kLinkConnectTimeoutMs = 5'000;

// What each side keeps about the other after pairing.
struct PairingRecord {
    Bytes device_id;
    std::string device_name;
    std::string address;  // the agent's link address (authenticator side)
    Bytes secret;

    PairingRecord() = default;
    PairingRecord(PairingRecord&&) noexcept = default;
    PairingRecord& operator=(PairingRecord&&) noexcept = default;
    PairingRecord(const PairingRecord&) = default;
    PairingRecord& operator=(const PairingRecord&) = default;
    ~PairingRecord();

    static Result<PairingRecord> parse(ByteView data);
    Bytes serialize() const;
};

// The session handshake, on each side. The agent's accepts only the device
// of `record`; both fail closed on any deviation. `on_hello`, when given, is
// called once the peer's hello has named the paired device and proved the
// pairing (what a stranger who sends nothing, garbage or a replayed hello
// never reaches).
Result<std::unique_ptr<SecureChannel>> session_accept(
    std::shared_ptr<Transport> transport, const PairingRecord& record, int timeout_ms,
    const std::function<void()>& on_hello = nullptr);
// The agent's side when it is paired with several devices: the hello's
// device id picks the record (`on_hello` gets its index), and the answer
// says which one the session is with.
struct AcceptedSession {
    std::unique_ptr<SecureChannel> channel;
    size_t record = 0;
};
Result<AcceptedSession> session_accept_any(std::shared_ptr<Transport> transport,
                                           std::span<const PairingRecord> records, int timeout_ms,
                                           const std::function<void(size_t)>& on_hello = nullptr);
Result<std::unique_ptr<SecureChannel>> session_connect(std::shared_ptr<Transport> transport,
                                                       const PairingRecord& record, int timeout_ms);

}  // namespace skgate
