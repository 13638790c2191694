#include "core/decide/stepup_decision.h"

#include <unistd.h>

#include "core/decide/keylookup.h"
#include "core/decide/stepup.h"
#include "core/store/counters.h"
#include "core/store/revocation.h"
#include "core/sys/text.h"

namespace skgate {

namespace {

struct UnusableKey {
    std::string fingerprint;
    std::string reason;
};

// When no key of the agent may approve, the first security key it holds that
// skgate can say something about names the reason, so that the journal says
// "revoked" or "expired" instead of a bare "not enrolled".
std::optional<UnusableKey> why_no_agent_key_may_approve(const std::vector<AgentIdentity>& ids,
                                                        const LookupResult& lookup,
                                                        const RevocationList& revoked) {
    for (const auto& id : ids) {
        if (!id.key.is_security_key())
            continue;
        std::string fp = id.key.fingerprint();
        if (revoked.is_revoked(id.key))
            return UnusableKey{fp, "key is revoked"};
        for (const auto& v : lookup.verdicts) {
            if (!v.candidate.key.same_key(id.key))
                continue;
            if (v.decision != Decision::allow)
                return UnusableKey{fp, v.reason};
            if (v.candidate.source == KeySource::authorized_keys)
                return UnusableKey{fp,
                                   "key is only in the user's authorized_keys, which is never a "
                                   "step-up credential"};
        }
    }
    for (const auto& id : ids) {
        if (id.key.is_security_key())
            return UnusableKey{id.key.fingerprint(), "key is not enrolled for " + lookup.user};
    }
    return std::nullopt;
}

// Only keys the administrator controls: the user's own authorized_keys can
// be written by anyone with the user's shell.
std::vector<PublicKey> step_up_credentials(const LookupResult& lookup) {
    std::vector<PublicKey> out;
    for (const auto& v : lookup.verdicts) {
        if (v.decision == Decision::allow && v.candidate.key.is_security_key() &&
            v.candidate.source != KeySource::authorized_keys)
            out.push_back(v.candidate.key);
    }
    return out;
}

}  // namespace

StepUpOutcome decide_step_up(const Policy& policy, const StepUpRequest& req) {
    StepUpOutcome out;
    auto finish = [&](StepUpResult result, std::string reason, std::string tell) {
        out.result = result;
        out.reason = std::move(reason);
        out.tell = std::move(tell);
        return out;
    };
    const std::string unavailable = "step-up is not available (see the system log)";
    auto up = policy.for_user({req.user, [&] { return lookup_user_groups(req.user); }});
    if (!up)
        return finish(StepUpResult::error, up.error().message, unavailable);
    auto account = lookup_account(req.user);
    if (!account)
        return finish(StepUpResult::error, account.error().message, unavailable);
    if (req.caller != 0 && req.caller != account->uid)
        return finish(
            StepUpResult::refused,
            "the step-up is for " + req.user + " but " + req.requester +
                " asks: only the user's own agent may approve it",
            "step-up for " + req.user + " cannot be approved from " + req.requester + "'s session");
    const int timeout_s =
        req.timeout_seconds.value_or(static_cast<int>(up->stepup_timeout_seconds));
    // One deadline for the whole exchange: connect, key list, context, signature.
    const uint64_t deadline = req.start_us + static_cast<uint64_t>(timeout_s) * 1'000'000;

    LookupRequest lr{req.user, std::nullopt, req.now};
    lr.remote.may_fetch = false;
    lr.user_file_patterns = req.user_file_patterns;
    auto lookup = lookup_keys(policy, lr);
    if (!lookup)
        return finish(StepUpResult::error, "cannot read keys: " + lookup.error().message,
                      "cannot read the enrolled keys");
    const std::vector<PublicKey> enrolled = step_up_credentials(*lookup);

    // The socket is opened with the caller's identity (root's only for root).
    Account as = *account;
    if (req.caller != 0) {
        as.uid = req.caller;
        as.gid = getgid();
    }
    auto agent = req.connect_agent(as, deadline);
    if (!agent && enrolled.empty())
        return finish(StepUpResult::refused, "no enrolled security key",
                      "no security key is enrolled for " + req.user);
    if (!agent)
        return finish(StepUpResult::unavailable, agent.error().message,
                      "no usable agent: " + agent.error().message + " (log in with ssh -A)");
    auto ids = (*agent)->identities();
    if (!ids)
        return finish(StepUpResult::unavailable, ids.error().message,
                      "the agent did not list its keys");
    const PublicKey* key = nullptr;
    for (const auto& id : *ids)
        for (const auto& k : enrolled)
            if (!key && id.key.same_key(k))
                key = &k;
    if (!key) {
        auto revoked = RevocationList::load(policy.global().revoked_keys);
        if (!revoked)
            return finish(StepUpResult::error,
                          "cannot read the revocation list: " + revoked.error().message,
                          unavailable);
        auto why = why_no_agent_key_may_approve(*ids, *lookup, *revoked);
        if (!why)
            return finish(StepUpResult::refused,
                          enrolled.empty() ? "no enrolled security key, and none in the agent"
                                           : "no enrolled security key in the agent",
                          enrolled.empty() ? "no security key is enrolled for " + req.user
                                           : "no enrolled security key in your agent");
        out.key_fp = why->fingerprint;
        return finish(StepUpResult::refused, why->reason,
                      "the security key in your agent may not approve (" + why->fingerprint + ": " +
                          why->reason + ")");
    }
    out.key_fp = key->fingerprint();
    out.key_type = key->type_name();
    StepUpContext ctx{req.user, req.requester, req.host, req.service, req.command, req.now};
    // Before the lock: a conversation the caller blocks (a stopped terminal)
    // must not hold it.
    req.before_waiting("skgate: approve on your security key (" + ctx.service +
                       (ctx.command.empty() ? "" : ": " + printable(ctx.command, 120)) + ")...");
    CounterStore counters(policy.global().state_directory);
    std::optional<FileLock> key_lock;
    if (up->counter_check != CounterCheck::off) {
        auto l = counters.lock_key(out.key_fp, deadline);
        if (!l && l.error().code == ErrorCode::permission)
            return finish(StepUpResult::error, "counter state: " + l.error().message, unavailable);
        if (!l)
            return finish(StepUpResult::refused, "counter state: " + l.error().message,
                          "another step-up with this key is still waiting");
        key_lock.emplace(std::move(*l));
    }

    auto challenge = stepup_challenge(ctx);
    auto data = challenge ? stepup_signed_data(*challenge) : Result<Bytes>(challenge.error());
    if (!data)
        return finish(StepUpResult::error, data.error().message, "internal error");
    (*agent)->describe(*challenge);
    auto sig = (*agent)->sign(*key, *data);
    if (!sig)
        return finish(StepUpResult::refused, sig.error().message,
                      sig.error().code == ErrorCode::permission
                          ? "the agent refused to sign: denied on the authenticator, or the key "
                            "only signs for its bound destination (ssh-add -h)"
                          : sig.error().message);
    auto v = verify_stepup(*key, *sig, *challenge, *up);
    if (!v)
        return finish(StepUpResult::refused, v.error().message, v.error().message);
    out.flags = v->flags;
    out.counter = v->counter;

    if (up->counter_check != CounterCheck::off) {
        auto c = counters.check_and_store(req.user, out.key_fp, v->counter);
        if (!c)
            return finish(StepUpResult::error, "counter state: " + c.error().message,
                          "cannot check the signature counter");
        if (c->verdict == CounterVerdict::stale) {
            std::string why = "signature counter " + std::to_string(v->counter) + " is not above " +
                              std::to_string(c->stored) +
                              ": replayed signature or cloned authenticator";
            if (up->counter_check == CounterCheck::strict)
                return finish(StepUpResult::refused, why,
                              "signature counter went backwards; possible cloned authenticator");
            out.warnings.push_back(req.user + ": " + why + " (CounterCheck warn)");
        }
    }
    return finish(StepUpResult::approved, "fresh approval", "");
}

}  // namespace skgate
