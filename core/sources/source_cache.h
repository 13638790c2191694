// The last-known-good answer of each remote key source, per user, under
// STATE_DIRECTORY/sources/SOURCE/USER (DESIGN.md sections 5 and 9). It lets
// a lookup skip the network while the answer is fresh and, when policy says
// so, serve the last good answer during an outage.
//
// The files are written by skgate-keys (the `skgate` account, which owns
// STATE_DIRECTORY/sources) and read by it and by pam_skgate (root): a cache
// file must be owned by that directory's owner or root and not be writable
// by anyone else, and a malformed file is an error, never an empty answer.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "core/policy/settings.h"
#include "core/sources/remote_keys.h"
#include "core/sys/result.h"

namespace skgate {

struct CachedKeys {
    std::time_t fetched = 0;
    std::vector<RemoteKey> keys;
};

// A source that failed recently is not asked again for this long, so that
// an outage does not turn every login into a wait for the time budget.
inline constexpr std::time_t kSourceRetryAfterSeconds = 15;

class SourceCache {
  public:
    explicit SourceCache(const std::string& state_directory) : dir_(state_directory + "/sources") {}

    // ErrorCode::not_found when nothing was cached for the user.
    Result<CachedKeys> load(KeySource source, const std::string& user) const;
    Status store(KeySource source, const std::string& user, const CachedKeys& keys) const;
    // Removes the user's answer, if any (a source that just failed to answer
    // must not be taken as having said it).
    Status forget(KeySource source, const std::string& user) const;

    // Records a failed fetch; `unreachable_since` answers whether one was
    // recorded within kSourceRetryAfterSeconds of `now`, and why.
    Status note_unreachable(KeySource source, const std::string& reason, std::time_t now) const;
    std::optional<std::string> recently_unreachable(KeySource source, std::time_t now) const;
    Status clear_unreachable(KeySource source) const;

    // Users with a cache file under any source, sorted, for listings.
    std::vector<std::string> users() const;

    const std::string& directory() const { return dir_; }

  private:
    Result<uid_t> directory_owner() const;
    Result<std::string> source_directory(KeySource source, bool create) const;
    std::string dir_;
};

// The cache file's text, and back. Exposed for the tests and the fuzzer.
Result<std::string> format_cached_keys(const CachedKeys& keys);
Result<CachedKeys> parse_cached_keys(std::string_view text);

}  // namespace skgate
