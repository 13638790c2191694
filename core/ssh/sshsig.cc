#include "core/ssh/sshsig.h"

#include "core/ssh/wire.h"
#include "core/sys/base64.h"
#include "core/sys/digest.h"
#include "core/sys/sha256.h"
#include "core/sys/text.h"

namespace skgate {

namespace {

constexpr std::string_view kMagic = "SSHSIG";
constexpr uint32_t kVersion = 1;
constexpr std::string_view kBegin = "-----BEGIN SSH SIGNATURE-----";
constexpr std::string_view kEnd = "-----END SSH SIGNATURE-----";

Status check_namespace(std::string_view ns) {
    if (ns.empty())
        return invalid("SSHSIG namespace is empty");
    if (has_control_chars(ns))
        return invalid("SSHSIG namespace contains control characters");
    return {};
}

Status check_hash_alg(std::string_view alg) {
    if (alg != "sha256" && alg != "sha512")
        return invalid("SSHSIG hash algorithm \"" + printable(alg) +
                       "\" is not supported (sha256 or sha512)");
    return {};
}

}  // namespace

Result<SshSig> SshSig::parse(ByteView blob) {
    if (blob.size() > kMaxSshsigBytes)
        return invalid("SSHSIG is larger than " + std::to_string(kMaxSshsigBytes) + " bytes");
    WireReader r(blob);
    auto magic = r.read_bytes(kMagic.size());
    if (!magic || !equal_bytes(*magic, as_bytes(kMagic)))
        return invalid("not an SSHSIG signature (missing SSHSIG preamble)");
    SKGATE_TRY(version, r.read_u32());
    if (version != kVersion)
        return invalid("SSHSIG version " + std::to_string(version) + " is not supported");
    auto key_blob = r.read_string();
    if (!key_blob)
        return key_blob.error().context("SSHSIG public key");
    auto key = PublicKey::parse_blob(*key_blob);
    if (!key)
        return key.error().context("SSHSIG public key");
    auto ns = r.read_cstring();
    if (!ns)
        return ns.error().context("SSHSIG namespace");
    auto reserved = r.read_string();
    if (!reserved)
        return reserved.error().context("SSHSIG reserved field");
    auto hash_alg = r.read_cstring();
    if (!hash_alg)
        return hash_alg.error().context("SSHSIG hash algorithm");
    auto signature = r.read_string();
    if (!signature)
        return signature.error().context("SSHSIG signature");
    SKGATE_CHECK(r.expect_end("the SSHSIG signature"));
    SKGATE_CHECK(check_namespace(*ns));
    SKGATE_CHECK(check_hash_alg(*hash_alg));
    return SshSig{std::move(*key), std::move(*ns), std::move(*hash_alg), to_bytes(*signature)};
}

Result<SshSig> SshSig::parse_armored(std::string_view text) {
    if (text.size() > kMaxSshsigBytes * 2)
        return invalid("armored SSHSIG is too large");
    size_t begin = text.find(kBegin);
    if (begin == std::string_view::npos)
        return invalid("no \"" + std::string(kBegin) + "\" line");
    size_t body = begin + kBegin.size();
    size_t end = text.find(kEnd, body);
    if (end == std::string_view::npos)
        return invalid("no \"" + std::string(kEnd) + "\" line");
    if (!trim(text.substr(0, begin)).empty() || !trim(text.substr(end + kEnd.size())).empty())
        return invalid("unexpected text outside the SSH SIGNATURE armor");
    std::string b64;
    for (char c : text.substr(body, end - body)) {
        if (c == '\n' || c == '\r')
            continue;
        b64 += c;
    }
    auto blob = base64_decode(b64);
    if (!blob)
        return blob.error().context("SSHSIG armor");
    return parse(*blob);
}

Bytes SshSig::serialize() const {
    WireWriter w;
    w.put_raw(as_bytes(kMagic));
    w.put_u32(kVersion);
    w.put_string(key.blob());
    w.put_string(ns);
    w.put_string(std::string_view{});
    w.put_string(hash_alg);
    w.put_string(signature);
    return std::move(w).take();
}

std::string sshsig_armor(ByteView blob) {
    std::string b64 = base64_encode(blob);
    std::string out(kBegin);
    out += '\n';
    for (size_t i = 0; i < b64.size(); i += 70) {
        out += b64.substr(i, 70);
        out += '\n';
    }
    out += kEnd;
    out += '\n';
    return out;
}

Result<Bytes> sshsig_signed_data(std::string_view ns, std::string_view hash_alg, ByteView message) {
    SKGATE_CHECK(check_namespace(ns));
    SKGATE_CHECK(check_hash_alg(hash_alg));
    WireWriter w;
    w.put_raw(as_bytes(kMagic));
    w.put_string(ns);
    w.put_string(std::string_view{});
    w.put_string(hash_alg);
    if (hash_alg == "sha256")
        w.put_string(sha256(message));
    else
        w.put_string(sha512(message));
    return std::move(w).take();
}

Result<SkVerified> sshsig_verify(const SshSig& sig, ByteView message,
                                 std::string_view expected_ns) {
    if (sig.ns != expected_ns)
        return invalid("SSHSIG namespace \"" + printable(sig.ns) + "\" is not the expected \"" +
                       std::string(expected_ns) + "\"");
    SKGATE_TRY(signed_data, sshsig_signed_data(sig.ns, sig.hash_alg, message));
    return verify_sk_signature(sig.key, sig.signature, signed_data);
}

}  // namespace skgate
