// OpenSSL's key and signature APIs (3.0, no deprecated calls) for SSH keys:
// the code above works with bytes and Results. Other OpenSSL callers are the
// channel's AEAD and KDFs (link/channel_crypto), attestation certificates
// (fido/attestation), digests (sys/digest) and the vault's scrypt; all hold
// OpenSSL objects only through sys/openssl_ptr.h.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string_view>
#include <utility>

#include "core/ssh/sshkey.h"
#include "core/sys/bytes.h"
#include "core/sys/openssl_ptr.h"
#include "core/sys/result.h"

namespace skgate::ossl {

// curve: "P-256", "P-384" or "P-521". The point must be uncompressed
// (0x04 || X || Y), on the curve and not the point at infinity.
Result<PkeyPtr> ec_public_key(std::string_view curve, ByteView point);
Result<PkeyPtr> ed25519_public_key(ByteView raw32);
// The order n of a named curve, big-endian, for range checks of r and s.
Result<Bytes> ec_curve_order(std::string_view curve);

// Signature checks return true/false for valid/invalid and an Error only when
// the library itself failed.
Result<bool> verify_ecdsa(EVP_PKEY* key, const EVP_MD* md, ByteView r, ByteView s,
                          ByteView message);
Result<bool> verify_ed25519(EVP_PKEY* key, ByteView sig64, ByteView message);

// An OpenSSL key for signature checks (ECDSA and Ed25519 keys only), with
// the full public-key validation of ec_public_key.
Result<PkeyPtr> public_key(const PublicKey& key);
// The cryptographic checks parsing leaves out: an EC point must lie on its
// curve. RSA and Ed25519 keys need nothing beyond what parsing checked.
Status validate_key(const PublicKey& key);

// A security key's private half, as an authenticator holds it: the raw
// private scalar (32 bytes) and the SSH public material (65-byte point or
// 32-byte Ed25519 key).
struct SkKeyMaterial {
    Bytes private_key;
    Bytes public_key;
    SkKeyMaterial() = default;
    SkKeyMaterial(SkKeyMaterial&&) noexcept = default;
    SkKeyMaterial& operator=(SkKeyMaterial&&) noexcept = default;
    ~SkKeyMaterial();
};
// alg: KeyAlgorithm::sk_ecdsa_p256 or sk_ed25519.
Result<SkKeyMaterial> generate_sk_key(KeyAlgorithm alg);
// A signature as FIDO2 authenticators return it: DER ECDSA over SHA-256 of
// `message`, or the 64-byte Ed25519 signature of `message`.
Result<Bytes> sign_as_authenticator(KeyAlgorithm alg, const SkKeyMaterial& key, ByteView message);
// r and s (big-endian magnitudes) of a DER ECDSA signature.
Result<std::pair<Bytes, Bytes>> ecdsa_der_to_rs(ByteView der);

// The last OpenSSL error as text, and the queue cleared.
std::string last_error();

}  // namespace skgate::ossl
