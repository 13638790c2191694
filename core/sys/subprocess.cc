#include "core/sys/subprocess.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
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
Status collect(int out_fd, int err_fd, const ProcessLimits& limits, uint64_t deadline,
               ProcessOutput& result) {
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

// The child of a forked run: nothing but system calls
// between fork and exec. Any failure is reported through `report` (close on
// exec, so a successful exec says nothing) and the child exits.
[[noreturn]] void report_and_exit(int report, int step) {
    int what[2] = {step, errno};
    (void)!write(report, what, sizeof what);
    _exit(127);
}

[[noreturn]] void exec_child(const char* path, char* const* args, char* const* env, int out_fd,
                             int err_fd, int report, const ProcessLimits& limits) {
    auto fail = [report](int step) { report_and_exit(report, step); };
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        fail(0);
    if (limits.own_process_group && setpgid(0, 0) != 0)
        fail(0);
    // Only 0, 1 and 2 reach the program: a descriptor its caller inherited
    // without close-on-exec must not. Without close_range (Linux before
    // 5.9), one by one.
    bool closed = (report == 3 || close_range(3, static_cast<unsigned>(report) - 1, 0) == 0) &&
                  close_range(static_cast<unsigned>(report) + 1, ~0U, 0) == 0;
    if (!closed) {
        long max = sysconf(_SC_OPEN_MAX);
        for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
            if (fd != report)
                close(fd);
    }
    // Nothing of the caller's signal state or directory either.
    // The system call itself: a sanitizer's interceptor may keep signals
    // blocked in a forked child.
    sigset_t none;
    sigemptyset(&none);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, _NSIG / 8);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, nullptr);
    if (chdir("/") != 0)
        fail(0);
    if (limits.run_as) {
        const auto& id = *limits.run_as;
        if (setgroups(id.groups.size(), id.groups.data()) != 0 ||
            setresgid(id.gid, id.gid, id.gid) != 0 || setresuid(id.uid, id.uid, id.uid) != 0)
            fail(1);
        if (id.uid != 0 && setuid(0) == 0)
            fail(1);
    }
    execve(path, args, env);
    report_and_exit(report, 2);
}

// Waits for the program to exit, at most until `deadline` (its output may
// be closed long before: a program can close both and go on). The group is
// killed while the exited leader is still unreaped, so that its id cannot
// have been reused by then.
Result<int> wait_within(pid_t pid, uint64_t deadline, const ProcessLimits& limits) {
    for (unsigned pause_us = 1000;; pause_us = pause_us < 20'000 ? pause_us * 2 : 20'000) {
        siginfo_t info{};
        int r = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        bool exited = r == 0 && info.si_pid == pid;
        bool late = !exited && monotonic_us() >= deadline;
        if (exited || late || r < 0) {
            if (limits.own_process_group)
                kill(-pid, SIGKILL);
            else if (!exited)
                kill(pid, SIGKILL);
            int status = wait_status(pid);
            if (!exited)
                return make_error(ErrorCode::io, "did not finish within " +
                                                     std::to_string(limits.timeout_ms) + " ms");
            return status;
        }
        usleep(pause_us);
    }
}

Result<pid_t> spawn_forked(const std::vector<std::string>& argv, char* const* args,
                           char* const* env, const Pipe& out, const Pipe& err,
                           const ProcessLimits& limits) {
    if (limits.run_as && geteuid() != 0)
        return make_error(ErrorCode::permission,
                          "cannot run " + argv[0] + " as another account: not root");
    Pipe report;
    SKGATE_CHECK(report.open());
    pid_t pid = fork();
    if (pid < 0)
        return make_error(ErrorCode::io, std::string("fork: ") + std::strerror(errno));
    if (pid == 0)
        exec_child(argv[0].c_str(), args, env, out.write_end(), err.write_end(), report.write_end(),
                   limits);
    report.close_write();
    int what[2] = {0, 0};
    ssize_t n;
    while ((n = read(report.read_end(), what, sizeof what)) < 0 && errno == EINTR) {
    }
    if (n == 0)
        return pid;
    wait_status(pid);
    static constexpr const char* kSteps[] = {"set up its descriptors for",
                                             "take the account's identity for", "run"};
    int step = n == sizeof what && what[0] >= 0 && what[0] <= 2 ? what[0] : 0;
    return make_error(
        step == 2 && what[1] == ENOENT ? ErrorCode::not_found : ErrorCode::io,
        std::string("cannot ") + kSteps[step] + " " + argv[0] + ": " + std::strerror(what[1]));
}

Result<pid_t> spawn_plain(const std::vector<std::string>& argv, char* const* args, char* const* env,
                          const Pipe& out, const Pipe& err) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out.write_end(), 1);
    posix_spawn_file_actions_adddup2(&actions, err.write_end(), 2);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args, env);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return make_error(rc == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                          "cannot run " + argv[0] + ": " + std::strerror(rc));
    return pid;
}

}  // namespace

Result<ProcessOutput> run_process(const std::vector<std::string>& argv,
                                  const ProcessLimits& limits) {
    if (argv.empty() || argv[0].empty() || argv[0][0] != '/')
        return invalid("program path must be absolute");
    const uint64_t deadline = monotonic_us() + static_cast<uint64_t>(limits.timeout_ms) * 1000;
    Pipe out, err;
    SKGATE_CHECK(out.open());
    SKGATE_CHECK(err.open());

    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    char path_var[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char lang_var[] = "LANG=C";
    char* minimal_env[] = {path_var, lang_var, nullptr};
    char* const* env = limits.minimal_environment ? minimal_env : environ;
    // Another identity, or a group of its own (KeysCommand): forked, and
    // given nothing but 0, 1 and 2. The system's own tools: posix_spawn.
    auto spawned = limits.run_as || limits.own_process_group
                       ? spawn_forked(argv, args.data(), env, out, err, limits)
                       : spawn_plain(argv, args.data(), env, out, err);
    if (!spawned)
        return spawned.error();
    const pid_t pid = *spawned;
    out.close_write();
    err.close_write();
    // The whole group, when it has one: what the program started goes too.
    auto kill_all = [&] {
        if (limits.own_process_group)
            kill(-pid, SIGKILL);
        else
            kill(pid, SIGKILL);
    };

    ProcessOutput result;
    Status collected = collect(out.read_end(), err.read_end(), limits, deadline, result);
    if (!collected) {
        kill_all();
        wait_status(pid);
        return collected.error().context(argv[0]);
    }
    auto status = wait_within(pid, deadline, limits);
    if (!status)
        return status.error().context(argv[0]);
    result.status = *status;
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
