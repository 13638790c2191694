// skgate-agent setup [--hosts "h1 h2"] [--remove] [--no-systemd]
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "agent/commands.h"
#include "agent/keyring.h"
#include "agent/ssh_config.h"
#include "core/sys/args.h"
#include "core/sys/atomicfile.h"
#include "core/sys/safefile.h"

namespace skgate::agent {

namespace {

int fail(const std::string& what) {
    std::fprintf(stderr, "skgate-agent: setup: %s\n", what.c_str());
    return kExitFailure;
}

std::string home() {
    const char* h = std::getenv("HOME");
    return h && *h == '/' ? h : "";
}

std::vector<std::string> split_words(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> out;
    for (std::string w; in >> w;)
        out.push_back(w);
    return out;
}

// The socket units and the service systemd starts on the first connection
// (sd_listen_fds in `run`); one socket unit per name, as systemd wants.
struct Unit {
    const char* file;
    std::string text;
};

std::vector<Unit> units(const AgentPaths& paths, const std::string& exe) {
    auto socket_unit = [&](const char* what, const std::string& path, const char* name) {
        return "[Unit]\nDescription=skgate agent: " + std::string(what) +
               "\n\n[Socket]\nListenStream=" + path +
               "\nSocketMode=0600\nDirectoryMode=0700\nFileDescriptorName=" + name +
               "\nService=skgate-agent.service\n\n[Install]\nWantedBy=sockets.target\n";
    };
    return {
        {"skgate-agent.socket", socket_unit("ssh-agent socket", paths.socket(), "agent")},
        {"skgate-agent-link.socket",
         socket_unit("authenticator link", paths.link_socket(), "link")},
        {"skgate-agent.service",
         "[Unit]\nDescription=skgate agent (ssh-agent for security keys on a paired "
         "authenticator)\nDocumentation=man:skgate-agent(1)\nRequires=skgate-agent.socket "
         "skgate-agent-link.socket\n\n[Service]\nExecStart=" +
             exe + " run\n"},
    };
}

bool user_systemd_present() {
    const char* rt = std::getenv("XDG_RUNTIME_DIR");
    if (!rt || !*rt)
        return false;
    struct stat st {};
    return stat((std::string(rt) + "/systemd/private").c_str(), &st) == 0;
}

int systemctl_user(const std::string& args) {
    std::string cmd = "systemctl --user " + args + " >/dev/null 2>&1";
    return std::system(cmd.c_str());
}

Status install_units(const AgentPaths& paths) {
    std::string dir = home() + "/.config/systemd/user";
    for (const auto& d : {home() + "/.config", home() + "/.config/systemd", dir})
        SKGATE_CHECK(ensure_directory(d, FileOwner::self(0755)));
    char exe[4096] = {};
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return make_error(ErrorCode::io, "cannot find the skgate-agent binary");
    for (const auto& u : units(paths, std::string(exe, static_cast<size_t>(n))))
        SKGATE_CHECK(write_file_atomic(dir + "/" + u.file, u.text, FileOwner::self(0644)));
    return {};
}

void remove_units() {
    std::string dir = home() + "/.config/systemd/user";
    bool any = false;
    for (const char* f :
         {"skgate-agent.socket", "skgate-agent-link.socket", "skgate-agent.service"})
        any = unlink((dir + "/" + f).c_str()) == 0 || any;
    if (any && user_systemd_present()) {
        systemctl_user("disable --now skgate-agent.socket skgate-agent-link.socket");
        systemctl_user("daemon-reload");
    }
}

Result<std::optional<std::string>> read_config(const std::string& path, mode_t* mode) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT)
            return std::optional<std::string>();
        return make_error(ErrorCode::io, "cannot stat " + path + ": " + std::strerror(errno));
    }
    if (S_ISLNK(st.st_mode))
        return make_error(ErrorCode::permission,
                          path +
                              " is a symbolic link: setup does not replace it; add the "
                              "skgate block (see skgate-agent(1)) to its target by hand");
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
        return make_error(ErrorCode::permission, path + " is not a regular file of yours");
    *mode = st.st_mode & 07777;
    FileRules rules;
    rules.owner = geteuid();
    rules.root_may_own = false;
    rules.check_directories = false;
    SKGATE_TRY(text, read_trusted_file(path, rules));
    return std::optional<std::string>(std::move(text));
}

}  // namespace

int cmd_setup(const Args& args) {
    ArgParser a({"--hosts"}, {"--remove", "--no-systemd"});
    if (auto st = a.parse(args); !st || !a.positional().empty()) {
        std::fputs(kSetupUsage, stderr);
        return kExitUsage;
    }
    if (home().empty())
        return fail("HOME is not set to an absolute path");
    AgentPaths paths = AgentPaths::from_environment();
    std::string ssh_dir = home() + "/.ssh", config = ssh_dir + "/config";
    mode_t mode = 0600;
    auto current = read_config(config, &mode);
    if (!current)
        return fail(current.error().message);

    if (a.flag("--remove")) {
        if (!a.flag("--no-systemd"))
            remove_units();
        if (!*current) {
            std::printf("%s does not exist: nothing to remove.\n", config.c_str());
            return kExitOk;
        }
        bool delete_file = false;
        auto edit = remove_block(**current, &delete_file);
        if (!edit)
            return fail(config + ": " + edit.error().message);
        if (delete_file) {
            if (unlink(config.c_str()) != 0)
                return fail("cannot remove " + config + ": " + std::strerror(errno));
            std::printf("Removed %s (setup had created it).\n", config.c_str());
        } else if (edit->changed) {
            if (auto st = write_file_atomic(config, edit->text, FileOwner::self(mode)); !st)
                return fail(st.error().message);
            std::printf("Removed the skgate block from %s.\n", config.c_str());
        } else {
            std::printf("%s has no skgate block.\n", config.c_str());
        }
        return kExitOk;
    }

    std::vector<std::string> hosts = split_words(a.value("--hosts").value_or(""));
    if (a.value("--hosts") && hosts.empty())
        return fail("--hosts needs at least one host pattern");
    if (auto st = ensure_directory(ssh_dir, FileOwner::self(0700)); !st)
        return fail(st.error().message);
    if (auto st = paths.ensure(); !st)
        return fail(st.error().message);
    auto edit = add_block(current->value_or(""), paths.socket(), hosts, !current->has_value());
    if (!edit)
        return fail(config + ": " + edit.error().message);
    if (edit->changed) {
        if (auto st = write_file_atomic(config, edit->text, FileOwner::self(mode)); !st)
            return fail(st.error().message);
        std::printf("%s: ssh now asks skgate-agent for %s.\n", config.c_str(),
                    hosts.empty() ? "every host" : "these hosts");
    } else {
        std::printf("%s is already set up.\n", config.c_str());
    }
    if (a.flag("--no-systemd"))
        return kExitOk;
    if (auto st = install_units(paths); !st)
        return fail(st.error().message);
    if (user_systemd_present()) {
        if (systemctl_user("daemon-reload") != 0 ||
            systemctl_user("enable --now skgate-agent.socket skgate-agent-link.socket") != 0)
            return fail(
                "systemctl --user could not enable skgate-agent.socket; see "
                "`systemctl --user status skgate-agent.socket`");
        std::printf("systemd starts skgate-agent when ssh or the authenticator connects.\n");
    } else {
        std::printf(
            "Installed systemd user units, but no systemd user manager is running: "
            "start the agent with `skgate-agent run`.\n");
    }
    return kExitOk;
}

}  // namespace skgate::agent
