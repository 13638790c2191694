// The `command` key source (DESIGN.md section 9): the AuthorizedKeysCommand
// a machine already had (a cloud's agent, sssd, userdbctl), run by
// skgate-keys with sshd's tokens as KeysCommandUser, bounded in time and
// output, and its keys decided by policy like every other source's.
//
// Only skgate-keys and skgatectl explain run it (they know the key sshd
// offers). pam_skgate, in sshd or sudo, never runs a program: it uses the
// answer skgate-keys recorded, while it is younger than SourceCacheTTL. An
// answer is never served after the command failed: a cloud's short-lived
// key must not outlive the cloud's own say.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/policy/policy.h"
#include "core/sources/keysource.h"
#include "core/sources/remote_keys.h"
#include "core/sources/remote_source.h"
#include "core/ssh/sshkey.h"
#include "core/sys/account.h"
#include "core/sys/result.h"

namespace skgate {

inline constexpr size_t kMaxKeysCommandOutput = 256 * 1024;

// What one run of KeysCommand gave: its standard output, or why there is
// none (it could not run, failed, hung or printed too much).
struct KeysCommandAnswer {
    std::string output;
    std::string error;  // empty: it answered
    uint64_t latency_us = 0;
    // Recorded for pam_skgate (skgate-keys); skgatectl explain only looks.
    bool record = true;
};

// The key sshd offers, as sshd gave it (%t %k %f): skgate-keys passes these
// on while it is root, before it parses anything.
struct OfferedKeyTokens {
    std::string type, base64, fingerprint;  // empty: not known
    static OfferedKeyTokens of(const PublicKey& key);
};

// KeysCommand's arguments with the tokens for this lookup: %u the user, %U
// and %h their uid and home (`account`), %t %k %f the offered key. A token
// whose value is unknown (no key offered) is an error.
Result<std::vector<std::string>> keys_command_argv(const KeysCommandSettings& settings,
                                                   const std::string& user, const Account* account,
                                                   const OfferedKeyTokens& offered);

// Runs KeysCommand before `deadline_us` (monotonic). The program must be
// root's and writable by nobody else, in directories the same (as sshd
// demands of its AuthorizedKeysCommand), symbolic links resolved first. It
// runs as KeysCommandUser: the caller is root, or already is that account.
// Its environment is PATH and LANG only, stdin /dev/null, and its process
// group is killed at the deadline.
KeysCommandAnswer run_keys_command(const KeysCommandSettings& settings, const std::string& user,
                                   const OfferedKeyTokens& offered, uint64_t deadline_us);

// What skgate-keys would run: the program's real path, once it passes the
// rules above (check-config reports it before any login does).
Result<std::string> check_keys_command_program(const KeysCommandSettings& settings);

// What an administrator should know about KeysCommandUser: an account
// other processes run as (nobody, the skgate account) can trace the command
// and change its answer unless Yama forbids it; root runs it with every
// privilege. Empty when nothing is to say.
std::vector<std::string> keys_command_warnings(const KeysCommandSettings& settings);

// The command's output, as untrusted as any remote answer: authorized_keys
// lines. A line that does not parse, carries cert-authority or is longer
// than kMaxRemoteKeyLineBytes is refused with its reason and the others
// count; more than kMaxRemoteKeysPerUser keys refuse the whole answer.
Result<RemoteKeys> parse_keys_command_output(std::string_view output);

// The source in one lookup. `answer`: this lookup ran the command (the
// answer is recorded for pam_skgate); none: the recorded answer, if younger
// than SourceCacheTTL.
RemoteSourceResult keys_from_command(const Policy& policy, const std::string& user,
                                     const std::optional<KeysCommandAnswer>& answer,
                                     std::time_t now);

}  // namespace skgate
