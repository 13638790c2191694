#include "core/sys/digest.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace skgate {

Sha512 sha512(ByteView data) {
    Sha512 out{};
    unsigned int len = 0;
    // Fails only when memory runs out; a wrong hash is never an acceptable
    // fallback for a security decision, so stop.
    if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha512(), nullptr) != 1 ||
        len != out.size())
        std::abort();
    return out;
}

}  // namespace skgate
