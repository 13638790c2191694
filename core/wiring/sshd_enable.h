// `skgatectl enable` and `disable` (DESIGN.md section 6): wiring skgate into
// sshd and PAM so that nothing takes effect before `sshd -t` accepts it,
// every file is written atomically after its original is backed up, and
// `disable` puts back exactly what was there.
#pragma once

#include <string>
#include <vector>

#include "core/policy/policy.h"
#include "core/sys/result.h"
#include "core/wiring/sshd_wiring.h"

namespace skgate {

// Where the machine's files and programs are; tests point them at copies.
struct SystemPaths {
    std::string sshd_config = "/etc/ssh/sshd_config";
    std::string dropin_dir;  // default: sshd_config's directory + "/sshd_config.d"
    std::string pam_file = "/etc/pam.d/sshd";
    std::string sshd = "/usr/sbin/sshd";
    std::string useradd = "/usr/sbin/useradd";
    std::string skgate_conf = kDefaultConfigPath;
    std::string helper;                        // skgate-keys
    std::string pam_module = "pam_skgate.so";  // as PAM names it
    // Where systemd units live: the ssh/sshd unit's ExecStart (and its
    // drop-ins) must not override skgate's drop-in with -o or -f. Empty:
    // /etc/systemd/system, /run/systemd/system, /lib/systemd/system and
    // /usr/lib/systemd/system, and the environment files they read.
    std::string systemd_dir;

    std::string dropin_path() const;
};

struct EnableRequest {
    Mode mode = Mode::audit;
    bool pam_confirm = false;
    bool force = false;             // accept what enable would refuse; recorded, shown by status
    bool replace_existing = false;  // take precedence over another AuthorizedKeysCommand
    // Run sshd's other AuthorizedKeysCommand as the command key source
    // (KeysCommand in skgate.conf) instead of refusing it.
    bool chain = false;
    bool reload = true;    // signal a running sshd
    bool dry_run = false;  // check everything, print the diff, write nothing
};

// What was done, one sentence per step, for the administrator.
using Report = std::vector<std::string>;

struct WiringOutcome {
    Report report;
    // False when the files already were as asked (configuration management
    // runs enable and disable again and again), and for a dry run.
    bool changed = true;
    std::string diff;  // --dry-run: `diff -u` of every file enable would write
};

Result<WiringOutcome> enable_skgate(const SystemPaths& paths, const EnableRequest& request);
// reload false: sshd is not signalled (--no-reload); the report says so.
Result<WiringOutcome> disable_skgate(const SystemPaths& paths, bool reload = true);

// What `status` shows about the wiring on disk.
struct WiringStatus {
    bool enabled = false;  // skgatectl's record says so
    Mode mode = Mode::audit;
    bool pam_confirm = false;
    bool dropin_present = false;
    bool pam_session = false;             // the marked lines are in the PAM file
    std::string authorized_keys_command;  // effective, from `sshd -T` ("" when it failed)
    std::string running_command_line;     // the running sshd's, from /proc ("" when none)
    std::vector<std::string> overrides;   // -o/-f on sshd command lines that beat the drop-in
    bool command_is_ours = false;
    std::string sshd_error;           // why `sshd -T` failed, if it did
    std::vector<std::string> drift;   // files changed since enable
    std::vector<std::string> forced;  // what the last enable accepted with --force
};
WiringStatus wiring_status(const SystemPaths& paths, const Policy& policy);

// `sshd -V` (OpenSSH 9.x and later) or `ssh -V` next to it.
Result<wiring::OpenSshVersion> openssh_version(const SystemPaths& paths);

}  // namespace skgate
