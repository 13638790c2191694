// /etc/skgate/revoked: keys that never pass, whatever their source, in two
// forms that skgatectl revoke keeps together:
// - the list an administrator reads: one public key per line, or a
//   "SHA256:..." fingerprint for a key skgate has never seen;
// - its index, the KRL beside it (revoked.krl, see krl.h), which sshd reads
//   as its own RevokedKeys and skgate searches without reading it all.
// A line that does not parse is an error, not a skip: an unreadable
// revocation could let a revoked key back in.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "core/ssh/krl.h"
#include "core/ssh/sshkey.h"
#include "core/sys/result.h"

namespace skgate {

// The largest list skgatectl revoke writes and skgate reads (about 400,000
// keys); revoke refuses to grow it past this instead of writing a list that
// could not be read.
inline constexpr size_t kMaxRevokedListBytes = 64 * 1024 * 1024;

std::string krl_path_for(const std::string& revoked_list);

// What check-config and status report: the whole list and index read and
// checked (the index must be a KRL skgate can read completely).
struct RevocationStatus {
    size_t listed = 0;  // fingerprints in the list
    size_t list_bytes = 0;
    bool index_exists = false;
    bool index_current = false;  // made from the list as it is now
    size_t indexed = 0;          // hashes in the index
};
Result<RevocationStatus> check_revocations(const std::string& path);

class RevocationList {
  public:
    static Result<RevocationList> parse(std::string_view text, const std::string& filename);
    // The KRL when it is at least as new as the list (the common case: no
    // parsing), else the list itself (edited by hand since). Both missing:
    // an empty list. An unsafe or unreadable file is an error.
    static Result<RevocationList> load(const std::string& path);
    // Appends the key (as a key line) under a lock, atomically, and writes
    // the KRL again.
    static Status append(const std::string& path, const PublicKey& key, const std::string& comment);
    // Appends a bare fingerprint, for a key skgate has never seen.
    static Status append_fingerprint(const std::string& path, const std::string& fingerprint);
    // Writes the KRL from the list (an empty KRL when there is no list), so
    // that sshd, which refuses every key when RevokedKeys is unreadable,
    // always has one.
    static Status rebuild_index(const std::string& path);
    static bool is_fingerprint(std::string_view text);

    bool is_revoked(const std::string& fingerprint) const;
    bool is_revoked(const PublicKey& key) const { return is_revoked(key.fingerprint()); }
    size_t size() const { return index_ ? index_->size() : fingerprints_.size(); }
    bool indexed() const { return index_.has_value(); }
    // The fingerprints of a parsed list (empty when loaded from the KRL).
    const std::set<std::string>& fingerprints() const { return fingerprints_; }

  private:
    std::set<std::string> fingerprints_;
    std::optional<KrlIndex> index_;
};

}  // namespace skgate
