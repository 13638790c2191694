// The local key store (DESIGN.md section 5): /etc/skgate/keys.d/<user>, one
// key per line in authorized_keys syntax, skgate's own attributes as the
// option list. Written only by skgatectl; read by skgate-keys and the PAM
// module.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "core/ssh/sshkey.h"
#include "core/sys/result.h"

namespace skgate {

inline constexpr size_t kMaxStoreFileBytes = 1024 * 1024;

struct StoredKey {
    PublicKey key;
    std::string comment;
    std::string name;  // label, e.g. "laptop"
    std::time_t enrolled = 0;
    std::optional<std::time_t> expires;  // no longer valid from this time
    std::string aaguid;                  // from a verified attestation
    std::string attestation;             // "packed", "packed-self", "fido-u2f"; empty: none
    bool uv = false;                     // made with user verification required
    // The attestation's certificate chained to AttestationRoots: only then
    // does its AAGUID say which model made the key.
    bool chained = false;
};

struct StoreFile {
    std::vector<StoredKey> keys;
    // "FILE:LINE: reason" for each line that was skipped.
    std::vector<std::string> warnings;
};

// Malformed lines are skipped with a warning; the rest still count.
StoreFile parse_store(std::string_view text, const std::string& filename);
Result<std::string> format_stored_key(const StoredKey& k);

class KeyStore {
  public:
    explicit KeyStore(std::string directory) : dir_(std::move(directory)) {}

    const std::string& directory() const { return dir_; }
    // Validates the user name before it becomes a path.
    Result<std::string> path_for(const std::string& user) const;
    // A missing file is an empty store; an unsafe one (not root-owned,
    // writable by others, a symlink) is an ErrorCode::permission error.
    Result<StoreFile> load(const std::string& user) const;
    // Adds a key; refuses a key the user already has. Locked and atomic.
    Status add(const std::string& user, const StoredKey& key);
    // Removes the key with this fingerprint; returns the removed entry.
    Result<StoredKey> remove(const std::string& user, const std::string& fingerprint);
    // Users with a store file, sorted.
    Result<std::vector<std::string>> users() const;

  private:
    std::string dir_;
};

}  // namespace skgate
