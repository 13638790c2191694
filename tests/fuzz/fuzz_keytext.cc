// "TYPE BASE64 COMMENT" public key text.
#include <string>

#include "core/ssh/sshkey.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string comment;
    auto k = skgate::PublicKey::parse_text(
        std::string_view(reinterpret_cast<const char*>(data), size), &comment);
    if (k)
        (void)k->fingerprint();
    return 0;
}
