#include "core/decide/enrollment.h"

#include "core/decide/keylookup.h"
#include "core/fido/attestation.h"
#include "core/ssh/authkeys.h"
#include "core/ssh/ossl.h"
#include "core/store/revocation.h"
#include "core/sys/text.h"
#include "core/sys/timeutil.h"

namespace skgate {

namespace {

Error refusal(const std::string& why) {
    return make_error(ErrorCode::permission, why);
}

}  // namespace

Result<AuthorizedKey> parse_plain_key_line(const std::string& line) {
    auto entry = parse_authorized_key(trim(line));
    if (!entry)
        return invalid("invalid key: " + entry.error().message);
    if (!entry->options.empty())
        return invalid(
            "invalid key: the key line has options; give the plain public key (TYPE BASE64 "
            "[COMMENT]): skgate sets sshd's options from policy");
    if (Status valid = ossl::validate_key(entry->key); !valid)
        return invalid("invalid key: " + valid.error().message);
    return entry;
}

Result<EnrollOutcome> enroll_key(const Policy& policy, const UserPolicy& up,
                                 const EnrollRequest& req) {
    SKGATE_TRY(entry, parse_plain_key_line(req.key_line));
    const PublicKey& key = entry.key;
    if (key.is_certificate())
        return refusal("certificates cannot be enrolled; enroll the key itself");
    if (!key.is_security_key() && up.require_security_key)
        return refusal("this " + std::string(key.plain_type_name()) +
                       " key is not a FIDO2 security key; make one with `ssh-keygen -t ecdsa-sk` "
                       "or `skgate-agent generate` (or set RequireSecurityKey no for this user)");
    if (std::string why = application_refusal(key, up); !why.empty())
        return refusal(why + "; an administrator who trusts that site's passkeys adds it there");
    SKGATE_TRY(revoked, RevocationList::load(policy.global().revoked_keys));
    if (revoked.is_revoked(key))
        return refusal("key " + key.fingerprint() + " is revoked");

    StoredKey stored{.key = key, .comment = entry.comment, .name = req.name, .enrolled = req.now};
    if (stored.name.size() > 64 || has_control_chars(stored.name))
        return invalid("--name must be at most 64 printable characters");
    if (req.expires) {
        auto t = parse_iso8601(*req.expires);
        if (!t)
            return invalid("--expires: " + t.error().message);
        if (*t <= stored.enrolled)
            return invalid("--expires " + *req.expires + " is not in the future");
        stored.expires = *t;
    }
    if (req.attestation.has_value() != req.challenge.has_value())
        return invalid("an attestation and its challenge go together");
    if (req.attestation) {
        auto att = SkAttestation::parse(as_bytes(*req.attestation));
        if (!att)
            return refusal("attestation " + req.attestation_name + ": " + att.error().message);
        auto result = verify_attestation(*att, key, as_bytes(*req.challenge),
                                         policy.global().attestation_roots);
        if (!result)
            return refusal("attestation does not verify: " + result.error().message);
        if (result->format == "none" && up.require_attestation)
            return refusal(
                "RequireAttestation is set, and this key's attestation is \"none\": the "
                "authenticator made no statement about itself (synced passkeys never do). Use a "
                "key whose authenticator attests (a hardware key, or a passkey created with "
                "attestation), or set RequireAttestation no for this user");
        // "none" vouches for nothing, so nothing is recorded: a store read
        // by an older skgate-keys, which counts any recorded attestation,
        // must not see one.
        if (result->format != "none") {
            stored.attestation = result->format;
            stored.aaguid = result->aaguid;
            stored.uv = result->user_verified;
            stored.chained = result->chained;
        }
    } else if (up.require_attestation) {
        return refusal(
            "RequireAttestation is set: give --attestation FILE --challenge FILE as written by "
            "`ssh-keygen -O write-attestation=FILE -O challenge=FILE`");
    }
    if (std::string why = authenticator_refusal(&stored, up); !why.empty())
        return refusal(why);
    KeyStore store(policy.global().keys_directory);
    SKGATE_TRY(current, store.load(req.user));
    for (const auto& k : current.keys) {
        if (k.key.same_key(stored.key) && k.name == stored.name && k.expires == stored.expires)
            return EnrollOutcome{k, true};
    }
    if (req.dry_run)
        return EnrollOutcome{stored, false};
    if (Status added = store.add(req.user, stored); !added)
        return refusal(added.error().message);
    return EnrollOutcome{stored, false};
}

}  // namespace skgate
