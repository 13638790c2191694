// skgate.conf text, parsed and evaluated for a user with groups.
#include <string_view>

#include "core/policy/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto p = skgate::Policy::parse(std::string_view(reinterpret_cast<const char*>(data), size),
                                   "fuzz.conf");
    if (!p)
        return 0;
    for (const char* user : {"alice", "root", "b0b"}) {
        (void)p->for_user({user, [] {
                               return skgate::Result<std::vector<std::string>>(
                                   std::vector<std::string>{"wheel", "users"});
                           }});
    }
    return 0;
}
