// KeysCommand's output (the command source): no crash, the limits hold, and
// every key accepted goes into the record for pam_skgate and back unchanged,
// its expiry with it.
#include <string>

#include "core/sources/keys_command.h"
#include "core/sources/source_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto parsed = skgate::parse_keys_command_output(in);
    if (!parsed)
        return 0;
    if (parsed->keys.size() > skgate::kMaxRemoteKeysPerUser || parsed->refused.size() > 21)
        __builtin_trap();
    for (const auto& k : parsed->keys)
        for (const auto& o : k.entry.options)
            if (o.name == "cert-authority")
                __builtin_trap();
    auto text = skgate::format_cached_keys({1, parsed->keys});
    if (!text)
        __builtin_trap();
    auto back = skgate::parse_cached_keys(*text);
    if (!back || back->keys.size() != parsed->keys.size())
        __builtin_trap();
    for (size_t i = 0; i < parsed->keys.size(); i++)
        if (!back->keys[i].entry.key.same_key(parsed->keys[i].entry.key) ||
            back->keys[i].expires != parsed->keys[i].expires)
            __builtin_trap();
    return 0;
}
