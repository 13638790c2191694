// Enrollment (skgatectl enroll): whether a key may be added to a user's
// local store under policy, and adding it. The command reads the files and
// records the event; every decision is here.
#pragma once

#include <ctime>
#include <optional>
#include <string>

#include "core/policy/policy.h"
#include "core/ssh/authkeys.h"
#include "core/store/keystore.h"
#include "core/sys/result.h"

namespace skgate {

struct EnrollRequest {
    std::string user;
    std::string key_line;                // "TYPE BASE64 [COMMENT]", no options
    std::string name;                    // the label; at most 64 printable characters
    std::optional<std::string> expires;  // ISO 8601 (skgatectl's --expires), in the future
    // ssh-keygen -O write-attestation= and -O challenge= contents, both or neither.
    std::optional<std::string> attestation;
    std::string attestation_name;  // how the caller names it in messages (its path)
    std::optional<std::string> challenge;
    std::time_t now = 0;
    bool dry_run = false;  // decide everything, write nothing
};

struct EnrollOutcome {
    StoredKey stored;  // as stored, or as it would be (dry run)
    // The same key under the same name and expiry was enrolled already:
    // nothing to do
    // (configuration management enrolls again and again).
    bool unchanged = false;
};

// A key line as enroll and revoke take it: one "TYPE BASE64 [COMMENT]", no
// options (skgate sets sshd's options from policy), a key OpenSSL accepts.
// Errors begin "invalid key: ".
Result<AuthorizedKey> parse_plain_key_line(const std::string& line);

// The key as stored, once added. A refusal by policy (a certificate, not a
// security key, revoked, an attestation that does not verify or is
// required, an authenticator policy does not allow, the key already there
// under another name) is
// an ErrorCode::permission error, which skgatectl records as a deny event; a
// malformed request is ErrorCode::invalid; a revocation list that cannot be
// read keeps its own code. Each message says what to do.
Result<EnrollOutcome> enroll_key(const Policy& policy, const UserPolicy& user_policy,
                                 const EnrollRequest& request);

}  // namespace skgate
