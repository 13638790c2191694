#include "tests/support/certs.h"

#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace skgate::test {

namespace {

std::shared_ptr<EVP_PKEY> new_key() {
    EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    if (!k)
        throw std::runtime_error("keygen failed");
    return {k, EVP_PKEY_free};
}

std::shared_ptr<X509> build(const std::string& cn, EVP_PKEY* subject_key, X509* issuer,
                            EVP_PKEY* issuer_key, bool ca, std::optional<Aaguid> aaguid) {
    std::shared_ptr<X509> x(X509_new(), X509_free);
    X509_set_version(x.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x.get()), 3600L * 24 * 365);
    X509_NAME* name = X509_get_subject_name(x.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("skgate tests"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(x.get(), subject_key);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x.get(), x.get(), nullptr, nullptr, 0);
    X509_EXTENSION* bc = X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints,
                                             ca ? "critical,CA:TRUE" : "CA:FALSE");
    X509_add_ext(x.get(), bc, -1);
    X509_EXTENSION_free(bc);
    if (ca) {
        X509_EXTENSION* ku =
            X509V3_EXT_conf_nid(nullptr, &ctx, NID_key_usage, "critical,keyCertSign");
        X509_add_ext(x.get(), ku, -1);
        X509_EXTENSION_free(ku);
    }
    if (aaguid) {
        // OCTET STRING { 16 bytes }, DER-encoded inside the extension value.
        unsigned char der[18] = {0x04, 0x10};
        std::copy(aaguid->begin(), aaguid->end(), der + 2);
        ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.4.1.45724.1.1.4", 1);
        ASN1_OCTET_STRING* os = ASN1_OCTET_STRING_new();
        ASN1_OCTET_STRING_set(os, der, sizeof der);
        X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, oid, 0, os);
        X509_add_ext(x.get(), ext, -1);
        X509_EXTENSION_free(ext);
        ASN1_OCTET_STRING_free(os);
        ASN1_OBJECT_free(oid);
    }
    if (X509_sign(x.get(), issuer_key, EVP_sha256()) == 0)
        throw std::runtime_error("X509_sign failed");
    return x;
}

}  // namespace

Bytes TestCert::der() const {
    unsigned char* out = nullptr;
    int n = i2d_X509(cert.get(), &out);
    if (n <= 0)
        throw std::runtime_error("i2d_X509 failed");
    Bytes b(out, out + n);
    OPENSSL_free(out);
    return b;
}

std::string TestCert::pem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert.get());
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string s(data, static_cast<size_t>(n));
    BIO_free(bio);
    return s;
}

Bytes TestCert::sign(ByteView message) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = 0;
    Bytes sig;
    if (EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
        EVP_DigestSign(ctx, nullptr, &len, message.data(), message.size()) != 1)
        throw std::runtime_error("sign failed");
    sig.resize(len);
    EVP_DigestSign(ctx, sig.data(), &len, message.data(), message.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    return sig;
}

TestCert make_ca(const std::string& cn) {
    TestCert c;
    c.key = new_key();
    c.cert = build(cn, c.key.get(), nullptr, c.key.get(), true, std::nullopt);
    return c;
}

TestCert make_attestation_cert(const TestCert& issuer, const std::string& cn,
                               std::optional<Aaguid> aaguid) {
    TestCert c;
    c.key = new_key();
    c.cert = build(cn, c.key.get(), issuer.cert.get(), issuer.key.get(), false, aaguid);
    return c;
}

}  // namespace skgate::test
