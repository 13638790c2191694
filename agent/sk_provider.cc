// libskgate-sk.so: an OpenSSH SecurityKeyProvider (SK API 0x000a0000) backed
// by the authenticator paired with skgate-agent, so that stock OpenSSH works
// with it: `ssh-keygen -t ecdsa-sk -w libskgate-sk.so`, `ssh -o
// SecurityKeyProvider=libskgate-sk.so`. Each call asks the running agent
// (extensions register@ / sign@skgate.dev), which asks the authenticator.
//
// A C ABI: no exception crosses it, and only the four sk_* functions are
// exported (sk_provider.map).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "agent/keyring.h"
#include "core/fido/attestation.h"
#include "core/fido/cbor_fido.h"
#include "core/link/link_messages.h"
#include "core/ssh/agent_client.h"
#include "core/ssh/agent_protocol.h"
#include "core/ssh/ossl.h"
#include "core/ssh/sk_api.h"
#include "core/ssh/wire.h"
#include "core/sys/sha256.h"

#define SK_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using namespace skgate;

constexpr int kTimeoutMs = 120000;

void say(const std::string& what) {
    std::fprintf(stderr, "libskgate-sk: %s\n", what.c_str());
}

uint8_t* dup_bytes(ByteView b) {
    auto* out = static_cast<uint8_t*>(std::calloc(1, b.empty() ? 1 : b.size()));
    if (out && !b.empty())
        std::memcpy(out, b.data(), b.size());
    return out;
}

// One extension round trip through the running agent: the CBOR request in,
// the CBOR answer out.
Result<CborFields> ask_agent(std::string_view extension, const CborFields& request) {
    auto paths = agent::AgentPaths::from_environment();
    SKGATE_TRY(client, AgentClient::connect(paths.socket(), geteuid(), kTimeoutMs));
    WireWriter w;
    w.put_string(request.encode());
    SKGATE_TRY(answer, client.extension(extension, w.bytes()));
    WireReader r(answer);
    SKGATE_TRY(body, r.read_string());
    SKGATE_CHECK(r.expect_end("the agent's answer"));
    return CborFields::parse(body);
}

int status_error(LinkStatus s, const std::string& reason) {
    say(std::string(link_status_text(s)) + (reason.empty() ? "" : " (" + reason + ")"));
    return SKGATE_SK_ERR_GENERAL;
}

int enroll(uint32_t alg, const uint8_t* challenge, size_t challenge_len, const char* application,
           uint8_t flags, sk_enroll_response** out) {
    if (!challenge || !application || !out)
        return SKGATE_SK_ERR_GENERAL;
    if (alg != SKGATE_SK_ALG_ECDSA && alg != SKGATE_SK_ALG_ED25519)
        return SKGATE_SK_ERR_UNSUPPORTED;
    if (flags & SKGATE_SK_FLAG_RESIDENT) {
        say("resident keys are not supported");
        return SKGATE_SK_ERR_UNSUPPORTED;
    }
    RegisterRequest req;
    req.application = application;
    req.algorithm =
        alg == SKGATE_SK_ALG_ED25519 ? KeyAlgorithm::sk_ed25519 : KeyAlgorithm::sk_ecdsa_p256;
    Sha256 h = sha256(ByteView(challenge, challenge_len));
    req.client_data_hash.assign(h.begin(), h.end());
    req.options = (flags & SKGATE_SK_FLAG_UV_REQUIRED) ? kLinkRequireUV : 0;
    if (!(flags & SKGATE_SK_FLAG_UP_REQUIRED))
        req.options |= kLinkNoTouch;
    req.name = "ssh-keygen";
    auto fields = ask_agent(kExtRegister, req.to_fields());
    if (!fields) {
        say(fields.error().message);
        return SKGATE_SK_ERR_DEVICE_NOT_FOUND;
    }
    auto resp = RegisterResponse::from_fields(*fields);
    if (!resp) {
        say(resp.error().message);
        return SKGATE_SK_ERR_GENERAL;
    }
    if (resp->status != LinkStatus::ok)
        return status_error(resp->status, resp->reason);
    auto auth = AuthenticatorData::parse(resp->auth_data);
    if (!auth || !auth->credential)
        return status_error(LinkStatus::failed, "no credential in the authenticator data");
    Bytes pub = auth->credential->public_key.ssh_material();
    Bytes wrapped = cbor_encode_bytestring(resp->auth_data);
    auto* r = static_cast<sk_enroll_response*>(std::calloc(1, sizeof(sk_enroll_response)));
    if (!r)
        return SKGATE_SK_ERR_GENERAL;
    r->flags = auth->flags;
    r->public_key = dup_bytes(pub);
    r->public_key_len = pub.size();
    r->key_handle = dup_bytes(resp->key_handle);
    r->key_handle_len = resp->key_handle.size();
    r->signature = dup_bytes(resp->signature);
    r->signature_len = resp->signature.size();
    r->authdata = dup_bytes(wrapped);
    r->authdata_len = wrapped.size();
    if (!r->public_key || !r->key_handle || !r->signature || !r->authdata) {
        std::free(r->public_key);
        std::free(r->key_handle);
        std::free(r->signature);
        std::free(r->authdata);
        std::free(r);
        return SKGATE_SK_ERR_GENERAL;
    }
    *out = r;
    return 0;
}

int sign(uint32_t alg, const uint8_t* data, size_t data_len, const char* application,
         const uint8_t* key_handle, size_t key_handle_len, uint8_t flags, sk_sign_response** out) {
    if (!data || !application || !key_handle || !out)
        return SKGATE_SK_ERR_GENERAL;
    if (alg != SKGATE_SK_ALG_ECDSA && alg != SKGATE_SK_ALG_ED25519)
        return SKGATE_SK_ERR_UNSUPPORTED;
    SignRequest req;
    req.application = application;
    req.key_handle.assign(key_handle, key_handle + key_handle_len);
    req.data.assign(data, data + data_len);
    req.options = (flags & SKGATE_SK_FLAG_UV_REQUIRED) ? kLinkRequireUV : 0;
    auto fields = ask_agent(kExtSign, req.to_fields());
    if (!fields) {
        say(fields.error().message);
        return SKGATE_SK_ERR_DEVICE_NOT_FOUND;
    }
    auto resp = SignResponse::from_fields(*fields);
    if (!resp) {
        say(resp.error().message);
        return SKGATE_SK_ERR_GENERAL;
    }
    if (resp->status != LinkStatus::ok)
        return status_error(resp->status, resp->reason);
    Bytes r_bytes, s_bytes;
    if (alg == SKGATE_SK_ALG_ED25519) {
        if (resp->signature.size() != 64)
            return status_error(LinkStatus::failed, "Ed25519 signature of the wrong size");
        r_bytes = resp->signature;
    } else {
        auto rs = ossl::ecdsa_der_to_rs(resp->signature);
        if (!rs)
            return status_error(LinkStatus::failed, rs.error().message);
        r_bytes = std::move(rs->first);
        s_bytes = std::move(rs->second);
    }
    auto* r = static_cast<sk_sign_response*>(std::calloc(1, sizeof(sk_sign_response)));
    if (!r)
        return SKGATE_SK_ERR_GENERAL;
    r->flags = resp->flags;
    r->counter = resp->counter;
    r->sig_r = dup_bytes(r_bytes);
    r->sig_r_len = r_bytes.size();
    if (!s_bytes.empty()) {
        r->sig_s = dup_bytes(s_bytes);
        r->sig_s_len = s_bytes.size();
    }
    if (!r->sig_r || (!s_bytes.empty() && !r->sig_s)) {
        std::free(r->sig_r);
        std::free(r->sig_s);
        std::free(r);
        return SKGATE_SK_ERR_GENERAL;
    }
    *out = r;
    return 0;
}

}  // namespace

SK_EXPORT uint32_t sk_api_version(void) {
    return SKGATE_SK_VERSION_MAJOR;
}

SK_EXPORT int sk_enroll(uint32_t alg, const uint8_t* challenge, size_t challenge_len,
                        const char* application, uint8_t flags, const char* /*pin*/,
                        struct sk_option** /*options*/, struct sk_enroll_response** out) {
    try {
        return enroll(alg, challenge, challenge_len, application, flags, out);
    } catch (...) {
        return SKGATE_SK_ERR_GENERAL;
    }
}

SK_EXPORT int sk_sign(uint32_t alg, const uint8_t* data, size_t data_len, const char* application,
                      const uint8_t* key_handle, size_t key_handle_len, uint8_t flags,
                      const char* /*pin*/, struct sk_option** /*options*/,
                      struct sk_sign_response** out) {
    try {
        return sign(alg, data, data_len, application, key_handle, key_handle_len, flags, out);
    } catch (...) {
        return SKGATE_SK_ERR_GENERAL;
    }
}

SK_EXPORT int sk_load_resident_keys(const char* /*pin*/, struct sk_option** /*options*/,
                                    struct sk_resident_key*** /*rks*/, size_t* /*nrks*/) {
    return SKGATE_SK_ERR_UNSUPPORTED;
}
