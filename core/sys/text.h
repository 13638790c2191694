// Small text helpers used by the parsers of lines and config files.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/sys/bytes.h"

namespace skgate {

inline bool is_space(char c) {
    return c == ' ' || c == '\t';
}
std::string_view trim(std::string_view s);
std::string to_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
// Splits on commas; empty elements are kept so callers can reject them.
std::vector<std::string> split_commas(std::string_view s);
// Splits on any whitespace (form feeds and vertical tabs too, as sshd's and
// PAM's own readers do); no empty words.
std::vector<std::string> split_whitespace(std::string_view s);
// Words as sshd_config, systemd's ExecStart and a shell read them: runs of
// whitespace separate words, and "..." or '...' keep whitespace inside one
// (the quotes themselves are dropped; a backslash inside "..." keeps the
// next character). An unterminated quote runs to the end.
std::vector<std::string> split_quoted_words(std::string_view s);
// Renders bytes for an error message: printable ASCII kept, the rest as \xNN,
// cut at `max` characters, so nothing read from input can forge a log line.
std::string printable(std::string_view s, size_t max = 80);
// Lower-case hex, two digits a byte: the one encoder for nonces, file names,
// AAGUIDs and LDAP escapes.
std::string hex_encode(ByteView b);
bool has_control_chars(std::string_view s);

}  // namespace skgate
