// Keys from the remote sources as a lookup sees them (DESIGN.md section 9):
// a fresh cache answers without the network; otherwise skgate-fetch asks the
// source within what is left of the lookup's time budget, and the answer is
// cached. When the source cannot be asked, SourceOutage decides: the last
// good answer (no older than SourceCacheMaxAge) or no keys from it.
//
// The network runs in skgate-fetch, a separate program: skgate-keys and
// pam_skgate (inside sshd and sudo) never load libcurl or libldap, and a
// source that hangs is killed at the deadline whatever it is doing.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>

#include "core/policy/policy.h"
#include "core/sources/keysource.h"
#include "core/sys/result.h"

namespace skgate {

#ifndef SKGATE_FETCH_HELPER_PATH
#define SKGATE_FETCH_HELPER_PATH "/usr/libexec/skgate/skgate-fetch"
#endif

// The one rule for which skgate-fetch runs, for skgate-keys and skgatectl
// alike: the skgate-fetch in the running program's own directory when it
// could only have been put there by root (root's regular file, not a
// symlink, writable by nobody else, in directories root owns that nobody
// else can write to or rename it out of), as sshd demands of the
// AuthorizedKeysCommand; else the installed SKGATE_FETCH_HELPER_PATH.
std::string find_fetch_helper();

// skgate-fetch's exit statuses (sysexits(3)), shared with its main.
inline constexpr int kFetchOk = 0;
inline constexpr int kFetchUsage = 64;
inline constexpr int kFetchBadAnswer = 65;
inline constexpr int kFetchUnavailable = 69;
inline constexpr int kFetchInternal = 70;
inline constexpr int kFetchConfig = 78;

struct RemoteAccess {
    // false: the cache only, up to SourceCacheMaxAge whatever SourceOutage
    // says (pam_skgate: skgate-keys fetched for this login; sudo must not
    // start network clients as root).
    bool may_fetch = true;
    std::string config_path = kDefaultConfigPath;
    std::string fetch_helper = SKGATE_FETCH_HELPER_PATH;
    uint64_t deadline_us = 0;  // monotonic; the end of the lookup's budget
    std::time_t now = 0;
};

enum class SourceState {
    fresh,    // the cache was young enough: no network
    fetched,  // asked now
    cached,   // outage: the last good answer was served
    denied,   // outage or refusal: no keys from this source
};
std::string_view to_string(SourceState s);

struct SourceStatus {
    KeySource source = KeySource::metadata;
    SourceState state = SourceState::denied;
    std::optional<int64_t> cache_age;  // seconds, when the cache was used
    size_t keys = 0;
    std::string error;        // why the source was not asked or failed
    uint64_t latency_us = 0;  // the fetch alone, when there was one
    bool refused = false;     // denied: the source refused skgate's credentials or settings

    std::string describe() const;
};

struct RemoteSourceResult {
    SourceResult keys;
    SourceStatus status;
};

RemoteSourceResult keys_from_remote(const Policy& policy, KeySource source, const std::string& user,
                                    const RemoteAccess& access);

// Runs skgate-fetch for one source and user, bypassing the cache: what
// `skgatectl sources test` reports. Errors carry the helper's own message.
struct FetchOutcome {
    std::vector<CandidateKey> keys;
    std::vector<std::string> refused;
    uint64_t latency_us = 0;
};
Result<FetchOutcome> fetch_remote(KeySource source, const std::string& user,
                                  const std::string& config_path, const std::string& helper,
                                  int timeout_ms);

}  // namespace skgate
