#include "core/decide/stepup.h"

#include <sys/random.h>

#include <cerrno>

#include "core/ssh/sshsig.h"
#include "core/sys/text.h"
#include "core/sys/timeutil.h"

namespace skgate {

namespace {

// One line of the challenge: control characters replaced, and a value cut
// at 512 bytes says so, so the authenticator never shows a shortened
// command as if it were whole.
std::string field(std::string_view v) {
    constexpr size_t kMax = 512;
    std::string out;
    for (char c : v.substr(0, kMax)) {
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7f) ? '?' : c;
    }
    if (v.size() > kMax)
        out += " [truncated]";
    return out;
}

}  // namespace

Result<std::string> stepup_challenge(const StepUpContext& ctx) {
    uint8_t nonce[kStepUpNonceBytes];
    size_t got = 0;
    while (got < sizeof nonce) {
        ssize_t n = getrandom(nonce + got, sizeof nonce - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return make_error(ErrorCode::internal, "no randomness for the step-up nonce");
        got += static_cast<size_t>(n);
    }
    const std::string nonce_hex = hex_encode(ByteView(nonce, sizeof nonce));
    return "skgate step-up v1\nnonce=" + nonce_hex + "\nhost=" + field(ctx.host) +
           "\nuser=" + field(ctx.user) + "\nrequester=" + field(ctx.requester) +
           "\nservice=" + field(ctx.service) + "\ncommand=" + field(ctx.command) +
           "\ntime=" + format_iso8601(ctx.now) + "\n";
}

Result<Bytes> stepup_signed_data(const std::string& challenge) {
    return sshsig_signed_data(kStepUpNamespace, kStepUpHash, as_bytes(challenge));
}

Result<SkVerified> verify_stepup(const PublicKey& key, ByteView signature,
                                 const std::string& challenge, const UserPolicy& policy) {
    SKGATE_TRY(signed_data, stepup_signed_data(challenge));
    SKGATE_TRY(v, verify_sk_signature(key, signature, signed_data));
    SKGATE_CHECK(check_webauthn_page(key, signature));
    if (policy.touch_required && !v.user_present())
        return invalid("user presence missing: the authenticator was not touched or approved");
    if (policy.verify_required && !v.user_verified())
        return invalid("user verification required: approve with your PIN or biometric");
    return v;
}

}  // namespace skgate
