// skgatectl: the administrator's tool. Dispatch only; each command lives in
// its own file and the logic in core/.
#include <cstdio>

#include "admin/commands.h"
#include "core/audit/audit.h"
#include "core/sys/cli.h"

namespace {

constexpr const char* kUsage =
    "usage: skgatectl COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  inspect-key [--json] [KEY|-]      describe a public key (or each line on stdin)\n"
    "  check-config [-f FILE] [-u USER]  validate skgate.conf like sshd -t\n"
    "  enroll --user USER --key KEY      add a security key to the local store\n"
    "         [--name LABEL] [--expires DATE] [--attestation FILE --challenge FILE]\n"
    "  revoke --user USER (--fingerprint FP | --key KEY)\n"
    "                                    remove a key and refuse it from every source\n"
    "  list [--user USER] [--json]       list enrolled keys and cached remote keys\n"
    "  enable [--mode audit|enforce] [--pam-confirm] [--force] [--replace-existing] [--chain]\n"
    "                                    wire skgate into sshd and PAM (sshd -t first)\n"
    "  disable                           restore sshd and PAM as they were\n"
    "  status [--json]                   wiring, OpenSSH version, keys, recent events\n"
    "  audit [--since T] [--user U] [--decision D] [--event E] [--lines N] [--json]\n"
    "                                    skgate's decisions from the journal\n"
    "  explain --user USER (--key KEY | --key-file F | --fingerprint FP) [--json]\n"
    "                                    why skgate-keys allows or refuses that key\n"
    "  sources test [--user USER] [--json]\n"
    "                                    ask every remote key source now, report each\n"
    "\n"
    "enroll, revoke, list, explain and check-config take -f CONFIG (default "
    "/etc/skgate/skgate.conf).\n"
    "\n"
    "See skgatectl(8).\n";

using namespace skgate::admin;
constexpr skgate::CliCommand kCommands[] = {
    {"inspect-key", cmd_inspect_key, kInspectKeyUsage},
    {"check-config", cmd_check_config, kCheckConfigUsage},
    {"enroll", cmd_enroll, kEnrollUsage},
    {"revoke", cmd_revoke, kRevokeUsage},
    {"list", cmd_list, kListUsage},
    {"enable", cmd_enable, kEnableUsage},
    {"disable", cmd_disable, kDisableUsage},
    {"status", cmd_status, kStatusUsage},
    {"audit", cmd_audit, kAuditUsage},
    {"sources", cmd_sources, kSourcesUsage},
    {"explain", cmd_explain, kExplainUsage},
};

}  // namespace

int main(int argc, char** argv) {
    skgate::audit_set_identifier("skgatectl");
    return skgate::run_cli("skgatectl", kCommands, kUsage, argc, argv);
}
