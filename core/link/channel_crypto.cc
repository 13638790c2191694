#include "core/link/channel_crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <memory>

#include "core/ssh/ossl.h"
#include "core/sys/openssl_ptr.h"

namespace skgate {

namespace {

Error crypto_error(const std::string& what) {
    return make_error(ErrorCode::crypto, what + ": " + ossl::last_error());
}

int as_int(size_t n) {
    return static_cast<int>(n);
}

}  // namespace

X25519KeyPair::~X25519KeyPair() {
    wipe(private_key);
}

void wipe(Bytes& secret) {
    if (!secret.empty())
        OPENSSL_cleanse(secret.data(), secret.size());
}

Result<X25519KeyPair> X25519KeyPair::generate() {
    ossl::PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
    if (!key)
        return crypto_error("X25519 key generation");
    X25519KeyPair kp;
    kp.private_key.resize(kX25519KeyBytes);
    kp.public_key.resize(kX25519KeyBytes);
    size_t n = kX25519KeyBytes, m = kX25519KeyBytes;
    if (EVP_PKEY_get_raw_private_key(key.get(), kp.private_key.data(), &n) != 1 ||
        EVP_PKEY_get_raw_public_key(key.get(), kp.public_key.data(), &m) != 1 ||
        n != kX25519KeyBytes || m != kX25519KeyBytes)
        return crypto_error("X25519 key export");
    return kp;
}

Result<Bytes> x25519_shared(const X25519KeyPair& own, ByteView peer_public) {
    if (peer_public.size() != kX25519KeyBytes)
        return invalid("X25519 public key must be 32 bytes, not " +
                       std::to_string(peer_public.size()));
    ossl::PkeyPtr priv(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr,
                                                    own.private_key.data(), kX25519KeyBytes));
    ossl::PkeyPtr peer(
        EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public.data(), kX25519KeyBytes));
    if (!priv || !peer)
        return crypto_error("X25519 key import");
    ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new(priv.get(), nullptr));
    Bytes secret(kX25519KeyBytes);
    size_t len = secret.size();
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
        EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1 ||
        EVP_PKEY_derive(ctx.get(), secret.data(), &len) != 1 || len != kX25519KeyBytes)
        return make_error(ErrorCode::invalid,
                          "X25519 with the peer's key failed (a low-order "
                          "or malformed public key): " +
                              ossl::last_error());
    uint8_t any = 0;
    for (uint8_t b : secret)
        any |= b;
    if (any == 0)
        return invalid("X25519: the peer's public key has low order");
    return secret;
}

Result<Bytes> hkdf_sha256(ByteView ikm, ByteView salt, std::string_view info, size_t length) {
    ossl::KdfCtxPtr ctx = ossl::new_kdf_ctx("HKDF");
    if (!ctx)
        return crypto_error("HKDF");
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm.data()),
                                          ikm.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()),
                                          salt.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                          info.size()),
        OSSL_PARAM_construct_end(),
    };
    Bytes out(length);
    if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1)
        return crypto_error("HKDF-SHA256");
    return out;
}

Result<Bytes> aead_seal(ByteView key, ByteView nonce, ByteView aad, ByteView plaintext) {
    if (key.size() != kAeadKeyBytes || nonce.size() != kAeadNonceBytes)
        return make_error(ErrorCode::internal, "ChaCha20-Poly1305: wrong key or nonce size");
    ossl::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    Bytes out(plaintext.size() + kAeadTagBytes);
    int len = 0, fin = 0;
    if (!ctx ||
        EVP_EncryptInit_ex2(ctx.get(), EVP_chacha20_poly1305(), key.data(), nonce.data(),
                            nullptr) != 1 ||
        EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), as_int(aad.size())) != 1 ||
        EVP_EncryptUpdate(ctx.get(), out.data(), &len, plaintext.data(),
                          as_int(plaintext.size())) != 1 ||
        EVP_EncryptFinal_ex(ctx.get(), out.data() + len, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, kAeadTagBytes,
                            out.data() + plaintext.size()) != 1)
        return crypto_error("ChaCha20-Poly1305 encryption");
    return out;
}

Result<Bytes> aead_open(ByteView key, ByteView nonce, ByteView aad, ByteView sealed) {
    if (key.size() != kAeadKeyBytes || nonce.size() != kAeadNonceBytes)
        return make_error(ErrorCode::internal, "ChaCha20-Poly1305: wrong key or nonce size");
    if (sealed.size() < kAeadTagBytes)
        return make_error(ErrorCode::permission, "sealed message is shorter than its tag");
    size_t n = sealed.size() - kAeadTagBytes;
    ossl::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    Bytes out(n);
    int len = 0, fin = 0;
    Bytes tag(sealed.begin() + static_cast<std::ptrdiff_t>(n), sealed.end());
    if (!ctx ||
        EVP_DecryptInit_ex2(ctx.get(), EVP_chacha20_poly1305(), key.data(), nonce.data(),
                            nullptr) != 1 ||
        EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(), as_int(aad.size())) != 1 ||
        EVP_DecryptUpdate(ctx.get(), out.data(), &len, sealed.data(), as_int(n)) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, kAeadTagBytes, tag.data()) != 1)
        return crypto_error("ChaCha20-Poly1305 decryption");
    if (EVP_DecryptFinal_ex(ctx.get(), out.data() + len, &fin) != 1) {
        ossl::last_error();
        wipe(out);
        return make_error(ErrorCode::permission,
                          "message authentication failed (tampered, replayed under another "
                          "key, or from an unpaired device)");
    }
    return out;
}

Result<Bytes> random_bytes(size_t n) {
    Bytes out(n);
    if (n && RAND_bytes(out.data(), as_int(n)) != 1)
        return crypto_error("random bytes");
    return out;
}

}  // namespace skgate
