// The authenticator's storage: its credentials (private keys, counters) and
// its pairing, in one file encrypted under a key derived from the person's
// passphrase (scrypt, then ChaCha20-Poly1305). The file is 0600 in a 0700
// directory and is replaced atomically, so a crash keeps the old or the new
// counters, never a mix and never a lower counter than one already used.
// An older copy of the file put back (a backup restored) holds lower
// counters: the running authenticator never issues one at or below what it
// issued itself (Authenticator keeps the highest), but a program started on
// the restored file believes it, so servers that check counters may see one
// again; after restoring a backup, expect their warnings.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/link/pairing.h"
#include "core/ssh/sshkey.h"
#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate::authenticator {

inline constexpr size_t kMaxCredentials = 1000;
inline constexpr size_t kMaxVaultBytes = 4 * 1024 * 1024;

struct Credential {
    Bytes id;  // the key handle: random, 16 bytes
    std::string application;
    KeyAlgorithm algorithm = KeyAlgorithm::sk_ecdsa_p256;
    Bytes private_key;
    Bytes public_key;
    uint32_t counter = 0;
    bool verify_required = false;
    std::string name;
    uint64_t created = 0;

    Credential() = default;
    Credential(const Credential&) = default;
    Credential& operator=(const Credential&) = default;
    Credential(Credential&&) noexcept = default;
    Credential& operator=(Credential&&) noexcept = default;
    ~Credential();

    static Result<Credential> parse(ByteView cbor);
    Bytes serialize() const;
};

struct VaultContents {
    std::optional<PairingRecord> pairing;
    std::vector<Credential> credentials;
};

class Vault {
  public:
    // Creates a new, empty vault; refuses to overwrite one.
    static Result<Vault> create(const std::string& path, const std::string& passphrase);
    // Opens and decrypts; a wrong passphrase is an ErrorCode::permission error.
    static Result<Vault> open(const std::string& path, const std::string& passphrase);

    Vault(Vault&&) noexcept;
    Vault& operator=(Vault&&) = delete;
    ~Vault();

    // What was read last (open, or the last update).
    const VaultContents& contents() const { return contents_; }
    // Reads the file again under a lock (vault.lock), applies `change` and
    // writes the result, so that changes made meanwhile by another program
    // are kept. A `change` that fails leaves file and contents as they were.
    Status update(const std::function<Status(VaultContents&)>& change);
    // Whether `pin` is the vault's passphrase (user verification).
    Result<bool> check_passphrase(const std::string& pin) const;

  private:
    Vault() = default;
    // Encrypts and atomically replaces the file.
    Status save();
    std::mutex update_mutex_;
    std::string path_;
    Bytes salt_;
    uint32_t log2_n_ = 0;
    Bytes key_;
    VaultContents contents_;
};

}  // namespace skgate::authenticator
