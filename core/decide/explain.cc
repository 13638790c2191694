#include "core/decide/explain.h"

#include <algorithm>

#include "core/sys/monotonic.h"

namespace skgate {

std::optional<Decision> Explanation::decision() const {
    if (lookup.verdicts.empty())
        return std::nullopt;
    for (const auto& v : lookup.verdicts)
        if (!v.line.empty())
            return v.decision;
    return lookup.verdicts.front().decision;
}

Result<Explanation> explain_key(const Policy& policy, LookupRequest request,
                                const std::string& fingerprint) {
    Explanation out;
    out.user = request.user;
    out.fingerprint = request.offered ? request.offered->fingerprint() : fingerprint;
    if (request.offered)
        out.key_type = std::string(request.offered->display_type());
    out.global_rules = policy.global().rules;
    out.revoked_keys = policy.global().revoked_keys;
    out.break_glass = policy.is_break_glass(request.user);
    // The same evaluation lookup_keys makes, for the rules it shows.
    auto evaluated =
        policy.for_user({request.user, [&] { return request.groups_lookup(request.user); }});
    if (!evaluated && evaluated.error().code == ErrorCode::not_found)
        out.no_such_user = true;
    else if (!evaluated)
        return evaluated.error();
    else
        out.policy = std::move(*evaluated);
    // KeysCommand runs as skgate-keys would run it for this key. For a
    // fingerprint alone, %t and %k are unknown: the recorded answer is used.
    const auto& sources = out.policy.key_sources;
    if (evaluated && request.offered && !request.keys_command &&
        std::find(sources.begin(), sources.end(), KeySource::command) != sources.end()) {
        request.started_us = monotonic_us();
        request.keys_command = run_keys_command(policy.global().keys_command, request.user,
                                                OfferedKeyTokens::of(*request.offered),
                                                lookup_deadline(policy, request.started_us));
        request.keys_command->record = false;
    }
    SKGATE_TRY(lookup, lookup_keys(policy, request));
    if (!request.offered)
        std::erase_if(lookup.verdicts, [&](const KeyVerdict& v) {
            return v.candidate.key.fingerprint() != fingerprint;
        });
    if (out.key_type.empty() && !lookup.verdicts.empty())
        out.key_type = std::string(lookup.verdicts.front().candidate.key.display_type());
    out.lookup = std::move(lookup);
    return out;
}

}  // namespace skgate
