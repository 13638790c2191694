// Shared by the GoogleTest programs: files, temporary directories, running
// real programs (ssh-keygen, skgatectl) and reading the shared vectors.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/bytes.h"

namespace skgate::test {

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& data, unsigned mode = 0644);
// ../shared/vectors, from the SKGATE_VECTORS environment set by meson.
std::string vectors_dir();
bool running_as_root();

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

}  // namespace skgate::test
