#include "core/fido/cbor_item.h"

#include <cbor.h>

#include <cstdlib>
#include <string>

namespace skgate::cbor {

void ItemDeleter::operator()(cbor_item_t* p) const {
    cbor_decref(&p);
}

namespace {

constexpr int kMaxDepth = 16;

}  // namespace

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

}  // namespace skgate::cbor

namespace skgate {

Result<size_t> cbor_item_length(ByteView in) {
    if (in.size() > kMaxCborInput)
        return invalid("CBOR: item larger than " + std::to_string(kMaxCborInput) + " bytes");
    size_t len = 0;
    SKGATE_CHECK(cbor::check_item(in, &len, 0));
    return len;
}

}  // namespace skgate
