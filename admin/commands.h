// skgatectl subcommands. Each takes its own arguments (after the command
// name) and returns the process exit status.
#pragma once

#include <string>
#include <vector>

namespace skgate::admin {

using Args = std::vector<std::string>;

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // invalid input, failed check
inline constexpr int kExitUsage = 2;    // bad command line

// Each command's usage, printed on a bad command line (stderr, exit 2) and
// for `skgatectl COMMAND --help` (stdout, exit 0).
inline constexpr const char* kInspectKeyUsage = "usage: skgatectl inspect-key [--json] [KEY|-]\n";
inline constexpr const char* kCheckConfigUsage =
    "usage: skgatectl check-config [-f FILE] [-u USER]\n";
inline constexpr const char* kEnrollUsage =
    "usage: skgatectl enroll [-f CONFIG] --user USER (--key 'KEY' | --key-file FILE)\n"
    "                        [--name LABEL] [--expires DATE] [--source local]\n"
    "                        [--attestation FILE --challenge FILE] [--dry-run]\n";
inline constexpr const char* kRevokeUsage =
    "usage: skgatectl revoke [-f CONFIG] --user USER (--fingerprint SHA256:... | --key 'KEY' "
    "| --key-file FILE)\n"
    "       skgatectl revoke [-f CONFIG] --rebuild-index\n";
inline constexpr const char* kListUsage =
    "usage: skgatectl list [-f CONFIG] [--user USER] [--json]\n";
#define SKGATECTL_PATH_OPTIONS                                                \
    "PATH OPTIONS (for testing on copies; defaults are the system's):\n"      \
    "  -f SKGATE_CONF  --sshd-config FILE  --pam-file FILE  --sshd PROGRAM\n" \
    "  --helper PROGRAM  --pam-module NAME  --systemd-dir DIR\n"
inline constexpr const char* kEnableUsage =
    "usage: skgatectl enable [--mode audit|enforce] [--pam-confirm] [--force]\n"
    "                        [--replace-existing] [--chain] [--no-reload] [--dry-run] [PATH "
    "OPTIONS]\n" SKGATECTL_PATH_OPTIONS;
inline constexpr const char* kDisableUsage =
    "usage: skgatectl disable [--no-reload] [PATH OPTIONS]\n" SKGATECTL_PATH_OPTIONS;
inline constexpr const char* kStatusUsage =
    "usage: skgatectl status [--json] [--journal-directory DIR] [PATH "
    "OPTIONS]\n" SKGATECTL_PATH_OPTIONS;
#undef SKGATECTL_PATH_OPTIONS
inline constexpr const char* kAuditUsage =
    "usage: skgatectl audit [--since TIME] [--user USER] [--decision allow|deny|would-deny]\n"
    "                       [--event EVENT] [--lines N] [--json] [--directory DIR]\n";
inline constexpr const char* kExplainUsage =
    "usage: skgatectl explain [-f CONFIG] --user USER (--key 'KEY' | --key-file FILE |\n"
    "                         --fingerprint SHA256:...) [--json]\n";
inline constexpr const char* kSourcesUsage =
    "usage: skgatectl sources test [-f CONFIG] [--user USER] [--json] [--fetch-helper PROGRAM]\n";

int cmd_inspect_key(const Args& args);
int cmd_check_config(const Args& args);
int cmd_enroll(const Args& args);
int cmd_revoke(const Args& args);
int cmd_list(const Args& args);
int cmd_enable(const Args& args);
int cmd_disable(const Args& args);
int cmd_status(const Args& args);
int cmd_audit(const Args& args);
int cmd_sources(const Args& args);
int cmd_explain(const Args& args);

}  // namespace skgate::admin
