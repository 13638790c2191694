// What the benchmarks share: running a program and timing it, percentiles.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/sys/monotonic.h"

extern char** environ;

namespace skgate::bench {

// Starts argv (searched in PATH), its output discarded when `quiet`.
inline pid_t spawn(const std::vector<std::string>& argv, bool quiet) {
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (quiet) {
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    }
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        std::fprintf(stderr, "cannot run %s\n", args[0]);
        std::exit(1);
    }
    return pid;
}

// Milliseconds from start to exit; a failed run ends the benchmark.
inline double run_once(const std::vector<std::string>& argv) {
    uint64_t t0 = monotonic_us();
    pid_t pid = spawn(argv, true);
    int status = 0;
    waitpid(pid, &status, 0);
    uint64_t t1 = monotonic_us();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "%s exited with status %d\n", argv[0].c_str(), status);
        std::exit(1);
    }
    return static_cast<double>(t1 - t0) / 1000.0;
}

inline double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace skgate::bench
