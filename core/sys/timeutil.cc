#include "core/sys/timeutil.h"

#include <climits>

#include "core/sys/text.h"

namespace skgate {

namespace {

bool digits(std::string_view s, size_t pos, size_t n, int* out) {
    int v = 0;
    for (size_t i = pos; i < pos + n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

// The two forms skgate writes, each strftime format a literal.
enum class UtcForm { iso8601, compact };
std::string format_utc(std::time_t t, UtcForm form) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    if (form == UtcForm::iso8601)
        std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    else
        std::strftime(buf, sizeof buf, "%Y%m%d%H%M%SZ", &tm);
    return buf;
}

}  // namespace

Result<std::time_t> civil_to_time(const CivilTime& c, bool utc) {
    if (c.year < 1970 || c.year > 9999 || c.month < 1 || c.month > 12 || c.day < 1 || c.day > 31 ||
        c.hour < 0 || c.hour > 23 || c.minute < 0 || c.minute > 59 || c.second < 0 || c.second > 60)
        return invalid("not a valid date and time");
    std::tm tm{};
    tm.tm_year = c.year - 1900;
    tm.tm_mon = c.month - 1;
    tm.tm_mday = c.day;
    tm.tm_hour = c.hour;
    tm.tm_min = c.minute;
    // :60 is checked as :59 and is one second later, so that 23:59:60 on
    // the last day of a month is not taken for a day the month lacks.
    tm.tm_sec = c.second == 60 ? 59 : c.second;
    tm.tm_isdst = -1;
    std::time_t t = utc ? timegm(&tm) : mktime(&tm);
    if (t == static_cast<std::time_t>(-1) || tm.tm_mday != c.day || tm.tm_mon != c.month - 1)
        return invalid("not a valid date and time");
    return c.second == 60 ? t + 1 : t;
}

std::string format_iso8601(std::time_t t) {
    return format_utc(t, UtcForm::iso8601);
}

Result<std::time_t> parse_iso8601(std::string_view text) {
    auto bad = [&] {
        return invalid("time \"" + printable(text) +
                       "\" is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)");
    };
    if (text.size() != 10 && text.size() != 20)
        return bad();
    int y, mo, d, h = 0, mi = 0, s = 0;
    if (!digits(text, 0, 4, &y) || text[4] != '-' || !digits(text, 5, 2, &mo) || text[7] != '-' ||
        !digits(text, 8, 2, &d))
        return bad();
    if (text.size() == 20 && (text[10] != 'T' || !digits(text, 11, 2, &h) || text[13] != ':' ||
                              !digits(text, 14, 2, &mi) || text[16] != ':' ||
                              !digits(text, 17, 2, &s) || text[19] != 'Z'))
        return bad();
    auto t = civil_to_time({y, mo, d, h, mi, s}, true);
    if (!t)
        return bad();
    return *t;
}

Result<int64_t> parse_duration(std::string_view text) {
    if (text.empty())
        return invalid("empty duration");
    int64_t total = 0;
    size_t i = 0;
    while (i < text.size()) {
        if (text[i] < '0' || text[i] > '9')
            return invalid("duration \"" + printable(text) + "\" is not NUMBER[s|m|h|d|w]...");
        int64_t n = 0;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            n = n * 10 + (text[i] - '0');
            if (n > INT_MAX)
                return invalid("duration \"" + printable(text) + "\" is too large");
            i++;
        }
        int64_t unit = 1;
        if (i < text.size()) {
            switch (text[i]) {
                case 's':
                case 'S':
                    unit = 1;
                    break;
                case 'm':
                case 'M':
                    unit = 60;
                    break;
                case 'h':
                case 'H':
                    unit = 3600;
                    break;
                case 'd':
                case 'D':
                    unit = 86400;
                    break;
                case 'w':
                case 'W':
                    unit = 604800;
                    break;
                default:
                    return invalid("duration \"" + printable(text) + "\" has an unknown unit '" +
                                   printable(text.substr(i, 1)) + "'");
            }
            i++;
        }
        total += n * unit;
        if (total > INT_MAX)
            return invalid("duration \"" + printable(text) + "\" is too large");
    }
    return total;
}

Result<std::time_t> parse_expiry_time(std::string_view text) {
    std::string_view s = text;
    bool utc = !s.empty() && (s.back() == 'Z' || s.back() == 'z');
    if (utc)
        s.remove_suffix(1);
    if (s.size() != 8 && s.size() != 12 && s.size() != 14)
        return invalid("expiry-time \"" + printable(text) + "\" is not YYYYMMDD[HHMM[SS]][Z]");
    int year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0;
    bool ok = digits(s, 0, 4, &year) && digits(s, 4, 2, &mon) && digits(s, 6, 2, &day);
    if (s.size() >= 12)
        ok = ok && digits(s, 8, 2, &hour) && digits(s, 10, 2, &min);
    if (s.size() == 14)
        ok = ok && digits(s, 12, 2, &sec);
    if (!ok)
        return invalid("expiry-time \"" + printable(text) + "\" contains a non-digit");
    auto t = civil_to_time({year, mon, day, hour, min, sec}, utc);
    if (!t)
        return invalid("expiry-time \"" + printable(text) + "\" is not a valid date and time");
    return *t;
}

std::string format_expiry_time(std::time_t t) {
    return format_utc(t, UtcForm::compact);
}

}  // namespace skgate
