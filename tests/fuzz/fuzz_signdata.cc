// Data to sign (a userauth request or SSHSIG) with a step-up description, as
// the authenticator parses them to tell the person what they approve. The
// first byte splits the input into data and description.
#include <string_view>

#include "core/ssh/sign_purpose.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0)
        return 0;
    size_t split = data[0] < size ? data[0] : size - 1;
    skgate::ByteView in(data + 1, size - 1);
    std::string_view ctx(reinterpret_cast<const char*>(data + 1 + split), size - 1 - split);
    auto p = skgate::describe_signed_data(in.first(split), ctx);
    if (p)
        (void)p->describe();
    return 0;
}
