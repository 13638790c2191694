// SHA-512 through OpenSSL (for SSHSIG). SHA-256 lives in core/sys/sha256.h.
#pragma once

#include <array>

#include "core/sys/bytes.h"
#include "core/sys/sha256.h"

namespace skgate {

using Sha512 = std::array<uint8_t, 64>;

Sha512 sha512(ByteView data);

}  // namespace skgate
