// /etc/skgate/revoked: keys that never pass, whatever their source. One
// public key per line (which sshd's RevokedKeys also reads) or a
// "SHA256:..." fingerprint. A line that does not parse is an error, not a
// skip: an unreadable revocation could let a revoked key back in.
#pragma once

#include <set>
#include <string>

#include "core/result.h"
#include "core/sshkey.h"

namespace skgate {

class RevocationList {
  public:
    static Result<RevocationList> parse(std::string_view text, const std::string& filename);
    // A missing file is an empty list; an unsafe or unreadable one is an error.
    static Result<RevocationList> load(const std::string& path);
    // Appends the key (as a key line) under a lock, atomically.
    static Status append(const std::string& path, const PublicKey& key, const std::string& comment);
    // Appends a bare fingerprint, for a key skgate has never seen (sshd's
    // RevokedKeys skips such lines; skgate honours them).
    static Status append_fingerprint(const std::string& path, const std::string& fingerprint);
    static bool is_fingerprint(std::string_view text);
    bool is_revoked(const std::string& fingerprint) const {
        return fingerprints_.count(fingerprint) > 0;
    }

    bool is_revoked(const PublicKey& key) const {
        return fingerprints_.count(key.fingerprint()) > 0;
    }
    size_t size() const { return fingerprints_.size(); }

  private:
    std::set<std::string> fingerprints_;
};

}  // namespace skgate
