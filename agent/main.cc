// skgate-agent: the laptop side. Dispatch only; the commands live in
// cmd_*.cc and the daemon in server.cc.
#include <cstdio>

#include "agent/commands.h"
#include "core/audit/audit.h"
#include "core/sys/cli.h"

namespace {

constexpr const char* kUsage =
    "usage: skgate-agent COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  setup [--hosts \"H...\"] [--remove] [--no-systemd]\n"
    "                       point ssh at the agent (~/.ssh/config) and install user units\n"
    "  pair [--add] [--timeout S]\n"
    "                       pair with an authenticator (QR code, confirmation code);\n"
    "                       --add pairs one more (a backup device)\n"
    "  generate --name NAME [--device DEVICE] [--verify-required] [--ed25519]\n"
    "                       create a key on an authenticator; print its public key\n"
    "  list                 the keys made through this agent, and the device of each\n"
    "  status               paired devices, keys, whether the agent runs\n"
    "  unpair [--device DEVICE]\n"
    "                       forget a paired authenticator\n"
    "  doctor [HOST...]     check this laptop for known pitfalls, with a fix for each\n"
    "  run [--timeout S] [--forward-agent SOCKET]\n"
    "                       the agent itself (systemd starts it after setup)\n"
    "\n"
    "See skgate-agent(1).\n";

using namespace skgate::agent;
constexpr skgate::CliCommand kCommands[] = {
    {"setup", cmd_setup, kSetupUsage},          {"pair", cmd_pair, kPairUsage},
    {"generate", cmd_generate, kGenerateUsage}, {"list", cmd_list, kListUsage},
    {"status", cmd_status, kStatusUsage},       {"unpair", cmd_unpair, kUnpairUsage},
    {"doctor", cmd_doctor, kDoctorUsage},       {"run", cmd_run, kRunUsage},
};

}  // namespace

int main(int argc, char** argv) {
    skgate::audit_set_identifier("skgate-agent");
    return skgate::run_cli("skgate-agent", kCommands, kUsage, argc, argv);
}
