// The few FIDO2 structures skgate reads and writes in CBOR (COSE keys, byte
// strings), on the bounded decoder of cbor_item.h. Every decoder reports how
// many bytes the item used, so callers can find trailing data.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>

#include "core/fido/cbor_item.h"
#include "core/ssh/sshkey.h"
#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

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

Bytes cbor_encode_bytestring(ByteView data);
// Canonical CTAP2 order (1, 3, -1, -2, -3).
Result<Bytes> cbor_encode_cose_key(const PublicKey& sk_key);

}  // namespace skgate
