// The command-line programs' one dispatcher: `PROGRAM COMMAND [ARGS]`, with
// --help for the program and for each command, and no exception escaping.
#pragma once

#include <span>
#include <string>
#include <vector>

namespace skgate {

struct CliCommand {
    const char* name;
    int (*run)(const std::vector<std::string>& args);
    const char* usage;  // printed for `PROGRAM NAME --help`
};

// The exit statuses every program shares: 0 done, 1 failed, 2 bad command line.
inline constexpr int kCliOk = 0;
inline constexpr int kCliFailure = 1;
inline constexpr int kCliUsage = 2;

// Runs the command argv[1] names. `usage` is the program's own: on stderr
// (exit 2) with no command or an unknown one, on stdout (exit 0) for -h,
// --help or help. A command asked for --help (asks_for_help) prints its own
// usage and runs nothing. An exception from a command is an internal error
// (exit 1) with its message.
int run_cli(const char* program, std::span<const CliCommand> commands, const char* usage, int argc,
            char** argv);

}  // namespace skgate
