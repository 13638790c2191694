#include "core/sys/json.h"

#include <cstdio>

namespace skgate {

namespace {

// Length of a valid UTF-8 sequence at s[i], or 0.
size_t utf8_len(std::string_view s, size_t i) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size())
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2)
            return 0;
    }
    return n;
}

}  // namespace

std::string json_escape(std::string_view s) {
    std::string out = "\"";
    for (size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        size_t n = utf8_len(s, i);
        if (n == 0) {
            out += "\\ufffd";
            i++;
            continue;
        }
        if (n > 1) {
            out.append(s.substr(i, n));
            i += n;
            continue;
        }
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
        i++;
    }
    out += '"';
    return out;
}

void JsonWriter::separator() {
    if (need_comma_)
        out_ += ',';
    need_comma_ = false;
}

JsonWriter& JsonWriter::begin_object() {
    separator();
    out_ += '{';
    return *this;
}
JsonWriter& JsonWriter::end_object() {
    out_ += '}';
    need_comma_ = true;
    return *this;
}
JsonWriter& JsonWriter::begin_array() {
    separator();
    out_ += '[';
    return *this;
}
JsonWriter& JsonWriter::end_array() {
    out_ += ']';
    need_comma_ = true;
    return *this;
}
JsonWriter& JsonWriter::key(std::string_view k) {
    separator();
    out_ += json_escape(k);
    out_ += ':';
    return *this;
}
JsonWriter& JsonWriter::value(std::string_view v) {
    separator();
    out_ += json_escape(v);
    need_comma_ = true;
    return *this;
}
JsonWriter& JsonWriter::value(int64_t v) {
    separator();
    out_ += std::to_string(v);
    need_comma_ = true;
    return *this;
}
JsonWriter& JsonWriter::value(uint64_t v) {
    separator();
    out_ += std::to_string(v);
    need_comma_ = true;
    return *this;
}
JsonWriter& JsonWriter::value(bool v) {
    separator();
    out_ += v ? "true" : "false";
    need_comma_ = true;
    return *this;
}
JsonWriter& JsonWriter::null() {
    separator();
    out_ += "null";
    need_comma_ = true;
    return *this;
}

}  // namespace skgate
