// Signature counters per key (DESIGN.md sections 5 and 7), in the
// "counters" state file. A check-and-store never loses a concurrent update
// and never accepts a counter that went backwards.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>

#include "core/result.h"
#include "core/statefile.h"

namespace skgate {

enum class CounterVerdict {
    first_use,   // nothing stored yet
    increased,   // strictly greater than the stored value
    no_counter,  // 0 now and before: an authenticator without a counter
    stale,       // not greater: a replay, or a cloned authenticator
};

struct CounterCheckResult {
    CounterVerdict verdict = CounterVerdict::first_use;
    uint32_t stored = 0;  // the value before this check
};

std::string_view to_string(CounterVerdict v);

class CounterStore {
  public:
    explicit CounterStore(const std::string& state_directory)
        : state_(state_directory, "counters") {}

    // Compares `counter` with the stored value and stores it unless stale.
    Result<CounterCheckResult> check_and_store(const std::string& user,
                                               const std::string& fingerprint, uint32_t counter);
    Result<std::optional<uint32_t>> stored(const std::string& user,
                                           const std::string& fingerprint) const;

  private:
    KeyedState state_;
};

// When each key last logged in (epoch seconds), in the "lastuse" state file.
class LastUseStore {
  public:
    explicit LastUseStore(const std::string& state_directory)
        : state_(state_directory, "lastuse") {}
    Status record(const std::string& user, const std::string& fingerprint, std::time_t when);
    Result<KeyedValues> load(const std::string& user) const { return state_.load(user); }

  private:
    KeyedState state_;
};

}  // namespace skgate
