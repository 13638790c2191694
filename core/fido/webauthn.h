// A browser's WebAuthn answers for a passkey (DESIGN.md section 15), checked
// and turned into SSH's encodings: navigator.credentials.create's into an
// sk-ecdsa public key whose application is the relying-party ID, its key
// handle and an ssh-sk-attest-v01 attestation; navigator.credentials.get's
// into a webauthn-sk-ecdsa-sha2-nistp256@openssh.com signature. Everything
// here comes from a web page and is untrusted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/fido/attestation.h"
#include "core/ssh/sshkey.h"
#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

// The page that asked, as the browser names it in clientDataJSON.
struct WebauthnOrigin {
    std::string rp_id;   // "localhost"
    std::string origin;  // "http://localhost:41234"
};

// clientDataJSON, attestationObject and authenticatorData are small; larger
// answers are refused before anything is parsed.
inline constexpr size_t kMaxWebauthnAnswerBytes = 8 * 1024;

struct PasskeyRegistration {
    PublicKey key;  // sk-ecdsa-sha2-nistp256@openssh.com, application = rp_id
    Bytes credential_id;
    uint8_t flags = 0;
    std::string format;  // "packed" or "none"
    // What skgatectl enroll --attestation reads; its --challenge is the
    // clientDataJSON, whose SHA-256 is the client data hash signed.
    SkAttestation attestation;

    // `challenge`: the one the agent put in the page.
    static Result<PasskeyRegistration> parse(ByteView attestation_object, ByteView client_data_json,
                                             ByteView challenge, const WebauthnOrigin& where);
};

struct WebauthnAssertion {
    Bytes authenticator_data;
    Bytes client_data_json;
    Bytes signature;  // DER ECDSA, as the browser gives it
};

// The SSH signature blob for `data` (the challenge the page was given),
// returned only once it verifies for `key` exactly as sshd and pam_skgate
// verify it, and the browser named `where` as the asking page.
Result<Bytes> webauthn_signature_blob(const PublicKey& key, const WebauthnAssertion& assertion,
                                      const WebauthnOrigin& where, ByteView data);

}  // namespace skgate
