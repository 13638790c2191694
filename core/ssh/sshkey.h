// SSH public keys: the two FIDO2 security-key types skgate accepts, and the
// ordinary types and certificates it must recognise in order to refuse them.
#pragma once

#include <string>
#include <string_view>

#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

enum class KeyAlgorithm {
    sk_ecdsa_p256,  // sk-ecdsa-sha2-nistp256@openssh.com
    sk_ed25519,     // sk-ssh-ed25519@openssh.com
    ed25519,
    ecdsa_p256,
    ecdsa_p384,
    ecdsa_p521,
    rsa,
};

// Keys larger than this are refused outright (OpenSSH's own limit is 16 KiB
// for a public key blob; a certificate adds principals and extensions).
inline constexpr size_t kMaxKeyBlobBytes = 16 * 1024;
// A FIDO2 application (RP ID) is a short string; 256 bytes is generous.
inline constexpr size_t kMaxApplicationBytes = 256;

// Parsing checks everything about a key's encoding: its type, every length,
// the EC point's uncompressed form and size, a non-empty application, no
// trailing bytes. Whether an EC point lies on its curve is a cryptographic
// check (core/ssh/ossl.h: validate_key), made at enrollment, by inspect-key, and
// every time a key verifies a signature. Keeping OpenSSL out of parsing keeps
// it out of skgate-keys, which must start in about a millisecond; sshd checks
// every key it reads from skgate-keys itself.
class PublicKey {
  public:
    // Decodes and validates a key blob (certificate blobs included). Trailing
    // bytes, bad points and unknown types are errors.
    static Result<PublicKey> parse_blob(ByteView blob);
    // Decodes "TYPE BASE64 [COMMENT]". The type word must equal the blob's
    // type. The comment, if any, is returned through `comment`.
    static Result<PublicKey> parse_text(std::string_view text, std::string* comment = nullptr);
    // Looks a type name up; false for names skgate does not know.
    static bool is_known_type_name(std::string_view name);

    static Result<PublicKey> make_sk_ecdsa(ByteView point, std::string_view application);
    static Result<PublicKey> make_sk_ed25519(ByteView pk, std::string_view application);

    KeyAlgorithm algorithm() const { return alg_; }
    bool is_certificate() const { return certificate_; }
    bool is_security_key() const {
        return alg_ == KeyAlgorithm::sk_ecdsa_p256 || alg_ == KeyAlgorithm::sk_ed25519;
    }
    // The type as written on the wire and in text (the certificate name for
    // certificates).
    std::string type_name() const;
    // The type of the key itself, without the certificate wrapper.
    std::string_view plain_type_name() const;
    // The short name ssh-keygen -l prints in parentheses, e.g. "ECDSA-SK".
    std::string_view display_type() const;
    unsigned bits() const { return bits_; }
    // The FIDO2 application (RP ID) of a security key; empty for other keys.
    const std::string& application() const { return application_; }
    // The EC point (uncompressed), the raw Ed25519 key, or the RSA modulus.
    const Bytes& key_material() const { return material_; }
    // The curve of an ECDSA key as OpenSSL names it ("P-256"); empty otherwise.
    std::string_view curve() const;

    // The blob exactly as parsed or built.
    const Bytes& blob() const { return blob_; }
    // The blob of the key alone (for a certificate, of the certified key).
    Bytes plain_blob() const;
    // "SHA256:..." as ssh-keygen -lf prints it; a certificate has its key's.
    std::string fingerprint() const;
    // "TYPE BASE64", without a comment.
    std::string to_text() const;

    // Same key material and application, ignoring any certificate wrapper.
    bool same_key(const PublicKey& other) const { return plain_blob() == other.plain_blob(); }
    bool operator==(const PublicKey& other) const { return blob_ == other.blob_; }

  private:
    PublicKey() = default;

    KeyAlgorithm alg_ = KeyAlgorithm::ed25519;
    bool certificate_ = false;
    unsigned bits_ = 0;
    std::string application_;
    Bytes material_;
    Bytes rsa_e_;
    Bytes blob_;
};

std::string_view key_algorithm_name(KeyAlgorithm alg);

}  // namespace skgate
