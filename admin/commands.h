// skgatectl subcommands. Each takes its own arguments (after the command
// name) and returns the process exit status.
#pragma once

#include <string>
#include <vector>

namespace skgate::admin {

using Args = std::vector<std::string>;

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // invalid input, failed check
inline constexpr int kExitUsage = 2;    // bad command line

int cmd_inspect_key(const Args& args);
int cmd_check_config(const Args& args);
int cmd_enroll(const Args& args);
int cmd_revoke(const Args& args);
int cmd_list(const Args& args);
int cmd_enable(const Args& args);
int cmd_disable(const Args& args);
int cmd_status(const Args& args);
int cmd_audit(const Args& args);
int cmd_sources(const Args& args);

}  // namespace skgate::admin
