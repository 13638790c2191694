#include "core/fido/cbor_fido.h"

#include <cbor.h>

#include <cstdlib>
#include <memory>
#include <optional>

namespace skgate {

using cbor::Item;
using cbor::load;
using cbor::serialize;

namespace {

// COSE (RFC 9052/9053) labels and values of the two credential types.
constexpr int64_t kLabelKty = 1;
constexpr int64_t kLabelAlg = 3;
constexpr int64_t kLabelCrv = -1;
constexpr int64_t kLabelX = -2;
constexpr int64_t kLabelY = -3;
constexpr int64_t kKtyOkp = 1;
constexpr int64_t kKtyEc2 = 2;
constexpr int64_t kAlgEs256 = -7;
constexpr int64_t kAlgEdDsa = -8;
constexpr int64_t kCrvP256 = 1;
constexpr int64_t kCrvEd25519 = 6;

// A small integer as CBOR: unsigned, or negative (-1 - n is encoded as n).
cbor_item_t* build_small_int(int64_t v) {
    return v >= 0 ? cbor_build_uint8(static_cast<uint8_t>(v))
                  : cbor_build_negint8(static_cast<uint8_t>(-1 - v));
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
            case kLabelKty:
                st = set_int(kty, "kty");
                break;
            case kLabelAlg:
                st = set_int(alg, "alg");
                break;
            case kLabelCrv:
                st = set_int(crv, "crv");
                break;
            case kLabelX:
                st = set_bytes(x, "x");
                break;
            case kLabelY:
                st = set_bytes(y, "y");
                break;
            default:
                break;  // other labels (e.g. kid) are allowed and ignored
        }
        if (!st)
            return st.error();
    }
    CoseKey k;
    if (kty == kKtyEc2 && alg == kAlgEs256 && crv == kCrvP256) {
        if (!x || !y || x->size() != 32 || y->size() != 32)
            return invalid("COSE P-256 key needs 32-byte x and y");
        k.algorithm = KeyAlgorithm::sk_ecdsa_p256;
        k.x = std::move(*x);
        k.y = std::move(*y);
        return k;
    }
    if (kty == kKtyOkp && alg == kAlgEdDsa && crv == kCrvEd25519) {
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
    bool ok = add(build_small_int(kLabelKty), build_small_int(ec ? kKtyEc2 : kKtyOkp)) &&
              add(build_small_int(kLabelAlg), build_small_int(ec ? kAlgEs256 : kAlgEdDsa)) &&
              add(build_small_int(kLabelCrv), build_small_int(ec ? kCrvP256 : kCrvEd25519));
    if (ec)
        ok = ok && add(build_small_int(kLabelX), cbor_build_bytestring(m.data() + 1, 32)) &&
             add(build_small_int(kLabelY), cbor_build_bytestring(m.data() + 33, 32));
    else
        ok = ok && add(build_small_int(kLabelX), cbor_build_bytestring(m.data(), 32));
    if (!ok)
        return make_error(ErrorCode::internal, "cannot build a COSE key");
    return serialize(map.get());
}

}  // namespace skgate
