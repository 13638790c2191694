// The pairing URI an authenticator scans (anyone can show a QR code).
#include <string_view>

#include "core/link/pairing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto uri = skgate::PairingUri::parse(text);
    if (uri) {
        auto back = skgate::PairingUri::parse(uri->format());
        if (!back || back->address != uri->address || back->token != uri->token)
            __builtin_trap();
    }
    return 0;
}
