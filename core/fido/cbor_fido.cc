#include "core/fido/cbor_fido.h"

#include <cbor.h>

#include <cstdlib>
#include <memory>
#include <optional>

namespace skgate {

namespace {

struct ItemDeleter {
    void operator()(cbor_item_t* p) const { cbor_decref(&p); }
};
using Item = std::unique_ptr<cbor_item_t, ItemDeleter>;

constexpr int kMaxDepth = 16;

// Checks the structure of the one item at in[pos] without allocating:
// definite lengths only (CTAP2 canonical CBOR has no others), and every
// declared length or count no larger than the bytes that remain, so that
// libcbor is never asked to allocate for a header a few bytes long (libcbor
// 0.8 reserves a map's declared size before reading any of it).
Status check_item(ByteView in, size_t* pos, int depth) {
    if (depth > kMaxDepth)
        return invalid("CBOR: nested deeper than " + std::to_string(kMaxDepth));
    if (*pos >= in.size())
        return invalid("CBOR: truncated item");
    uint8_t initial = in[(*pos)++];
    uint8_t major = initial >> 5, info = initial & 0x1f;
    uint64_t arg = info;
    if (info >= 24 && info <= 27) {
        size_t n = size_t{1} << (info - 24);
        if (in.size() - *pos < n)
            return invalid("CBOR: truncated header");
        arg = 0;
        for (size_t i = 0; i < n; i++)
            arg = (arg << 8) | in[(*pos)++];
    } else if (info > 27) {
        return invalid("CBOR: indefinite length or reserved encoding");
    }
    size_t left = in.size() - *pos;
    switch (major) {
        case 0:
        case 1:
        case 7:
            return {};
        case 2:
        case 3:
            if (arg > left)
                return invalid("CBOR: string longer than the data");
            *pos += static_cast<size_t>(arg);
            return {};
        case 4:
        case 5: {
            uint64_t items = major == 5 ? arg * 2 : arg;
            if (arg > left || items > left)
                return invalid("CBOR: more elements than the data can hold");
            for (uint64_t i = 0; i < items; i++)
                SKGATE_CHECK(check_item(in, pos, depth + 1));
            return {};
        }
        default:  // 6: a tag, then one item
            return check_item(in, pos, depth + 1);
    }
}

Result<Item> load(ByteView in, size_t* consumed) {
    if (in.empty())
        return invalid("CBOR: no data");
    if (in.size() > kMaxCborInput)
        in = in.first(kMaxCborInput);
    size_t len = 0;
    SKGATE_CHECK(check_item(in, &len, 0));
    cbor_load_result res{};
    Item item(cbor_load(in.data(), len, &res));
    if (!item || res.error.code != CBOR_ERR_NONE || res.read != len)
        return invalid("CBOR: malformed item at offset " + std::to_string(res.error.position));
    *consumed = len;
    return item;
}

// Integer map keys and values: unsigned or negative, as int64.
bool as_int(const cbor_item_t* i, int64_t* out) {
    if (cbor_isa_uint(i)) {
        uint64_t v = cbor_get_int(i);
        if (v > INT64_MAX)
            return false;
        *out = static_cast<int64_t>(v);
        return true;
    }
    if (cbor_isa_negint(i)) {
        uint64_t v = cbor_get_int(i);
        if (v > INT64_MAX - 1)
            return false;
        *out = -1 - static_cast<int64_t>(v);
        return true;
    }
    return false;
}

Result<Bytes> definite_bytes(const cbor_item_t* i, const char* what) {
    if (!cbor_isa_bytestring(i) || !cbor_bytestring_is_definite(i))
        return invalid(std::string("CBOR: ") + what + " is not a definite byte string");
    return Bytes(cbor_bytestring_handle(i), cbor_bytestring_handle(i) + cbor_bytestring_length(i));
}

Bytes serialize(const cbor_item_t* item) {
    unsigned char* buf = nullptr;
    size_t cap = 0;
    size_t len = item ? cbor_serialize_alloc(item, &buf, &cap) : 0;
    if (len == 0)
        std::abort();  // allocation failure: nothing sensible to return
    Bytes out(buf, buf + len);
    std::free(buf);
    return out;
}

}  // namespace

Bytes CoseKey::ssh_material() const {
    if (algorithm == KeyAlgorithm::sk_ed25519)
        return x;
    Bytes out{0x04};
    out.insert(out.end(), x.begin(), x.end());
    out.insert(out.end(), y.begin(), y.end());
    return out;
}

Result<Bytes> cbor_read_bytestring(ByteView in, size_t* consumed) {
    SKGATE_TRY(item, load(in, consumed));
    return definite_bytes(item.get(), "value");
}

Result<size_t> cbor_item_length(ByteView in) {
    if (in.size() > kMaxCborInput)
        return invalid("CBOR: item larger than " + std::to_string(kMaxCborInput) + " bytes");
    size_t len = 0;
    SKGATE_CHECK(check_item(in, &len, 0));
    return len;
}

Result<CoseKey> cbor_read_cose_key(ByteView in, size_t* consumed) {
    SKGATE_TRY(item, load(in, consumed));
    const cbor_item_t* map = item.get();
    if (!cbor_isa_map(map) || !cbor_map_is_definite(map))
        return invalid("COSE key is not a definite CBOR map");
    size_t n = cbor_map_size(map);
    if (n > 16)
        return invalid("COSE key has too many entries");
    const cbor_pair* pairs = cbor_map_handle(map);
    std::optional<int64_t> kty, alg, crv;
    std::optional<Bytes> x, y;
    for (size_t i = 0; i < n; i++) {
        int64_t key = 0;
        if (!as_int(pairs[i].key, &key))
            return invalid("COSE key has a non-integer label");
        auto set_int = [&](std::optional<int64_t>& slot, const char* what) -> Status {
            int64_t v = 0;
            if (slot)
                return invalid(std::string("COSE key repeats ") + what);
            if (!as_int(pairs[i].value, &v))
                return invalid(std::string("COSE key ") + what + " is not an integer");
            slot = v;
            return {};
        };
        auto set_bytes = [&](std::optional<Bytes>& slot, const char* what) -> Status {
            if (slot)
                return invalid(std::string("COSE key repeats ") + what);
            auto b = definite_bytes(pairs[i].value, what);
            if (!b)
                return b.error();
            slot = std::move(*b);
            return {};
        };
        Status st;
        switch (key) {
            case 1:
                st = set_int(kty, "kty");
                break;
            case 3:
                st = set_int(alg, "alg");
                break;
            case -1:
                st = set_int(crv, "crv");
                break;
            case -2:
                st = set_bytes(x, "x");
                break;
            case -3:
                st = set_bytes(y, "y");
                break;
            default:
                break;  // other labels (e.g. kid) are allowed and ignored
        }
        if (!st)
            return st.error();
    }
    CoseKey k;
    if (kty == 2 && alg == -7 && crv == 1) {
        if (!x || !y || x->size() != 32 || y->size() != 32)
            return invalid("COSE P-256 key needs 32-byte x and y");
        k.algorithm = KeyAlgorithm::sk_ecdsa_p256;
        k.x = std::move(*x);
        k.y = std::move(*y);
        return k;
    }
    if (kty == 1 && alg == -8 && crv == 6) {
        if (!x || x->size() != 32 || y)
            return invalid("COSE Ed25519 key needs a 32-byte x and no y");
        k.algorithm = KeyAlgorithm::sk_ed25519;
        k.x = std::move(*x);
        return k;
    }
    return invalid("COSE key is neither ES256 P-256 nor EdDSA Ed25519");
}

Bytes cbor_encode_bytestring(ByteView data) {
    Item item(cbor_build_bytestring(data.data(), data.size()));
    return serialize(item.get());
}

Result<Bytes> cbor_encode_cose_key(const PublicKey& key) {
    if (!key.is_security_key() || key.is_certificate())
        return invalid("only security keys have a COSE form here");
    bool ec = key.algorithm() == KeyAlgorithm::sk_ecdsa_p256;
    const Bytes& m = key.key_material();
    Item map(cbor_new_definite_map(ec ? 5 : 4));
    auto add = [&](cbor_item_t* k, cbor_item_t* v) {
        return map && k && v && cbor_map_add(map.get(), cbor_pair{cbor_move(k), cbor_move(v)});
    };
    bool ok = add(cbor_build_uint8(1), cbor_build_uint8(ec ? 2 : 1)) &&
              add(cbor_build_uint8(3), cbor_build_negint8(ec ? 6 : 7)) &&
              add(cbor_build_negint8(0), cbor_build_uint8(ec ? 1 : 6));
    if (ec)
        ok = ok && add(cbor_build_negint8(1), cbor_build_bytestring(m.data() + 1, 32)) &&
             add(cbor_build_negint8(2), cbor_build_bytestring(m.data() + 33, 32));
    else
        ok = ok && add(cbor_build_negint8(1), cbor_build_bytestring(m.data(), 32));
    if (!ok)
        return make_error(ErrorCode::internal, "cannot build a COSE key");
    return serialize(map.get());
}

Result<CborFields> CborFields::parse(ByteView in) {
    size_t used = 0;
    SKGATE_TRY(item, load(in, &used));
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
    return serialize(map.get());
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
