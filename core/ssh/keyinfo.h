// What `skgatectl inspect-key` reports about one line of key text.
#pragma once

#include <string>
#include <string_view>

#include "core/sys/json.h"

namespace skgate {

struct KeyReport {
    bool valid = false;
    std::string error;  // why it is invalid
    std::string type;
    std::string display_type;
    unsigned bits = 0;
    std::string fingerprint;
    std::string application;
    bool security_key = false;
    bool certificate = false;
    std::string comment;
    std::string options;  // as given, re-rendered; empty if none
};

// Accepts "TYPE BASE64 [COMMENT]" or a full authorized_keys line.
KeyReport inspect_key_text(std::string_view line);
std::string render_key_report_text(const KeyReport& r);
void render_key_report_json(const KeyReport& r, JsonWriter& w);

}  // namespace skgate
