// skgate-authenticator's commands; main.cc only dispatches.
#pragma once

#include <string>
#include <vector>

namespace skgate::authenticator {

using Args = std::vector<std::string>;

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

int cmd_init(const Args& args);
int cmd_pair(const Args& args);
int cmd_run(const Args& args);
int cmd_list(const Args& args);

}  // namespace skgate::authenticator
