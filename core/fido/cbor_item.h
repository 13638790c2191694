// The one bounded CBOR decoder under everything skgate reads in CBOR (the
// FIDO2 structures in cbor_fido, the link's messages in cbor_fields), over
// libcbor. Definite lengths only, every declared length checked against the
// bytes that remain before libcbor allocates, nesting at most 16 deep.
#pragma once

#include <cstddef>
#include <memory>

#include "core/sys/bytes.h"
#include "core/sys/result.h"

struct cbor_item_t;  // libcbor's; only the .cc files that build items include <cbor.h>

namespace skgate {

inline constexpr size_t kMaxCborInput = 16 * 1024;

namespace cbor {

struct ItemDeleter {
    void operator()(cbor_item_t* p) const;
};
using Item = std::unique_ptr<cbor_item_t, ItemDeleter>;

// The one well-formed item at the start of `in` (at most kMaxCborInput of
// it is read); *consumed says how many bytes it used.
Result<Item> load(ByteView in, size_t* consumed);
// Its canonical encoding (an allocation failure aborts: nothing sensible
// is left to return).
Bytes serialize(const cbor_item_t* item);

// Checks the structure of the item at in[*pos] (advancing *pos past it)
// without allocating.
Status check_item(ByteView in, size_t* pos, int depth);

}  // namespace cbor

// The length of the one well-formed item at the start of `in`.
Result<size_t> cbor_item_length(ByteView in);

}  // namespace skgate
