// skgate-authenticator: the software authenticator (the phone's role).
// Dispatch only; see commands.cc and authenticator.cc.
#include <cstdio>
#include <cstring>
#include <exception>

#include "authenticator/commands.h"
#include "core/args.h"

namespace {

constexpr const char* kUsage =
    "usage: skgate-authenticator COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  init                 create the encrypted key vault (asks for a passphrase)\n"
    "  pair URI             pair with the skgate-agent that shows URI\n"
    "  run                  serve the paired agent: approve, sign, count\n"
    "        [--approve ask|yes|no|silent|host:MINUTES] [--approve-delay-ms MS]\n"
    "        [--pin-file FILE] [--prompt-timeout SECONDS] [--once]\n"
    "  list                 show the pairing and the keys\n"
    "\n"
    "every command takes --dir DIR (default ~/.skgate-authenticator) and\n"
    "--passphrase-file FILE (default: ask on the terminal).\n"
    "\n"
    "See skgate-authenticator(1).\n";

struct Command {
    const char* name;
    int (*run)(const skgate::authenticator::Args&);
    const char* usage;
};

using namespace skgate::authenticator;
constexpr Command kCommands[] = {
    {"init", cmd_init, kInitUsage},
    {"pair", cmd_pair, kPairUsage},
    {"run", cmd_run, kRunUsage},
    {"list", cmd_list, kListUsage},
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fputs(kUsage, stderr);
        return skgate::authenticator::kExitUsage;
    }
    if (!std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
        std::fputs(kUsage, stdout);
        return skgate::authenticator::kExitOk;
    }
    skgate::authenticator::Args args(argv + 2, argv + argc);
    for (const auto& c : kCommands) {
        if (!std::strcmp(argv[1], c.name)) {
            if (skgate::asks_for_help(args)) {
                std::fputs(c.usage, stdout);
                return kExitOk;
            }
            try {
                return c.run(args);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "skgate-authenticator: %s: internal error: %s\n", c.name,
                             e.what());
                return skgate::authenticator::kExitFailure;
            }
        }
    }
    std::fprintf(stderr, "skgate-authenticator: unknown command '%s'\n\n%s", argv[1], kUsage);
    return skgate::authenticator::kExitUsage;
}
