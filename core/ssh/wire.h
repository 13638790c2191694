// SSH wire format (RFC 4251 section 5): the one bounds-checked reader and
// writer that every parser of keys, signatures and agent messages uses.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

// OpenSSH refuses bignums above 16384 bits; so do we.
inline constexpr size_t kMaxMpintBytes = 16384 / 8;

class WireReader {
  public:
    explicit WireReader(ByteView data) : data_(data) {}

    Result<uint8_t> read_u8();
    Result<bool> read_bool();
    Result<uint32_t> read_u32();
    Result<uint64_t> read_u64();
    Result<ByteView> read_bytes(size_t n);
    // A length-prefixed string, as a view into the input.
    Result<ByteView> read_string();
    // A string that must be text: no NUL bytes (OpenSSH's cstring rule).
    Result<std::string> read_cstring();
    // A positive mpint in its minimal encoding; returns the magnitude without
    // the sign-padding byte. Zero is returned as an empty view.
    Result<ByteView> read_mpint();

    size_t remaining() const { return data_.size() - pos_; }
    bool at_end() const { return remaining() == 0; }
    // Fails with "trailing data after WHAT" unless everything was consumed.
    Status expect_end(std::string_view what) const;

  private:
    ByteView data_;
    size_t pos_ = 0;
};

class WireWriter {
  public:
    void put_u8(uint8_t v) { buf_.push_back(v); }
    void put_bool(bool v) { buf_.push_back(v ? 1 : 0); }
    void put_u32(uint32_t v);
    void put_u64(uint64_t v);
    void put_raw(ByteView b) { buf_.insert(buf_.end(), b.begin(), b.end()); }
    void put_string(ByteView b);
    void put_string(std::string_view s) { put_string(as_bytes(s)); }
    // Writes a non-negative integer given as big-endian magnitude bytes,
    // minimally encoded (leading zeros dropped, sign byte added when needed).
    void put_mpint(ByteView magnitude);

    const Bytes& bytes() const& { return buf_; }
    Bytes take() && { return std::move(buf_); }

  private:
    Bytes buf_;
};

}  // namespace skgate
