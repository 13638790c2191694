// What the agent asks of the authenticator and what it answers, modelled on
// CTAP2's makeCredential and getAssertion (DESIGN.md section 8). Every
// message is a CborFields map inside a SecureChannel; these types are the
// only way in and out, and each from_fields() is strict.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "core/fido/cbor_fields.h"
#include "core/ssh/sshkey.h"
#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

inline constexpr size_t kMaxLinkSignData = 8 * 1024;
inline constexpr size_t kMaxKeyHandle = 128;
inline constexpr size_t kMaxLinkText = 1024;
inline constexpr size_t kMaxHostNames = 256;
inline constexpr size_t kMaxLinkSignature = 256;
inline constexpr size_t kMaxLinkAuthData = 1024;

// Request options (bits).
inline constexpr uint64_t kLinkRequireUV = 0x1;
inline constexpr uint64_t kLinkNoTouch = 0x2;
// The request came through an agent connection ssh forwarded to a server
// (session-bind@openssh.com): a "this host for N minutes" window never
// answers it, and the prompt says so.
inline constexpr uint64_t kLinkForwarded = 0x4;

enum class LinkStatus : uint64_t {
    ok = 0,
    denied = 1,              // the person refused
    not_verified = 2,        // user verification asked for and not given
    unknown_credential = 3,  // no such key on this authenticator
    invalid_request = 4,
    failed = 5,   // the authenticator could not do it
    timeout = 6,  // nobody answered the prompt
};
std::string_view link_status_text(LinkStatus s);

struct RegisterRequest {
    uint64_t id = 0;
    std::string application;  // "ssh:" or "ssh:NAME"
    KeyAlgorithm algorithm = KeyAlgorithm::sk_ecdsa_p256;
    Bytes client_data_hash;  // SHA-256 of the enrollment challenge
    uint64_t options = 0;
    std::string name;  // shown to the person: what the key is for

    static Result<RegisterRequest> from_fields(const CborFields& f);
    CborFields to_fields() const;
};

struct RegisterResponse {
    uint64_t id = 0;
    LinkStatus status = LinkStatus::ok;
    std::string reason;
    Bytes auth_data;  // with the attested credential
    Bytes signature;  // packed self-attestation over authData || clientDataHash
    Bytes key_handle;

    static Result<RegisterResponse> from_fields(const CborFields& f);
    CborFields to_fields() const;
};

struct SignRequest {
    uint64_t id = 0;
    std::string application;
    Bytes key_handle;
    Bytes data;  // what is signed (hashed by the authenticator), so it can say what it is
    uint64_t options = 0;
    // For step-up: the SSHSIG message whose hash `data` carries, so the
    // authenticator can show the command (it checks the hash first).
    std::string context;
    // For a login: the names the laptop's known_hosts gives the server's
    // host key (comma-separated, for the prompt only; the host key's
    // fingerprint, read from `data`, is what a window is bound to).
    std::string host_names;

    static Result<SignRequest> from_fields(const CborFields& f);
    CborFields to_fields() const;
};

struct SignResponse {
    uint64_t id = 0;
    LinkStatus status = LinkStatus::ok;
    std::string reason;
    uint8_t flags = 0;
    uint32_t counter = 0;
    Bytes signature;  // DER ECDSA or 64-byte Ed25519, over the sk message

    static Result<SignResponse> from_fields(const CborFields& f);
    CborFields to_fields() const;
};

// The agent's word that this authenticator is no longer paired with it
// (`skgate-agent unpair`, or a new pairing): sealed like every message, so
// nobody but the agent can say it.
struct Unpaired {
    std::string reason;

    static Result<Unpaired> from_fields(const CborFields& f);
    CborFields to_fields() const;
};

using LinkMessage =
    std::variant<RegisterRequest, RegisterResponse, SignRequest, SignResponse, Unpaired>;
// Any message of the five kinds, by its type field.
Result<LinkMessage> parse_link_message(const CborFields& f);

}  // namespace skgate
