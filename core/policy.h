// skgate.conf(5): sshd_config syntax and semantics. Global settings, then
// `Match User|Group|All` blocks; for each keyword the first value that
// applies to a user wins.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/safefile.h"

namespace skgate {

inline constexpr const char* kDefaultConfigPath = SKGATE_SYSCONFDIR "/skgate/skgate.conf";
inline constexpr size_t kMaxConfigBytes = 256 * 1024;

enum class Mode { enforce, audit };
enum class CounterCheck { strict, warn, off };
enum class KeySource { local, authorized_keys, metadata, http, ldap };

std::string_view to_string(Mode m);
std::string_view to_string(CounterCheck c);
std::string_view to_string(KeySource s);

// What applies to one user after Match blocks are resolved.
struct UserPolicy {
    Mode mode = Mode::enforce;
    std::vector<KeySource> key_sources{KeySource::local};
    bool require_security_key = true;
    bool touch_required = true;
    bool verify_required = false;
    bool require_attestation = false;
    std::vector<std::string> allowed_authenticators;  // AAGUIDs, lower case; empty = any
    std::optional<int64_t> key_max_age_seconds;
    CounterCheck counter_check = CounterCheck::strict;
    int64_t stepup_timeout_seconds = 60;
};

// Settings that cannot vary per user (they are not allowed in Match blocks).
struct GlobalPolicy {
    std::string keys_directory = SKGATE_SYSCONFDIR "/skgate/keys.d";
    std::string revoked_keys = SKGATE_SYSCONFDIR "/skgate/revoked";
    std::string state_directory = SKGATE_LOCALSTATEDIR "/lib/skgate";
    std::string attestation_roots;  // empty: no roots configured
    std::vector<std::string> break_glass_users;
};

struct UserContext {
    std::string user;
    // Called only when a `Match Group` needs it; an error makes the lookup
    // fail rather than silently skipping the block.
    std::function<Result<std::vector<std::string>>()> groups;
};

class Policy {
  public:
    Policy();
    ~Policy();
    Policy(Policy&&) noexcept;
    Policy& operator=(Policy&&) noexcept;

    // Every error, one per line, as "FILE:LINE: Keyword: reason".
    static Result<Policy> parse(std::string_view text, std::string_view filename);
    // Reads the file with FileRules (root-owned, not writable by others).
    static Result<Policy> load(const std::string& path, const FileRules& rules = {});
    // Loads `path`; a missing file at the default path gives the defaults.
    static Result<Policy> load_or_default(const std::string& path, const FileRules& rules = {});

    const GlobalPolicy& global() const;
    Result<UserPolicy> for_user(const UserContext& ctx) const;
    bool is_break_glass(std::string_view user) const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// sshd's time format: a sequence of NUMBER[s|m|h|d|w], e.g. "1h30m".
Result<int64_t> parse_duration(std::string_view text);
// An AAGUID in 8-4-4-4-12 hex form, returned in lower case.
Result<std::string> parse_aaguid(std::string_view text);

}  // namespace skgate
