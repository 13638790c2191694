// Times in skgate's files and command lines: ISO 8601 UTC, and durations
// in sshd's time format.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "core/sys/result.h"

namespace skgate {

// A date and time of day as written in a file or on a command line.
struct CivilTime {
    int year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0;
};
// The one check and conversion every date skgate reads goes through: year
// 1970 or later, a day the month has (no 31 February), 00:00:00 to 23:59:60,
// where a leap second :60 is the second after :59 (as OpenSSH's strptime()
// reads an expiry-time). `utc` false: local time, as sshd reads an
// expiry-time without Z. The error says what is wrong, not where.
Result<std::time_t> civil_to_time(const CivilTime& c, bool utc);

// "2026-11-22T10:00:00Z"
std::string format_iso8601(std::time_t t);
// "2026-11-22T10:00:00Z", or a date "2026-11-22" (midnight UTC).
Result<std::time_t> parse_iso8601(std::string_view text);
// authorized_keys' expiry-time="YYYYMMDD[HHMM[SS]][Z]": local time without
// Z, as sshd reads it; formatted always in UTC with Z.
Result<std::time_t> parse_expiry_time(std::string_view text);
std::string format_expiry_time(std::time_t t);

// sshd's time format: a sequence of NUMBER[s|m|h|d|w], e.g. "1h30m", in seconds.
Result<int64_t> parse_duration(std::string_view text);

}  // namespace skgate
