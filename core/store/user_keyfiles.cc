#include "core/store/user_keyfiles.h"

#include "core/sys/safefile.h"
#include "core/sys/text.h"

namespace skgate {

namespace {

constexpr size_t kMaxUserKeyFileBytes = 1024 * 1024;
constexpr size_t kMaxPatternBytes = 4096;

// Expands the tokens; `account` null only checks the pattern.
Result<std::string> expand(const std::string& pattern, const Account* account) {
    if (pattern.empty() || pattern.size() > kMaxPatternBytes)
        return invalid("an authorized_keys file pattern must be 1 to 4096 bytes");
    std::string out;
    for (size_t i = 0; i < pattern.size(); i++) {
        char c = pattern[i];
        if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f)
            return invalid("authorized_keys file pattern \"" + printable(pattern) +
                           "\" has a space or control character");
        // '#' starts a comment in a PAM line (the rest of pam_skgate's
        // arguments would be lost), '"' and '[' ']' are quoting there and in
        // sshd_config: the pattern would not reach skgate as written.
        if (c == '#' || c == '"' || c == '[' || c == ']')
            return invalid("authorized_keys file pattern \"" + printable(pattern) + "\" has a '" +
                           std::string(1, c) +
                           "', which sshd_config or a PAM line would read differently");
        if (c != '%') {
            out += c;
            continue;
        }
        char t = i + 1 < pattern.size() ? pattern[++i] : '\0';
        if (t == '%')
            out += '%';
        else if (t == 'h')
            out += account ? account->home : "/home";
        else if (t == 'u')
            out += account ? account->name : "user";
        else if (t == 'U')
            out += account ? std::to_string(account->uid) : "0";
        else
            return invalid("authorized_keys file pattern \"" + printable(pattern) +
                           "\": only %h, %u, %U and %% are understood");
    }
    if (out.empty())
        return invalid("authorized_keys file pattern \"" + printable(pattern) +
                       "\" names no file for this user (an empty home?)");
    if (out.front() != '/') {
        if (account && (account->home.empty() || account->home.front() != '/'))
            return invalid(account->name + " has no absolute home directory");
        out = (account ? account->home : std::string("/home")) + "/" + out;
    }
    return out;
}

}  // namespace

Status validate_user_key_file_pattern(const std::string& pattern) {
    SKGATE_TRY(path, expand(pattern, nullptr));
    (void)path;
    return {};
}

Result<std::string> user_key_file_path(const std::string& pattern, const Account& account) {
    return expand(pattern, &account);
}

UserKeyFiles read_user_key_files(const Account& account, const std::vector<std::string>& patterns) {
    UserKeyFiles out;
    FileRules rules;
    rules.owner = account.uid;
    rules.root_may_own = true;
    rules.max_bytes = kMaxUserKeyFileBytes;
    for (const auto& pattern : patterns) {
        auto path = user_key_file_path(pattern, account);
        if (!path) {
            out.warnings.push_back(path.error().message + "; " + printable(pattern, 4096) +
                                   " skipped");
            continue;
        }
        bool seen = false;
        for (const auto& f : out.files)
            seen = seen || f.path == *path;
        if (seen)
            continue;
        auto text = read_trusted_file(*path, rules);
        if (!text) {
            if (text.error().code != ErrorCode::not_found)
                out.warnings.push_back(text.error().message + "; " + printable(*path, 4096) +
                                       " skipped");
            continue;
        }
        out.files.push_back({*path, std::move(*text)});
    }
    return out;
}

}  // namespace skgate
