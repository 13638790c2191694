#include "core/sources/keysource.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "core/sys/text.h"

namespace skgate {

namespace {

// Restrictions a user may put on their own key, and re-enabling flags that
// only undo their own `restrict`. `verify-required` makes the key stricter
// and is kept; everything else is dropped.
constexpr std::array<std::string_view, 17> kUserAllowed = {
    "restrict",         "no-agent-forwarding", "no-port-forwarding",
    "no-pty",           "no-user-rc",          "no-x11-forwarding",
    "agent-forwarding", "port-forwarding",     "pty",
    "user-rc",          "x11-forwarding",      "from",
    "command",          "expiry-time",         "permitopen",
    "permitlisten",     "verify-required"};

}  // namespace

Result<SourceResult> keys_from_store(const KeyStore& store, const std::string& user) {
    SKGATE_TRY(file, store.load(user));
    SKGATE_TRY(path, store.path_for(user));
    SourceResult out;
    out.warnings = std::move(file.warnings);
    for (auto& k : file.keys) {
        CandidateKey c{.key = k.key,
                       .comment = k.comment,
                       .source = KeySource::local,
                       .origin = path,
                       .stored = k};
        out.keys.push_back(std::move(c));
    }
    return out;
}

SourceResult keys_from_user_key_files(const UserKeyFiles& files) {
    // A user controls these files: a million bad lines must not become a
    // million journal entries (journald would then drop sshd's own).
    constexpr size_t kMaxWarningsPerFile = 20;
    SourceResult out;
    out.warnings = files.warnings;
    for (const auto& file : files.files) {
        const std::string& text = file.text;
        size_t lineno = 0, pos = 0, warned = 0, unwarned = 0;
        auto warn = [&](std::string w) {
            if (warned++ < kMaxWarningsPerFile)
                out.warnings.push_back(std::move(w));
            else
                unwarned++;
        };
        while (pos < text.size()) {
            size_t nl = text.find('\n', pos);
            std::string line =
                text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
            pos = nl == std::string::npos ? text.size() : nl + 1;
            lineno++;
            if (is_blank_or_comment(line))
                continue;
            std::string origin = printable(file.path, 4096) + ":" + std::to_string(lineno);
            auto entry = parse_authorized_key(line);
            if (!entry) {
                warn(origin + ": " + entry.error().message);
                continue;
            }
            if (auto o = interpret_sshd_options(entry->options); !o) {
                warn(origin + ": " + o.error().message);
                continue;
            }
            out.keys.push_back({std::move(entry->key), std::move(entry->comment),
                                KeySource::authorized_keys, origin, std::nullopt,
                                std::move(entry->options), std::string(trim(line))});
        }
        if (unwarned)
            out.warnings.push_back(printable(file.path, 4096) + ": " + std::to_string(unwarned) +
                                   " more lines skipped that do not parse");
    }
    return out;
}

SourceResult keys_from_authorized_keys(const Account& account,
                                       const std::vector<std::string>& patterns) {
    return keys_from_user_key_files(read_user_key_files(account, patterns));
}

KeyOptions sanitize_user_options(const KeyOptions& options, std::vector<std::string>* dropped) {
    KeyOptions out;
    for (const auto& o : options) {
        if (std::find(kUserAllowed.begin(), kUserAllowed.end(), o.name) != kUserAllowed.end())
            out.push_back(o);
        else if (dropped)
            dropped->push_back(o.name);
    }
    return out;
}

}  // namespace skgate
