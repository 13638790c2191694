// skgate-agent's commands; main.cc only dispatches.
#pragma once

#include <string>
#include <vector>

namespace skgate::agent {

using Args = std::vector<std::string>;

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

int cmd_setup(const Args& args);
int cmd_pair(const Args& args);
int cmd_generate(const Args& args);
int cmd_list(const Args& args);
int cmd_status(const Args& args);
int cmd_unpair(const Args& args);
int cmd_run(const Args& args);

}  // namespace skgate::agent
