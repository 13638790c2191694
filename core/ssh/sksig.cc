#include "core/ssh/sksig.h"

#include <openssl/evp.h>

#include "core/ssh/ossl.h"
#include "core/ssh/wire.h"
#include "core/sys/base64.h"
#include "core/sys/sha256.h"
#include "core/sys/text.h"

namespace skgate {

namespace {

constexpr std::string_view kEcdsaName = "sk-ecdsa-sha2-nistp256@openssh.com";
constexpr std::string_view kWebauthnName = "webauthn-sk-ecdsa-sha2-nistp256@openssh.com";
constexpr std::string_view kEd25519Name = "sk-ssh-ed25519@openssh.com";

// Big-endian magnitude comparison, both minimal.
int compare_magnitude(ByteView a, ByteView b) {
    if (a.size() != b.size())
        return a.size() < b.size() ? -1 : 1;
    for (size_t i = 0; i < a.size(); i++) {
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    }
    return 0;
}

Status check_scalar(ByteView v, ByteView order, std::string_view name) {
    if (v.empty())
        return invalid("ECDSA signature " + std::string(name) + " is zero");
    if (compare_magnitude(v, order) >= 0)
        return invalid("ECDSA signature " + std::string(name) + " is not below the curve order");
    return {};
}

Result<SkSignature> parse_ecdsa_inner(SkSignature sig, ByteView inner) {
    WireReader r(inner);
    auto sr = r.read_mpint();
    if (!sr)
        return sr.error().context("ECDSA signature r");
    auto ss = r.read_mpint();
    if (!ss)
        return ss.error().context("ECDSA signature s");
    SKGATE_CHECK(r.expect_end("the ECDSA r and s values"));
    static const Bytes order = [] {
        auto o = ossl::ec_curve_order("P-256");
        return o ? *o : Bytes{};
    }();
    if (order.empty())
        return make_error(ErrorCode::crypto, "cannot obtain the P-256 curve order");
    SKGATE_CHECK(check_scalar(*sr, order, "r"));
    SKGATE_CHECK(check_scalar(*ss, order, "s"));
    sig.r = to_bytes(*sr);
    sig.s = to_bytes(*ss);
    return sig;
}

// webauthn signs authenticatorData || SHA256(clientDataJSON); OpenSSH checks
// that clientDataJSON starts with the fields it expects, carrying the data as
// the base64url challenge, instead of parsing JSON.
Result<Sha256> webauthn_client_data_hash(const SkSignature& sig, ByteView data) {
    if (sig.webauthn_origin.find('"') != std::string::npos)
        return invalid("webauthn origin contains a quote character");
    if (sig.flags & kSkFlagAttestedData)
        return invalid("webauthn signature has the attested-data flag set");
    bool ed = (sig.flags & kSkFlagExtensionData) != 0;
    if (ed != !sig.webauthn_extensions.empty())
        return invalid("webauthn extension flag does not match the extension data");
    std::string expected = R"({"type":"webauthn.get","challenge":")" +
                           base64url_encode_unpadded(data) + R"(","origin":")" +
                           sig.webauthn_origin + "\"";
    ByteView cd = sig.webauthn_client_data;
    if (cd.size() < expected.size() || !equal_bytes(cd.first(expected.size()), as_bytes(expected)))
        return invalid("webauthn clientData does not carry this challenge and origin");
    return sha256(cd);
}

}  // namespace

std::string_view SkSignature::type_name() const {
    switch (type) {
        case SkSignatureType::ecdsa:
            return kEcdsaName;
        case SkSignatureType::webauthn_ecdsa:
            return kWebauthnName;
        case SkSignatureType::ed25519:
            return kEd25519Name;
    }
    return {};
}

Result<SkSignature> SkSignature::parse(ByteView blob) {
    WireReader r(blob);
    auto name = r.read_cstring();
    if (!name)
        return name.error().context("signature type");
    SkSignature sig;
    if (*name == kEcdsaName)
        sig.type = SkSignatureType::ecdsa;
    else if (*name == kWebauthnName)
        sig.type = SkSignatureType::webauthn_ecdsa;
    else if (*name == kEd25519Name)
        sig.type = SkSignatureType::ed25519;
    else
        return invalid("\"" + printable(*name) + "\" is not a security-key signature type");

    auto inner = r.read_string();
    if (!inner)
        return inner.error().context("signature value");
    auto flags = r.read_u8();
    if (!flags)
        return flags.error().context("signature flags");
    auto counter = r.read_u32();
    if (!counter)
        return counter.error().context("signature counter");
    sig.flags = *flags;
    sig.counter = *counter;

    if (sig.type == SkSignatureType::webauthn_ecdsa) {
        auto origin = r.read_cstring();
        if (!origin)
            return origin.error().context("webauthn origin");
        auto client_data = r.read_string();
        if (!client_data)
            return client_data.error().context("webauthn clientData");
        auto extensions = r.read_string();
        if (!extensions)
            return extensions.error().context("webauthn extensions");
        if (origin->size() > kMaxWebauthnFieldBytes ||
            client_data->size() > kMaxWebauthnFieldBytes ||
            extensions->size() > kMaxWebauthnFieldBytes)
            return invalid("webauthn fields are larger than " +
                           std::to_string(kMaxWebauthnFieldBytes) + " bytes");
        sig.webauthn_origin = std::move(*origin);
        sig.webauthn_client_data = to_bytes(*client_data);
        sig.webauthn_extensions = to_bytes(*extensions);
    }
    SKGATE_CHECK(r.expect_end("the signature"));

    if (sig.type == SkSignatureType::ed25519) {
        if (inner->size() != 64)
            return invalid("Ed25519 signature is " + std::to_string(inner->size()) +
                           " bytes, expected 64");
        sig.ed25519 = to_bytes(*inner);
        return sig;
    }
    return parse_ecdsa_inner(std::move(sig), *inner);
}

Bytes sk_signed_message(std::string_view application, uint8_t flags, uint32_t counter,
                        ByteView data) {
    WireWriter w;
    w.put_raw(sha256(as_bytes(application)));
    w.put_u8(flags);
    w.put_u32(counter);
    w.put_raw(sha256(data));
    return std::move(w).take();
}

Result<SkVerified> verify_sk_signature(const PublicKey& key, ByteView sig_blob, ByteView data) {
    if (!key.is_security_key())
        return invalid("a " + std::string(key.plain_type_name()) +
                       " key is not a FIDO2 security key");
    SKGATE_TRY(sig, SkSignature::parse(sig_blob));
    bool ecdsa_key = key.algorithm() == KeyAlgorithm::sk_ecdsa_p256;
    if (ecdsa_key == (sig.type == SkSignatureType::ed25519))
        return invalid("signature type " + std::string(sig.type_name()) +
                       " does not match key type " + std::string(key.plain_type_name()));
    SKGATE_TRY(pkey, ossl::public_key(key));

    Result<bool> ok = false;
    if (sig.type == SkSignatureType::ed25519) {
        Bytes msg = sk_signed_message(key.application(), sig.flags, sig.counter, data);
        ok = ossl::verify_ed25519(pkey.get(), sig.ed25519, msg);
    } else {
        WireWriter w;
        w.put_raw(sha256(as_bytes(key.application())));
        w.put_u8(sig.flags);
        w.put_u32(sig.counter);
        if (sig.type == SkSignatureType::webauthn_ecdsa) {
            SKGATE_TRY(cd_hash, webauthn_client_data_hash(sig, data));
            w.put_raw(sig.webauthn_extensions);
            w.put_raw(cd_hash);
        } else {
            w.put_raw(sha256(data));
        }
        ok = ossl::verify_ecdsa(pkey.get(), EVP_sha256(), sig.r, sig.s, w.bytes());
    }
    if (!ok)
        return ok.error();
    if (!*ok)
        return invalid("signature does not verify with key " + key.fingerprint());
    return SkVerified{sig.flags, sig.counter};
}

Status check_webauthn_page(const PublicKey& key, ByteView sig_blob) {
    SKGATE_TRY(sig, SkSignature::parse(sig_blob));
    if (sig.type != SkSignatureType::webauthn_ecdsa)
        return {};
    std::string_view origin = sig.webauthn_origin;
    bool https = origin.substr(0, 8) == "https://";
    if (!https && origin.substr(0, 7) != "http://")
        return invalid("webauthn origin \"" + printable(origin) + "\" is not an http(s) page");
    std::string_view host = origin.substr(https ? 8 : 7);
    if (size_t colon = host.find(':'); colon != std::string_view::npos) {
        std::string_view port = host.substr(colon + 1);
        if (port.empty() || port.size() > 5 ||
            port.find_first_not_of("0123456789") != std::string_view::npos)
            return invalid("webauthn origin \"" + printable(origin) + "\" has a malformed port");
        host = host.substr(0, colon);
    }
    const std::string& rp = key.application();
    bool under_rp = host == rp || (host.size() > rp.size() + 1 && host.ends_with(rp) &&
                                   host[host.size() - rp.size() - 1] == '.');
    if (!under_rp)
        return invalid("webauthn origin \"" + printable(origin) + "\" is not a page of " +
                       printable(rp));
    if (!https && host != "localhost")
        return invalid("webauthn origin \"" + printable(origin) + "\" is plain http");
    std::string_view cd = as_chars(sig.webauthn_client_data);
    if (cd.find(R"("crossOrigin":true)") != std::string_view::npos ||
        cd.find(R"("topOrigin")") != std::string_view::npos)
        return invalid("webauthn signature from a page framed by another site");
    return {};
}

Result<Bytes> encode_sk_signature(KeyAlgorithm alg, ByteView signature, uint8_t flags,
                                  uint32_t counter) {
    WireWriter w;
    if (alg == KeyAlgorithm::sk_ed25519) {
        if (signature.size() != 64)
            return invalid("Ed25519 signature must be 64 bytes");
        w.put_string("sk-ssh-ed25519@openssh.com");
        w.put_string(signature);
    } else if (alg == KeyAlgorithm::sk_ecdsa_p256) {
        SKGATE_TRY(rs, ossl::ecdsa_der_to_rs(signature));
        WireWriter inner;
        inner.put_mpint(rs.first);
        inner.put_mpint(rs.second);
        w.put_string("sk-ecdsa-sha2-nistp256@openssh.com");
        w.put_string(inner.bytes());
    } else {
        return invalid("not a security-key algorithm");
    }
    w.put_u8(flags);
    w.put_u32(counter);
    return std::move(w).take();
}

}  // namespace skgate
