// At most one audit event of a kind per interval: a refused link handshake
// is something a stranger on the network can cause at will, and each must
// not be a journal entry. The next one recorded says how many were not.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>

namespace skgate::agent {

inline constexpr uint64_t kLinkRefusalAuditIntervalUs = 10'000'000;

class EventRateLimit {
  public:
    explicit EventRateLimit(uint64_t interval_us = kLinkRefusalAuditIntervalUs)
        : interval_us_(interval_us) {}

    // Whether an event at `now_us` (a monotonic clock) is recorded: if so,
    // how many were left out since the last one recorded; if not, nothing
    // (and it is counted).
    std::optional<uint64_t> admit(uint64_t now_us);

  private:
    const uint64_t interval_us_;
    std::mutex mutex_;
    bool any_ = false;
    uint64_t last_us_ = 0;
    uint64_t suppressed_ = 0;
};

}  // namespace skgate::agent
