#include "core/ssh/authinfo.h"

#include "core/sys/text.h"

namespace skgate {

namespace {

bool valid_method(std::string_view m) {
    if (m.empty() || m.size() > 64)
        return false;
    for (char c : m) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '@' ||
              c == '.' || c == '/'))
            return false;
    }
    return true;
}

}  // namespace

Result<AuthInfo> AuthInfo::parse(std::string_view value) {
    if (value.size() > kMaxAuthInfoBytes)
        return invalid("SSH_AUTH_INFO_0 is larger than " + std::to_string(kMaxAuthInfoBytes) +
                       " bytes");
    if (value.empty())
        return invalid("SSH_AUTH_INFO_0 is empty (no completed method)");
    AuthInfo info;
    size_t pos = 0, lineno = 0;
    while (pos < value.size()) {
        size_t nl = value.find('\n', pos);
        if (nl == std::string_view::npos)
            return invalid("SSH_AUTH_INFO_0 line " + std::to_string(lineno + 1) +
                           " has no newline");
        std::string_view line = value.substr(pos, nl - pos);
        pos = nl + 1;
        lineno++;
        if (lineno > kMaxAuthInfoLines)
            return invalid("SSH_AUTH_INFO_0 has more than " + std::to_string(kMaxAuthInfoLines) +
                           " lines");
        for (char c : line) {
            auto u = static_cast<unsigned char>(c);
            if (u < 0x20 || u == 0x7f)
                return invalid("SSH_AUTH_INFO_0 line " + std::to_string(lineno) +
                               " has control characters");
        }
        size_t sp = line.find(' ');
        AuthMethod m{std::string(line.substr(0, sp)), sp == std::string_view::npos
                                                          ? std::string()
                                                          : std::string(line.substr(sp + 1))};
        if (!valid_method(m.method))
            return invalid("SSH_AUTH_INFO_0 line " + std::to_string(lineno) +
                           ": bad method name \"" + printable(m.method) + "\"");
        if (m.method == "publickey") {
            // "TYPE BASE64"; certificates are followed by their details,
            // which skgate does not need (it refuses certificates).
            std::string_view d = m.details;
            size_t s1 = d.find(' ');
            size_t s2 = s1 == std::string_view::npos ? s1 : d.find(' ', s1 + 1);
            std::string_view key_text = s2 == std::string_view::npos ? d : d.substr(0, s2);
            auto key = PublicKey::parse_text(key_text);
            if (!key)
                return invalid("SSH_AUTH_INFO_0 line " + std::to_string(lineno) + ": " +
                               key.error().message);
            if (s2 != std::string_view::npos && !key->is_certificate())
                return invalid("SSH_AUTH_INFO_0 line " + std::to_string(lineno) +
                               ": unexpected text after the key");
            info.publickeys.push_back(std::move(*key));
        }
        info.methods.push_back(std::move(m));
    }
    return info;
}

}  // namespace skgate
