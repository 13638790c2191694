// The block `skgate-agent setup` keeps in ~/.ssh/config. Pure text functions,
// so that adding and removing are exact: remove(add(x)) == x, byte for byte.
#pragma once

#include <string>
#include <vector>

#include "core/sys/result.h"

namespace skgate::agent {

inline constexpr const char* kBlockBegin = "# Begin skgate";
inline constexpr const char* kBlockEnd = "# End skgate";

struct SshConfigEdit {
    std::string text;
    bool changed = false;
};

// `hosts` empty means every host. The block goes first, because ssh uses the
// first value it finds; it ends with `Host *` so that whatever follows in the
// file keeps applying to every host. An existing block is replaced in place.
// `created` marks a file setup created, so remove_block can delete it.
Result<SshConfigEdit> add_block(const std::string& config, const std::string& socket_path,
                                const std::vector<std::string>& hosts, bool created);
// The Host sections outside skgate's block that set their own IdentityAgent
// (not `Host *`, not Match sections): their positive patterns, which the
// block excludes ("!github.com") so that they keep their agent, and the
// names they negate ("!jump.corp"), which are not theirs.
struct OwnAgentHosts {
    std::vector<std::string> excluded;
    std::vector<std::string> negated;
};
OwnAgentHosts hosts_with_own_agent(const std::string& config);
// Takes the block out; `*delete_file` says the file held nothing else and was
// created by setup.
Result<SshConfigEdit> remove_block(const std::string& config, bool* delete_file);

}  // namespace skgate::agent
