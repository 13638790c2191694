// A software security key for tests, loaded by OpenSSH as a
// SecurityKeyProvider (ssh-keygen -w, ssh -o SecurityKeyProvider=, ssh-add -S).
//
// NOT FOR PRODUCTION: the key handle carries the private key in the clear so
// that the provider needs no storage. Tests steer what the "authenticator"
// reports through the environment:
//   SKGATE_TEST_SK_FLAGS    flags byte in signatures (default: 0x01, plus 0x04
//                           when the key requires user verification)
//   SKGATE_TEST_SK_COUNTER  signature counter (default 1)
//   SKGATE_TEST_SK_COUNTER_FILE  a file holding the counter: each signature
//                           increments it under a lock, as a real
//                           authenticator does (overrides the above)
//   SKGATE_TEST_SK_PIN      when set, signing a verify-required key needs it
//   SKGATE_TEST_SK_FAIL     "sign" or "enroll": that operation fails
#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "core/fido/attestation.h"
#include "core/ssh/sk_api.h"
#include "core/ssh/sksig.h"
#include "tests/support/softkey.h"

#define SK_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

skgate::KeyAlgorithm to_algorithm(uint32_t alg) {
    return alg == SKGATE_SK_ALG_ED25519 ? skgate::KeyAlgorithm::sk_ed25519
                                        : skgate::KeyAlgorithm::sk_ecdsa_p256;
}

constexpr char kMagic[8] = {'S', 'K', 'G', 'T', 'E', 'S', 'T', '1'};

uint8_t* dup_bytes(const uint8_t* p, size_t n) {
    auto* out = static_cast<uint8_t*>(std::calloc(1, n ? n : 1));
    if (out && n)
        std::memcpy(out, p, n);
    return out;
}

bool env_number(const char* name, unsigned long* out) {
    const char* v = std::getenv(name);
    if (!v || !*v)
        return false;
    char* end = nullptr;
    *out = std::strtoul(v, &end, 0);
    return end && *end == '\0';
}

// The next value of the counter in `path` (0 when absent), written back
// before the signature is made; false when the file cannot be used.
bool next_counter_from_file(const char* path, uint32_t* out) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    bool ok = false;
    if (flock(fd, LOCK_EX) == 0) {
        char buf[32] = {};
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        unsigned long value = n > 0 ? std::strtoul(buf, nullptr, 10) : 0;
        std::string next = std::to_string(value + 1) + "\n";
        ok = n >= 0 && ftruncate(fd, 0) == 0 &&
             pwrite(fd, next.data(), next.size(), 0) == static_cast<ssize_t>(next.size());
        *out = static_cast<uint32_t>(value + 1);
    }
    close(fd);
    return ok;
}

// "skgate-test-sk-1": the AAGUID of this test authenticator.
constexpr skgate::Aaguid kTestAaguid = {0x73, 0x6b, 0x67, 0x61, 0x74, 0x65, 0x2d, 0x74,
                                        0x65, 0x73, 0x74, 0x2d, 0x73, 0x6b, 0x2d, 0x31};

int do_enroll(uint32_t alg, const uint8_t* challenge, size_t challenge_len, const char* application,
              uint8_t flags, sk_enroll_response** out) {
    const char* fail = std::getenv("SKGATE_TEST_SK_FAIL");
    if (fail && std::strcmp(fail, "enroll") == 0)
        return SKGATE_SK_ERR_GENERAL;
    if (alg != SKGATE_SK_ALG_ECDSA && alg != SKGATE_SK_ALG_ED25519)
        return SKGATE_SK_ERR_UNSUPPORTED;
    if (!application || !*application)
        return SKGATE_SK_ERR_GENERAL;
    auto key = skgate::test::SoftSkKey::generate(to_algorithm(alg), application);
    const skgate::Bytes& priv = key.raw_private();
    const skgate::Bytes& pub = key.raw_public();

    skgate::Bytes handle(kMagic, kMagic + sizeof kMagic);
    handle.push_back(static_cast<uint8_t>(alg));
    handle.insert(handle.end(), priv.begin(), priv.end());
    handle.insert(handle.end(), pub.begin(), pub.end());

    // A packed self-attestation, as a FIDO2 authenticator without a vendor
    // certificate returns it; ssh-keygen -O write-attestation saves it.
    uint8_t ad_flags = static_cast<uint8_t>(0x01 | (flags & SKGATE_SK_FLAG_UV_REQUIRED));
    skgate::Sha256 cred_id = skgate::sha256(handle);
    auto auth_data =
        skgate::AuthenticatorData::encode(application, ad_flags, 0, kTestAaguid,
                                          skgate::ByteView(cred_id).first(16), key.public_key());
    if (!auth_data)
        return SKGATE_SK_ERR_GENERAL;
    skgate::Sha256 client_data_hash = skgate::sha256(skgate::ByteView(challenge, challenge_len));
    skgate::Bytes to_sign = *auth_data;
    to_sign.insert(to_sign.end(), client_data_hash.begin(), client_data_hash.end());
    skgate::Bytes attestation_sig = key.sign_der(to_sign);
    skgate::Bytes wrapped = skgate::cbor_encode_bytestring(*auth_data);

    auto* r = static_cast<sk_enroll_response*>(std::calloc(1, sizeof(sk_enroll_response)));
    if (!r)
        return SKGATE_SK_ERR_GENERAL;
    r->flags = flags;
    r->signature = dup_bytes(attestation_sig.data(), attestation_sig.size());
    r->signature_len = attestation_sig.size();
    r->authdata = dup_bytes(wrapped.data(), wrapped.size());
    r->authdata_len = wrapped.size();
    r->public_key = dup_bytes(pub.data(), pub.size());
    r->public_key_len = pub.size();
    r->key_handle = dup_bytes(handle.data(), handle.size());
    r->key_handle_len = handle.size();
    OPENSSL_cleanse(handle.data(), handle.size());
    *out = r;
    return 0;
}

int do_sign(uint32_t alg, const uint8_t* data, size_t data_len, const char* application,
            const uint8_t* kh, size_t kh_len, uint8_t key_flags, const char* pin,
            sk_sign_response** out) {
    const char* fail = std::getenv("SKGATE_TEST_SK_FAIL");
    if (fail && std::strcmp(fail, "sign") == 0)
        return SKGATE_SK_ERR_GENERAL;
    size_t key_len = alg == SKGATE_SK_ALG_ED25519 ? 32 + 32 : 32 + 65;
    if (!kh || kh_len != sizeof kMagic + 1 + key_len ||
        std::memcmp(kh, kMagic, sizeof kMagic) != 0 || kh[sizeof kMagic] != alg)
        return SKGATE_SK_ERR_DEVICE_NOT_FOUND;  // not one of ours
    const char* want_pin = std::getenv("SKGATE_TEST_SK_PIN");
    if (want_pin && (key_flags & SKGATE_SK_FLAG_UV_REQUIRED)) {
        if (!pin)
            return SKGATE_SK_ERR_PIN_REQUIRED;
        if (std::strcmp(pin, want_pin) != 0)
            return SKGATE_SK_ERR_GENERAL;
    }

    unsigned long v = 0;
    uint8_t flags = env_number("SKGATE_TEST_SK_FLAGS", &v)
                        ? static_cast<uint8_t>(v)
                        : static_cast<uint8_t>(0x01 | (key_flags & SKGATE_SK_FLAG_UV_REQUIRED));
    uint32_t counter = env_number("SKGATE_TEST_SK_COUNTER", &v) ? static_cast<uint32_t>(v) : 1;
    const char* counter_file = std::getenv("SKGATE_TEST_SK_COUNTER_FILE");
    if (counter_file && *counter_file && !next_counter_from_file(counter_file, &counter))
        return SKGATE_SK_ERR_GENERAL;

    const uint8_t* priv = kh + sizeof kMagic + 1;
    auto key =
        skgate::test::SoftSkKey::from_raw(to_algorithm(alg), skgate::ByteView(priv, 32),
                                          skgate::ByteView(priv + 32, key_len - 32), application);
    if (!key)
        return SKGATE_SK_ERR_GENERAL;
    skgate::Bytes sig = key->sign_message(
        skgate::sk_signed_message(application, flags, counter, skgate::ByteView(data, data_len)));

    auto* r = static_cast<sk_sign_response*>(std::calloc(1, sizeof(sk_sign_response)));
    if (!r)
        return SKGATE_SK_ERR_GENERAL;
    r->flags = flags;
    r->counter = counter;
    if (alg == SKGATE_SK_ALG_ED25519) {
        r->sig_r = dup_bytes(sig.data(), sig.size());
        r->sig_r_len = sig.size();
    } else {
        r->sig_r = dup_bytes(sig.data(), 32);
        r->sig_r_len = 32;
        r->sig_s = dup_bytes(sig.data() + 32, 32);
        r->sig_s_len = 32;
    }
    *out = r;
    return 0;
}

}  // namespace

SK_EXPORT uint32_t sk_api_version(void) {
    return SKGATE_SK_VERSION_MAJOR;
}

SK_EXPORT int sk_enroll(uint32_t alg, const uint8_t* challenge, size_t challenge_len,
                        const char* application, uint8_t flags, const char* /*pin*/,
                        struct sk_option** /*options*/,
                        struct sk_enroll_response** enroll_response) {
    try {
        return do_enroll(alg, challenge, challenge_len, application, flags, enroll_response);
    } catch (...) {
        return SKGATE_SK_ERR_GENERAL;
    }
}

SK_EXPORT int sk_sign(uint32_t alg, const uint8_t* data, size_t data_len, const char* application,
                      const uint8_t* key_handle, size_t key_handle_len, uint8_t flags,
                      const char* pin, struct sk_option** /*options*/,
                      struct sk_sign_response** sign_response) {
    try {
        return do_sign(alg, data, data_len, application, key_handle, key_handle_len, flags, pin,
                       sign_response);
    } catch (...) {
        return SKGATE_SK_ERR_GENERAL;
    }
}

SK_EXPORT int sk_load_resident_keys(const char* /*pin*/, struct sk_option** /*options*/,
                                    struct sk_resident_key*** /*rks*/, size_t* /*nrks*/) {
    return SKGATE_SK_ERR_UNSUPPORTED;
}
