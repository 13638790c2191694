// Command-line options for the command-line tools: --name VALUE, --flag, and
// positional words, with clear errors for anything unexpected.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/sys/result.h"

namespace skgate {

// True when a command's arguments ask for its usage: "--help" or "-h" as the
// first of them. Only there: later, "--help" may be an option's value
// (`revoke --key --help` must not exit 0 having revoked nothing). Every
// subcommand of every program answers it with its usage on stdout and exit
// 0, before it parses anything.
bool asks_for_help(const std::vector<std::string>& args);

// A whole number in decimal from `min` to `max`: digits only (a leading '-'
// only when min < 0), no spaces, no overflow. std::atoi's "12abc" is 12 and
// its "abc" is 0; here both are nothing.
std::optional<int64_t> parse_integer_in(std::string_view text, int64_t min, int64_t max);

class ArgParser {
  public:
    // Options that take a value (e.g. "--user", "-f") and flags (e.g. "--json").
    ArgParser(std::set<std::string> with_value, std::set<std::string> flags)
        : with_value_(std::move(with_value)), flags_(std::move(flags)) {}

    Status parse(const std::vector<std::string>& args);
    std::optional<std::string> value(const std::string& name) const;
    // The option as a whole number from `min` to `max` (parse_integer_in);
    // `fallback` when it was not given. The error names the option and range.
    Result<int64_t> integer(const std::string& name, int64_t min, int64_t max,
                            int64_t fallback) const;
    bool flag(const std::string& name) const { return set_flags_.count(name) > 0; }
    const std::vector<std::string>& positional() const { return positional_; }

  private:
    std::set<std::string> with_value_, flags_;
    std::map<std::string, std::string> values_;
    std::set<std::string> set_flags_;
    std::vector<std::string> positional_;
};

}  // namespace skgate
