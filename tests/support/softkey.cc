#include "tests/support/softkey.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <stdexcept>

#include "core/ssh/ossl.h"
#include "core/ssh/sksig.h"
#include "core/ssh/wire.h"

namespace skgate::test {

SoftSkKey::SoftSkKey(SoftSkKey&&) noexcept = default;
SoftSkKey& SoftSkKey::operator=(SoftSkKey&&) noexcept = default;
SoftSkKey::~SoftSkKey() {
    OPENSSL_cleanse(priv_.data(), priv_.size());
}

SoftSkKey SoftSkKey::generate(KeyAlgorithm alg, const std::string& application) {
    auto m = ossl::generate_sk_key(alg);
    if (!m)
        throw std::runtime_error("key generation failed: " + m.error().message);
    auto k = from_raw(alg, m->private_key, m->public_key, application);
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
    ossl::SkKeyMaterial m;
    m.private_key = priv_;
    m.public_key = raw_pub_;
    auto sig = ossl::sign_as_authenticator(alg_, m, message);
    if (!sig)
        throw std::runtime_error("signing failed: " + sig.error().message);
    return std::move(*sig);
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
