// The only place that talks to OpenSSL's key and signature APIs (3.0, no
// deprecated calls). Everything above works with bytes and Results.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string_view>

#include "core/bytes.h"
#include "core/result.h"
#include "core/sshkey.h"

namespace skgate::ossl {

struct PkeyDeleter {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

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

// The last OpenSSL error as text, and the queue cleared.
std::string last_error();

}  // namespace skgate::ossl
