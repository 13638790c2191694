// A minimal JSON writer for --json output. Strings are escaped per RFC 8259;
// bytes that are not valid UTF-8 are replaced so the output always parses.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace skgate {

class JsonWriter {
  public:
    JsonWriter& begin_object();
    JsonWriter& end_object();
    JsonWriter& begin_array();
    JsonWriter& end_array();
    JsonWriter& key(std::string_view k);
    JsonWriter& value(std::string_view v);
    JsonWriter& value(const char* v) { return value(std::string_view(v)); }
    JsonWriter& value(int64_t v);
    JsonWriter& value(uint64_t v);
    JsonWriter& value(bool v);
    JsonWriter& null();

    const std::string& str() const { return out_; }

  private:
    void separator();
    std::string out_;
    bool need_comma_ = false;
};

std::string json_escape(std::string_view s);

}  // namespace skgate
