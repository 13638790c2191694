// skgate-agent doctor: the laptop's known pitfalls, each found the way ssh
// itself would meet it (ssh -V, ssh -G, the agent's own socket), and a fix
// for each. Nothing is changed.
#pragma once

#include <string>
#include <vector>

#include "agent/keyring.h"

namespace skgate::agent {

struct Finding {
    enum class Level { ok, warning, problem };
    Level level = Level::ok;
    std::string check;  // what was looked at
    std::string said;   // what was found
    std::string fix;    // what to do, when not ok
};

// A name only a `Host *` block matches: what "any host" is checked as.
inline constexpr const char* kAnyHost = "doctor.skgate.invalid";

struct DoctorInput {
    AgentPaths paths;
    std::vector<std::string> hosts;  // for ssh -G; at least one
    std::string ssh_config;          // ssh -F; empty: the file ssh reads by default
    std::string path_env;            // $PATH, where ssh and ssh-add are looked for
    std::string auth_sock_env;       // $SSH_AUTH_SOCK
    std::string askpass_env;         // $SSH_ASKPASS
};

std::vector<Finding> run_doctor(const DoctorInput& input);

// The findings as doctor prints them: one line each, the fix indented below.
std::string format_findings(const std::vector<Finding>& findings);

}  // namespace skgate::agent
