// A monotonic clock in microseconds, for latency figures in audit events.
#pragma once

#include <cstdint>
#include <ctime>

namespace skgate {

inline uint64_t monotonic_us() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace skgate
