// SSHSIG signatures, binary and armored.
#include <cstdlib>
#include <string_view>

#include "core/ssh/sshsig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto bin = skgate::SshSig::parse({data, size});
    if (bin) {
        auto again = skgate::SshSig::parse(bin->serialize());
        if (!again)
            std::abort();
        (void)skgate::sshsig_verify(*bin, {data, size}, "skgate-stepup");
    }
    auto armored =
        skgate::SshSig::parse_armored(std::string_view(reinterpret_cast<const char*>(data), size));
    if (armored)
        (void)skgate::sshsig_verify(*armored, {data, size}, armored->ns);
    return 0;
}
