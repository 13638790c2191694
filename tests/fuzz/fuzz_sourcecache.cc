// The remote sources' cache file, which is also what skgate-fetch prints
// and skgate-keys reads back: no crash, and whatever is accepted formats
// back to text that parses to the same keys.
#include <string>

#include "core/sources/source_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto parsed = skgate::parse_cached_keys(in);
    if (!parsed)
        return 0;
    auto text = skgate::format_cached_keys(*parsed);
    if (!text)
        __builtin_trap();
    auto again = skgate::parse_cached_keys(*text);
    if (!again || again->keys.size() != parsed->keys.size() || again->fetched != parsed->fetched)
        __builtin_trap();
    for (size_t i = 0; i < parsed->keys.size(); i++) {
        if (!again->keys[i].entry.key.same_key(parsed->keys[i].entry.key) ||
            again->keys[i].expires != parsed->keys[i].expires ||
            !parsed->keys[i].entry.options.empty())
            __builtin_trap();
    }
    return 0;
}
