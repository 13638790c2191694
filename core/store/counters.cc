#include "core/store/counters.h"

#include <algorithm>

#include "core/sys/sha256.h"
#include "core/sys/text.h"
#include "core/sys/username.h"

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

namespace {

bool valid_fingerprint(const std::string& fp) {
    return fp.starts_with("SHA256:") && fp.find_first_of(" \n") == std::string::npos;
}

// The state file of one credential: a name made of hex digits only.
std::string key_bucket(const std::string& fp) {
    Sha256 h = sha256(as_bytes(fp));
    return "key-" + hex_encode(ByteView(h).first(12));
}

}  // namespace

Result<CounterCheckResult> CounterStore::check_and_store(const std::string& user,
                                                         const std::string& fp, uint32_t counter) {
    if (!valid_fingerprint(fp))
        return invalid("bad fingerprint for the counter store");
    SKGATE_TRY(old, legacy_.load(user));
    std::optional<uint64_t> floor;
    if (auto it = old.find(fp); it != old.end())
        floor = it->second;
    CounterCheckResult r;
    SKGATE_CHECK(keys_.update(key_bucket(fp), [&](KeyedValues& values) -> Result<bool> {
        std::optional<uint64_t> stored = floor;
        if (auto it = values.find(fp); it != values.end())
            stored = std::max(it->second, stored.value_or(0));
        if (!stored) {
            r.verdict = CounterVerdict::first_use;
        } else {
            r.stored = static_cast<uint32_t>(*stored);
            if (counter > *stored)
                r.verdict = CounterVerdict::increased;
            else if (counter == 0 && *stored == 0)
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
    if (!valid_fingerprint(fp))
        return invalid("bad fingerprint for the counter store");
    SKGATE_TRY(values, keys_.load(key_bucket(fp)));
    SKGATE_TRY(old, legacy_.load(user));
    std::optional<uint32_t> out;
    if (auto it = values.find(fp); it != values.end())
        out = static_cast<uint32_t>(it->second);
    if (auto it = old.find(fp); it != old.end() && (!out || it->second > *out))
        out = static_cast<uint32_t>(it->second);
    return out;
}

Result<FileLock> CounterStore::lock_key(const std::string& fp, uint64_t deadline_us) const {
    if (!valid_fingerprint(fp))
        return invalid("bad fingerprint for the counter store");
    SKGATE_CHECK(ensure_directory(dir_, {0, 0, 0755}));
    SKGATE_CHECK(ensure_directory(dir_ + "/keycounters", {0, 0, 0700}));
    // Per key, like the counter: step-ups with one authenticator from two
    // accounts are serialised too, so neither is taken for a clone. One held
    // open (a stopped sudo) delays that key's others, at most to their deadline.
    return FileLock::acquire_until(dir_ + "/keycounters/." + key_bucket(fp) + ".stepup",
                                   deadline_us);
}

Status LastUseStore::record(const std::string& user, const std::string& fp, std::time_t when) {
    return state_.update(user, [&](KeyedValues& values) -> Result<bool> {
        values[fp] = static_cast<uint64_t>(when);
        return true;
    });
}

}  // namespace skgate
