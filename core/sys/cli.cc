#include "core/sys/cli.h"

#include <cstdio>
#include <exception>
#include <string_view>

#include "core/sys/args.h"
#include "core/sys/text.h"

namespace skgate {

int run_cli(const char* program, std::span<const CliCommand> commands, const char* usage, int argc,
            char** argv) {
    if (argc < 2) {
        std::fputs(usage, stderr);
        return kCliUsage;
    }
    const std::string_view name = argv[1];
    if (name == "-h" || name == "--help" || name == "help") {
        std::fputs(usage, stdout);
        return kCliOk;
    }
    const std::vector<std::string> args(argv + 2, argv + argc);
    for (const auto& c : commands) {
        if (name != c.name)
            continue;
        if (asks_for_help(args)) {
            std::fputs(c.usage, stdout);
            return kCliOk;
        }
        try {
            return c.run(args);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s: %s: internal error: %s\n", program, c.name, e.what());
            return kCliFailure;
        }
    }
    std::fprintf(stderr, "%s: unknown command '%s'\n\n%s", program, printable(name).c_str(), usage);
    return kCliUsage;
}

}  // namespace skgate
