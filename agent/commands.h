// skgate-agent's commands; main.cc only dispatches.
#pragma once

#include <string>
#include <vector>

namespace skgate::agent {

using Args = std::vector<std::string>;

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Each command's usage: on a bad command line (stderr, exit 2) and for
// `skgate-agent COMMAND --help` (stdout, exit 0).
inline constexpr const char* kSetupUsage =
    "usage: skgate-agent setup [--hosts \"HOST...\"] [--remove] [--no-systemd]\n";
inline constexpr const char* kPairUsage =
    "usage: skgate-agent pair [--timeout SECONDS] [--no-qr] [--replace | --add]\n"
    "                         [--address tcp:HOST:PORT [--link tcp:HOST:PORT] |\n"
    "                          --broker mqtts:HOST:PORT]\n";
inline constexpr const char* kGenerateUsage =
    "usage: skgate-agent generate --name NAME [--verify-required] [--ed25519]\n"
    "                             [--application ssh:NAME] [--timeout SECONDS]\n"
    "                             [--device DEVICE]\n"
    "       skgate-agent generate --passkey --name NAME [--verify-required]\n"
    "                             [--timeout SECONDS]\n";
inline constexpr const char* kListUsage = "usage: skgate-agent list\n";
inline constexpr const char* kStatusUsage = "usage: skgate-agent status\n";
inline constexpr const char* kUnpairUsage = "usage: skgate-agent unpair [--device DEVICE]\n";
inline constexpr const char* kDoctorUsage =
    "usage: skgate-agent doctor [-F SSH_CONFIG] [HOST...]\n";
inline constexpr const char* kRunUsage =
    "usage: skgate-agent run [--timeout SECONDS] [--forward-agent SOCKET] [--listen "
    "tcp:HOST:PORT]\n";

int cmd_setup(const Args& args);
int cmd_pair(const Args& args);
int cmd_generate(const Args& args);
int cmd_list(const Args& args);
int cmd_status(const Args& args);
int cmd_unpair(const Args& args);
int cmd_doctor(const Args& args);
int cmd_run(const Args& args);

}  // namespace skgate::agent
