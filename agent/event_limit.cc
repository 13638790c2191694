#include "agent/event_limit.h"

namespace skgate::agent {

std::optional<uint64_t> EventRateLimit::admit(uint64_t now_us) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (any_ && now_us >= last_us_ && now_us - last_us_ < interval_us_) {
        ++suppressed_;
        return std::nullopt;
    }
    any_ = true;
    last_us_ = now_us;
    uint64_t left_out = suppressed_;
    suppressed_ = 0;
    return left_out;
}

}  // namespace skgate::agent
