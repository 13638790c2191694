#include "core/ssh/ossl.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include <string>

namespace skgate::ossl {

namespace {

int curve_nid(std::string_view curve) {
    if (curve == "P-256")
        return NID_X9_62_prime256v1;
    if (curve == "P-384")
        return NID_secp384r1;
    if (curve == "P-521")
        return NID_secp521r1;
    return NID_undef;
}

Error crypto_error(const std::string& what) {
    return make_error(ErrorCode::crypto, what + ": " + last_error());
}

}  // namespace

std::string last_error() {
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0)
        return "unknown OpenSSL error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

Result<PkeyPtr> ec_public_key(std::string_view curve, ByteView point) {
    int nid = curve_nid(curve);
    if (nid == NID_undef)
        return invalid("unsupported curve " + std::string(curve));
    EcGroupPtr group(EC_GROUP_new_by_curve_name(nid));
    if (!group)
        return crypto_error("EC_GROUP_new_by_curve_name");
    size_t field_bytes = (static_cast<size_t>(EC_GROUP_get_degree(group.get())) + 7) / 8;
    if (point.size() != 1 + 2 * field_bytes || point[0] != 0x04)
        return invalid("EC point is not an uncompressed " + std::string(curve) + " point (" +
                       std::to_string(point.size()) + " bytes)");

    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    if (!bld ||
        !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, OBJ_nid2sn(nid),
                                         0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                          point.size()))
        return crypto_error("building EC key parameters");
    ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1)
        return crypto_error("EVP_PKEY_fromdata_init");
    EVP_PKEY* raw = nullptr;
    if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
        ERR_clear_error();
        return invalid("EC point is not on curve " + std::string(curve));
    }
    PkeyPtr key(raw);
    // fromdata decodes the point; public_check adds the full SP 800-56A checks
    // (on curve, in range, correct order) that OpenSSH's key validation does.
    PkeyCtxPtr check(EVP_PKEY_CTX_new(key.get(), nullptr));
    if (!check)
        return crypto_error("EVP_PKEY_CTX_new");
    if (EVP_PKEY_public_check(check.get()) != 1) {
        ERR_clear_error();
        return invalid("EC point fails public key validation on curve " + std::string(curve));
    }
    return key;
}

Result<PkeyPtr> ed25519_public_key(ByteView raw32) {
    if (raw32.size() != 32)
        return invalid("Ed25519 public key is " + std::to_string(raw32.size()) +
                       " bytes, expected 32");
    EVP_PKEY* raw =
        EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw32.data(), raw32.size());
    if (!raw)
        return crypto_error("EVP_PKEY_new_raw_public_key");
    return PkeyPtr(raw);
}

Result<Bytes> ec_curve_order(std::string_view curve) {
    int nid = curve_nid(curve);
    EcGroupPtr group(EC_GROUP_new_by_curve_name(nid));
    if (!group)
        return crypto_error("EC_GROUP_new_by_curve_name");
    const BIGNUM* order = EC_GROUP_get0_order(group.get());
    Bytes out(static_cast<size_t>(BN_num_bytes(order)));
    BN_bn2bin(order, out.data());
    return out;
}

Result<bool> verify_ecdsa(EVP_PKEY* key, const EVP_MD* md, ByteView r, ByteView s,
                          ByteView message) {
    EcdsaSigPtr sig(ECDSA_SIG_new());
    BignumPtr br(BN_bin2bn(r.data(), static_cast<int>(r.size()), nullptr));
    BignumPtr bs(BN_bin2bn(s.data(), static_cast<int>(s.size()), nullptr));
    if (!sig || !br || !bs || ECDSA_SIG_set0(sig.get(), br.get(), bs.get()) != 1)
        return crypto_error("ECDSA_SIG_set0");
    br.release();  // owned by sig now
    bs.release();
    unsigned char* der = nullptr;
    int der_len = i2d_ECDSA_SIG(sig.get(), &der);
    if (der_len <= 0)
        return crypto_error("i2d_ECDSA_SIG");
    BufferPtr der_owner(der);

    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) != 1)
        return crypto_error("EVP_DigestVerifyInit");
    int rc = EVP_DigestVerify(ctx.get(), der, static_cast<size_t>(der_len), message.data(),
                              message.size());
    ERR_clear_error();
    return rc == 1;
}

Result<bool> verify_ed25519(EVP_PKEY* key, ByteView sig64, ByteView message) {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key) != 1)
        return crypto_error("EVP_DigestVerifyInit");
    int rc =
        EVP_DigestVerify(ctx.get(), sig64.data(), sig64.size(), message.data(), message.size());
    ERR_clear_error();
    return rc == 1;
}

Result<PkeyPtr> public_key(const PublicKey& key) {
    if (!key.curve().empty())
        return ec_public_key(key.curve(), key.key_material());
    if (key.algorithm() == KeyAlgorithm::ed25519 || key.algorithm() == KeyAlgorithm::sk_ed25519)
        return ed25519_public_key(key.key_material());
    return invalid("signature checks for " + std::string(key.plain_type_name()) +
                   " keys are not supported");
}

Status validate_key(const PublicKey& key) {
    if (key.curve().empty())
        return {};
    auto k = ec_public_key(key.curve(), key.key_material());
    if (!k)
        return k.error();
    return {};
}

SkKeyMaterial::~SkKeyMaterial() {
    if (!private_key.empty())
        OPENSSL_cleanse(private_key.data(), private_key.size());
}

namespace {

Result<PkeyPtr> load_private(KeyAlgorithm alg, const SkKeyMaterial& key) {
    if (alg == KeyAlgorithm::sk_ed25519) {
        PkeyPtr p(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, key.private_key.data(),
                                               key.private_key.size()));
        if (!p)
            return make_error(ErrorCode::crypto, "Ed25519 private key: " + last_error());
        return p;
    }
    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    SecretBignumPtr d(
        BN_bin2bn(key.private_key.data(), static_cast<int>(key.private_key.size()), nullptr));
    EVP_PKEY* out = nullptr;
    if (bld && d &&
        OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get()) &&
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, key.public_key.data(),
                                         key.public_key.size())) {
        ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
        PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
        if (params && ctx && EVP_PKEY_fromdata_init(ctx.get()) == 1)
            EVP_PKEY_fromdata(ctx.get(), &out, EVP_PKEY_KEYPAIR, params.get());
    }
    if (!out)
        return make_error(ErrorCode::crypto, "P-256 private key: " + last_error());
    return PkeyPtr(out);
}

}  // namespace

Result<SkKeyMaterial> generate_sk_key(KeyAlgorithm alg) {
    SkKeyMaterial k;
    if (alg == KeyAlgorithm::sk_ed25519) {
        PkeyPtr p(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
        k.private_key.resize(32);
        k.public_key.resize(32);
        size_t n = 32, m = 32;
        if (!p || EVP_PKEY_get_raw_private_key(p.get(), k.private_key.data(), &n) != 1 ||
            EVP_PKEY_get_raw_public_key(p.get(), k.public_key.data(), &m) != 1)
            return make_error(ErrorCode::crypto, "Ed25519 key generation: " + last_error());
        return k;
    }
    if (alg != KeyAlgorithm::sk_ecdsa_p256)
        return invalid("security keys are ECDSA P-256 or Ed25519");
    PkeyPtr p(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    BIGNUM* raw_d = nullptr;
    if (!p || EVP_PKEY_get_bn_param(p.get(), OSSL_PKEY_PARAM_PRIV_KEY, &raw_d) != 1)
        return make_error(ErrorCode::crypto, "P-256 key generation: " + last_error());
    SecretBignumPtr d(raw_d);
    k.private_key.assign(32, 0);
    int ok = BN_bn2binpad(d.get(), k.private_key.data(), 32);
    k.public_key.resize(65);
    size_t n = 0;
    if (ok != 32 ||
        EVP_PKEY_get_octet_string_param(p.get(), OSSL_PKEY_PARAM_PUB_KEY, k.public_key.data(), 65,
                                        &n) != 1 ||
        n != 65)
        return make_error(ErrorCode::crypto, "P-256 key export: " + last_error());
    return k;
}

Result<Bytes> sign_as_authenticator(KeyAlgorithm alg, const SkKeyMaterial& key, ByteView message) {
    SKGATE_TRY(pkey, load_private(alg, key));
    MdCtxPtr ctx(EVP_MD_CTX_new());
    bool ed = alg == KeyAlgorithm::sk_ed25519;
    size_t len = 0;
    Bytes sig;
    bool ok = ctx &&
              EVP_DigestSignInit(ctx.get(), nullptr, ed ? nullptr : EVP_sha256(), nullptr,
                                 pkey.get()) == 1 &&
              EVP_DigestSign(ctx.get(), nullptr, &len, message.data(), message.size()) == 1;
    if (ok) {
        sig.resize(len);
        ok = EVP_DigestSign(ctx.get(), sig.data(), &len, message.data(), message.size()) == 1;
        sig.resize(len);
    }
    if (!ok)
        return make_error(ErrorCode::crypto, "signing: " + last_error());
    return sig;
}

Result<std::pair<Bytes, Bytes>> ecdsa_der_to_rs(ByteView der) {
    const uint8_t* p = der.data();
    EcdsaSigPtr es(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
    if (!es || p != der.data() + der.size()) {
        last_error();
        return invalid("ECDSA signature is not one DER SEQUENCE of r and s");
    }
    auto mag = [](const BIGNUM* bn) {
        Bytes b(static_cast<size_t>(BN_num_bytes(bn)));
        BN_bn2bin(bn, b.data());
        return b;
    };
    return std::pair<Bytes, Bytes>{mag(ECDSA_SIG_get0_r(es.get())),
                                   mag(ECDSA_SIG_get0_s(es.get()))};
}

}  // namespace skgate::ossl
