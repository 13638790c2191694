// skgate-agent: the laptop side. Dispatch only; the commands live in
// cmd_*.cc and the daemon in server.cc.
#include <cstdio>
#include <cstring>
#include <exception>

#include "agent/commands.h"
#include "core/args.h"
#include "core/audit.h"

namespace {

constexpr const char* kUsage =
    "usage: skgate-agent COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  setup [--hosts \"H...\"] [--remove] [--no-systemd]\n"
    "                       point ssh at the agent (~/.ssh/config) and install user units\n"
    "  pair [--timeout S]   pair with an authenticator (QR code, confirmation code)\n"
    "  generate --name NAME [--verify-required] [--ed25519]\n"
    "                       create a key on the authenticator; print its public key\n"
    "  list                 the keys made through this agent\n"
    "  status               paired device, keys, whether the agent runs\n"
    "  unpair               forget the paired authenticator\n"
    "  run [--timeout S] [--forward-agent SOCKET]\n"
    "                       the agent itself (systemd starts it after setup)\n"
    "\n"
    "See skgate-agent(1).\n";

struct Command {
    const char* name;
    int (*run)(const skgate::agent::Args&);
    const char* usage;
};

using namespace skgate::agent;
constexpr Command kCommands[] = {
    {"setup", cmd_setup, kSetupUsage},
    {"pair", cmd_pair, kPairUsage},
    {"generate", cmd_generate, kGenerateUsage},
    {"list", cmd_list, kListUsage},
    {"status", cmd_status, kStatusUsage},
    {"unpair", cmd_unpair, kUnpairUsage},
    {"run", cmd_run, kRunUsage},
};

}  // namespace

int main(int argc, char** argv) {
    skgate::audit_set_identifier("skgate-agent");
    if (argc < 2) {
        std::fputs(kUsage, stderr);
        return skgate::agent::kExitUsage;
    }
    if (!std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
        std::fputs(kUsage, stdout);
        return skgate::agent::kExitOk;
    }
    skgate::agent::Args args(argv + 2, argv + argc);
    for (const auto& c : kCommands) {
        if (!std::strcmp(argv[1], c.name)) {
            if (skgate::asks_for_help(args)) {
                std::fputs(c.usage, stdout);
                return kExitOk;
            }
            try {
                return c.run(args);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "skgate-agent: %s: internal error: %s\n", c.name, e.what());
                return skgate::agent::kExitFailure;
            }
        }
    }
    std::fprintf(stderr, "skgate-agent: unknown command '%s'\n\n%s", argv[1], kUsage);
    return skgate::agent::kExitUsage;
}
