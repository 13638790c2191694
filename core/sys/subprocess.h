// Running the system's own tools (sshd -t, sshd -T, useradd) from skgatectl,
// skgate-fetch and KeysCommand from skgate-keys:
// no shell, a closed set of descriptors, bounded output and a deadline.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "core/sys/result.h"

namespace skgate {

struct ProcessOutput {
    int status = -1;  // exit status, or 128 + signal number
    std::string out;
    std::string err;
};

struct ProcessLimits {
    int timeout_ms = 30'000;
    size_t max_output = 1024 * 1024;  // per stream; more is an error
    // Only PATH and LANG=C instead of the caller's environment: a helper run
    // from pam_skgate in sudo must not see variables the user set (such as
    // SSL_CERT_FILE, which would choose whom TLS trusts).
    bool minimal_environment = false;
    // Another account's identity for the program (the caller is root): its
    // uid, gid and groups, set in the child before exec.
    struct Identity {
        uid_t uid = 0;
        gid_t gid = 0;
        std::vector<gid_t> groups;
    };
    std::optional<Identity> run_as;
    // The program gets a process group of its own, and the whole group is
    // killed at the deadline and when the program exits: a script's children
    // cannot outlive the bound.
    bool own_process_group = false;
};

// Runs argv[0] (an absolute path, never searched in PATH) with argv, stdin
// from /dev/null. Errors are about running it; a non-zero exit is a result.
Result<ProcessOutput> run_process(const std::vector<std::string>& argv,
                                  const ProcessLimits& limits = {});

// "sshd -t" style message for a failed run: the command and what it said.
std::string describe_failure(const std::vector<std::string>& argv, const ProcessOutput& out);

}  // namespace skgate
