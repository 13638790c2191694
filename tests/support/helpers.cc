#include "tests/support/helpers.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace skgate::test {

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f)
        throw std::runtime_error("cannot read " + path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void write_file(const std::string& path, const std::string& data, unsigned mode) {
    {
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        if (!f)
            throw std::runtime_error("cannot write " + path);
        f << data;
    }
    if (chmod(path.c_str(), mode) != 0)
        throw std::runtime_error("cannot chmod " + path);
}

std::string vectors_dir() {
    const char* v = std::getenv("SKGATE_VECTORS");
    if (!v)
        throw std::runtime_error("SKGATE_VECTORS is not set (run the tests through meson test)");
    return v;
}

std::string required_env(const char* name) {
    const char* v = std::getenv(name);
    if (!v)
        throw std::runtime_error(std::string(name) + " is not set");
    return v;
}

bool running_as_root() {
    return geteuid() == 0;
}

TempDir::TempDir() {
    // Under the build tree, not /tmp: the trusted-file rules refuse
    // directories that other users can write to.
    const char* base = std::getenv("SKGATE_TEST_TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/skgate-test-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data()))
        throw std::runtime_error("mkdtemp failed");
    path_ = buf.data();
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

RunResult run(const std::vector<std::string>& argv, const std::string& input,
              const std::map<std::string, std::string>& env) {
    TempDir io;
    std::string in = io.file("in"), out = io.file("out"), err = io.file("err");
    write_file(in, input);
    pid_t pid = fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0) {
        int fi = open(in.c_str(), O_RDONLY);
        int fo = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fi < 0 || fo < 0 || fe < 0)
            _exit(126);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        for (const auto& [k, v] : env)
            setenv(k.c_str(), v.c_str(), 1);
        std::vector<char*> args;
        for (const auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
    RunResult r;
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = read_file(out);
    r.err = read_file(err);
    return r;
}

std::string word_after(const std::string& text, const std::string& marker) {
    size_t at = text.find(marker);
    if (at == std::string::npos)
        return "";
    size_t start = at + marker.size(), end = start;
    while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end])))
        end++;
    return text.substr(start, end - start);
}

Process::Process(const std::vector<std::string>& argv,
                 const std::map<std::string, std::string>& env, const std::string& log_path)
    : log_(log_path) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ < 0)
        throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        int fo = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fo < 0)
            _exit(126);
        dup2(p[0], 0);
        dup2(fo, 1);
        dup2(fo, 2);
        for (const auto& [k, v] : env)
            setenv(k.c_str(), v.c_str(), 1);
        std::vector<char*> args;
        for (const auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        _exit(127);
    }
    close(p[0]);
    stdin_fd_ = p[1];
}

Process::~Process() {
    stop();
}

void Process::stop() {
    close_stdin();
    if (pid_ > 0 && status_ < 0) {
        kill(pid_, SIGTERM);
        if (wait(3000) < 0) {
            kill(pid_, SIGKILL);
            wait(3000);
        }
    }
}

void Process::write_stdin(const std::string& data) {
    if (stdin_fd_ >= 0 && ::write(stdin_fd_, data.data(), data.size()) < 0)
        throw std::runtime_error("write to a child's stdin failed");
}

void Process::close_stdin() {
    if (stdin_fd_ >= 0)
        close(stdin_fd_);
    stdin_fd_ = -1;
}

std::string Process::output() const {
    try {
        return read_file(log_);
    } catch (...) {
        return "";
    }
}

bool Process::wait_for_output(const std::string& text, int timeout_ms) const {
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        if (output().find(text) != std::string::npos)
            return true;
        usleep(20000);
    }
    return false;
}

int Process::wait(int timeout_ms) {
    if (status_ >= 0)
        return status_;
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        int st = 0;
        pid_t r = waitpid(pid_, &st, WNOHANG);
        if (r == pid_) {
            status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return status_;
        }
        usleep(10000);
    }
    return -1;
}

int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    bool ok = fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
              getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok)
        throw std::runtime_error("cannot find a free port");
    return ntohs(a.sin_port);
}

}  // namespace skgate::test
