// CBOR, in one place (libcbor): the few FIDO2 structures skgate reads and
// writes. Every decoder bounds its input, insists on definite lengths and
// reports how many bytes the item used, so callers can find trailing data.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>

#include "core/ssh/sshkey.h"
#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

inline constexpr size_t kMaxCborInput = 16 * 1024;

// A COSE_Key (RFC 9053) for the two FIDO2 credential types skgate knows:
// EC2 P-256 with ES256 (-7), and OKP Ed25519 with EdDSA (-8).
struct CoseKey {
    KeyAlgorithm algorithm = KeyAlgorithm::sk_ecdsa_p256;
    Bytes x;  // 32 bytes
    Bytes y;  // 32 bytes for P-256; empty for Ed25519

    // The SSH public-key material: 0x04||x||y, or the raw Ed25519 key.
    Bytes ssh_material() const;
};

// One definite-length byte string; *consumed says how many bytes it used.
Result<Bytes> cbor_read_bytestring(ByteView in, size_t* consumed);
Result<CoseKey> cbor_read_cose_key(ByteView in, size_t* consumed);
// The length of the one well-formed item at the start of `in`.
Result<size_t> cbor_item_length(ByteView in);

Bytes cbor_encode_bytestring(ByteView data);
// Canonical CTAP2 order (1, 3, -1, -2, -3).
Result<Bytes> cbor_encode_cose_key(const PublicKey& sk_key);

// The channel's messages (DESIGN.md section 8): one definite CBOR map whose
// keys are small unsigned integers and whose values are unsigned integers,
// byte strings or text. Anything else (floats, tags, nesting, duplicate keys,
// trailing bytes) is refused, so there is one encoding of each message.
inline constexpr uint64_t kMaxCborFieldKey = 255;
inline constexpr size_t kMaxCborFields = 32;

using CborValue = std::variant<uint64_t, Bytes, std::string>;

class CborFields {
  public:
    static Result<CborFields> parse(ByteView in);
    Bytes encode() const;

    void set(uint64_t key, CborValue value) { fields_[key] = std::move(value); }
    bool has(uint64_t key) const { return fields_.count(key) != 0; }
    // Typed reads: a missing key or a value of another type or beyond `max`
    // (bytes or characters) is an error naming `what`.
    Result<uint64_t> get_uint(uint64_t key, const char* what) const;
    Result<Bytes> get_bytes(uint64_t key, const char* what, size_t max) const;
    Result<std::string> get_text(uint64_t key, const char* what, size_t max) const;

  private:
    std::map<uint64_t, CborValue> fields_;
};

}  // namespace skgate
