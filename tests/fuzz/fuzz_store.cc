// The key store's lines, the revocation list and its KRL.
#include <string_view>

#include "core/ssh/krl.h"
#include "core/store/keystore.h"
#include "core/store/revocation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto store = skgate::parse_store(text, "fuzz");
    for (const auto& k : store.keys) {
        auto line = skgate::format_stored_key(k);
        if (line) {
            auto back = skgate::parse_store(*line, "again");
            if (back.keys.size() != 1 || !(back.keys[0].key == k.key) ||
                back.keys[0].name != k.name)
                __builtin_trap();
        }
    }
    (void)skgate::RevocationList::parse(text, "fuzz");
    (void)skgate::KrlIndex::validate(skgate::ByteView(data, size));
    return 0;
}
