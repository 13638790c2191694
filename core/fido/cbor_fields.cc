#include "core/fido/cbor_fields.h"

#include <cbor.h>

#include <cstdlib>

namespace skgate {

using cbor::Item;

Result<CborFields> CborFields::parse(ByteView in) {
    size_t used = 0;
    SKGATE_TRY(item, cbor::load(in, &used));
    if (used != in.size())
        return invalid("message: " + std::to_string(in.size() - used) +
                       " bytes after the CBOR map");
    const cbor_item_t* map = item.get();
    if (!cbor_isa_map(map) || !cbor_map_is_definite(map))
        return invalid("message is not a definite CBOR map");
    size_t n = cbor_map_size(map);
    if (n > kMaxCborFields)
        return invalid("message has " + std::to_string(n) + " fields (at most " +
                       std::to_string(kMaxCborFields) + ")");
    CborFields out;
    const cbor_pair* pairs = cbor_map_handle(map);
    for (size_t i = 0; i < n; i++) {
        if (!cbor_isa_uint(pairs[i].key))
            return invalid("message field " + std::to_string(i) + " has a non-integer key");
        uint64_t key = cbor_get_int(pairs[i].key);
        if (key > kMaxCborFieldKey)
            return invalid("message field key " + std::to_string(key) + " is out of range");
        if (out.has(key))
            return invalid("message repeats field " + std::to_string(key));
        const cbor_item_t* v = pairs[i].value;
        if (cbor_isa_uint(v)) {
            out.set(key, static_cast<uint64_t>(cbor_get_int(v)));
        } else if (cbor_isa_bytestring(v) && cbor_bytestring_is_definite(v)) {
            out.set(key, Bytes(cbor_bytestring_handle(v),
                               cbor_bytestring_handle(v) + cbor_bytestring_length(v)));
        } else if (cbor_isa_string(v) && cbor_string_is_definite(v)) {
            out.set(key, std::string(reinterpret_cast<const char*>(cbor_string_handle(v)),
                                     cbor_string_length(v)));
        } else {
            return invalid("message field " + std::to_string(key) +
                           " is not an integer, byte string or text");
        }
    }
    return out;
}

Bytes CborFields::encode() const {
    Item map(cbor_new_definite_map(fields_.size()));
    if (!map)
        std::abort();
    for (const auto& [key, value] : fields_) {
        cbor_item_t* v = nullptr;
        if (auto* u = std::get_if<uint64_t>(&value))
            v = cbor_build_uint64(*u);
        else if (auto* b = std::get_if<Bytes>(&value))
            v = cbor_build_bytestring(b->data(), b->size());
        else {
            const auto& t = std::get<std::string>(value);
            v = cbor_build_stringn(t.data(), t.size());
        }
        cbor_item_t* k = cbor_build_uint64(key);
        if (!k || !v || !cbor_map_add(map.get(), cbor_pair{cbor_move(k), cbor_move(v)}))
            std::abort();
    }
    return cbor::serialize(map.get());
}

Result<uint64_t> CborFields::get_uint(uint64_t key, const char* what) const {
    auto it = fields_.find(key);
    if (it == fields_.end())
        return invalid(std::string("message has no ") + what);
    if (auto* u = std::get_if<uint64_t>(&it->second))
        return *u;
    return invalid(std::string("message: ") + what + " is not an unsigned integer");
}

Result<Bytes> CborFields::get_bytes(uint64_t key, const char* what, size_t max) const {
    auto it = fields_.find(key);
    if (it == fields_.end())
        return invalid(std::string("message has no ") + what);
    auto* b = std::get_if<Bytes>(&it->second);
    if (!b)
        return invalid(std::string("message: ") + what + " is not a byte string");
    if (b->size() > max)
        return invalid(std::string("message: ") + what + " is longer than " + std::to_string(max) +
                       " bytes");
    return *b;
}

Result<std::string> CborFields::get_text(uint64_t key, const char* what, size_t max) const {
    auto it = fields_.find(key);
    if (it == fields_.end())
        return invalid(std::string("message has no ") + what);
    auto* t = std::get_if<std::string>(&it->second);
    if (!t)
        return invalid(std::string("message: ") + what + " is not text");
    if (t->size() > max)
        return invalid(std::string("message: ") + what + " is longer than " + std::to_string(max) +
                       " characters");
    for (char c : *t)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            return invalid(std::string("message: ") + what + " contains control characters");
    return *t;
}

}  // namespace skgate
