#include "agent/ssh_config.h"

namespace skgate::agent {

namespace {

constexpr const char* kCreatedMark =
    "# (skgate-agent created this file; `skgate-agent setup --remove` deletes it if empty)";

struct Located {
    size_t begin = std::string::npos;  // offset of the begin line
    size_t end = std::string::npos;    // offset just after the end line's newline
    bool created = false;
};

// The block's lines exactly as written, so a hand-edited block is refused
// rather than half-removed.
Result<Located> locate(const std::string& config) {
    Located loc;
    size_t pos = 0;
    while (pos < config.size()) {
        size_t nl = config.find('\n', pos);
        size_t line_end = nl == std::string::npos ? config.size() : nl;
        std::string_view line(config.data() + pos, line_end - pos);
        size_t next = nl == std::string::npos ? config.size() : nl + 1;
        if (line == kBlockBegin) {
            if (loc.begin != std::string::npos)
                return invalid("~/.ssh/config has two '# Begin skgate' lines; fix it by hand");
            loc.begin = pos;
        } else if (line == kBlockEnd) {
            if (loc.begin == std::string::npos || loc.end != std::string::npos)
                return invalid("~/.ssh/config has a stray '# End skgate' line; fix it by hand");
            if (nl == std::string::npos)
                return invalid("~/.ssh/config: the skgate block's end line has no newline");
            loc.end = next;
        } else if (line == kCreatedMark && loc.begin != std::string::npos &&
                   loc.end == std::string::npos) {
            loc.created = true;
        }
        pos = next;
    }
    if (loc.begin != std::string::npos && loc.end == std::string::npos)
        return invalid("~/.ssh/config has '# Begin skgate' without '# End skgate'; fix it by hand");
    return loc;
}

bool safe_token(const std::string& s) {
    if (s.empty() || s.size() > 255)
        return false;
    for (char c : s)
        if (static_cast<unsigned char>(c) <= ' ' || c == '"' || c == '#' || c == 0x7f)
            return false;
    return true;
}

}  // namespace

Result<SshConfigEdit> add_block(const std::string& config, const std::string& socket_path,
                                const std::vector<std::string>& hosts, bool created) {
    if (socket_path.empty() || socket_path[0] != '/' ||
        socket_path.find_first_of("\"\n\r") != std::string::npos)
        return invalid("agent socket path '" + socket_path + "' cannot go into ~/.ssh/config");
    for (const auto& h : hosts)
        if (!safe_token(h))
            return invalid("host pattern '" + h + "' is not a single ssh_config word");
    SKGATE_TRY(loc, locate(config));
    std::string block = std::string(kBlockBegin) + "\n";
    if (created || loc.created)
        block += std::string(kCreatedMark) + "\n";
    block +=
        "# Managed by skgate-agent setup: ssh asks skgate-agent for security-key\n"
        "# signatures. `skgate-agent setup --remove` takes this block out.\n";
    std::string host_line = "Host *";
    if (!hosts.empty()) {
        host_line = "Host";
        for (const auto& h : hosts)
            host_line += " " + h;
    }
    block += host_line + "\n    IdentityAgent \"" + socket_path + "\"\nHost *\n" + kBlockEnd + "\n";
    std::string out;
    if (loc.begin == std::string::npos)
        out = block + config;
    else
        out = config.substr(0, loc.begin) + block + config.substr(loc.end);
    return SshConfigEdit{out, out != config};
}

Result<SshConfigEdit> remove_block(const std::string& config, bool* delete_file) {
    *delete_file = false;
    SKGATE_TRY(loc, locate(config));
    if (loc.begin == std::string::npos)
        return SshConfigEdit{config, false};
    std::string out = config.substr(0, loc.begin) + config.substr(loc.end);
    *delete_file = loc.created && out.empty();
    return SshConfigEdit{out, true};
}

}  // namespace skgate::agent
