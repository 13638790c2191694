#include "core/sys/args.h"

#include <cstdint>

#include "core/sys/text.h"

namespace skgate {

bool asks_for_help(const std::vector<std::string>& args) {
    return !args.empty() && (args[0] == "--help" || args[0] == "-h");
}

std::optional<int64_t> parse_integer_in(std::string_view text, int64_t min, int64_t max) {
    bool negative = !text.empty() && text[0] == '-' && min < 0;
    std::string_view digits = negative ? text.substr(1) : text;
    if (digits.empty() || digits.size() > 19)
        return std::nullopt;
    int64_t n = 0;
    for (char c : digits) {
        if (c < '0' || c > '9')
            return std::nullopt;
        const int d = c - '0';
        if (n > (INT64_MAX - d) / 10)
            return std::nullopt;  // beyond int64: out of any range
        n = n * 10 + d;
    }
    if (negative)
        n = -n;
    if (n < min || n > max)
        return std::nullopt;
    return n;
}

Status ArgParser::parse(const std::vector<std::string>& args) {
    for (size_t i = 0; i < args.size(); i++) {
        const std::string& a = args[i];
        if (a.size() > 1 && a[0] == '-') {
            std::string name = a, inline_value;
            bool has_inline = false;
            if (size_t eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
                name = a.substr(0, eq);
                inline_value = a.substr(eq + 1);
                has_inline = true;
            }
            if (with_value_.count(name)) {
                if (values_.count(name))
                    return invalid(name + " given twice");
                if (has_inline) {
                    values_[name] = inline_value;
                } else {
                    if (i + 1 >= args.size())
                        return invalid(name + " needs a value");
                    values_[name] = args[++i];
                }
            } else if (flags_.count(name) && !has_inline) {
                set_flags_.insert(name);
            } else {
                return invalid("unknown option " + a);
            }
        } else {
            positional_.push_back(a);
        }
    }
    return {};
}

std::optional<std::string> ArgParser::value(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end())
        return std::nullopt;
    return it->second;
}

Result<int64_t> ArgParser::integer(const std::string& name, int64_t min, int64_t max,
                                   int64_t fallback) const {
    auto v = value(name);
    if (!v)
        return fallback;
    if (auto n = parse_integer_in(*v, min, max))
        return *n;
    return invalid(name + " must be a whole number from " + std::to_string(min) + " to " +
                   std::to_string(max) + ", not \"" + printable(*v, 40) + "\"");
}

}  // namespace skgate
