#include "tests/support/softkey.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <stdexcept>

#include "core/sksig.h"
#include "core/wire.h"

namespace skgate::test {

namespace {

struct Pkey {
    EVP_PKEY* p = nullptr;
    ~Pkey() { EVP_PKEY_free(p); }
};

EVP_PKEY* load_private(KeyAlgorithm alg, ByteView priv, ByteView pub) {
    if (alg == KeyAlgorithm::sk_ed25519)
        return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, priv.data(), priv.size());
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    BIGNUM* d = BN_bin2bn(priv.data(), static_cast<int>(priv.size()), nullptr);
    EVP_PKEY* key = nullptr;
    if (bld && d &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub.data(), pub.size())) {
        OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
        EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
        if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
            EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params);
        EVP_PKEY_CTX_free(ctx);
        OSSL_PARAM_free(params);
    }
    BN_clear_free(d);
    OSSL_PARAM_BLD_free(bld);
    return key;
}

}  // namespace

SoftSkKey::SoftSkKey(SoftSkKey&&) noexcept = default;
SoftSkKey& SoftSkKey::operator=(SoftSkKey&&) noexcept = default;
SoftSkKey::~SoftSkKey() {
    OPENSSL_cleanse(priv_.data(), priv_.size());
}

SoftSkKey SoftSkKey::generate(KeyAlgorithm alg, const std::string& application) {
    Pkey key;
    Bytes priv, pub;
    if (alg == KeyAlgorithm::sk_ed25519) {
        key.p = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
        priv.resize(32);
        pub.resize(32);
        size_t n = 32, m = 32;
        if (!key.p || EVP_PKEY_get_raw_private_key(key.p, priv.data(), &n) != 1 ||
            EVP_PKEY_get_raw_public_key(key.p, pub.data(), &m) != 1)
            throw std::runtime_error("Ed25519 key generation failed");
    } else {
        key.p = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
        BIGNUM* d = nullptr;
        if (!key.p || EVP_PKEY_get_bn_param(key.p, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1)
            throw std::runtime_error("P-256 key generation failed");
        priv.assign(32, 0);
        BN_bn2binpad(d, priv.data(), 32);
        BN_clear_free(d);
        pub.resize(65);
        size_t n = 0;
        if (EVP_PKEY_get_octet_string_param(key.p, OSSL_PKEY_PARAM_PUB_KEY, pub.data(), 65, &n) !=
                1 ||
            n != 65)
            throw std::runtime_error("P-256 public key export failed");
    }
    auto k = from_raw(alg, priv, pub, application);
    OPENSSL_cleanse(priv.data(), priv.size());
    if (!k)
        throw std::runtime_error("generated key does not load");
    return std::move(*k);
}

std::unique_ptr<SoftSkKey> SoftSkKey::from_raw(KeyAlgorithm alg, ByteView priv, ByteView pub,
                                               const std::string& application) {
    auto pk = alg == KeyAlgorithm::sk_ed25519 ? PublicKey::make_sk_ed25519(pub, application)
                                              : PublicKey::make_sk_ecdsa(pub, application);
    if (!pk || priv.size() != 32)
        return nullptr;
    std::unique_ptr<SoftSkKey> k(new SoftSkKey());
    k->alg_ = alg;
    k->app_ = application;
    k->priv_ = to_bytes(priv);
    k->raw_pub_ = to_bytes(pub);
    k->pub_ = std::make_unique<PublicKey>(std::move(*pk));
    return k;
}

Bytes SoftSkKey::sign_message(ByteView message) const {
    Bytes sig = sign_der(message);
    if (alg_ == KeyAlgorithm::sk_ed25519)
        return sig;
    const uint8_t* p = sig.data();
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    if (!es)
        throw std::runtime_error("bad DER signature");
    Bytes rs(64);
    BN_bn2binpad(ECDSA_SIG_get0_r(es), rs.data(), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), rs.data() + 32, 32);
    ECDSA_SIG_free(es);
    return rs;
}

Bytes SoftSkKey::sign_der(ByteView message) const {
    Pkey key;
    key.p = load_private(alg_, priv_, raw_pub_);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ed = alg_ == KeyAlgorithm::sk_ed25519;
    size_t len = 0;
    Bytes sig;
    bool ok = key.p && ctx &&
              EVP_DigestSignInit(ctx, nullptr, ed ? nullptr : EVP_sha256(), nullptr, key.p) == 1 &&
              EVP_DigestSign(ctx, nullptr, &len, message.data(), message.size()) == 1;
    if (ok) {
        sig.resize(len);
        ok = EVP_DigestSign(ctx, sig.data(), &len, message.data(), message.size()) == 1;
        sig.resize(len);
    }
    EVP_MD_CTX_free(ctx);
    if (!ok)
        throw std::runtime_error("signing failed");
    return sig;
}

Bytes SoftSkKey::sign(ByteView data, uint8_t flags, uint32_t counter) const {
    Bytes raw = sign_message(sk_signed_message(app_, flags, counter, data));
    if (alg_ == KeyAlgorithm::sk_ed25519)
        return sk_signature_blob("sk-ssh-ed25519@openssh.com", raw, flags, counter);
    return sk_signature_blob("sk-ecdsa-sha2-nistp256@openssh.com",
                             ecdsa_inner(ByteView(raw).first(32), ByteView(raw).subspan(32)), flags,
                             counter);
}

Bytes sk_signature_blob(std::string_view type, ByteView inner, uint8_t flags, uint32_t counter) {
    WireWriter w;
    w.put_string(type);
    w.put_string(inner);
    w.put_u8(flags);
    w.put_u32(counter);
    return std::move(w).take();
}

Bytes ecdsa_inner(ByteView r, ByteView s) {
    WireWriter w;
    w.put_mpint(r);
    w.put_mpint(s);
    return std::move(w).take();
}

}  // namespace skgate::test
