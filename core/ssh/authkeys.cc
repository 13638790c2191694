#include "core/ssh/authkeys.h"

#include <algorithm>
#include <array>

#include "core/sys/text.h"
#include "core/sys/timeutil.h"

namespace skgate {

namespace {

constexpr std::array<std::string_view, 7> kNegatableFlags = {"port-forwarding", "agent-forwarding",
                                                             "x11-forwarding",  "touch-required",
                                                             "verify-required", "pty",
                                                             "user-rc"};
constexpr std::array<std::string_view, 2> kPlainFlags = {"restrict", "cert-authority"};
constexpr std::array<std::string_view, 8> kValued = {"command",      "principals",  "from",
                                                     "expiry-time",  "environment", "permitopen",
                                                     "permitlisten", "tunnel"};

template <size_t N>
bool contains(const std::array<std::string_view, N>& set, std::string_view s) {
    return std::find(set.begin(), set.end(), s) != set.end();
}

bool valid_option_name(std::string_view name) {
    if (name.empty())
        return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
}

// sshd ends the option list at the first space or tab outside quotes; an
// escaped quote (\") does not toggle quoting.
size_t end_of_options(std::string_view line) {
    bool quoted = false;
    size_t i = 0;
    for (; i < line.size(); i++) {
        char c = line[i];
        if (!quoted && is_space(c))
            break;
        if (c == '\\' && i + 1 < line.size() && line[i + 1] == '"')
            i++;
        else if (c == '"')
            quoted = !quoted;
    }
    return i;
}

bool is_known_option_name(std::string_view name) {
    std::string n = to_lower(name);
    std::string_view base = n;
    if (base.starts_with("no-") && contains(kNegatableFlags, base.substr(3)))
        return true;
    return contains(kNegatableFlags, base) || contains(kPlainFlags, base) ||
           contains(kValued, base);
}

}  // namespace

bool is_blank_or_comment(std::string_view line) {
    line = trim(line);
    return line.empty() || line.front() == '#';
}

Result<KeyOptions> parse_key_options(std::string_view text) {
    KeyOptions out;
    size_t i = 0;
    while (true) {
        size_t start = i;
        while (i < text.size() && text[i] != '=' && text[i] != ',')
            i++;
        KeyOption opt;
        opt.name = to_lower(text.substr(start, i - start));
        if (!valid_option_name(opt.name))
            return invalid("bad option name \"" + printable(text.substr(start, i - start)) + "\"");
        if (i < text.size() && text[i] == '=') {
            i++;
            if (i >= text.size() || text[i] != '"')
                return invalid("option \"" + opt.name + "\": value must be in double quotes");
            i++;
            std::string value;
            bool closed = false;
            while (i < text.size()) {
                if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == '"') {
                    value += '"';
                    i += 2;
                    continue;
                }
                if (text[i] == '"') {
                    closed = true;
                    i++;
                    break;
                }
                value += text[i++];
            }
            if (!closed)
                return invalid("option \"" + opt.name + "\": missing end quote");
            opt.value = std::move(value);
        }
        out.push_back(std::move(opt));
        if (i == text.size())
            return out;
        if (text[i] != ',')
            return invalid("unexpected character after option \"" + out.back().name + "\"");
        i++;
        if (i == text.size())
            return invalid("option list ends with a comma");
    }
}

Result<AuthorizedKey> parse_authorized_key(std::string_view line) {
    if (line.size() > kMaxAuthorizedKeyLine)
        return invalid("line is longer than " + std::to_string(kMaxAuthorizedKeyLine) + " bytes");
    if (line.find('\0') != std::string_view::npos)
        return invalid("line contains a NUL byte");
    if (line.find('\n') != std::string_view::npos)
        return invalid("line contains a newline");
    line = trim(line);
    if (line.empty() || line.front() == '#')
        return invalid("line is blank or a comment");

    KeyOptions options;
    size_t first_end = line.find_first_of(" \t");
    std::string_view first = line.substr(0, first_end);
    std::string_view key_text = line;
    if (!PublicKey::is_known_type_name(first)) {
        size_t opt_end = end_of_options(line);
        std::string_view opt_text = line.substr(0, opt_end);
        key_text = trim(line.substr(opt_end));
        bool bare_word = opt_text.find_first_of("=,\"") == std::string_view::npos;
        // "ssh-foo AAAA...": an unsupported key type, not an option list.
        if (bare_word && !is_known_option_name(opt_text))
            return invalid("unknown key type \"" + printable(first) + "\"");
        auto parsed = parse_key_options(opt_text);
        if (!parsed)
            return parsed.error().context("options");
        if (key_text.empty())
            return invalid("no key after the options");
        std::string_view type = key_text.substr(0, key_text.find_first_of(" \t"));
        if (!PublicKey::is_known_type_name(type))
            return invalid("unknown key type \"" + printable(type) + "\"");
        options = std::move(*parsed);
    }
    std::string comment;
    auto key = PublicKey::parse_text(key_text, &comment);
    if (!key)
        return key.error();
    return AuthorizedKey{std::move(options), std::move(*key), std::move(comment)};
}

Result<std::string> format_key_options(const KeyOptions& options) {
    std::string out;
    for (const auto& opt : options) {
        if (!valid_option_name(opt.name))
            return invalid("option name \"" + printable(opt.name) + "\" is not [a-z0-9-]+");
        if (!out.empty())
            out += ',';
        out += opt.name;
        if (!opt.value)
            continue;
        const std::string& v = *opt.value;
        if (has_control_chars(v))
            return invalid("option \"" + opt.name + "\" value contains control characters");
        if (!v.empty() && v.back() == '\\')
            return invalid("option \"" + opt.name + "\" value ends with a backslash");
        out += "=\"";
        for (char c : v) {
            if (c == '"')
                out += '\\';
            out += c;
        }
        out += '"';
    }
    return out;
}

Result<std::string> format_authorized_key(const AuthorizedKey& entry) {
    SKGATE_TRY(opts, format_key_options(entry.options));
    std::string out = opts;
    if (!out.empty())
        out += ' ';
    out += entry.key.to_text();
    std::string comment(trim(entry.comment));
    if (!comment.empty()) {
        for (char& c : comment) {
            auto u = static_cast<unsigned char>(c);
            if (u < 0x20 || u == 0x7f)
                c = '?';
        }
        out += ' ';
        out += comment;
    }
    return out;
}

Result<SshdKeyOptions> interpret_sshd_options(const KeyOptions& options) {
    SshdKeyOptions o;
    for (const auto& opt : options) {
        const std::string& n = opt.name;
        bool negated = n.starts_with("no-") && contains(kNegatableFlags, n.substr(3));
        std::string base = negated ? n.substr(3) : n;
        bool is_flag = contains(kNegatableFlags, base) || contains(kPlainFlags, base);
        if (!is_flag && !contains(kValued, base))
            return invalid("unknown option \"" + printable(n) + "\"");
        if (is_flag && opt.value)
            return invalid("option \"" + n + "\" takes no value");
        if (!is_flag && !opt.value)
            return invalid("option \"" + n + "\" needs a value");
        bool on = !negated;
        if (base == "restrict") {
            o.restrict = true;
            o.port_forwarding = o.agent_forwarding = o.x11_forwarding = o.pty = o.user_rc = false;
        } else if (base == "cert-authority") {
            o.cert_authority = true;
        } else if (base == "port-forwarding") {
            o.port_forwarding = on;
        } else if (base == "agent-forwarding") {
            o.agent_forwarding = on;
        } else if (base == "x11-forwarding") {
            o.x11_forwarding = on;
        } else if (base == "pty") {
            o.pty = on;
        } else if (base == "user-rc") {
            o.user_rc = on;
        } else if (base == "touch-required") {
            o.touch_required = on;
        } else if (base == "verify-required") {
            o.verify_required = on;
        } else if (base == "command" || base == "principals" || base == "from") {
            auto& slot = base == "command"      ? o.command
                         : base == "principals" ? o.principals
                                                : o.from;
            if (slot)
                return invalid("multiple \"" + base + "\" options");
            slot = *opt.value;
        } else if (base == "expiry-time") {
            SKGATE_TRY(t, parse_expiry_time(*opt.value));
            if (!o.expiry_time || t < *o.expiry_time)
                o.expiry_time = t;
        } else if (base == "environment") {
            size_t eq = opt.value->find('=');
            if (eq == 0 || eq == std::string::npos)
                return invalid("environment option \"" + printable(*opt.value) +
                               "\" is not NAME=value");
            o.environment.push_back(*opt.value);
        } else if (base == "permitopen") {
            o.permitopen.push_back(*opt.value);
        } else if (base == "permitlisten") {
            o.permitlisten.push_back(*opt.value);
        } else if (base == "tunnel") {
            o.tunnel = *opt.value;
        }
    }
    return o;
}

}  // namespace skgate
