// Signature counters per key (DESIGN.md sections 5 and 7), in the
// "counters" state file. A check-and-store never loses a concurrent update
// and never accepts a counter that went backwards.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>

#include "core/store/statefile.h"
#include "core/sys/atomicfile.h"
#include "core/sys/result.h"

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

// One counter per credential ("keycounters"), shared by every account the
// key is enrolled for: a clone used as another account is still caught.
// The older per-user values ("counters") are read as a floor, so an
// upgrade never lowers a counter.
class CounterStore {
  public:
    explicit CounterStore(const std::string& state_directory)
        : dir_(state_directory),
          keys_(state_directory, "keycounters"),
          legacy_(state_directory, "counters") {}

    // Compares `counter` with the stored value and stores it unless stale.
    Result<CounterCheckResult> check_and_store(const std::string& user,
                                               const std::string& fingerprint, uint32_t counter);
    Result<std::optional<uint32_t>> stored(const std::string& user,
                                           const std::string& fingerprint) const;

    // Serialises the step-ups with one key, whatever account they are for,
    // from the signature request to the counter update, so that honest
    // concurrent step-ups never complete out of order and look like a clone;
    // bounded by the deadline.
    Result<FileLock> lock_key(const std::string& fingerprint, uint64_t deadline_us) const;

  private:
    std::string dir_;
    KeyedState keys_;
    KeyedState legacy_;
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
