// Why skgate-keys decides what it does about one key for one user: the
// verdict of every source that holds the key and the lines of skgate.conf
// that applied, computed by lookup_keys itself (skgatectl explain).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/decide/keylookup.h"
#include "core/policy/policy.h"
#include "core/sys/result.h"

namespace skgate {

struct Explanation {
    std::string user;
    std::string fingerprint;  // of the key asked about
    std::string key_type;     // its display type, when the key itself was given
    LookupResult lookup;      // verdicts: only this key's, one per source that holds it
    UserPolicy policy;        // what applied to the user, with the lines that set it
    std::vector<PolicyRule> global_rules;
    std::string revoked_keys;  // the revocation list consulted
    bool break_glass = false;
    bool no_such_user = false;

    // allow, deny or would_deny as sshd would see it (the first verdict
    // that prints a line decides: sshd takes the first line that matches);
    // nothing when no source holds the key.
    std::optional<Decision> decision() const;
};

// `request.offered` names the key, or, when it is empty, `fingerprint`
// does (a key only its fingerprint is known of: every key of the user is
// looked up, and the ones with that fingerprint kept).
Result<Explanation> explain_key(const Policy& policy, LookupRequest request,
                                const std::string& fingerprint);

}  // namespace skgate
