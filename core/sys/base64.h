// Base64 (RFC 4648) as SSH uses it: standard alphabet with padding for keys
// and armor, and the unpadded URL-safe alphabet for webauthn challenges.
#pragma once

#include <string>
#include <string_view>

#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

std::string base64_encode(ByteView data);
std::string base64url_encode_unpadded(ByteView data);
// The unpadded URL-safe form (pairing URIs); canonical like base64_decode.
Result<Bytes> base64url_decode_unpadded(std::string_view text);

// Strict decoder: standard alphabet, correct padding, no whitespace, and the
// unused bits of the last symbol zero (as OpenSSH's b64_pton demands).
Result<Bytes> base64_decode(std::string_view text);

}  // namespace skgate
