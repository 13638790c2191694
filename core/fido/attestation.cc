#include "core/fido/attestation.h"

#include <algorithm>

#include <dirent.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>

#include "core/ssh/ossl.h"
#include "core/ssh/wire.h"
#include "core/sys/openssl_ptr.h"
#include "core/sys/text.h"

namespace skgate {

namespace {

constexpr std::string_view kMagic = "ssh-sk-attest-v01";
// id-fido-gen-ce-aaguid: the AAGUID in a packed attestation certificate.
constexpr const char* kAaguidOid = "1.3.6.1.4.1.45724.1.1.4";

using ossl::X509Ptr;

Result<X509Ptr> parse_certificate(ByteView der) {
    const unsigned char* p = der.data();
    X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (!cert || p != der.data() + der.size()) {
        ossl::last_error();
        return invalid("attestation certificate is not a single DER X.509 certificate");
    }
    return cert;
}

// Verifies a signature by `key` over `msg`: ECDSA and RSA with SHA-256,
// Ed25519 as is.
Result<bool> verify_with(EVP_PKEY* key, ByteView sig, ByteView msg) {
    ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
    bool ed = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519;
    if (!ctx ||
        EVP_DigestVerifyInit(ctx.get(), nullptr, ed ? nullptr : EVP_sha256(), nullptr, key) != 1)
        return make_error(ErrorCode::crypto,
                          "cannot set up attestation verification: " + ossl::last_error());
    int rc = EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), msg.data(), msg.size());
    ossl::last_error();
    return rc == 1;
}

Result<bool> verify_with_cert(X509* cert, ByteView sig, ByteView msg) {
    EVP_PKEY* key = X509_get0_pubkey(cert);
    if (!key)
        return invalid("attestation certificate has no usable public key");
    return verify_with(key, sig, msg);
}

// A packed certificate may name the authenticator model; it must agree.
Status check_certificate_aaguid(X509* cert, const Aaguid& aaguid) {
    ossl::Asn1ObjectPtr oid(OBJ_txt2obj(kAaguidOid, 1));
    int idx = oid ? X509_get_ext_by_OBJ(cert, oid.get(), -1) : -1;
    if (idx < 0)
        return {};
    X509_EXTENSION* ext = X509_get_ext(cert, idx);
    ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(ext);
    // The extension value is an OCTET STRING wrapping the 16 AAGUID bytes.
    const unsigned char* p = ASN1_STRING_get0_data(data);
    long len = 0;
    int tag = 0, cls = 0;
    if (ASN1_get_object(&p, &len, &tag, &cls, ASN1_STRING_length(data)) & 0x80 ||
        tag != V_ASN1_OCTET_STRING || len != 16)
        return invalid("attestation certificate has a malformed AAGUID extension");
    if (!std::equal(aaguid.begin(), aaguid.end(), p))
        return invalid("attestation certificate names another AAGUID than the authenticator data");
    return {};
}

Status check_chain(X509* cert, const std::string& roots_dir) {
    ossl::X509StorePtr store(X509_STORE_new());
    DIR* d = opendir(roots_dir.c_str());
    if (!store || !d) {
        if (d)
            closedir(d);
        return make_error(ErrorCode::io, "cannot read AttestationRoots " + roots_dir);
    }
    size_t loaded = 0;
    while (dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name.empty() || name[0] == '.')
            continue;
        FILE* f = std::fopen((roots_dir + "/" + name).c_str(), "re");
        if (!f)
            continue;
        while (X509Ptr root{PEM_read_X509(f, nullptr, nullptr, nullptr)}) {
            if (X509_STORE_add_cert(store.get(), root.get()) == 1)
                loaded++;
        }
        std::fclose(f);
        ossl::last_error();
    }
    closedir(d);
    if (loaded == 0)
        return make_error(ErrorCode::not_found, "no certificates in AttestationRoots " + roots_dir);
    ossl::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr) != 1)
        return make_error(ErrorCode::crypto, "cannot set up chain verification");
    if (X509_verify_cert(ctx.get()) != 1) {
        int err = X509_STORE_CTX_get_error(ctx.get());
        ossl::last_error();
        return invalid("attestation certificate does not chain to AttestationRoots: " +
                       std::string(X509_verify_cert_error_string(err)));
    }
    return {};
}

std::string subject_of(X509* cert) {
    char buf[256];
    X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
    return buf;
}

}  // namespace

std::string format_aaguid(const Aaguid& a) {
    const std::string h = hex_encode(a);
    // 8-4-4-4-12, the form administrators see in vendors' lists
    return h.substr(0, 8) + '-' + h.substr(8, 4) + '-' + h.substr(12, 4) + '-' + h.substr(16, 4) +
           '-' + h.substr(20);
}

Result<AuthenticatorData> AuthenticatorData::parse(ByteView data) {
    if (data.size() > kMaxCborInput)
        return invalid("authenticator data is too large");
    WireReader r(data);
    AuthenticatorData ad;
    auto hash = r.read_bytes(32);
    if (!hash)
        return invalid("authenticator data is shorter than 37 bytes");
    std::copy(hash->begin(), hash->end(), ad.rp_id_hash.begin());
    SKGATE_TRY(flags, r.read_u8());
    SKGATE_TRY(counter, r.read_u32());
    ad.flags = flags;
    ad.counter = counter;
    size_t pos = 37;
    if (ad.flags & kAuthDataAttested) {
        auto aaguid = r.read_bytes(16);
        if (!aaguid)
            return aaguid.error().context("attested credential AAGUID");
        AttestedCredential cred;
        std::copy(aaguid->begin(), aaguid->end(), cred.aaguid.begin());
        auto id_len = r.read_bytes(2);
        if (!id_len)
            return id_len.error().context("credential id length");
        size_t n = (size_t{(*id_len)[0]} << 8) | (*id_len)[1];
        auto id = r.read_bytes(n);
        if (!id)
            return id.error().context("credential id");
        if (n == 0)
            return invalid("credential id is empty");
        cred.credential_id = to_bytes(*id);
        pos += 16 + 2 + n;
        size_t used = 0;
        auto key = cbor_read_cose_key(data.subspan(pos), &used);
        if (!key)
            return key.error().context("credential public key");
        cred.public_key = std::move(*key);
        pos += used;
        ad.credential = std::move(cred);
    }
    ByteView rest = data.subspan(pos);
    if (ad.flags & kAuthDataExtensions) {
        SKGATE_TRY(len, cbor_item_length(rest));
        ad.extensions = to_bytes(rest.first(len));
        rest = rest.subspan(len);
    }
    if (!rest.empty())
        return invalid(std::to_string(rest.size()) +
                       " bytes of trailing data after authenticator data");
    return ad;
}

Result<Bytes> AuthenticatorData::encode(std::string_view application, uint8_t flags,
                                        uint32_t counter, const Aaguid& aaguid,
                                        ByteView credential_id, const PublicKey& key) {
    if (credential_id.empty() || credential_id.size() > 1023)
        return invalid("credential id must be 1 to 1023 bytes");
    SKGATE_TRY(cose, cbor_encode_cose_key(key));
    WireWriter w;
    w.put_raw(sha256(as_bytes(application)));
    w.put_u8(static_cast<uint8_t>(flags | kAuthDataAttested));
    w.put_u32(counter);
    w.put_raw(aaguid);
    w.put_u8(static_cast<uint8_t>(credential_id.size() >> 8));
    w.put_u8(static_cast<uint8_t>(credential_id.size() & 0xff));
    w.put_raw(credential_id);
    w.put_raw(cose);
    return std::move(w).take();
}

Result<SkAttestation> SkAttestation::parse(ByteView file) {
    if (file.size() > kMaxAttestationBytes)
        return invalid("attestation file is larger than " + std::to_string(kMaxAttestationBytes) +
                       " bytes");
    WireReader r(file);
    auto magic = r.read_cstring();
    if (!magic || *magic != kMagic)
        return invalid(
            "not an ssh-sk-attest-v01 attestation (made by ssh-keygen -O write-attestation=FILE)");
    SkAttestation a;
    auto cert = r.read_string();
    if (!cert)
        return cert.error().context("attestation certificate");
    auto sig = r.read_string();
    if (!sig)
        return sig.error().context("attestation signature");
    auto wrapped = r.read_string();
    if (!wrapped)
        return wrapped.error().context("authenticator data");
    SKGATE_TRY(reserved_flags, r.read_u32());
    auto reserved = r.read_string();
    if (!reserved)
        return reserved.error().context("reserved field");
    SKGATE_CHECK(r.expect_end("the attestation"));
    if (reserved_flags != 0 || !reserved->empty())
        return invalid("attestation has non-zero reserved fields (a newer format?)");
    // No certificate and no signature is WebAuthn's "none" (what synced
    // passkeys give); a certificate without a signature is nothing.
    if (sig->empty() && !cert->empty())
        return invalid("attestation has a certificate but no signature");
    size_t used = 0;
    auto inner = cbor_read_bytestring(*wrapped, &used);
    if (!inner)
        return inner.error().context("authenticator data");
    if (used != wrapped->size())
        return invalid("trailing data after the CBOR authenticator data");
    a.certificate = to_bytes(*cert);
    a.signature = to_bytes(*sig);
    a.auth_data = std::move(*inner);
    return a;
}

Bytes SkAttestation::serialize() const {
    WireWriter w;
    w.put_string(kMagic);
    w.put_string(certificate);
    w.put_string(signature);
    w.put_string(cbor_encode_bytestring(auth_data));
    w.put_u32(0);
    w.put_string(std::string_view{});
    return std::move(w).take();
}

Result<AttestationResult> verify_attestation(const SkAttestation& att, const PublicKey& key,
                                             ByteView challenge, const std::string& roots_dir) {
    if (!key.is_security_key() || key.is_certificate())
        return invalid("attestation applies to security keys only");
    SKGATE_TRY(ad, AuthenticatorData::parse(att.auth_data));
    if (!(ad.flags & kAuthDataAttested) || !ad.credential)
        return invalid("authenticator data has no attested credential (AT flag not set)");
    if (!equal_bytes(ad.rp_id_hash, sha256(as_bytes(key.application()))))
        return invalid("authenticator data is for another application than " + key.application());
    if (!(ad.flags & kAuthDataUserPresent))
        return invalid("authenticator data lacks user presence");
    const CoseKey& cred = ad.credential->public_key;
    if (cred.algorithm != key.algorithm() || cred.ssh_material() != key.key_material())
        return invalid("attested credential is not this SSH key");

    Sha256 client_data_hash = sha256(challenge);
    Bytes signed_data = att.auth_data;
    signed_data.insert(signed_data.end(), client_data_hash.begin(), client_data_hash.end());

    AttestationResult out;
    out.aaguid = format_aaguid(ad.credential->aaguid);
    out.user_verified = ad.flags & kAuthDataUserVerified;

    if (att.certificate.empty() && att.signature.empty()) {
        if (!roots_dir.empty())
            return invalid(
                "attestation format \"none\" (no statement: a synced passkey's, for one) "
                "cannot chain to AttestationRoots; enroll the key without --attestation");
        // Nothing signed the authenticator data: it says which key and
        // application, and nothing about the authenticator or its flags.
        out.format = "none";
        out.aaguid.clear();
        out.user_verified = false;
        return out;
    }
    if (att.certificate.empty()) {
        if (!roots_dir.empty())
            return invalid("self-attestation cannot chain to AttestationRoots");
        SKGATE_TRY(pkey, ossl::public_key(key));
        SKGATE_TRY(ok, verify_with(pkey.get(), att.signature, signed_data));
        if (!ok)
            return invalid("self-attestation signature does not verify for this key and challenge");
        out.format = "packed-self";
        // The key vouches for itself: the AAGUID is a claim nobody signed
        // for, so it is not recorded and never satisfies
        // AllowedAuthenticators.
        out.aaguid.clear();
        return out;
    }

    SKGATE_TRY(cert, parse_certificate(att.certificate));
    out.certificate_subject = subject_of(cert.get());
    SKGATE_TRY(packed_ok, verify_with_cert(cert.get(), att.signature, signed_data));
    if (packed_ok) {
        SKGATE_CHECK(check_certificate_aaguid(cert.get(), ad.credential->aaguid));
        out.format = "packed";
    } else {
        // fido-u2f signs 0x00 || rpIdHash || clientDataHash || credId || pubkey:
        // not the flags nor the AAGUID of the authenticator data. A U2F
        // device has no AAGUID (all zero) and its UV flag is unsigned.
        if (key.algorithm() != KeyAlgorithm::sk_ecdsa_p256)
            return invalid("attestation signature does not verify for this key and challenge");
        Bytes u2f{0x00};
        u2f.insert(u2f.end(), ad.rp_id_hash.begin(), ad.rp_id_hash.end());
        u2f.insert(u2f.end(), client_data_hash.begin(), client_data_hash.end());
        u2f.insert(u2f.end(), ad.credential->credential_id.begin(),
                   ad.credential->credential_id.end());
        u2f.insert(u2f.end(), key.key_material().begin(), key.key_material().end());
        SKGATE_TRY(u2f_ok, verify_with_cert(cert.get(), att.signature, u2f));
        if (!u2f_ok)
            return invalid(
                "attestation signature does not verify for this key and challenge "
                "(neither packed nor fido-u2f)");
        if (std::any_of(ad.credential->aaguid.begin(), ad.credential->aaguid.end(),
                        [](uint8_t b) { return b != 0; }))
            return invalid(
                "fido-u2f attestation with a non-zero AAGUID: the U2F signature does not "
                "cover the AAGUID, so it cannot be believed");
        out.format = "fido-u2f";
        out.user_verified = false;
    }
    if (!roots_dir.empty()) {
        SKGATE_CHECK(check_chain(cert.get(), roots_dir));
        out.chained = true;
    }
    return out;
}

}  // namespace skgate
