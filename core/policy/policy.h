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

#include "core/policy/settings.h"
#include "core/sys/result.h"
#include "core/sys/safefile.h"

namespace skgate {

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

// An AAGUID in 8-4-4-4-12 hex form, returned in lower case.
Result<std::string> parse_aaguid(std::string_view text);

}  // namespace skgate
