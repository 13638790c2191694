#include "agent/ssh_config.h"

#include <algorithm>

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

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// A config line's keyword and its arguments (split on blanks; "Key=value"
// as ssh_config allows); comments and blank lines give no keyword.
std::vector<std::string> words_of(std::string_view line) {
    std::vector<std::string> words;
    std::string cur;
    for (char c : line) {
        if (c == '#' && cur.empty() && words.empty())
            return {};
        bool sep = c == ' ' || c == '\t' || c == '\r' || (c == '=' && words.empty());
        if (sep) {
            if (!cur.empty())
                words.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty())
        words.push_back(cur);
    return words;
}

}  // namespace

OwnAgentHosts hosts_with_own_agent(const std::string& config) {
    OwnAgentHosts found;
    auto loc = locate(config);
    std::vector<std::string> current;  // the Host line in force (empty: top or Match)
    size_t pos = 0;
    while (pos < config.size()) {
        size_t nl = config.find('\n', pos);
        size_t line_end = nl == std::string::npos ? config.size() : nl;
        size_t next = nl == std::string::npos ? config.size() : nl + 1;
        bool ours = loc && loc->begin != std::string::npos && pos >= loc->begin && pos < loc->end;
        if (!ours) {
            auto words = words_of(std::string_view(config).substr(pos, line_end - pos));
            std::string key = words.empty() ? "" : lower(words[0]);
            if (key == "host") {
                current.assign(words.begin() + 1, words.end());
            } else if (key == "match") {
                current.clear();
            } else if (key == "identityagent") {
                auto add = [](std::vector<std::string>& to, const std::string& h) {
                    if (safe_token(h) && std::find(to.begin(), to.end(), h) == to.end())
                        to.push_back(h);
                };
                bool catch_all = std::find(current.begin(), current.end(), "*") != current.end();
                for (const auto& h : current) {
                    if (catch_all)
                        break;
                    if (h[0] == '!')
                        add(found.negated, h.substr(1));
                    else
                        add(found.excluded, h);
                }
            }
        }
        pos = next;
    }
    // A name the user excluded from one section may be excluded by another.
    std::erase_if(found.negated, [&](const std::string& h) {
        return std::find(found.excluded.begin(), found.excluded.end(), h) != found.excluded.end();
    });
    return found;
}

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
    // A host the user sent to another agent keeps it: ssh takes the first
    // IdentityAgent it finds, and this block comes first. The names a user's
    // section carved out of its own pattern ("Host *.corp !jump.corp") are
    // skgate's again, in a section of their own before the exclusions.
    OwnAgentHosts own = hosts_with_own_agent(config);
    for (const auto& h : own.excluded)
        host_line += " !" + h;
    std::string agent_line = "    IdentityAgent \"" + socket_path + "\"\n";
    if (hosts.empty() && !own.excluded.empty() && !own.negated.empty()) {
        std::string again = "Host";
        for (const auto& h : own.negated)
            again += " " + h;
        block += again + "\n" + agent_line;
    }
    block += host_line + "\n" + agent_line + "Host *\n" + kBlockEnd + "\n";
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
