#include "core/ssh/wire.h"

#include <cstdlib>
#include <limits>

namespace skgate {

namespace {

Error truncated(std::string_view what, size_t need, size_t have) {
    return invalid("truncated " + std::string(what) + ": need " + std::to_string(need) +
                   " bytes, " + std::to_string(have) + " left");
}

}  // namespace

Result<ByteView> WireReader::read_bytes(size_t n) {
    if (n > remaining())
        return truncated("data", n, remaining());
    ByteView out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
}

Result<uint8_t> WireReader::read_u8() {
    if (remaining() < 1)
        return truncated("byte", 1, remaining());
    return data_[pos_++];
}

Result<bool> WireReader::read_bool() {
    SKGATE_TRY(b, read_u8());
    if (b > 1)
        return invalid("boolean value " + std::to_string(b) + " is neither 0 nor 1");
    return b == 1;
}

Result<uint32_t> WireReader::read_u32() {
    if (remaining() < 4)
        return truncated("uint32", 4, remaining());
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++)
        v = (v << 8) | data_[pos_ + i];
    pos_ += 4;
    return v;
}

Result<uint64_t> WireReader::read_u64() {
    if (remaining() < 8)
        return truncated("uint64", 8, remaining());
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = (v << 8) | data_[pos_ + i];
    pos_ += 8;
    return v;
}

Result<ByteView> WireReader::read_string() {
    if (remaining() < 4)
        return truncated("string length", 4, remaining());
    SKGATE_TRY(len, read_u32());
    if (len > remaining()) {
        pos_ -= 4;  // leave the reader where the bad string starts
        return invalid("truncated: a " + std::to_string(len) + "-byte string with only " +
                       std::to_string(remaining() - 4) + " bytes left");
    }
    return read_bytes(len);
}

Result<std::string> WireReader::read_cstring() {
    SKGATE_TRY(s, read_string());
    for (uint8_t c : s) {
        if (c == 0)
            return invalid("text string contains a NUL byte");
    }
    return std::string(as_chars(s));
}

Result<ByteView> WireReader::read_mpint() {
    SKGATE_TRY(m, read_string());
    if (m.empty())
        return m;
    if (m[0] & 0x80)
        return invalid("mpint is negative");
    if (m[0] == 0) {
        // A leading zero is only allowed to keep the sign bit clear.
        if (m.size() == 1 || !(m[1] & 0x80))
            return invalid("mpint is not minimally encoded (superfluous leading zero)");
        m = m.subspan(1);
    }
    if (m.size() > kMaxMpintBytes)
        return invalid("mpint is larger than " + std::to_string(kMaxMpintBytes * 8) + " bits");
    return m;
}

Status WireReader::expect_end(std::string_view what) const {
    if (!at_end())
        return invalid(std::to_string(remaining()) + " bytes of trailing data after " +
                       std::string(what));
    return {};
}

void WireWriter::put_u32(uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
        buf_.push_back(static_cast<uint8_t>(v >> shift));
}

void WireWriter::put_u64(uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8)
        buf_.push_back(static_cast<uint8_t>(v >> shift));
}

void WireWriter::put_string(ByteView b) {
    // Callers never build multi-gigabyte messages; a truncated length prefix
    // would corrupt the stream, so treat it as a bug.
    if (b.size() > std::numeric_limits<uint32_t>::max())
        std::abort();
    put_u32(static_cast<uint32_t>(b.size()));
    put_raw(b);
}

void WireWriter::put_mpint(ByteView magnitude) {
    size_t skip = 0;
    while (skip < magnitude.size() && magnitude[skip] == 0)
        skip++;
    ByteView m = magnitude.subspan(skip);
    bool pad = !m.empty() && (m[0] & 0x80);
    put_u32(static_cast<uint32_t>(m.size() + (pad ? 1 : 0)));
    if (pad)
        buf_.push_back(0);
    put_raw(m);
}

}  // namespace skgate
