#include "agent/known_hosts.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string_view>

#include "core/ssh/sshkey.h"
#include "core/sys/text.h"

namespace skgate::agent {

namespace {

bool names_someone(const std::string& pattern) {
    return !pattern.empty() && pattern.rfind("|1|", 0) != 0 && pattern[0] != '!' &&
           pattern.find_first_of("*?") == std::string::npos;
}

std::string read_capped(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return "";
    std::string text;
    text.resize(kMaxKnownHostsBytes + 1);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
    return text.size() > kMaxKnownHostsBytes ? "" : text;
}

}  // namespace

std::vector<std::string> known_host_names(const std::string& text, const std::string& host_key_fp) {
    std::vector<std::string> names;
    if (host_key_fp.empty())
        return names;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view line(text.data() + pos,
                              (nl == std::string::npos ? text.size() : nl) - pos);
        pos = nl == std::string::npos ? text.size() : nl + 1;
        auto words = split_whitespace(line);
        if (words.size() < 3 || words[0].empty() || words[0][0] == '#' || words[0][0] == '@')
            continue;
        auto key = PublicKey::parse_text(words[1] + " " + words[2]);
        if (!key || key->fingerprint() != host_key_fp)
            continue;
        size_t start = 0;
        const std::string& hosts = words[0];
        while (start <= hosts.size()) {
            size_t comma = hosts.find(',', start);
            std::string h =
                hosts.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            if (names_someone(h) && std::find(names.begin(), names.end(), h) == names.end())
                names.push_back(h);
            if (comma == std::string::npos)
                break;
            start = comma + 1;
        }
    }
    return names;
}

std::string known_host_names_for(const std::string& home, const std::string& host_key_fp,
                                 size_t max_bytes) {
    std::vector<std::string> all;
    for (const std::string& path : {home + "/.ssh/known_hosts", home + "/.ssh/known_hosts2",
                                    std::string("/etc/ssh/ssh_known_hosts")})
        for (auto& n : known_host_names(read_capped(path), host_key_fp))
            if (std::find(all.begin(), all.end(), n) == all.end())
                all.push_back(std::move(n));
    std::string joined;
    for (const auto& n : all) {
        std::string next = joined.empty() ? n : joined + ", " + n;
        if (next.size() > max_bytes)
            break;
        joined = std::move(next);
    }
    return joined;
}

}  // namespace skgate::agent
