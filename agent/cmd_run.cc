// skgate-agent run [--timeout SECONDS] [--forward-agent SOCKET]
#include <signal.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "agent/commands.h"
#include "agent/server.h"
#include "core/audit/audit.h"
#include "core/link/channel.h"
#include "core/sys/args.h"

namespace skgate::agent {

namespace {

void on_signal(int) {
    request_stop();
}

}  // namespace

int cmd_run(const Args& args) {
    ArgParser a({"--timeout", "--forward-agent", "--listen"}, {});
    if (auto st = a.parse(args); !st || !a.positional().empty()) {
        std::fputs(kRunUsage, stderr);
        return kExitUsage;
    }
    ServerOptions options;
    auto timeout = a.integer("--timeout", 1, 3600, 60);
    if (!timeout) {
        std::fprintf(stderr, "skgate-agent: run: %s\n", timeout.error().message.c_str());
        return kExitUsage;
    }
    options.sign_timeout_ms = static_cast<int>(*timeout) * 1000;
    options.upstream_socket = a.value("--forward-agent").value_or("");
    AgentPaths paths = AgentPaths::from_environment();
    if (auto st = paths.ensure(); !st) {
        std::fprintf(stderr, "skgate-agent: %s\n", st.error().message.c_str());
        return kExitFailure;
    }

    // Sockets from systemd (skgate-agent.socket, skgate-agent-link.socket)
    // when socket-activated; otherwise our own.
    std::optional<Listener> agent_listener, link_listener;
    char** names = nullptr;
    int n = sd_listen_fds_with_names(1, &names);
    for (int i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + i;
        std::string name = names && names[i] ? names[i] : "";
        if (name == "agent" && !agent_listener)
            agent_listener.emplace(Listener::adopt(fd));
        else if (name == "link" && !link_listener)
            link_listener.emplace(Listener::adopt(fd));
        free(names ? names[i] : nullptr);
    }
    free(names);
    if (!agent_listener) {
        auto l = Listener::bind_unix(paths.socket());
        if (!l) {
            std::fprintf(stderr, "skgate-agent: %s\n", l.error().message.c_str());
            return kExitFailure;
        }
        agent_listener.emplace(std::move(*l));
    }
    if (!link_listener) {
        auto l = Listener::bind_unix(paths.link_socket());
        if (!l) {
            std::fprintf(stderr, "skgate-agent: %s\n", l.error().message.c_str());
            return kExitFailure;
        }
        link_listener.emplace(std::move(*l));
    }
    std::vector<Listener> link_listeners;
    link_listeners.push_back(std::move(*link_listener));
    std::string tcp_note;
    if (auto listen = a.value("--listen")) {
        if (listen->rfind("tcp:", 0) != 0 || !check_channel_address(*listen)) {
            std::fprintf(stderr, "skgate-agent: run: --listen takes tcp:HOST:PORT, not '%s'\n",
                         listen->c_str());
            return kExitUsage;
        }
        auto l = Listener::bind_tcp(*listen);
        if (!l) {
            std::fprintf(stderr, "skgate-agent: %s\n", l.error().message.c_str());
            return kExitFailure;
        }
        link_listeners.push_back(std::move(*l));
        tcp_note = " and " + *listen;
    }
    auto control_listener = Listener::bind_unix(paths.control_socket());
    if (!control_listener) {
        std::fprintf(stderr, "skgate-agent: %s\n", control_listener.error().message.c_str());
        return kExitFailure;
    }
    // Every client holds descriptors: take what the hard limit allows.
    if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    std::fprintf(stderr, "skgate-agent: listening on %s (ssh) and %s%s (authenticator)\n",
                 paths.socket().c_str(), paths.link_socket().c_str(), tcp_note.c_str());
    AgentServer server(paths, options);
    auto st = server.run(std::move(*agent_listener), std::move(link_listeners),
                         std::move(*control_listener));
    if (!st) {
        std::fprintf(stderr, "skgate-agent: %s\n", st.error().message.c_str());
        return kExitFailure;
    }
    return kExitOk;
}

}  // namespace skgate::agent
