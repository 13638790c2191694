#include "core/fido/webauthn.h"

#include <cbor.h>

#include "core/fido/cbor_item.h"
#include "core/ssh/ossl.h"
#include "core/ssh/sksig.h"
#include "core/ssh/wire.h"
#include "core/sys/base64.h"
#include "core/sys/sha256.h"
#include "core/sys/text.h"

namespace skgate {

namespace {

constexpr int64_t kCoseEs256 = -7;

Status check_size(ByteView b, const char* what) {
    if (b.empty())
        return invalid(std::string(what) + " is empty");
    if (b.size() > kMaxWebauthnAnswerBytes)
        return invalid(std::string(what) + " is larger than " +
                       std::to_string(kMaxWebauthnAnswerBytes) + " bytes");
    return {};
}

// The WebAuthn "limited verification" of clientDataJSON (its section
// 5.8.1.1 fixes the order of the first members, and OpenSSH checks the same
// prefix): the type, our challenge and our origin, and never a frame of
// another site.
Status check_client_data(ByteView client_data, std::string_view type, ByteView challenge,
                         const WebauthnOrigin& where) {
    SKGATE_CHECK(check_size(client_data, "clientDataJSON"));
    if (where.origin.find('"') != std::string::npos || where.origin.find('\\') != std::string::npos)
        return invalid("the page's origin contains a quote or backslash");
    std::string expected = R"({"type":")" + std::string(type) + R"(","challenge":")" +
                           base64url_encode_unpadded(challenge) + R"(","origin":")" + where.origin +
                           "\"";
    std::string_view cd = as_chars(client_data);
    if (cd.substr(0, expected.size()) != expected) {
        std::string type_member = R"({"type":")" + std::string(type) + "\"";
        if (cd.substr(0, type_member.size()) != type_member)
            return invalid("clientDataJSON is not a " + std::string(type) + " answer");
        return invalid("clientDataJSON is for another challenge or origin than " + where.origin);
    }
    std::string_view rest = cd.substr(expected.size());
    if (rest.empty() || (rest.front() != ',' && rest.front() != '}'))
        return invalid("clientDataJSON's origin does not end where " + where.origin + " does");
    if (rest.find(R"("crossOrigin":true)") != std::string_view::npos)
        return invalid("clientDataJSON says the page was framed by another site (crossOrigin)");
    return {};
}

Result<std::string> text_of(const cbor_item_t* i) {
    if (!cbor_isa_string(i) || !cbor_string_is_definite(i))
        return invalid("a map key is not a definite text string");
    return std::string(reinterpret_cast<const char*>(cbor_string_handle(i)), cbor_string_length(i));
}

Result<Bytes> bytes_of(const cbor_item_t* i, const char* what) {
    if (!cbor_isa_bytestring(i) || !cbor_bytestring_is_definite(i))
        return invalid(std::string(what) + " is not a definite byte string");
    return Bytes(cbor_bytestring_handle(i), cbor_bytestring_handle(i) + cbor_bytestring_length(i));
}

struct AttestationObject {
    std::string fmt;
    Bytes auth_data;
    Bytes signature;
    Bytes certificate;  // x5c[0], the attestation certificate
    bool has_alg = false;
    int64_t alg = 0;
};

Status read_statement(const cbor_item_t* stmt, AttestationObject& out) {
    if (!cbor_isa_map(stmt) || !cbor_map_is_definite(stmt))
        return invalid("attStmt is not a map");
    const cbor_pair* pairs = cbor_map_handle(stmt);
    for (size_t i = 0; i < cbor_map_size(stmt); i++) {
        SKGATE_TRY(key, text_of(pairs[i].key));
        const cbor_item_t* v = pairs[i].value;
        if (key == "alg") {
            if (!cbor_isa_negint(v) || cbor_get_int(v) > 0xffff)
                return invalid("attStmt alg is not a COSE algorithm number");
            out.has_alg = true;
            out.alg = -1 - static_cast<int64_t>(cbor_get_int(v));
        } else if (key == "sig") {
            SKGATE_TRY(sig, bytes_of(v, "attStmt sig"));
            out.signature = std::move(sig);
        } else if (key == "x5c") {
            if (!cbor_isa_array(v) || !cbor_array_is_definite(v) || cbor_array_size(v) == 0)
                return invalid("attStmt x5c is not a non-empty array");
            SKGATE_TRY(cert, bytes_of(cbor_array_handle(v)[0], "attStmt x5c[0]"));
            out.certificate = std::move(cert);
        }
        // Other members (ecdaaKeyId, a format's own) are not used.
    }
    return {};
}

Result<AttestationObject> read_attestation_object(ByteView in) {
    SKGATE_CHECK(check_size(in, "attestationObject"));
    size_t used = 0;
    SKGATE_TRY(item, cbor::load(in, &used));
    if (used != in.size())
        return invalid("trailing bytes after the attestationObject");
    const cbor_item_t* map = item.get();
    if (!cbor_isa_map(map) || !cbor_map_is_definite(map))
        return invalid("attestationObject is not a CBOR map");
    AttestationObject out;
    bool has_fmt = false, has_auth_data = false, has_stmt = false;
    const cbor_pair* pairs = cbor_map_handle(map);
    for (size_t i = 0; i < cbor_map_size(map); i++) {
        SKGATE_TRY(key, text_of(pairs[i].key));
        const cbor_item_t* v = pairs[i].value;
        if (key == "fmt" && !has_fmt) {
            SKGATE_TRY(fmt, text_of(v));
            out.fmt = std::move(fmt);
            has_fmt = true;
        } else if (key == "authData" && !has_auth_data) {
            SKGATE_TRY(ad, bytes_of(v, "authData"));
            out.auth_data = std::move(ad);
            has_auth_data = true;
        } else if (key == "attStmt" && !has_stmt) {
            SKGATE_CHECK(read_statement(v, out));
            has_stmt = true;
        } else {
            return invalid("attestationObject has an unexpected or repeated member \"" +
                           printable(key) + "\"");
        }
    }
    if (!has_fmt || !has_auth_data || !has_stmt)
        return invalid("attestationObject lacks fmt, attStmt or authData");
    return out;
}

}  // namespace

Result<PasskeyRegistration> PasskeyRegistration::parse(ByteView attestation_object,
                                                       ByteView client_data_json,
                                                       ByteView challenge,
                                                       const WebauthnOrigin& where) {
    SKGATE_CHECK(check_client_data(client_data_json, "webauthn.create", challenge, where));
    SKGATE_TRY(obj, read_attestation_object(attestation_object));
    SKGATE_TRY(ad, AuthenticatorData::parse(obj.auth_data));
    if (!equal_bytes(ad.rp_id_hash, sha256(as_bytes(where.rp_id))))
        return invalid("the credential was made for another relying party than " + where.rp_id);
    if (!(ad.flags & kAuthDataUserPresent))
        return invalid("the authenticator did not report user presence");
    if (!ad.credential)
        return invalid("authData has no attested credential (AT flag not set)");
    if (ad.credential->public_key.algorithm != KeyAlgorithm::sk_ecdsa_p256)
        return invalid(
            "the browser made an Ed25519 credential; OpenSSH verifies WebAuthn signatures only "
            "for ECDSA P-256 (ES256) keys");
    SKGATE_TRY(key,
               PublicKey::make_sk_ecdsa(ad.credential->public_key.ssh_material(), where.rp_id));

    PasskeyRegistration out{
        .key = std::move(key), .credential_id = ad.credential->credential_id, .flags = ad.flags};
    out.attestation.auth_data = obj.auth_data;
    if (obj.fmt == "packed" || obj.fmt == "fido-u2f") {
        if (obj.fmt == "packed" && (!obj.has_alg || obj.alg != kCoseEs256))
            return invalid("packed attestation with an algorithm other than ES256");
        if (obj.signature.empty())
            return invalid(obj.fmt + " attestation has no signature");
        out.attestation.signature = obj.signature;
        out.attestation.certificate = obj.certificate;
        // Checked now, so that the agent never keeps an attestation
        // skgatectl enroll would refuse.
        SKGATE_TRY(verified, verify_attestation(out.attestation, out.key, client_data_json));
        out.format = verified.format;
    } else {
        // "none", and the formats skgate does not verify (tpm, apple,
        // android-key, ...): kept as what they prove here, which is nothing
        // about the authenticator.
        out.format = "none";
    }
    return out;
}

Result<Bytes> webauthn_signature_blob(const PublicKey& key, const WebauthnAssertion& assertion,
                                      const WebauthnOrigin& where, ByteView data) {
    if (key.algorithm() != KeyAlgorithm::sk_ecdsa_p256 || key.is_certificate())
        return invalid("WebAuthn signatures are for sk-ecdsa-sha2-nistp256@openssh.com keys");
    if (key.application() != where.rp_id)
        return invalid("the key is for " + printable(key.application()) + ", the page for " +
                       where.rp_id);
    SKGATE_CHECK(check_client_data(assertion.client_data_json, "webauthn.get", data, where));
    SKGATE_CHECK(check_size(assertion.authenticator_data, "authenticatorData"));
    SKGATE_CHECK(check_size(assertion.signature, "signature"));
    SKGATE_TRY(ad, AuthenticatorData::parse(assertion.authenticator_data));
    if (ad.credential)
        return invalid("an assertion's authenticatorData carries an attested credential");
    if (!equal_bytes(ad.rp_id_hash, sha256(as_bytes(where.rp_id))))
        return invalid("the assertion is for another relying party than " + where.rp_id);
    SKGATE_TRY(rs, ossl::ecdsa_der_to_rs(assertion.signature));
    WireWriter inner;
    inner.put_mpint(rs.first);
    inner.put_mpint(rs.second);
    WireWriter w;
    w.put_string("webauthn-sk-ecdsa-sha2-nistp256@openssh.com");
    w.put_string(inner.bytes());
    w.put_u8(ad.flags);
    w.put_u32(ad.counter);
    w.put_string(where.origin);
    w.put_string(assertion.client_data_json);
    w.put_string(ad.extensions);
    Bytes blob = std::move(w).take();
    auto verified = verify_sk_signature(key, blob, data);
    if (!verified)
        return verified.error().context("the browser's signature");
    return blob;
}

}  // namespace skgate
