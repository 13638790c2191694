// Per-user state under STATE_DIRECTORY (DESIGN.md section 5): one file per
// user and kind, "FINGERPRINT NUMBER" lines. Updates run under a per-user
// lock and replace the file atomically; unreadable or malformed state is an
// error, never treated as empty.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "core/sys/result.h"

namespace skgate {

using KeyedValues = std::map<std::string, uint64_t>;

class KeyedState {
  public:
    // kind: "counters", "lastuse", ...
    KeyedState(const std::string& state_directory, const std::string& kind)
        : dir_(state_directory + "/" + kind) {}

    Result<KeyedValues> load(const std::string& user) const;
    // Runs `change` on the current values under the lock; writes them back
    // when it returns true.
    Status update(const std::string& user, const std::function<Result<bool>(KeyedValues&)>& change);

  private:
    std::string dir_;
};

}  // namespace skgate
