// Hashes through OpenSSL's EVP interface.
#pragma once

#include <array>

#include "core/bytes.h"

namespace skgate {

using Sha256 = std::array<uint8_t, 32>;
using Sha512 = std::array<uint8_t, 64>;

Sha256 sha256(ByteView data);
Sha512 sha512(ByteView data);

}  // namespace skgate
