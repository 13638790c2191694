#include "core/ssh/sign_purpose.h"

#include "core/ssh/sshkey.h"
#include "core/ssh/wire.h"
#include "core/sys/digest.h"
#include "core/sys/sha256.h"

namespace skgate {

namespace {

constexpr uint8_t kUserAuthRequest = 50;
constexpr std::string_view kSshsigMagic = "SSHSIG";
constexpr size_t kMaxName = 256;

Result<std::string> short_text(WireReader& r, const char* what) {
    SKGATE_TRY(s, r.read_cstring());
    if (s.size() > kMaxName)
        return invalid(std::string(what) + " is longer than " + std::to_string(kMaxName));
    for (char c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            return invalid(std::string(what) + " contains control characters");
    return s;
}

Result<SignPurpose> parse_userauth(ByteView data) {
    WireReader r(data);
    SKGATE_TRY(session_id, r.read_string());
    if (session_id.empty() || session_id.size() > 64)
        return invalid("login request: implausible session id length");
    SKGATE_TRY(type, r.read_u8());
    if (type != kUserAuthRequest)
        return invalid("neither a login request nor an SSHSIG");
    SignPurpose p;
    p.kind = SignPurpose::Kind::login;
    SKGATE_TRY(user, short_text(r, "login user"));
    SKGATE_TRY(service, short_text(r, "login service"));
    SKGATE_TRY(method, short_text(r, "login method"));
    bool hostbound = method == "publickey-hostbound-v00@openssh.com";
    if (method != "publickey" && !hostbound)
        return invalid("login method '" + method + "' is not publickey");
    SKGATE_TRY(has_sig, r.read_bool());
    if (!has_sig)
        return invalid("login request without a signature flag");
    SKGATE_TRY(alg, short_text(r, "key algorithm"));
    SKGATE_TRY(key, r.read_string());
    (void)alg;
    (void)key;
    if (hostbound) {
        SKGATE_TRY(host_key, r.read_string());
        auto hk = PublicKey::parse_blob(host_key);
        if (!hk)
            return hk.error().context("login request: server host key");
        p.host_key_fp = hk->fingerprint();
    }
    SKGATE_CHECK(r.expect_end("the login request"));
    p.user = std::move(user);
    p.service = std::move(service);
    return p;
}

// "key=value" lines of a step-up challenge (core/decide/stepup.h).
std::string challenge_field(std::string_view text, std::string_view key) {
    std::string needle = "\n" + std::string(key) + "=";
    size_t at = text.find(needle);
    if (at == std::string_view::npos)
        return "";
    size_t start = at + needle.size();
    size_t end = text.find('\n', start);
    return std::string(text.substr(start, end == std::string_view::npos ? end : end - start));
}

Result<SignPurpose> parse_sshsig(ByteView data, std::string_view context) {
    WireReader r(data.subspan(kSshsigMagic.size()));
    SignPurpose p;
    p.kind = SignPurpose::Kind::sshsig;
    SKGATE_TRY(ns, short_text(r, "SSHSIG namespace"));
    SKGATE_TRY(reserved, r.read_string());
    SKGATE_TRY(hash_alg, short_text(r, "SSHSIG hash"));
    SKGATE_TRY(hash, r.read_string());
    SKGATE_CHECK(r.expect_end("the SSHSIG data"));
    (void)reserved;
    p.sig_namespace = std::move(ns);
    if (context.empty() || p.sig_namespace != "skgate-stepup")
        return p;
    bool matches = false;
    if (hash_alg == "sha512") {
        Sha512 h = sha512(as_bytes(context));
        matches = equal_bytes(h, hash);
    } else if (hash_alg == "sha256") {
        Sha256 h = sha256(as_bytes(context));
        matches = equal_bytes(h, hash);
    }
    if (!matches)
        return invalid("the step-up description does not match what is to be signed");
    p.kind = SignPurpose::Kind::stepup;
    p.user = challenge_field(context, "user");
    p.requester = challenge_field(context, "requester");
    p.host = challenge_field(context, "host");
    p.service = challenge_field(context, "service");
    p.command = challenge_field(context, "command");
    return p;
}

}  // namespace

std::string SignPurpose::describe() const {
    switch (kind) {
        case Kind::login:
            return "log in as '" + user + "'" +
                   (host_key_fp.empty() ? " (server not named by the client)"
                                        : " to the server with host key " + host_key_fp);
        case Kind::stepup:
            return "step-up for '" + user + "'" +
                   (requester.empty() || requester == user ? ""
                                                           : " requested by '" + requester + "'") +
                   " on " + host + " (" + service + ")" + (command.empty() ? "" : ": " + command);
        case Kind::sshsig:
            return "sign data in namespace '" + sig_namespace + "'";
    }
    return "unknown";
}

Result<SignPurpose> describe_signed_data(ByteView data, std::string_view context) {
    if (data.size() >= kSshsigMagic.size() &&
        as_chars(data.first(kSshsigMagic.size())) == kSshsigMagic)
        return parse_sshsig(data, context);
    return parse_userauth(data);
}

}  // namespace skgate
