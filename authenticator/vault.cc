#include "authenticator/vault.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "core/fido/cbor_fields.h"
#include "core/link/channel_crypto.h"
#include "core/ssh/ossl.h"
#include "core/ssh/wire.h"
#include "core/sys/atomicfile.h"
#include "core/sys/openssl_ptr.h"
#include "core/sys/safefile.h"

namespace skgate::authenticator {

namespace {

constexpr std::string_view kMagic = "skgate-vault-v1";
// scrypt N = 2^15, r = 8, p = 1: 32 MiB and about 0.1 s here, as
// recommended for interactive logins; stored in the file so it can grow.
constexpr uint32_t kDefaultLog2N = 15;
constexpr uint32_t kMinLog2N = 14, kMaxLog2N = 20;
constexpr uint64_t kScryptR = 8, kScryptP = 1;
constexpr size_t kSaltBytes = 16;

Result<Bytes> derive_key(const std::string& passphrase, ByteView salt, uint32_t log2_n) {
    ossl::KdfCtxPtr ctx = ossl::new_kdf_ctx("SCRYPT");
    if (!ctx)
        return make_error(ErrorCode::crypto, "scrypt: " + ossl::last_error());
    uint64_t n = uint64_t{1} << log2_n, r = kScryptR, p = kScryptP;
    uint64_t maxmem = 256u * 1024 * 1024;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                          const_cast<char*>(passphrase.data()), passphrase.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()),
                                          salt.size()),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end(),
    };
    Bytes key(kAeadKeyBytes);
    int rc = EVP_KDF_derive(ctx.get(), key.data(), key.size(), params);
    if (rc != 1)
        return make_error(ErrorCode::crypto, "scrypt: " + ossl::last_error());
    return key;
}

Result<std::string> read_vault_file(const std::string& path) {
    auto data = read_trusted_file(path, FileRules::own_secret(kMaxVaultBytes));
    if (!data && data.error().code == ErrorCode::not_found)
        return make_error(ErrorCode::not_found, "no authenticator vault at " + path +
                                                    " (run `skgate-authenticator init` first)");
    return data;
}

Result<VaultContents> parse_contents(ByteView plain) {
    WireReader r(plain);
    VaultContents c;
    SKGATE_TRY(pairing, r.read_string());
    if (!pairing.empty()) {
        SKGATE_TRY(rec, PairingRecord::parse(pairing));
        c.pairing = std::move(rec);
    }
    SKGATE_TRY(n, r.read_u32());
    if (n > kMaxCredentials)
        return invalid("vault holds more than " + std::to_string(kMaxCredentials) + " keys");
    for (uint32_t i = 0; i < n; i++) {
        SKGATE_TRY(blob, r.read_string());
        SKGATE_TRY(cred, Credential::parse(blob));
        c.credentials.push_back(std::move(cred));
    }
    SKGATE_CHECK(r.expect_end("the vault"));
    return c;
}

Bytes serialize_contents(const VaultContents& c) {
    WireWriter w;
    w.put_string(c.pairing ? c.pairing->serialize() : Bytes{});
    w.put_u32(static_cast<uint32_t>(c.credentials.size()));
    for (const auto& cred : c.credentials)
        w.put_string(cred.serialize());
    return std::move(w).take();
}

}  // namespace

Credential::~Credential() {
    wipe(private_key);
}

Result<Credential> Credential::parse(ByteView cbor) {
    SKGATE_TRY(f, CborFields::parse(cbor));
    Credential c;
    SKGATE_TRY(id, f.get_bytes(1, "credential id", 64));
    SKGATE_TRY(app, f.get_text(2, "application", kMaxApplicationBytes));
    SKGATE_TRY(alg, f.get_uint(3, "algorithm"));
    SKGATE_TRY(priv, f.get_bytes(4, "private key", 32));
    SKGATE_TRY(pub, f.get_bytes(5, "public key", 65));
    SKGATE_TRY(counter, f.get_uint(6, "counter"));
    SKGATE_TRY(uv, f.get_uint(7, "verify-required"));
    SKGATE_TRY(name, f.get_text(8, "name", 256));
    SKGATE_TRY(created, f.get_uint(9, "creation time"));
    if (alg > 1 || counter > 0xffffffffu || priv.size() != 32 ||
        pub.size() != (alg == 1 ? 32u : 65u))
        return invalid("vault credential is malformed");
    c.id = std::move(id);
    c.application = std::move(app);
    c.algorithm = alg == 1 ? KeyAlgorithm::sk_ed25519 : KeyAlgorithm::sk_ecdsa_p256;
    c.private_key = std::move(priv);
    c.public_key = std::move(pub);
    c.counter = static_cast<uint32_t>(counter);
    c.verify_required = uv != 0;
    c.name = std::move(name);
    c.created = created;
    return c;
}

Bytes Credential::serialize() const {
    CborFields f;
    f.set(1, id);
    f.set(2, application);
    f.set(3, uint64_t{algorithm == KeyAlgorithm::sk_ed25519 ? 1u : 0u});
    f.set(4, private_key);
    f.set(5, public_key);
    f.set(6, uint64_t{counter});
    f.set(7, uint64_t{verify_required ? 1u : 0u});
    f.set(8, name);
    f.set(9, created);
    return f.encode();
}

Vault::Vault(Vault&& o) noexcept
    : path_(std::move(o.path_)),
      salt_(std::move(o.salt_)),
      log2_n_(o.log2_n_),
      key_(std::move(o.key_)),
      contents_(std::move(o.contents_)) {}

Vault::~Vault() {
    wipe(key_);
}

Result<Vault> Vault::create(const std::string& path, const std::string& passphrase) {
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0)
        return make_error(ErrorCode::permission,
                          path + " already exists: the authenticator is initialised");
    if (passphrase.size() < 6)
        return invalid("the passphrase must have at least 6 characters");
    Vault v;
    v.path_ = path;
    v.log2_n_ = kDefaultLog2N;
    SKGATE_TRY(salt, random_bytes(kSaltBytes));
    v.salt_ = std::move(salt);
    SKGATE_TRY(key, derive_key(passphrase, v.salt_, v.log2_n_));
    v.key_ = std::move(key);
    SKGATE_CHECK(v.save());
    return v;
}

namespace {

// The file's fields, checked for range; nothing decrypted yet.
struct VaultFile {
    uint32_t log2_n = 0;
    Bytes salt, nonce, sealed;
};

Result<VaultFile> read_vault_header(const std::string& path) {
    SKGATE_TRY(file, read_vault_file(path));
    WireReader r(as_bytes(file));
    SKGATE_TRY(magic, r.read_string());
    if (as_chars(magic) != kMagic)
        return invalid(path + " is not a skgate authenticator vault");
    SKGATE_TRY(log2_n, r.read_u32());
    SKGATE_TRY(salt, r.read_string());
    SKGATE_TRY(nonce, r.read_string());
    SKGATE_TRY(sealed, r.read_string());
    SKGATE_CHECK(r.expect_end("the vault file"));
    if (log2_n < kMinLog2N || log2_n > kMaxLog2N || salt.size() != kSaltBytes ||
        nonce.size() != kAeadNonceBytes)
        return invalid(path + ": vault header out of range");
    return VaultFile{.log2_n = log2_n,
                     .salt = to_bytes(salt),
                     .nonce = to_bytes(nonce),
                     .sealed = to_bytes(sealed)};
}

Result<VaultContents> decrypt_contents(const std::string& path, const VaultFile& f, ByteView key) {
    auto plain = aead_open(key, f.nonce, as_bytes(kMagic), f.sealed);
    if (!plain)
        return make_error(ErrorCode::permission, "wrong passphrase for " + path);
    auto contents = parse_contents(*plain);
    wipe(*plain);
    if (!contents)
        return contents.error().context(path);
    return contents;
}

// Held while a process reads, changes and writes the vault, so that two
// programs using it at once (run's counters, pair's pairing) lose nothing.
class VaultLock {
  public:
    static Result<VaultLock> take(const std::string& vault_path) {
        std::string path = vault_path + ".lock";
        int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            return make_error(ErrorCode::io, "cannot open " + path + ": " + std::strerror(errno));
        while (flock(fd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                int e = errno;
                close(fd);
                return make_error(ErrorCode::io, "cannot lock " + path + ": " + std::strerror(e));
            }
        }
        return VaultLock(fd);
    }
    VaultLock(VaultLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    VaultLock& operator=(VaultLock&&) = delete;
    ~VaultLock() {
        if (fd_ >= 0)
            close(fd_);  // releases the lock
    }

  private:
    explicit VaultLock(int fd) : fd_(fd) {}
    int fd_;
};

}  // namespace

Result<Vault> Vault::open(const std::string& path, const std::string& passphrase) {
    SKGATE_TRY(file, read_vault_header(path));
    Vault v;
    v.path_ = path;
    v.log2_n_ = file.log2_n;
    v.salt_ = file.salt;
    SKGATE_TRY(key, derive_key(passphrase, v.salt_, file.log2_n));
    v.key_ = std::move(key);
    SKGATE_TRY(contents, decrypt_contents(path, file, v.key_));
    v.contents_ = std::move(contents);
    return v;
}

Status Vault::update(const std::function<Status(VaultContents&)>& change) {
    std::lock_guard<std::mutex> serial(update_mutex_);
    SKGATE_TRY(lock, VaultLock::take(path_));
    SKGATE_TRY(file, read_vault_header(path_));
    if (file.log2_n != log2_n_ || !equal_bytes(file.salt, salt_))
        return make_error(ErrorCode::permission,
                          path_ +
                              " was made again with another passphrase since it was opened; "
                              "start this program again");
    SKGATE_TRY(current, decrypt_contents(path_, file, key_));
    contents_ = std::move(current);
    VaultContents before = contents_;
    if (Status st = change(contents_); !st) {
        contents_ = std::move(before);
        return st;
    }
    if (Status st = save(); !st) {
        contents_ = std::move(before);
        return st;
    }
    (void)lock;
    return {};
}

Status Vault::save() {
    Bytes plain = serialize_contents(contents_);
    SKGATE_TRY(nonce, random_bytes(kAeadNonceBytes));
    auto sealed = aead_seal(key_, nonce, as_bytes(kMagic), plain);
    wipe(plain);
    if (!sealed)
        return sealed.error();
    WireWriter w;
    w.put_string(kMagic);
    w.put_u32(log2_n_);
    w.put_string(salt_);
    w.put_string(nonce);
    w.put_string(*sealed);
    return write_file_atomic(path_, std::string(as_chars(w.bytes())), FileOwner::self(0600));
}

Result<bool> Vault::check_passphrase(const std::string& pin) const {
    SKGATE_TRY(key, derive_key(pin, salt_, log2_n_));
    bool same =
        key.size() == key_.size() && CRYPTO_memcmp(key.data(), key_.data(), key.size()) == 0;
    wipe(key);
    return same;
}

}  // namespace skgate::authenticator
