#include "core/counters.h"

namespace skgate {

std::string_view to_string(CounterVerdict v) {
    switch (v) {
        case CounterVerdict::first_use:
            return "first use";
        case CounterVerdict::increased:
            return "counter increased";
        case CounterVerdict::no_counter:
            return "authenticator has no counter";
        case CounterVerdict::stale:
            return "counter did not increase (replayed signature or cloned authenticator)";
    }
    return "";
}

Result<CounterCheckResult> CounterStore::check_and_store(const std::string& user,
                                                         const std::string& fp, uint32_t counter) {
    if (!fp.starts_with("SHA256:") || fp.find_first_of(" \n") != std::string::npos)
        return invalid("bad fingerprint for the counter store");
    CounterCheckResult r;
    SKGATE_CHECK(state_.update(user, [&](KeyedValues& values) -> Result<bool> {
        auto it = values.find(fp);
        if (it == values.end()) {
            r.verdict = CounterVerdict::first_use;
        } else {
            r.stored = static_cast<uint32_t>(it->second);
            if (counter > it->second)
                r.verdict = CounterVerdict::increased;
            else if (counter == 0 && it->second == 0)
                r.verdict = CounterVerdict::no_counter;
            else
                r.verdict = CounterVerdict::stale;
        }
        if (r.verdict == CounterVerdict::stale || r.verdict == CounterVerdict::no_counter)
            return false;
        values[fp] = counter;
        return true;
    }));
    return r;
}

Result<std::optional<uint32_t>> CounterStore::stored(const std::string& user,
                                                     const std::string& fp) const {
    SKGATE_TRY(values, state_.load(user));
    auto it = values.find(fp);
    if (it == values.end())
        return std::optional<uint32_t>{};
    return std::optional<uint32_t>{static_cast<uint32_t>(it->second)};
}

Status LastUseStore::record(const std::string& user, const std::string& fp, std::time_t when) {
    return state_.update(user, [&](KeyedValues& values) -> Result<bool> {
        values[fp] = static_cast<uint64_t>(when);
        return true;
    });
}

}  // namespace skgate
