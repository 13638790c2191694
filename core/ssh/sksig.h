// FIDO2 security-key signatures in SSH's encoding (PROTOCOL.u2f): parsing
// and verification exactly as OpenSSH's ssh-ecdsa-sk.c / ssh-ed25519-sk.c do,
// plus stricter encoding rules (minimal mpints, r and s in range).
#pragma once

#include <cstdint>
#include <string>

#include "core/ssh/sshkey.h"
#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

inline constexpr uint8_t kSkFlagUserPresent = 0x01;
inline constexpr uint8_t kSkFlagUserVerified = 0x04;
inline constexpr uint8_t kSkFlagAttestedData = 0x40;
inline constexpr uint8_t kSkFlagExtensionData = 0x80;

// webauthn clientData and extensions are small; cap them so a hostile
// signature cannot make us hash megabytes.
inline constexpr size_t kMaxWebauthnFieldBytes = 4096;

enum class SkSignatureType {
    ecdsa,           // sk-ecdsa-sha2-nistp256@openssh.com
    webauthn_ecdsa,  // webauthn-sk-ecdsa-sha2-nistp256@openssh.com
    ed25519,         // sk-ssh-ed25519@openssh.com
};

struct SkSignature {
    SkSignatureType type = SkSignatureType::ecdsa;
    Bytes r;        // ECDSA: magnitude of r
    Bytes s;        // ECDSA: magnitude of s
    Bytes ed25519;  // Ed25519: the 64-byte signature
    uint8_t flags = 0;
    uint32_t counter = 0;
    std::string webauthn_origin;
    Bytes webauthn_client_data;
    Bytes webauthn_extensions;

    // Decodes the complete signature blob an agent returns (type name,
    // signature, flags, counter[, webauthn fields]). Encoding errors only;
    // whether it verifies is verify_sk_signature's job.
    static Result<SkSignature> parse(ByteView blob);
    std::string_view type_name() const;
};

struct SkVerified {
    uint8_t flags = 0;
    uint32_t counter = 0;
    bool user_present() const { return flags & kSkFlagUserPresent; }
    bool user_verified() const { return flags & kSkFlagUserVerified; }
};

// Verifies `sig_blob` by `key` over `data` (the bytes OpenSSH passes to
// sshkey_verify: a userauth request or an SSHSIG to-be-signed blob). Returns
// the flags and counter the authenticator reported. Any failure, including a
// signature that does not verify, is an Error; flag policy is the caller's.
Result<SkVerified> verify_sk_signature(const PublicKey& key, ByteView sig_blob, ByteView data);

// What sshd does not check of a webauthn signature and skgate's step-up
// does: the page the browser named is one the key's relying party could
// have asked from (https://RPID or a subdomain, http only for localhost;
// any port), and it was not framed by another site (crossOrigin, topOrigin).
// Other signature types pass.
Status check_webauthn_page(const PublicKey& key, ByteView sig_blob);

// The 69 bytes an sk authenticator signs: SHA256(application) || flags ||
// counter || SHA256(data). Exposed for the test provider and authenticator.
Bytes sk_signed_message(std::string_view application, uint8_t flags, uint32_t counter,
                        ByteView data);

// The SSH signature blob for what an authenticator returned: `signature` is
// DER ECDSA (sk-ecdsa) or the 64-byte Ed25519 signature (sk-ed25519).
Result<Bytes> encode_sk_signature(KeyAlgorithm alg, ByteView signature, uint8_t flags,
                                  uint32_t counter);

}  // namespace skgate
