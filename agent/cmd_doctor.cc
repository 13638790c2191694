// skgate-agent doctor [-F SSH_CONFIG] [HOST...]
#include <cstdio>
#include <cstdlib>

#include "agent/commands.h"
#include "agent/doctor.h"
#include "core/sys/args.h"

namespace skgate::agent {

int cmd_doctor(const Args& args) {
    ArgParser a({"-F"}, {});
    bool bad = !a.parse(args);
    for (const auto& host : a.positional())
        bad = bad || host.empty() || host[0] == '-';
    if (bad) {
        std::fputs(kDoctorUsage, stderr);
        return kExitUsage;
    }
    const auto& hosts = a.positional();
    auto env = [](const char* name) {
        const char* v = std::getenv(name);
        return std::string(v ? v : "");
    };
    DoctorInput in{
        AgentPaths::from_environment(), hosts.empty() ? std::vector<std::string>{kAnyHost} : hosts,
        a.value("-F").value_or(""),     env("PATH"),
        env("SSH_AUTH_SOCK"),           env("SSH_ASKPASS")};
    auto findings = run_doctor(in);
    std::fputs(format_findings(findings).c_str(), stdout);
    for (const auto& f : findings)
        if (f.level == Finding::Level::problem)
            return kExitFailure;
    return kExitOk;
}

}  // namespace skgate::agent
