// Which keys may log in as a user, and the authorized_keys line sshd is told
// for each (DESIGN.md sections 3-6). Shared by skgate-keys and pam_skgate so
// both decide the same way.
#pragma once

#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/audit/audit.h"
#include "core/policy/policy.h"
#include "core/sources/keys_command.h"
#include "core/sources/keysource.h"
#include "core/sources/remote_source.h"
#include "core/store/revocation.h"
#include "core/sys/result.h"

namespace skgate {

struct LookupRequest {
    std::string user;
    std::optional<PublicKey> offered;  // the key sshd asks about (%t %k), if any
    std::time_t now = 0;
    // NSS by default; tests and callers that know the account may supply them.
    std::function<Result<Account>(const std::string&)> account_lookup = lookup_account;
    std::function<Result<std::vector<std::string>>(const std::string&)> groups_lookup =
        lookup_user_groups;
    // Remote sources: whether the network may be used, and how (deadline_us
    // and now are filled in by lookup_keys from SourceTimeout).
    RemoteAccess remote = {};
    // The user's own authorized_keys files: the ones skgate-keys read as the
    // user before giving up root, or else read here, from these patterns.
    std::optional<UserKeyFiles> user_files = std::nullopt;
    std::vector<std::string> user_file_patterns = kDefaultUserKeyFiles;
    // KeysCommand's answer when the caller ran it (skgate-keys, explain);
    // none: the command source uses the answer skgate-keys recorded.
    std::optional<KeysCommandAnswer> keys_command = std::nullopt;
    // When the lookup's time budget (SourceTimeout) started, if before the
    // call (skgate-keys: its own start, so KeysCommand's run counts too).
    uint64_t started_us = 0;
};

struct KeyVerdict {
    CandidateKey candidate;
    Decision decision = Decision::deny;  // allow, deny, or would_deny (audit mode)
    std::string reason;
    std::string line;  // what sshd is told; empty when the key is not printed
};

struct LookupResult {
    std::string user;
    Mode mode = Mode::enforce;
    std::vector<KeyVerdict> verdicts;  // source order; only the offered key's if one was given
    std::vector<std::string> warnings;
    std::string no_keys_reason;        // why there is nothing to decide, if so
    std::vector<SourceStatus> remote;  // one per remote source asked

    std::vector<std::string> lines() const;
};

// The end of a lookup's time budget (SourceTimeout from `started_us`, or
// from now): every remote source and KeysCommand share it.
uint64_t lookup_deadline(const Policy& policy, uint64_t started_us);

// Fails (fail closed: the caller answers with no keys) when the policy cannot
// be evaluated or the store or revocation list cannot be read safely.
Result<LookupResult> lookup_keys(const Policy& policy, const LookupRequest& request);

// Policy's verdict on one key: empty when allowed, else the reason.
std::string refusal_reason(const CandidateKey& key, const UserPolicy& policy, bool break_glass,
                           const RevocationList& revoked, std::time_t now);

// skgate-keys' decision on one key: allow, deny or would-deny (audit mode,
// never for a revoked key), the reason, and the line sshd is told. `warning`
// gets why a line could not be written, if so. lookup_keys decides each key
// with it; skgatectl sources test shows its verdicts.
KeyVerdict decide_key(CandidateKey key, const UserPolicy& policy, bool break_glass,
                      const RevocationList& revoked, std::time_t now, std::string* warning);

// The options that make sshd enforce policy for an allowed key.
Result<std::string> enforcing_line(const CandidateKey& key, const UserPolicy& policy);

// Why AllowedApplications refuses this security key (its application is
// the FIDO relying-party ID it was made for), or empty when it does not.
std::string application_refusal(const PublicKey& key, const UserPolicy& policy);

// Why AllowedAuthenticators refuses a key with this store entry (none: not
// from the store), or empty when it does not. Only an attestation whose
// certificate chained to AttestationRoots vouches for an AAGUID: a fido-u2f
// signature does not cover it and a self-attestation is the key's own claim.
std::string authenticator_refusal(const StoredKey* stored, const UserPolicy& policy);

// The one audit event of a lookup (DESIGN.md section 10).
AuditEvent lookup_audit_event(const LookupResult& result, const LookupRequest& request,
                              uint64_t latency_us);

}  // namespace skgate
