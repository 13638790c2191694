#include "agent/doctor.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "core/ssh/agent_client.h"
#include "core/ssh/agent_protocol.h"
#include "core/ssh/wire.h"
#include "core/sys/subprocess.h"
#include "core/sys/text.h"
#include "core/wiring/sshd_wiring.h"

namespace skgate::agent {

namespace {

using Level = Finding::Level;

constexpr int kToolTimeoutMs = 10'000;
constexpr int kAgentTimeoutMs = 2'000;

std::vector<std::string> split_on(std::string_view text, char sep) {
    std::vector<std::string> out;
    while (true) {
        size_t at = text.find(sep);
        out.emplace_back(text.substr(0, at));
        if (at == std::string_view::npos)
            return out;
        text.remove_prefix(at + 1);
    }
}

// Where a shell would find `name` in $PATH: the ssh the person runs.
std::string find_in_path(const std::string& path_env, const std::string& name) {
    for (const auto& dir : split_on(path_env, ':')) {
        if (dir.empty() || dir[0] != '/')
            continue;
        std::string candidate = dir + "/" + name;
        if (access(candidate.c_str(), X_OK) == 0)
            return candidate;
    }
    return {};
}

bool is_file(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Finding check_ssh_version(const std::string& ssh) {
    Finding f{Level::ok, "OpenSSH client", "", ""};
    if (ssh.empty())
        return {Level::problem, f.check, "no ssh in PATH", "install openssh-client"};
    auto out = run_process({ssh, "-V"}, {.timeout_ms = kToolTimeoutMs});
    auto version = out ? wiring::parse_openssh_version(out->err.empty() ? out->out : out->err)
                       : Result<wiring::OpenSshVersion>(out.error());
    if (!version)
        return {Level::problem, f.check, ssh + " -V: " + version.error().message,
                "use OpenSSH's ssh (8.9 or later)"};
    f.said = ssh + " is " + version->text;
    auto at_least = [&](int major, int minor) {
        return version->major > major || (version->major == major && version->minor >= minor);
    };
    if (!at_least(8, 2)) {
        f.level = Level::problem;
        f.said += ": no security-key support (OpenSSH 8.2 or later)";
        f.fix = "upgrade OpenSSH to 8.9 or later";
    } else if (!at_least(8, 9)) {
        f.level = Level::warning;
        f.said += ": keys made with --verify-required cannot sign through an agent before 8.9";
        f.fix = "upgrade OpenSSH to 8.9 or later, or use keys without --verify-required";
    }
    return f;
}

Finding check_agent(const AgentPaths& paths, std::string* status_text) {
    Finding f{Level::ok, "agent", "", ""};
    auto agent = AgentClient::connect(paths.socket(), geteuid(), kAgentTimeoutMs);
    if (!agent)
        return {Level::problem, f.check,
                "not running at " + paths.socket() + " (" + agent.error().message + ")",
                "skgate-agent setup (systemd starts it on the first ssh), or skgate-agent run"};
    f.said = "running at " + paths.socket();
    auto st = agent->extension(kExtStatus, {});
    WireReader r(st ? ByteView(*st) : ByteView{});
    if (auto text = r.read_string())
        *status_text = std::string(as_chars(*text));
    return f;
}

Finding check_authenticator(const AgentPaths& paths, const std::string& status_text,
                            bool agent_running) {
    Finding f{Level::ok, "authenticator", "", ""};
    auto paired = load_pairings(paths);
    if (!paired)
        return {Level::problem, f.check, paired.error().message,
                "skgate-agent pair --replace pairs again"};
    if (paired->empty())
        return {Level::problem, f.check, "none paired", "skgate-agent pair"};
    const bool several = paired->records.size() > 1;
    std::string with = several ? paired->names() : paired->records.front().device_name;
    if (!agent_running)
        return {Level::problem, f.check, "paired with " + with + ", but the agent is not running",
                "start the agent (above)"};
    const std::string fix =
        "open skgate-authenticator on that device and check that it can reach this laptop (or "
        "the broker)";
    // With several devices the status says "'NAME' connected; 'OTHER'
    // disconnected: why": a login needs the device holding its key.
    bool any_connected = several ? status_text.find("' connected") != std::string::npos
                                 : status_text.rfind("connected ", 0) == 0;
    bool any_away = several && status_text.find("' disconnected") != std::string::npos;
    if (!any_connected)
        return {Level::problem, f.check,
                "paired with " + with + " but not connected (" + printable(status_text, 300) + ")",
                fix};
    if (any_away)
        return {Level::warning, f.check,
                "not every paired device is connected (" + printable(status_text, 300) +
                    "): keys on the others fail until they are",
                fix};
    f.said = printable(status_text, 300);
    return f;
}

// `ssh -G HOST` prints the IdentityAgent ssh would use for HOST, or none
// (then $SSH_AUTH_SOCK).
Finding check_identity_agent(const std::string& ssh, const std::string& host,
                             const DoctorInput& in) {
    Finding f{Level::ok, "IdentityAgent for " + (host == kAnyHost ? std::string("any host") : host),
              "", ""};
    if (ssh.empty())
        return {Level::problem, f.check, "no ssh in PATH", "install openssh-client"};
    std::vector<std::string> argv{ssh, "-G"};
    if (!in.ssh_config.empty())
        argv.insert(argv.end(), {"-F", in.ssh_config});
    argv.insert(argv.end(), {"--", host});
    auto out = run_process(argv, {.timeout_ms = kToolTimeoutMs});
    if (!out || out->status != 0)
        return {Level::problem, f.check,
                "ssh -G " + host +
                    " failed: " + (out ? printable(trim(out->err), 200) : out.error().message),
                "fix ~/.ssh/config (ssh -G " + host + " shows what ssh reads)"};
    std::string agent;
    for (const auto& line : split_on(out->out, '\n'))
        if (line.rfind("identityagent ", 0) == 0)
            agent = std::string(trim(line.substr(14)));
    bool from_env = agent.empty() || agent == "SSH_AUTH_SOCK" || agent == "$SSH_AUTH_SOCK";
    std::string used = from_env ? in.auth_sock_env : agent;
    if (used == in.paths.socket()) {
        f.said = "skgate-agent (" + std::string(from_env ? "SSH_AUTH_SOCK" : "IdentityAgent") + ")";
        return f;
    }
    f.level = Level::problem;
    f.said = agent == "none" ? "IdentityAgent none: ssh uses no agent"
             : from_env
                 ? "ssh uses SSH_AUTH_SOCK" + (used.empty() ? std::string(", which is not set")
                                                            : " (" + used + "), not skgate-agent")
                 : "ssh uses another agent, " + agent;
    f.fix = (host == kAnyHost ? std::string("skgate-agent setup")
                              : "skgate-agent setup --hosts \"" + host + "\"") +
            " (its block comes first in ~/.ssh/config), and check that no earlier Host or Match "
            "block sets IdentityAgent for it";
    return f;
}

Finding check_askpass(const DoctorInput& in) {
    Finding f{Level::ok, "ssh-askpass", "", ""};
    std::vector<std::string> candidates;
    if (!in.askpass_env.empty())
        candidates.push_back(in.askpass_env);
    for (const char* p : {"/usr/bin/ssh-askpass", "/usr/lib/ssh/ssh-askpass",
                          "/usr/libexec/openssh/ssh-askpass", "/usr/lib/openssh/ssh-askpass"})
        candidates.push_back(p);
    for (const auto& c : candidates) {
        if (c.size() > 0 && c[0] == '/' && is_file(c)) {
            f.said = c;
            return f;
        }
    }
    f.level = Level::warning;
    f.said = in.askpass_env.empty() ? "none installed" : in.askpass_env + " does not exist";
    f.fix =
        "a security key's PIN cannot be asked for through a forwarded agent (ssh-agent and "
        "ssh-sk-helper have no terminal): install ssh-askpass (Debian, Ubuntu) or "
        "openssh-askpass (RHEL), or set SSH_ASKPASS";
    return f;
}

size_t count_other_keys(const std::vector<AgentIdentity>& ids, const std::vector<AgentKey>& own) {
    size_t others = 0;
    for (const auto& id : ids)
        others += std::none_of(own.begin(), own.end(), [&](const AgentKey& k) {
            return equal_bytes(k.key.blob(), id.key.blob());
        });
    return others;
}

// The keys of the person's other agent: offered through skgate-agent when
// it forwards to it (run --forward-agent; ssh-add -h constraints are kept,
// since ssh's binds reach it), else not offered where ssh uses skgate-agent.
Finding check_other_agents_keys(const DoctorInput& in) {
    Finding f{Level::ok, "keys of another agent", "", ""};
    auto own = load_keys(in.paths);
    auto agent = AgentClient::connect(in.paths.socket(), geteuid(), kAgentTimeoutMs);
    auto ids = agent ? agent->identities() : Result<std::vector<AgentIdentity>>(agent.error());
    if (!own || !ids) {
        f.said = "not checked (the agent is not running or its keys cannot be read)";
        return f;
    }
    if (size_t n = count_other_keys(*ids, *own); n > 0) {
        f.said = std::to_string(n) +
                 " key(s) of the agent skgate-agent forwards to (run --forward-agent) are offered "
                 "too; those added there with `ssh-add -h` keep their destination constraints";
        return f;
    }
    const std::string& other = in.auth_sock_env;
    if (other.empty() || other == in.paths.socket()) {
        f.said = "none: no other agent in SSH_AUTH_SOCK";
        return f;
    }
    auto theirs = AgentClient::connect(other, geteuid(), kAgentTimeoutMs);
    auto their_ids =
        theirs ? theirs->identities() : Result<std::vector<AgentIdentity>>(theirs.error());
    if (!their_ids || their_ids->empty()) {
        f.said = "none offered by the agent in SSH_AUTH_SOCK (" + other + ")";
        return f;
    }
    f.level = Level::warning;
    f.said = "the agent in SSH_AUTH_SOCK (" + other + ") holds " +
             std::to_string(their_ids->size()) +
             " key(s) that ssh does not offer where skgate-agent is its IdentityAgent (keys "
             "added there with `ssh-add -h` among them)";
    f.fix =
        "have skgate-agent forward to it: `systemctl --user edit skgate-agent` with "
        "ExecStart=skgate-agent run --forward-agent " +
        other + ", or give the hosts that need them IdentityAgent " + other;
    return f;
}

}  // namespace

std::vector<Finding> run_doctor(const DoctorInput& in) {
    std::vector<Finding> out;
    const std::string ssh = find_in_path(in.path_env, "ssh");
    out.push_back(check_ssh_version(ssh));
    std::string status_text;
    out.push_back(check_agent(in.paths, &status_text));
    bool running = out.back().level == Level::ok;
    out.push_back(check_authenticator(in.paths, status_text, running));
    for (const auto& host : in.hosts)
        out.push_back(check_identity_agent(ssh, host, in));
    out.push_back(check_askpass(in));
    out.push_back(check_other_agents_keys(in));
    return out;
}

std::string format_findings(const std::vector<Finding>& findings) {
    std::string out;
    for (const auto& f : findings) {
        const char* mark = f.level == Level::ok        ? "ok     "
                           : f.level == Level::warning ? "warning"
                                                       : "problem";
        out += std::string(mark) + "  " + f.check + ": " + f.said + "\n";
        if (!f.fix.empty())
            out += "         fix: " + f.fix + "\n";
    }
    return out;
}

}  // namespace skgate::agent
