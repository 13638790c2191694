// FIDO2 attestation of an SSH security key (DESIGN.md section 3):
// OpenSSH's ssh-sk-attest-v01 file, the authenticator data inside it, and
// verification of `packed` (full and self) and `fido-u2f` statements against
// the SSH key and the enrollment challenge.
#pragma once

#include <array>
#include <optional>
#include <string>

#include "core/fido/cbor_fido.h"
#include "core/ssh/sshkey.h"
#include "core/sys/bytes.h"
#include "core/sys/result.h"
#include "core/sys/sha256.h"

namespace skgate {

inline constexpr size_t kMaxAttestationBytes = 16 * 1024;
inline constexpr uint8_t kAuthDataUserPresent = 0x01;
inline constexpr uint8_t kAuthDataUserVerified = 0x04;
inline constexpr uint8_t kAuthDataAttested = 0x40;
inline constexpr uint8_t kAuthDataExtensions = 0x80;

using Aaguid = std::array<uint8_t, 16>;
std::string format_aaguid(const Aaguid& a);

struct AttestedCredential {
    Aaguid aaguid{};
    Bytes credential_id;
    CoseKey public_key;
};

// WebAuthn authenticator data: rpIdHash, flags, counter, the attested
// credential when AT is set, and extensions when ED is set.
struct AuthenticatorData {
    Sha256 rp_id_hash{};
    uint8_t flags = 0;
    uint32_t counter = 0;
    std::optional<AttestedCredential> credential;
    Bytes extensions;  // one CBOR map, as given

    static Result<AuthenticatorData> parse(ByteView data);
    // rpIdHash || flags || counter || aaguid || len || credId || COSE key
    static Result<Bytes> encode(std::string_view application, uint8_t flags, uint32_t counter,
                                const Aaguid& aaguid, ByteView credential_id, const PublicKey& key);
};

// ssh-keygen -O write-attestation=FILE; skgate-agent writes a browser
// passkey's the same way (an empty certificate and signature for WebAuthn's
// "none").
struct SkAttestation {
    Bytes certificate;  // DER; empty for self-attestation and "none"
    Bytes signature;    // empty only for "none"
    Bytes auth_data;    // the raw authenticator data (unwrapped from CBOR)

    static Result<SkAttestation> parse(ByteView file);
    Bytes serialize() const;
};

struct AttestationResult {
    std::string format;  // "packed", "packed-self", "fido-u2f", "none"
    std::string aaguid;  // 8-4-4-4-12, lower case
    bool user_verified = false;
    bool chained = false;  // the certificate chains to AttestationRoots
    std::string certificate_subject;
};

// Verifies the statement for `key` and `challenge` (the file given to
// ssh-keygen -O challenge=FILE; the client data hash is its SHA-256). With
// `roots_dir`, the certificate must chain to a PEM certificate in it and
// self-attestation is refused.
Result<AttestationResult> verify_attestation(const SkAttestation& att, const PublicKey& key,
                                             ByteView challenge, const std::string& roots_dir = "");

}  // namespace skgate
