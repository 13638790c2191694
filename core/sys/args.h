// Command-line options for the command-line tools: --name VALUE, --flag, and
// positional words, with clear errors for anything unexpected.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/sys/result.h"

namespace skgate {

// True when a command's arguments ask for its usage: "--help" or "-h" as the
// first of them. Only there: later, "--help" may be an option's value
// (`revoke --key --help` must not exit 0 having revoked nothing). Every
// subcommand of every program answers it with its usage on stdout and exit
// 0, before it parses anything.
bool asks_for_help(const std::vector<std::string>& args);

class ArgParser {
  public:
    // Options that take a value (e.g. "--user", "-f") and flags (e.g. "--json").
    ArgParser(std::set<std::string> with_value, std::set<std::string> flags)
        : with_value_(std::move(with_value)), flags_(std::move(flags)) {}

    Status parse(const std::vector<std::string>& args);
    std::optional<std::string> value(const std::string& name) const;
    bool flag(const std::string& name) const { return set_flags_.count(name) > 0; }
    const std::vector<std::string>& positional() const { return positional_; }

  private:
    std::set<std::string> with_value_, flags_;
    std::map<std::string, std::string> values_;
    std::set<std::string> set_flags_;
    std::vector<std::string> positional_;
};

}  // namespace skgate
