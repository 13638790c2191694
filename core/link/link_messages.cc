#include "core/link/link_messages.h"

#include "core/link/message_ids.h"
#include "core/ssh/sshkey.h"

namespace skgate {

namespace {

using namespace msg::field;
using msg::type::kRegisterRequest;
using msg::type::kRegisterResponse;
using msg::type::kSignRequest;
using msg::type::kSignResponse;
using msg::type::kUnpaired;

Status expect_type(const CborFields& f, uint64_t want) {
    SKGATE_TRY(type, f.get_uint(msg::field::kType, "message type"));
    if (type != want)
        return invalid("message type " + std::to_string(type) + " where " + std::to_string(want) +
                       " was expected");
    return {};
}

Result<std::string> application_of(const CborFields& f) {
    SKGATE_TRY(app, f.get_text(kApplication, "application", kMaxApplicationBytes));
    if (app.substr(0, 4) != "ssh:")
        return invalid("application '" + app + "' does not start with 'ssh:'");
    return app;
}

Result<uint64_t> options_of(const CborFields& f) {
    SKGATE_TRY(options, f.get_uint(kOptions, "options"));
    if (options & ~(kLinkRequireUV | kLinkNoTouch | kLinkForwarded))
        return invalid("unknown request options " + std::to_string(options));
    return options;
}

Result<LinkStatus> status_of(const CborFields& f) {
    SKGATE_TRY(s, f.get_uint(msg::field::kStatus, "status"));
    if (s > static_cast<uint64_t>(LinkStatus::timeout))
        return invalid("unknown status " + std::to_string(s));
    return static_cast<LinkStatus>(s);
}

Result<std::string> reason_of(const CborFields& f) {
    if (!f.has(msg::field::kReason))
        return std::string();
    return f.get_text(msg::field::kReason, "reason", kMaxLinkText);
}

// id, status and reason: what every response begins with.
template <class Response>
Status read_response_header(const CborFields& f, Response& r) {
    SKGATE_TRY(id, f.get_uint(msg::field::kId, "request id"));
    SKGATE_TRY(status, status_of(f));
    SKGATE_TRY(reason, reason_of(f));
    r.id = id;
    r.status = status;
    r.reason = std::move(reason);
    return {};
}

void put_header(CborFields& f, uint64_t type, uint64_t id) {
    f.set(msg::field::kType, type);
    f.set(msg::field::kId, id);
}

}  // namespace

std::string_view link_status_text(LinkStatus s) {
    switch (s) {
        case LinkStatus::ok:
            return "approved";
        case LinkStatus::denied:
            return "denied on the authenticator";
        case LinkStatus::not_verified:
            return "user verification (PIN) failed or was not given";
        case LinkStatus::unknown_credential:
            return "the authenticator does not hold this key";
        case LinkStatus::invalid_request:
            return "the authenticator refused a malformed request";
        case LinkStatus::failed:
            return "the authenticator failed";
        case LinkStatus::timeout:
            return "nobody answered on the authenticator";
    }
    return "unknown";
}

Result<RegisterRequest> RegisterRequest::from_fields(const CborFields& f) {
    SKGATE_CHECK(expect_type(f, kRegisterRequest));
    RegisterRequest r;
    SKGATE_TRY(id, f.get_uint(msg::field::kId, "request id"));
    SKGATE_TRY(app, application_of(f));
    SKGATE_TRY(alg, f.get_uint(kAlgorithm, "algorithm"));
    if (alg > 1)
        return invalid("algorithm " + std::to_string(alg) +
                       " is neither ECDSA (0) nor Ed25519 (1)");
    SKGATE_TRY(hash, f.get_bytes(kHash, "client data hash", 32));
    if (hash.size() != 32)
        return invalid("client data hash must be 32 bytes");
    SKGATE_TRY(options, options_of(f));
    SKGATE_TRY(name, f.get_text(kUserName, "key name", kMaxLinkText));
    r.id = id;
    r.application = std::move(app);
    r.algorithm = alg == 1 ? KeyAlgorithm::sk_ed25519 : KeyAlgorithm::sk_ecdsa_p256;
    r.client_data_hash = std::move(hash);
    r.options = options;
    r.name = std::move(name);
    return r;
}

CborFields RegisterRequest::to_fields() const {
    CborFields f;
    put_header(f, kRegisterRequest, id);
    f.set(kApplication, application);
    f.set(kAlgorithm, uint64_t{algorithm == KeyAlgorithm::sk_ed25519 ? 1u : 0u});
    f.set(kHash, client_data_hash);
    f.set(kOptions, options);
    f.set(kUserName, name);
    return f;
}

Result<RegisterResponse> RegisterResponse::from_fields(const CborFields& f) {
    SKGATE_CHECK(expect_type(f, kRegisterResponse));
    RegisterResponse r;
    SKGATE_CHECK(read_response_header(f, r));
    if (r.status != LinkStatus::ok)
        return r;
    SKGATE_TRY(auth_data, f.get_bytes(kAuthData, "authenticator data", kMaxLinkAuthData));
    SKGATE_TRY(sig, f.get_bytes(kSignature, "attestation signature", kMaxLinkSignature));
    SKGATE_TRY(handle, f.get_bytes(kKeyHandle, "key handle", kMaxKeyHandle));
    if (handle.empty())
        return invalid("empty key handle");
    r.auth_data = std::move(auth_data);
    r.signature = std::move(sig);
    r.key_handle = std::move(handle);
    return r;
}

CborFields RegisterResponse::to_fields() const {
    CborFields f;
    put_header(f, kRegisterResponse, id);
    f.set(msg::field::kStatus, static_cast<uint64_t>(status));
    if (!reason.empty())
        f.set(msg::field::kReason, reason);
    if (status == LinkStatus::ok) {
        f.set(kAuthData, auth_data);
        f.set(kSignature, signature);
        f.set(kKeyHandle, key_handle);
    }
    return f;
}

Result<SignRequest> SignRequest::from_fields(const CborFields& f) {
    SKGATE_CHECK(expect_type(f, kSignRequest));
    SignRequest r;
    SKGATE_TRY(id, f.get_uint(msg::field::kId, "request id"));
    SKGATE_TRY(app, application_of(f));
    SKGATE_TRY(handle, f.get_bytes(kKeyHandle, "key handle", kMaxKeyHandle));
    SKGATE_TRY(data, f.get_bytes(kData, "data to sign", kMaxLinkSignData));
    SKGATE_TRY(options, options_of(f));
    if (handle.empty())
        return invalid("empty key handle");
    if (f.has(kContext)) {
        SKGATE_TRY(context, f.get_bytes(kContext, "context", kMaxLinkText));
        r.context.assign(context.begin(), context.end());
    }
    if (f.has(kHostNames)) {
        SKGATE_TRY(names, f.get_text(kHostNames, "host names", kMaxHostNames));
        r.host_names = std::move(names);
    }
    r.id = id;
    r.application = std::move(app);
    r.key_handle = std::move(handle);
    r.data = std::move(data);
    r.options = options;
    return r;
}

CborFields SignRequest::to_fields() const {
    CborFields f;
    put_header(f, kSignRequest, id);
    f.set(kApplication, application);
    f.set(kKeyHandle, key_handle);
    f.set(kData, data);
    f.set(kOptions, options);
    if (!context.empty())
        f.set(kContext, Bytes(context.begin(), context.end()));
    if (!host_names.empty())
        f.set(kHostNames, host_names);
    return f;
}

Result<SignResponse> SignResponse::from_fields(const CborFields& f) {
    SKGATE_CHECK(expect_type(f, kSignResponse));
    SignResponse r;
    SKGATE_CHECK(read_response_header(f, r));
    if (r.status != LinkStatus::ok)
        return r;
    SKGATE_TRY(flags, f.get_uint(kFlags, "flags"));
    SKGATE_TRY(counter, f.get_uint(kCounter, "counter"));
    SKGATE_TRY(sig, f.get_bytes(kSignature, "signature", kMaxLinkSignature));
    if (flags > 0xff || counter > 0xffffffffu)
        return invalid("flags or counter out of range");
    if (sig.empty())
        return invalid("empty signature");
    r.flags = static_cast<uint8_t>(flags);
    r.counter = static_cast<uint32_t>(counter);
    r.signature = std::move(sig);
    return r;
}

CborFields SignResponse::to_fields() const {
    CborFields f;
    put_header(f, kSignResponse, id);
    f.set(msg::field::kStatus, static_cast<uint64_t>(status));
    if (!reason.empty())
        f.set(msg::field::kReason, reason);
    if (status == LinkStatus::ok) {
        f.set(kFlags, uint64_t{flags});
        f.set(kCounter, uint64_t{counter});
        f.set(kSignature, signature);
    }
    return f;
}

Result<Unpaired> Unpaired::from_fields(const CborFields& f) {
    SKGATE_TRY(reason, f.get_text(msg::field::kReason, "reason", kMaxLinkText));
    return Unpaired{.reason = std::move(reason)};
}

CborFields Unpaired::to_fields() const {
    CborFields f;
    f.set(msg::field::kType, msg::type::kUnpaired);
    f.set(msg::field::kReason, reason);
    return f;
}

Result<LinkMessage> parse_link_message(const CborFields& f) {
    SKGATE_TRY(type, f.get_uint(msg::field::kType, "message type"));
    switch (type) {
        case kRegisterRequest: {
            SKGATE_TRY(m, RegisterRequest::from_fields(f));
            return LinkMessage(std::move(m));
        }
        case kRegisterResponse: {
            SKGATE_TRY(m, RegisterResponse::from_fields(f));
            return LinkMessage(std::move(m));
        }
        case kSignRequest: {
            SKGATE_TRY(m, SignRequest::from_fields(f));
            return LinkMessage(std::move(m));
        }
        case kSignResponse: {
            SKGATE_TRY(m, SignResponse::from_fields(f));
            return LinkMessage(std::move(m));
        }
        case kUnpaired: {
            SKGATE_TRY(m, Unpaired::from_fields(f));
            return LinkMessage(std::move(m));
        }
        default:
            return invalid("unknown message type " + std::to_string(type));
    }
}

}  // namespace skgate
