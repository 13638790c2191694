// OpenSSH's key revocation list (KRL, PROTOCOL.krl) in the one form skgate
// writes: the header and one section of SHA256 key hashes in ascending
// order. sshd reads it as RevokedKeys; skgate looks a key up with a binary
// search over the file, reading about 17 entries of a 100,000-key list, so
// that revocations cost a lookup nothing measurable however many there are.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/sys/bytes.h"
#include "core/sys/result.h"
#include "core/sys/sha256.h"

namespace skgate {

inline constexpr size_t kKrlHashEntryBytes = 4 + 32;  // string public_key_hash

// The KRL for these hashes (sorted and deduplicated here).
Bytes krl_encode(std::vector<Sha256> hashes, uint64_t krl_version, uint64_t generated_date,
                 const std::string& comment);

class KrlIndex {
  public:
    // The file must be root's and writable by nobody else (like the
    // revocation list), hold skgate's layout and nothing else: anything
    // that skgate cannot read completely is an error, never "not revoked".
    static Result<KrlIndex> open(const std::string& path);
    // Checks a KRL in memory the same way (tests, fuzzing).
    static Status validate(ByteView krl);

    Result<bool> contains(const Sha256& hash) const;
    size_t size() const { return count_; }
    uint64_t version() const { return version_; }
    const std::string& comment() const { return comment_; }

  private:
    std::shared_ptr<int> fd_;  // shared: the index is copied with its list
    std::string path_;
    uint64_t entries_offset_ = 0;
    size_t count_ = 0;
    uint64_t version_ = 0;
    std::string comment_;
};

}  // namespace skgate
