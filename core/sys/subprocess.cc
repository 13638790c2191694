#include "core/sys/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/sys/monotonic.h"
#include "core/sys/text.h"

extern char** environ;

namespace skgate {

namespace {

class Pipe {
  public:
    Pipe() = default;
    ~Pipe() { close_both(); }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;

    Status open() {
        if (pipe2(fds_, O_CLOEXEC) != 0)
            return make_error(ErrorCode::io, std::string("pipe: ") + std::strerror(errno));
        return {};
    }
    int read_end() const { return fds_[0]; }
    int write_end() const { return fds_[1]; }
    void close_write() { close_fd(fds_[1]); }
    void close_both() {
        close_fd(fds_[0]);
        close_fd(fds_[1]);
    }

  private:
    static void close_fd(int& fd) {
        if (fd >= 0)
            ::close(fd);
        fd = -1;
    }
    int fds_[2] = {-1, -1};
};

int wait_status(pid_t pid) {
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

// Drains both pipes until they close or the deadline passes.
Status collect(int out_fd, int err_fd, const ProcessLimits& limits, ProcessOutput& result) {
    const uint64_t deadline = monotonic_us() + static_cast<uint64_t>(limits.timeout_ms) * 1000;
    struct pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    std::string* sinks[2] = {&result.out, &result.err};
    int open_streams = 2;
    char buf[4096];
    while (open_streams > 0) {
        uint64_t now = monotonic_us();
        uint64_t left_ms = now >= deadline ? 0 : (deadline - now) / 1000;
        if (left_ms == 0)
            return make_error(ErrorCode::io,
                              "did not finish within " + std::to_string(limits.timeout_ms) + " ms");
        int r = poll(fds, 2, static_cast<int>(left_ms));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return make_error(ErrorCode::io, std::string("poll: ") + std::strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || fds[i].revents == 0)
                continue;
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                fds[i].fd = -1;
                open_streams--;
                continue;
            }
            sinks[i]->append(buf, static_cast<size_t>(n));
            if (sinks[i]->size() > limits.max_output)
                return make_error(ErrorCode::io, "printed more than " +
                                                     std::to_string(limits.max_output) + " bytes");
        }
    }
    return {};
}

}  // namespace

Result<ProcessOutput> run_process(const std::vector<std::string>& argv,
                                  const ProcessLimits& limits) {
    if (argv.empty() || argv[0].empty() || argv[0][0] != '/')
        return invalid("program path must be absolute");
    Pipe out, err;
    SKGATE_CHECK(out.open());
    SKGATE_CHECK(err.open());

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out.write_end(), 1);
    posix_spawn_file_actions_adddup2(&actions, err.write_end(), 2);

    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    char path_var[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char lang_var[] = "LANG=C";
    char* minimal_env[] = {path_var, lang_var, nullptr};
    pid_t pid = -1;
    int rc = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(),
                         limits.minimal_environment ? minimal_env : environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return make_error(rc == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                          "cannot run " + argv[0] + ": " + std::strerror(rc));
    out.close_write();
    err.close_write();

    ProcessOutput result;
    Status collected = collect(out.read_end(), err.read_end(), limits, result);
    if (!collected) {
        kill(pid, SIGKILL);
        wait_status(pid);
        return collected.error().context(argv[0]);
    }
    result.status = wait_status(pid);
    return result;
}

std::string describe_failure(const std::vector<std::string>& argv, const ProcessOutput& out) {
    std::string cmd;
    for (const auto& a : argv)
        cmd += (cmd.empty() ? "" : " ") + a;
    std::string said(trim(out.err.empty() ? out.out : out.err));
    return "`" + cmd + "` exited with status " + std::to_string(out.status) +
           (said.empty() ? "" : ": " + said);
}

}  // namespace skgate
