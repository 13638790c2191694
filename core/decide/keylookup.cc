#include "core/decide/keylookup.h"

#include <unistd.h>

#include <algorithm>

#include "core/sys/match.h"
#include "core/sys/monotonic.h"
#include "core/sys/privileges.h"
#include "core/sys/text.h"

namespace skgate {

namespace {

std::optional<std::time_t> effective_expiry(const CandidateKey& c, const UserPolicy& p) {
    std::optional<std::time_t> t;
    auto earliest = [&](std::time_t v) {
        if (!t || v < *t)
            t = v;
    };
    if (c.stored) {
        if (c.stored->expires)
            earliest(*c.stored->expires);
        if (p.key_max_age_seconds)
            earliest(c.stored->enrolled + *p.key_max_age_seconds);
    }
    if (auto o = interpret_sshd_options(c.user_options); o && o->expiry_time)
        earliest(*o->expiry_time);
    return t;
}

bool has_option(const KeyOptions& opts, std::string_view name) {
    return std::any_of(opts.begin(), opts.end(),
                       [&](const KeyOption& o) { return o.name == name; });
}

// The line sshd would have read without skgate (audit mode): the user's
// own file's, or the chained command's, as written.
Result<std::string> unchanged_line(const CandidateKey& c, const UserPolicy& p) {
    if (c.source != KeySource::authorized_keys && c.source != KeySource::command)
        return enforcing_line(c, p);
    return format_authorized_key({c.user_options, c.key, c.comment});
}

// The outage decision and cache age belong in the event itself: an
// administrator reading it must see that keys came from a stale cache.
void add_remote_status(AuditEvent& e, const LookupResult& r) {
    for (const auto& s : r.remote) {
        e.sources += (e.sources.empty() ? "" : "; ") + s.describe();
        if (s.state == SourceState::cached || s.state == SourceState::fresh) {
            if (s.cache_age && (!e.cache_age || *s.cache_age > *e.cache_age))
                e.cache_age = s.cache_age;
        }
        if (s.state == SourceState::cached || s.state == SourceState::denied)
            e.message += " [" + s.describe() + "]";
    }
}

}  // namespace

uint64_t lookup_deadline(const Policy& policy, uint64_t started_us) {
    return (started_us ? started_us : monotonic_us()) +
           static_cast<uint64_t>(policy.global().remote.timeout_seconds) * 1'000'000;
}

std::vector<std::string> LookupResult::lines() const {
    std::vector<std::string> out;
    for (const auto& v : verdicts) {
        if (!v.line.empty())
            out.push_back(v.line);
    }
    return out;
}

std::string refusal_reason(const CandidateKey& c, const UserPolicy& p, bool break_glass,
                           const RevocationList& revoked, std::time_t now) {
    if (revoked.is_revoked(c.key))
        return "key is revoked";
    if (c.key.is_certificate())
        return "certificates are not accepted";
    if (auto exp = effective_expiry(c, p); exp && *exp <= now)
        return "key expired";
    // Which relying parties count is not about losing an authenticator:
    // break-glass accounts too.
    if (std::string why = application_refusal(c.key, p); !why.empty())
        return why;
    // Break-glass accounts may log in without a security key so that losing
    // every authenticator does not lock the administrator out.
    if (break_glass)
        return {};
    if (c.outside_key_sources)
        return "only in the user's own authorized_keys, which is not in KeySources";
    if (p.require_security_key && !c.key.is_security_key())
        return "not a security key (" + std::string(c.key.plain_type_name()) + ")";
    // "none" is a passkey saying it has no statement: nothing was verified.
    bool attested = c.stored && !c.stored->attestation.empty() && c.stored->attestation != "none";
    if (p.require_attestation && !attested)
        return "no verified attestation";
    return authenticator_refusal(c.stored ? &*c.stored : nullptr, p);
}

std::string application_refusal(const PublicKey& key, const UserPolicy& p) {
    if (!key.is_security_key())
        return {};
    std::string list;
    for (const auto& pattern : p.allowed_applications)
        list += (list.empty() ? "" : ",") + pattern;
    if (match_pattern_list(key.application(), list) == ListMatch::match)
        return {};
    return "application \"" + printable(key.application()) + "\" is not in AllowedApplications (" +
           list + ")";
}

std::string authenticator_refusal(const StoredKey* stored, const UserPolicy& p) {
    if (p.allowed_authenticators.empty())
        return {};
    bool vouched = stored && stored->chained && stored->attestation != "packed-self" &&
                   !stored->aaguid.empty();
    if (vouched && std::find(p.allowed_authenticators.begin(), p.allowed_authenticators.end(),
                             stored->aaguid) != p.allowed_authenticators.end())
        return {};
    std::string which = vouched ? stored->aaguid
                        : !stored || stored->attestation.empty() || stored->attestation == "none"
                            ? std::string("(no attestation)")
                        : stored->attestation == "packed-self"
                            ? std::string("(self-attested: its AAGUID is its own claim)")
                            : std::string(
                                  "(attestation not verified against AttestationRoots; "
                                  "re-enroll with it)");
    return "authenticator " + which + " is not in AllowedAuthenticators";
}

Result<std::string> enforcing_line(const CandidateKey& c, const UserPolicy& p) {
    KeyOptions opts;
    for (const auto& o : sanitize_user_options(c.user_options, nullptr)) {
        if (o.name != "expiry-time")
            opts.push_back(o);
    }
    if (c.key.is_security_key()) {
        if (!p.touch_required)
            opts.push_back({"no-touch-required", std::nullopt});
        if (p.verify_required && !has_option(opts, "verify-required"))
            opts.push_back({"verify-required", std::nullopt});
    }
    if (auto exp = effective_expiry(c, p))
        opts.push_back({"expiry-time", format_expiry_time(*exp)});
    return format_authorized_key({opts, c.key, c.comment});
}

KeyVerdict decide_key(CandidateKey c, const UserPolicy& user_policy, bool break_glass,
                      const RevocationList& revoked, std::time_t now, std::string* warning) {
    std::string reason = refusal_reason(c, user_policy, break_glass, revoked, now);
    Decision decision = Decision::deny;
    Result<std::string> line = std::string();
    if (reason.empty()) {
        decision = Decision::allow;
        reason = break_glass && !c.key.is_security_key() ? "break-glass user" : "policy allows";
        line = user_policy.mode == Mode::audit ? unchanged_line(c, user_policy)
                                               : enforcing_line(c, user_policy);
    } else if (user_policy.mode == Mode::audit && !revoked.is_revoked(c.key)) {
        // Audit mode changes nothing sshd does, except for revoked keys:
        // an administrator who revoked a key never wants it back.
        decision = Decision::would_deny;
        line = unchanged_line(c, user_policy);
    }
    if (!line) {
        if (warning)
            *warning = c.origin + ": cannot be written for sshd: " + line.error().message;
        decision = Decision::deny;
        reason = "key line cannot be represented safely";
        line = std::string();
    }
    return {std::move(c), decision, std::move(reason), std::move(*line)};
}

Result<LookupResult> lookup_keys(const Policy& policy, const LookupRequest& req) {
    LookupResult out;
    out.user = req.user;
    auto evaluated = policy.for_user({req.user, [&] { return req.groups_lookup(req.user); }});
    // A Match Group needs the user's groups, and a user who does not exist
    // has none: that is an answer (no keys), not a failure.
    if (!evaluated && evaluated.error().code == ErrorCode::not_found) {
        out.no_keys_reason = "no such user " + req.user;
        return out;
    }
    if (!evaluated)
        return evaluated.error();
    const UserPolicy& user_policy = *evaluated;
    out.mode = user_policy.mode;
    SKGATE_TRY(revoked, RevocationList::load(policy.global().revoked_keys));
    bool break_glass = policy.is_break_glass(req.user);

    // The user's own files, read at most once. The account is looked up only
    // then: sshd asks only about users that exist, and NSS is the slowest
    // part of a local lookup.
    std::optional<UserKeyFiles> read_here;
    auto users_files = [&]() -> Result<const UserKeyFiles*> {
        if (req.user_files)
            return &*req.user_files;
        if (read_here)
            return &*read_here;
        auto account = req.account_lookup(req.user);
        if (!account) {
            if (account.error().code != ErrorCode::not_found)
                return account.error();
            read_here = UserKeyFiles{};
            read_here->warnings.push_back(account.error().message +
                                          "; the user's authorized_keys files skipped");
            return &*read_here;
        }
        // Root (pam_skgate inside sshd or sudo) reads them as the user, as
        // sshd does: never through a path the user pointed somewhere only
        // root can see.
        auto read = [&] { read_here = read_user_key_files(*account, req.user_file_patterns); };
        if (geteuid() == 0 && account->uid != 0)
            SKGATE_CHECK(with_file_identity_of(*account, read));
        else
            read();
        return &*read_here;
    };

    std::vector<CandidateKey> candidates;
    KeyStore store(policy.global().keys_directory);
    RemoteAccess remote = req.remote;
    remote.now = req.now;
    remote.deadline_us = lookup_deadline(policy, req.started_us);
    for (KeySource src : user_policy.key_sources) {
        SourceResult r;
        if (src == KeySource::local) {
            SKGATE_TRY(s, keys_from_store(store, req.user));
            r = std::move(s);
        } else if (src == KeySource::authorized_keys) {
            SKGATE_TRY(own, users_files());
            r = keys_from_user_key_files(*own);
        } else if (src == KeySource::command) {
            auto command_result = keys_from_command(policy, req.user, req.keys_command, req.now);
            r = std::move(command_result.keys);
            out.remote.push_back(std::move(command_result.status));
        } else {
            auto remote_result = keys_from_remote(policy, src, req.user, remote);
            r = std::move(remote_result.keys);
            out.remote.push_back(std::move(remote_result.status));
        }
        out.warnings.insert(out.warnings.end(), r.warnings.begin(), r.warnings.end());
        for (auto& k : r.keys)
            candidates.push_back(std::move(k));
    }

    // sshd reads no AuthorizedKeysFile with skgate (DESIGN.md, "One decision
    // point"): the keys it would have read are decided here too, so that
    // audit mode records them and break-glass users keep them.
    bool from_sources = std::find(user_policy.key_sources.begin(), user_policy.key_sources.end(),
                                  KeySource::authorized_keys) != user_policy.key_sources.end();
    if (!from_sources && (out.mode == Mode::audit || break_glass)) {
        SKGATE_TRY(own, users_files());
        SourceResult r = keys_from_user_key_files(*own);
        out.warnings.insert(out.warnings.end(), r.warnings.begin(), r.warnings.end());
        for (auto& k : r.keys) {
            k.outside_key_sources = true;
            candidates.push_back(std::move(k));
        }
    }

    for (auto& c : candidates) {
        if (req.offered && !c.key.same_key(*req.offered))
            continue;
        std::string warning;
        out.verdicts.push_back(
            decide_key(std::move(c), user_policy, break_glass, revoked, req.now, &warning));
        if (!warning.empty())
            out.warnings.push_back(std::move(warning));
        if (req.offered && !out.verdicts.back().line.empty())
            break;  // sshd needs one matching line
    }
    if (out.verdicts.empty())
        out.no_keys_reason =
            req.offered ? "key is not enrolled for " + req.user : "no keys for " + req.user;
    return out;
}

AuditEvent lookup_audit_event(const LookupResult& r, const LookupRequest& req,
                              uint64_t latency_us) {
    AuditEvent e;
    e.event = "keys-lookup";
    e.user = req.user;
    e.latency_us = latency_us;
    if (req.offered) {
        e.key_fp = req.offered->fingerprint();
        e.key_type = req.offered->type_name();
    }
    const KeyVerdict* printed = nullptr;
    size_t allowed = 0, refused = 0, would = 0;
    std::string refusals;
    for (const auto& v : r.verdicts) {
        if (!v.line.empty() && !printed)
            printed = &v;
        if (v.decision == Decision::allow) {
            allowed++;
        } else {
            (v.decision == Decision::would_deny ? would : refused)++;
            if (!refusals.empty())
                refusals += "; ";
            refusals += v.candidate.key.fingerprint() + ": " + v.reason;
        }
    }
    if (req.offered) {
        const KeyVerdict* v =
            printed ? printed : (r.verdicts.empty() ? nullptr : &r.verdicts.front());
        if (!v) {
            e.decision = Decision::deny;
            e.reason = r.no_keys_reason;
        } else {
            e.decision = v->decision;
            e.reason = v->reason;
            e.source = std::string(to_string(v->candidate.source));
        }
        e.message = req.user + ": key " + e.key_fp + " " + std::string(to_string(e.decision)) +
                    " (" + e.reason + ")";
        add_remote_status(e, r);
        return e;
    }
    e.decision = would ? Decision::would_deny : allowed ? Decision::allow : Decision::deny;
    if (r.verdicts.empty())
        e.reason = r.no_keys_reason;
    else
        e.reason = std::to_string(allowed) + " allowed, " + std::to_string(refused) + " refused" +
                   (would ? ", " + std::to_string(would) + " would be refused" : "") +
                   (refusals.empty() ? "" : ": " + refusals);
    e.message = req.user + ": " + e.reason;
    add_remote_status(e, r);
    return e;
}

}  // namespace skgate
