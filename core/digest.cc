#include "core/digest.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace skgate {

namespace {

template <size_t N>
std::array<uint8_t, N> digest(const EVP_MD* md, ByteView data) {
    std::array<uint8_t, N> out{};
    unsigned int len = 0;
    // EVP_Digest only fails on allocation failure; a wrong hash is never an
    // acceptable fallback for a security decision, so stop.
    if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1 || len != N)
        std::abort();
    return out;
}

}  // namespace

Sha256 sha256(ByteView data) {
    return digest<32>(EVP_sha256(), data);
}
Sha512 sha512(ByteView data) {
    return digest<64>(EVP_sha512(), data);
}

}  // namespace skgate
