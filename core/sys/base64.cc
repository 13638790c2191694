#include "core/sys/base64.h"

#include <array>

namespace skgate {

namespace {

constexpr char kStd[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string encode(ByteView data, const char* alphabet, bool pad) {
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    size_t rest = data.size() - i;
    if (rest == 1) {
        uint32_t v = uint32_t{data[i]} << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        if (pad)
            out += "==";
    } else if (rest == 2) {
        uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        if (pad)
            out += '=';
    }
    return out;
}

constexpr std::array<int8_t, 256> make_decode_table() {
    std::array<int8_t, 256> t{};
    for (auto& v : t)
        v = -1;
    for (int i = 0; i < 64; i++)
        t[static_cast<uint8_t>(kStd[i])] = static_cast<int8_t>(i);
    return t;
}

constexpr auto kDecode = make_decode_table();

}  // namespace

std::string base64_encode(ByteView data) {
    return encode(data, kStd, true);
}

std::string base64url_encode_unpadded(ByteView data) {
    return encode(data, kUrl, false);
}

Result<Bytes> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0)
        return invalid("base64 length " + std::to_string(text.size()) + " is not a multiple of 4");
    size_t pad = 0;
    if (!text.empty() && text.back() == '=')
        pad = (text.size() >= 2 && text[text.size() - 2] == '=') ? 2 : 1;
    Bytes out;
    out.reserve(text.size() / 4 * 3);
    for (size_t i = 0; i < text.size(); i += 4) {
        bool last = i + 4 == text.size();
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            char c = text[i + j];
            int8_t d;
            if (c == '=' && last && j >= 4 - pad) {
                d = 0;
            } else {
                d = kDecode[static_cast<uint8_t>(c)];
                if (d < 0)
                    return invalid("invalid base64 character at offset " + std::to_string(i + j));
            }
            v = (v << 6) | static_cast<uint32_t>(d);
        }
        out.push_back(static_cast<uint8_t>(v >> 16));
        if (!(last && pad == 2))
            out.push_back(static_cast<uint8_t>(v >> 8));
        if (!(last && pad >= 1))
            out.push_back(static_cast<uint8_t>(v));
        if (last && ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0)))
            return invalid("base64 has non-zero padding bits (not canonical)");
    }
    return out;
}

Result<Bytes> base64url_decode_unpadded(std::string_view text) {
    if (text.size() % 4 == 1)
        return invalid("base64url length " + std::to_string(text.size()) + " is impossible");
    std::string std_form;
    std_form.reserve(text.size() + 2);
    for (size_t i = 0; i < text.size(); i++) {
        char c = text[i];
        if (c == '+' || c == '/' || c == '=')
            return invalid("invalid base64url character at offset " + std::to_string(i));
        std_form += c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (std_form.size() % 4 != 0)
        std_form += '=';
    return base64_decode(std_form);
}

}  // namespace skgate
