// SSH_AUTH_INFO_0 as sshd passes it to PAM.
#include <string_view>

#include "core/ssh/authinfo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto info =
        skgate::AuthInfo::parse(std::string_view(reinterpret_cast<const char*>(data), size));
    if (info) {
        for (const auto& k : info->publickeys)
            (void)k.fingerprint();
    }
    return 0;
}
