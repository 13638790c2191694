// Shared by the GoogleTest programs: files, temporary directories, running
// real programs (ssh-keygen, skgatectl) and reading the test vectors.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "core/sys/bytes.h"

namespace skgate::test {

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& data, unsigned mode = 0644);
// tests/vectors (OpenSSH's own), from the SKGATE_VECTORS environment set by meson.
std::string vectors_dir();
bool running_as_root();
// The value of an environment variable meson sets for the tests; throws when
// it is not set.
std::string required_env(const char* name);

class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

struct RunResult {
    int status = -1;  // exit status, or 128+signal
    std::string out;
    std::string err;
};

// Runs argv (argv[0] searched in PATH) with `input` on stdin and `env` added
// to the environment; waits for it.
RunResult run(const std::vector<std::string>& argv, const std::string& input = "",
              const std::map<std::string, std::string>& env = {});

// The run of non-space characters after the first `marker` in `text`
// ("" when absent): a URI or a code in a program's output.
std::string word_after(const std::string& text, const std::string& marker);

// A program running in the background (agents, authenticators): stdout and
// stderr go to one log file; stdin is a pipe. Killed (SIGTERM) and reaped by
// the destructor.
class Process {
  public:
    Process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            const std::string& log_path);
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    void write_stdin(const std::string& data);
    void close_stdin();
    std::string output() const;
    // Waits until the log contains `text`; false after timeout_ms.
    bool wait_for_output(const std::string& text, int timeout_ms) const;
    // The exit status (or 128+signal), or -1 if still running after timeout_ms.
    int wait(int timeout_ms);
    void stop();

  private:
    pid_t pid_ = -1;
    int stdin_fd_ = -1;
    int status_ = -1;
    std::string log_;
};

// A loopback TCP port nobody listens on right now.
int free_port();

}  // namespace skgate::test
