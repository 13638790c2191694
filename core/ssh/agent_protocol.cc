#include "core/ssh/agent_protocol.h"

#include "core/ssh/sshkey.h"
#include "core/ssh/wire.h"

namespace skgate {

namespace {
constexpr size_t kMaxExtensionName = 128;
constexpr size_t kMaxSignData = 64 * 1024;
}  // namespace

Result<SessionBind> SessionBind::parse(ByteView contents) {
    WireReader r(contents);
    SessionBind b;
    SKGATE_TRY(key, r.read_string());
    SKGATE_TRY(session, r.read_string());
    SKGATE_TRY(sig, r.read_string());
    SKGATE_TRY(forwarding, r.read_bool());
    SKGATE_CHECK(r.expect_end("session-bind"));
    if (key.empty() || session.empty() || session.size() > 64 || sig.empty())
        return invalid("session-bind: empty host key or signature, or a session id over 64 bytes");
    b.host_key.assign(key.begin(), key.end());
    b.session_id.assign(session.begin(), session.end());
    b.signature.assign(sig.begin(), sig.end());
    b.forwarding = forwarding;
    return b;
}

Result<AgentRequest> parse_agent_request(ByteView message) {
    WireReader r(message);
    SKGATE_TRY(type, r.read_u8());
    AgentRequest req;
    req.type = type;
    switch (type) {
        case agentmsg::kRequestIdentities:
            SKGATE_CHECK(r.expect_end("the identities request"));
            req.kind = AgentRequest::Kind::identities;
            return req;
        case agentmsg::kSignRequest: {
            SKGATE_TRY(blob, r.read_string());
            SKGATE_TRY(data, r.read_string());
            SKGATE_TRY(flags, r.read_u32());
            SKGATE_CHECK(r.expect_end("the sign request"));
            if (blob.size() > kMaxKeyBlobBytes)
                return invalid("sign request: key blob too large");
            if (data.size() > kMaxSignData)
                return invalid("sign request: data too large");
            req.kind = AgentRequest::Kind::sign;
            req.key_blob = to_bytes(blob);
            req.data = to_bytes(data);
            req.flags = flags;
            return req;
        }
        case agentmsg::kExtension: {
            SKGATE_TRY(name, r.read_cstring());
            if (name.empty() || name.size() > kMaxExtensionName)
                return invalid("extension name is empty or too long");
            SKGATE_TRY(rest, r.read_bytes(r.remaining()));
            req.kind = AgentRequest::Kind::extension;
            req.name = std::move(name);
            req.contents = to_bytes(rest);
            return req;
        }
        default:
            return req;
    }
}

Bytes agent_identities_answer(const std::vector<AgentIdentityEntry>& ids) {
    WireWriter w;
    w.put_u8(agentmsg::kIdentitiesAnswer);
    w.put_u32(static_cast<uint32_t>(ids.size()));
    for (const auto& id : ids) {
        w.put_string(id.key_blob);
        w.put_string(id.comment);
    }
    return std::move(w).take();
}

Bytes agent_sign_response(ByteView signature) {
    WireWriter w;
    w.put_u8(agentmsg::kSignResponse);
    w.put_string(signature);
    return std::move(w).take();
}

Bytes agent_failure() {
    return Bytes{agentmsg::kFailure};
}

Bytes agent_success(ByteView contents) {
    WireWriter w;
    w.put_u8(agentmsg::kSuccess);
    w.put_raw(contents);
    return std::move(w).take();
}

}  // namespace skgate
