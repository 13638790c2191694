// Owning pointers for OpenSSL objects, one declaration for every file that
// calls OpenSSL: each frees with its own _free function, on every path.
#pragma once

#include <openssl/bn.h>
#include <openssl/core.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <memory>

namespace skgate::ossl {

template <class T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
template <class T, void (*Free)(T*)>
using Ptr = std::unique_ptr<T, Deleter<T, Free>>;

using PkeyPtr = Ptr<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = Ptr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtxPtr = Ptr<EVP_MD_CTX, EVP_MD_CTX_free>;
using CipherCtxPtr = Ptr<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using KdfPtr = Ptr<EVP_KDF, EVP_KDF_free>;
using KdfCtxPtr = Ptr<EVP_KDF_CTX, EVP_KDF_CTX_free>;
using BignumPtr = Ptr<BIGNUM, BN_free>;
using SecretBignumPtr = Ptr<BIGNUM, BN_clear_free>;  // a private scalar: zeroed when freed
using EcdsaSigPtr = Ptr<ECDSA_SIG, ECDSA_SIG_free>;
using EcGroupPtr = Ptr<EC_GROUP, EC_GROUP_free>;
using ParamBldPtr = Ptr<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamPtr = Ptr<OSSL_PARAM, OSSL_PARAM_free>;
using X509Ptr = Ptr<X509, X509_free>;
using X509StorePtr = Ptr<X509_STORE, X509_STORE_free>;
using X509StoreCtxPtr = Ptr<X509_STORE_CTX, X509_STORE_CTX_free>;
using Asn1ObjectPtr = Ptr<ASN1_OBJECT, ASN1_OBJECT_free>;

// OPENSSL_free is a macro (it records the caller's file and line).
struct BufferFree {
    void operator()(unsigned char* p) const { OPENSSL_free(p); }
};
using BufferPtr = std::unique_ptr<unsigned char, BufferFree>;

// A fetched KDF's context: the KDF itself is released at once (the context
// holds its own reference), so no path frees it by hand.
inline KdfCtxPtr new_kdf_ctx(const char* name) {
    KdfPtr kdf(EVP_KDF_fetch(nullptr, name, nullptr));
    return KdfCtxPtr(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
}

}  // namespace skgate::ossl
