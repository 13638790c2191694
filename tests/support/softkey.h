// A software FIDO2 key for tests: makes sk keys and signatures in process,
// with any flags and counter, so tests need no authenticator.
#pragma once

#include <memory>
#include <string>

#include "core/ssh/sshkey.h"
#include "core/sys/bytes.h"

namespace skgate::test {

class SoftSkKey {
  public:
    // alg: KeyAlgorithm::sk_ecdsa_p256 or sk_ed25519. Throws on failure.
    static SoftSkKey generate(KeyAlgorithm alg, const std::string& application = "ssh:");
    // From raw private (32 bytes) and public (65 or 32 bytes) key material.
    static std::unique_ptr<SoftSkKey> from_raw(KeyAlgorithm alg, ByteView priv, ByteView pub,
                                               const std::string& application);

    SoftSkKey(SoftSkKey&&) noexcept;
    SoftSkKey& operator=(SoftSkKey&&) noexcept;
    ~SoftSkKey();

    const PublicKey& public_key() const { return *pub_; }
    const Bytes& raw_private() const { return priv_; }
    const Bytes& raw_public() const { return raw_pub_; }

    // The signature over the 69-byte sk message: r||s (32 bytes each) for
    // ECDSA, the 64-byte signature for Ed25519.
    Bytes sign_message(ByteView message) const;
    // The same signature as attestation statements carry it: DER for ECDSA.
    Bytes sign_der(ByteView message) const;
    // A complete SSH sk signature blob over `data`.
    Bytes sign(ByteView data, uint8_t flags, uint32_t counter) const;

  private:
    SoftSkKey() = default;
    KeyAlgorithm alg_ = KeyAlgorithm::sk_ecdsa_p256;
    std::string app_;
    Bytes priv_, raw_pub_;
    std::unique_ptr<PublicKey> pub_;
};

// Builds an sk signature blob from parts, for tests that forge malformed ones.
Bytes sk_signature_blob(std::string_view type, ByteView inner, uint8_t flags, uint32_t counter);
// The inner ECDSA value: mpint r, mpint s.
Bytes ecdsa_inner(ByteView r, ByteView s);

}  // namespace skgate::test
