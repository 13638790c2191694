// The link's message map: small CBOR maps of integer keys (see below), the
// one encoding of the agent-authenticator messages. Apart from the FIDO2
// structures (cbor_fido.h), so that the channel needs only this.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>

#include "core/fido/cbor_item.h"
#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

// The channel's messages (DESIGN.md section 8): one definite CBOR map whose
// keys are small unsigned integers and whose values are unsigned integers,
// byte strings or text. Anything else (floats, tags, nesting, duplicate keys,
// trailing bytes) is refused, so there is one encoding of each message.
inline constexpr uint64_t kMaxCborFieldKey = 255;
inline constexpr size_t kMaxCborFields = 32;

using CborValue = std::variant<uint64_t, Bytes, std::string>;

class CborFields {
  public:
    static Result<CborFields> parse(ByteView in);
    Bytes encode() const;

    void set(uint64_t key, CborValue value) { fields_[key] = std::move(value); }
    bool has(uint64_t key) const { return fields_.count(key) != 0; }
    // Typed reads: a missing key or a value of another type or beyond `max`
    // (bytes or characters) is an error naming `what`.
    Result<uint64_t> get_uint(uint64_t key, const char* what) const;
    Result<Bytes> get_bytes(uint64_t key, const char* what, size_t max) const;
    Result<std::string> get_text(uint64_t key, const char* what, size_t max) const;

  private:
    std::map<uint64_t, CborValue> fields_;
};

}  // namespace skgate
