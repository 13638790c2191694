// skgate-authenticator's commands; main.cc only dispatches.
#pragma once

#include <string>
#include <vector>

namespace skgate::authenticator {

using Args = std::vector<std::string>;

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Each command's usage, for `skgate-authenticator COMMAND --help` (stdout,
// exit 0); a bad command line says what is wrong instead.
#define SKGATE_AUTHENTICATOR_COMMON "       [--dir DIR] [--passphrase-file FILE]\n"
inline constexpr const char* kInitUsage =
    "usage: skgate-authenticator init\n" SKGATE_AUTHENTICATOR_COMMON;
inline constexpr const char* kPairUsage =
    "usage: skgate-authenticator pair [--name NAME] URI\n" SKGATE_AUTHENTICATOR_COMMON;
inline constexpr const char* kRunUsage =
    "usage: skgate-authenticator run [--approve ask|yes|no|silent|host:MINUTES|any:MINUTES]\n"
    "       [--approve-delay-ms MS] [--pin-file FILE] [--prompt-timeout SECONDS]\n"
    "       [--any-host-max MINUTES] [--once]\n" SKGATE_AUTHENTICATOR_COMMON;
inline constexpr const char* kListUsage =
    "usage: skgate-authenticator list\n" SKGATE_AUTHENTICATOR_COMMON;
#undef SKGATE_AUTHENTICATOR_COMMON

int cmd_init(const Args& args);
int cmd_pair(const Args& args);
int cmd_run(const Args& args);
int cmd_list(const Args& args);

}  // namespace skgate::authenticator
