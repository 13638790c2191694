// skgate-authenticator: the software authenticator (the phone's role).
// Dispatch only; see commands.cc and authenticator.cc.
#include <cstdio>

#include "authenticator/commands.h"
#include "core/sys/cli.h"

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

using namespace skgate::authenticator;
constexpr skgate::CliCommand kCommands[] = {
    {"init", cmd_init, kInitUsage},
    {"pair", cmd_pair, kPairUsage},
    {"run", cmd_run, kRunUsage},
    {"list", cmd_list, kListUsage},
};

}  // namespace

int main(int argc, char** argv) {
    return skgate::run_cli("skgate-authenticator", kCommands, kUsage, argc, argv);
}
