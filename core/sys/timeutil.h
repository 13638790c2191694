// Times in skgate's files and command lines: ISO 8601 UTC, and durations
// in sshd's time format.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "core/sys/result.h"

namespace skgate {

// "2026-11-22T10:00:00Z"
std::string format_iso8601(std::time_t t);
// "2026-11-22T10:00:00Z", or a date "2026-11-22" (midnight UTC).
Result<std::time_t> parse_iso8601(std::string_view text);
// sshd's time format: a sequence of NUMBER[s|m|h|d|w], e.g. "1h30m", in seconds.
Result<int64_t> parse_duration(std::string_view text);

}  // namespace skgate
