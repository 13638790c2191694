// The agent-authenticator channel's primitives (DESIGN.md section 8), all
// from OpenSSL: X25519 for pairing, HKDF-SHA256 for every derived key,
// ChaCha20-Poly1305 for every message after the first.
#pragma once

#include <cstdint>
#include <string>

#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

inline constexpr size_t kX25519KeyBytes = 32;
inline constexpr size_t kAeadKeyBytes = 32;
inline constexpr size_t kAeadNonceBytes = 12;
inline constexpr size_t kAeadTagBytes = 16;

struct X25519KeyPair {
    Bytes private_key;  // 32 bytes; wiped by the destructor
    Bytes public_key;   // 32 bytes

    static Result<X25519KeyPair> generate();
    X25519KeyPair() = default;
    X25519KeyPair(X25519KeyPair&&) noexcept = default;
    X25519KeyPair& operator=(X25519KeyPair&&) noexcept = default;
    ~X25519KeyPair();
};

// The shared secret with `peer_public`; refuses low-order peer keys (an
// all-zero result), which would make the secret known to anyone.
Result<Bytes> x25519_shared(const X25519KeyPair& own, ByteView peer_public);

Result<Bytes> hkdf_sha256(ByteView ikm, ByteView salt, std::string_view info, size_t length);

// ChaCha20-Poly1305 (RFC 8439): ciphertext || 16-byte tag.
Result<Bytes> aead_seal(ByteView key, ByteView nonce, ByteView aad, ByteView plaintext);
// Fails with ErrorCode::permission when the tag does not verify.
Result<Bytes> aead_open(ByteView key, ByteView nonce, ByteView aad, ByteView sealed);

Result<Bytes> random_bytes(size_t n);

// Wipes secrets (OPENSSL_cleanse, which the compiler may not elide).
void wipe(Bytes& secret);

}  // namespace skgate
