// authorized_keys lines: parse, interpret, and re-format without injection.
#include <cstdlib>
#include <string_view>

#include "core/ssh/authkeys.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view line(reinterpret_cast<const char*>(data), size);
    auto opts = skgate::parse_key_options(line);
    if (opts) {
        (void)skgate::interpret_sshd_options(*opts);
        auto text = skgate::format_key_options(*opts);
        if (text) {
            auto back = skgate::parse_key_options(*text);
            if (!back || *back != *opts)
                std::abort();
        }
    }
    auto entry = skgate::parse_authorized_key(line);
    if (!entry)
        return 0;
    (void)skgate::interpret_sshd_options(entry->options);
    auto out = skgate::format_authorized_key(*entry);
    if (!out)
        return 0;
    if (out->find_first_of(std::string_view("\n\r\0", 3)) != std::string::npos)
        std::abort();
    auto back = skgate::parse_authorized_key(*out);
    if (!back || back->options != entry->options || !(back->key == entry->key))
        std::abort();
    return 0;
}
