// The server side of the ssh-agent protocol (draft-miller-ssh-agent), as
// skgate-agent speaks it: requests parsed strictly, answers built here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

namespace agentmsg {
inline constexpr uint8_t kFailure = 5;
inline constexpr uint8_t kSuccess = 6;
inline constexpr uint8_t kRequestIdentities = 11;
inline constexpr uint8_t kIdentitiesAnswer = 12;
inline constexpr uint8_t kSignRequest = 13;
inline constexpr uint8_t kSignResponse = 14;
inline constexpr uint8_t kExtension = 27;
inline constexpr uint8_t kExtensionFailure = 28;
}  // namespace agentmsg

// skgate's extensions: a RegisterRequest or SignRequest (CBOR, as on the
// channel) for libskgate-sk.so, and the step-up description pam_skgate sends
// before asking for the SSHSIG it describes.
inline constexpr std::string_view kExtRegister = "register@skgate.dev";
inline constexpr std::string_view kExtSign = "sign@skgate.dev";
inline constexpr std::string_view kExtStepUpContext = "stepup-context@skgate.dev";
// "connected NAME" or "disconnected": whether an authenticator is attached.
inline constexpr std::string_view kExtStatus = "status@skgate.dev";

// One request. A plain struct rather than a variant: what a kind does not
// use stays empty.
struct AgentRequest {
    enum class Kind { identities, sign, extension, other } kind = Kind::other;
    uint8_t type = 0;    // the message type byte
    Bytes key_blob;      // sign
    Bytes data;          // sign
    uint32_t flags = 0;  // sign
    std::string name;    // extension
    Bytes contents;      // extension
};

// One message body (without its length prefix).
Result<AgentRequest> parse_agent_request(ByteView message);

// OpenSSH's session-bind@openssh.com extension (PROTOCOL.agent): ssh binds
// each agent connection to the server's host key and session, and marks
// the connections it forwards to a server. Parsed strictly; the signature
// is kept, not checked (what skgate uses, whether a connection was
// forwarded, a later bind on the same connection cannot take back).
inline constexpr std::string_view kExtSessionBind = "session-bind@openssh.com";
struct SessionBind {
    Bytes host_key;
    Bytes session_id;
    Bytes signature;
    bool forwarding = false;

    static Result<SessionBind> parse(ByteView contents);
};

struct AgentIdentityEntry {
    Bytes key_blob;
    std::string comment;
};
Bytes agent_identities_answer(const std::vector<AgentIdentityEntry>& ids);
Bytes agent_sign_response(ByteView signature);
Bytes agent_failure();
// SSH_AGENT_SUCCESS followed by extension-specific bytes.
Bytes agent_success(ByteView contents = {});

}  // namespace skgate
