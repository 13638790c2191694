#include "core/policy/policy.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <initializer_list>

#include "core/sys/match.h"
#include "core/sys/percent_tokens.h"
#include "core/sys/text.h"
#include "core/sys/timeutil.h"
#include "core/sys/username.h"

namespace skgate {

namespace {

using Args = std::vector<std::string>;
using Apply = std::function<void(UserPolicy&)>;
using ApplyGlobal = std::function<void(GlobalPolicy&)>;

struct Parsed {
    Apply user;          // for keywords allowed in Match blocks
    ApplyGlobal global;  // for global-only keywords
};

using KeywordParser = Result<Parsed> (*)(const Args&);

struct Keyword {
    std::string_view name;
    bool in_match;
    KeywordParser parse;
};

Status one_arg(const Args& a) {
    if (a.size() != 1)
        return invalid("expects exactly one value, got " + std::to_string(a.size()));
    return {};
}

Result<bool> yes_no(const Args& a) {
    SKGATE_CHECK(one_arg(a));
    std::string v = to_lower(a[0]);
    if (v == "yes")
        return true;
    if (v == "no")
        return false;
    return invalid("value \"" + printable(a[0]) + "\" is not yes or no");
}

Result<std::string> absolute_path(const Args& a) {
    SKGATE_CHECK(one_arg(a));
    if (a[0].empty() || a[0].front() != '/')
        return invalid("\"" + printable(a[0]) + "\" is not an absolute path");
    if (has_control_chars(a[0]))
        return invalid("path contains control characters");
    return a[0];
}

template <class Field>
Result<Parsed> user_bool(const Args& a, Field field) {
    SKGATE_TRY(v, yes_no(a));
    return Parsed{[v, field](UserPolicy& p) { p.*field = v; }, nullptr};
}

template <class Field>
Result<Parsed> global_path(const Args& a, Field field) {
    SKGATE_TRY(v, absolute_path(a));
    return Parsed{nullptr, [v, field](GlobalPolicy& g) { g.*field = v; }};
}

Result<Parsed> parse_mode(const Args& a) {
    SKGATE_CHECK(one_arg(a));
    std::string v = to_lower(a[0]);
    if (v != "enforce" && v != "audit")
        return invalid("value \"" + printable(a[0]) + "\" is not enforce or audit");
    Mode m = v == "enforce" ? Mode::enforce : Mode::audit;
    return Parsed{[m](UserPolicy& p) { p.mode = m; }, nullptr};
}

Result<Parsed> parse_key_sources(const Args& a) {
    if (a.empty())
        return invalid(
            "expects one or more of local, authorized_keys, metadata, http, ldap, command");
    std::vector<KeySource> sources;
    for (const auto& arg : a) {
        std::string v = to_lower(arg);
        KeySource s;
        if (v == "local")
            s = KeySource::local;
        else if (v == "authorized_keys")
            s = KeySource::authorized_keys;
        else if (v == "metadata")
            s = KeySource::metadata;
        else if (v == "http")
            s = KeySource::http;
        else if (v == "ldap")
            s = KeySource::ldap;
        else if (v == "command")
            s = KeySource::command;
        else
            return invalid("unknown source \"" + printable(arg) +
                           "\" (expected local, authorized_keys, metadata, http, ldap or command)");
        if (std::find(sources.begin(), sources.end(), s) != sources.end())
            return invalid("source \"" + v + "\" is listed twice");
        sources.push_back(s);
    }
    return Parsed{[sources](UserPolicy& p) { p.key_sources = sources; }, nullptr};
}

Result<Parsed> parse_allowed_authenticators(const Args& a) {
    if (a.empty())
        return invalid("expects \"any\" or one or more AAGUIDs");
    std::vector<std::string> ids;
    if (a.size() == 1 && iequals(a[0], "any"))
        return Parsed{[](UserPolicy& p) { p.allowed_authenticators.clear(); }, nullptr};
    for (const auto& arg : a) {
        SKGATE_TRY(id, parse_aaguid(arg));
        ids.push_back(id);
    }
    return Parsed{[ids](UserPolicy& p) { p.allowed_authenticators = ids; }, nullptr};
}

// Patterns, not names: "ssh:*" is the default, and a passkey's relying-party
// ID is a domain an administrator may want to allow with its subdomains.
Result<Parsed> parse_allowed_applications(const Args& a) {
    if (a.empty())
        return invalid("expects one or more application patterns (such as ssh:* or localhost)");
    std::vector<std::string> patterns;
    for (const auto& arg : a) {
        std::string_view body = arg;
        if (!body.empty() && body.front() == '!')
            body.remove_prefix(1);
        if (body.empty() || body.size() > 255 || has_control_chars(body) ||
            body.find(',') != std::string_view::npos)
            return invalid("application pattern \"" + printable(arg) +
                           "\" is not valid (1 to 255 printable characters, no commas; give "
                           "several patterns as separate words)");
        patterns.push_back(arg);
    }
    bool any_positive = std::any_of(patterns.begin(), patterns.end(),
                                    [](const std::string& pt) { return pt.front() != '!'; });
    if (!any_positive)
        return invalid(
            "only negated patterns allow no application at all; name the allowed ones "
            "too (such as ssh:* !ssh:test)");
    return Parsed{[patterns](UserPolicy& p) { p.allowed_applications = patterns; }, nullptr};
}

Result<Parsed> parse_key_max_age(const Args& a) {
    SKGATE_CHECK(one_arg(a));
    if (iequals(a[0], "none"))
        return Parsed{[](UserPolicy& p) { p.key_max_age_seconds.reset(); }, nullptr};
    SKGATE_TRY(d, parse_duration(a[0]));
    if (d == 0)
        return invalid("a maximum age of 0 would refuse every key; use \"none\" for no limit");
    return Parsed{[d](UserPolicy& p) { p.key_max_age_seconds = d; }, nullptr};
}

Result<Parsed> parse_counter_check(const Args& a) {
    SKGATE_CHECK(one_arg(a));
    std::string v = to_lower(a[0]);
    CounterCheck c;
    if (v == "strict")
        c = CounterCheck::strict;
    else if (v == "warn")
        c = CounterCheck::warn;
    else if (v == "off")
        c = CounterCheck::off;
    else
        return invalid("value \"" + printable(a[0]) + "\" is not strict, warn or off");
    return Parsed{[c](UserPolicy& p) { p.counter_check = c; }, nullptr};
}

Result<Parsed> parse_stepup_timeout(const Args& a) {
    SKGATE_CHECK(one_arg(a));
    SKGATE_TRY(d, parse_duration(a[0]));
    if (d < 1 || d > 3600)
        return invalid("timeout must be between 1s and 1h");
    return Parsed{[d](UserPolicy& p) { p.stepup_timeout_seconds = d; }, nullptr};
}

Result<Parsed> parse_break_glass(const Args& a) {
    if (a.empty())
        return invalid("expects one or more user names");
    for (const auto& u : a) {
        auto st = validate_username(u);
        if (!st)
            return st.error();
    }
    return Parsed{nullptr, [a](GlobalPolicy& g) { g.break_glass_users = a; }};
}

// A URL for a remote source: the scheme is checked here so that a typo is a
// configuration error rather than an outage at login time.
Result<std::string> url_arg(const Args& a, std::initializer_list<std::string_view> schemes) {
    SKGATE_CHECK(one_arg(a));
    const std::string& v = a[0];
    if (has_control_chars(v) || v.find(' ') != std::string::npos)
        return invalid("URL contains spaces or control characters");
    for (auto scheme : schemes) {
        if (v.size() > scheme.size() + 3 && v.compare(0, scheme.size(), scheme) == 0 &&
            v.compare(scheme.size(), 3, "://") == 0)
            return v;
    }
    std::string list;
    for (auto scheme : schemes)
        list += (list.empty() ? "" : " or ") + std::string(scheme) + "://";
    return invalid("\"" + printable(v) + "\" does not start with " + list);
}

// %u is the only expansion; any other '%' must start a %XX escape.
Status check_percent_u(std::string_view v, bool required) {
    bool has_u = false;
    for (size_t i = 0; i < v.size(); i++) {
        if (v[i] != '%')
            continue;
        if (i + 1 < v.size() && v[i + 1] == 'u') {
            has_u = true;
            i++;
        } else if (i + 2 < v.size() && std::isxdigit(static_cast<unsigned char>(v[i + 1])) &&
                   std::isxdigit(static_cast<unsigned char>(v[i + 2]))) {
            i += 2;
        } else {
            return invalid("\"" + printable(v) + "\": '%' must be %u (the user) or a %XX escape");
        }
    }
    if (required && !has_u)
        return invalid("\"" + printable(v) + "\" does not contain %u (the user name)");
    return {};
}

Result<Parsed> parse_metadata_url(const Args& a) {
    SKGATE_TRY(v, url_arg(a, {"http", "https"}));
    SKGATE_CHECK(check_percent_u(v, false));
    if (v.find("%u") != std::string::npos)
        return invalid("the metadata service lists every user's keys in one answer; no %u");
    while (v.size() > 8 && v.back() == '/')
        v.pop_back();
    return Parsed{nullptr, [v](GlobalPolicy& g) { g.remote.metadata_url = v; }};
}

Result<Parsed> parse_metadata_root_user(const Args& a) {
    SKGATE_CHECK(one_arg(a));
    std::string v = iequals(a[0], "none") ? "" : a[0];
    if (!v.empty())
        SKGATE_CHECK(validate_username(v));
    return Parsed{nullptr, [v](GlobalPolicy& g) { g.remote.metadata_root_user = v; }};
}

Result<Parsed> parse_http_keys_url(const Args& a) {
    // Keys decide who logs in: plain HTTP would let anyone on the path add one.
    SKGATE_TRY(v, url_arg(a, {"https"}));
    SKGATE_CHECK(check_percent_u(v, true));
    return Parsed{nullptr, [v](GlobalPolicy& g) { g.remote.http_keys_url = v; }};
}

Result<Parsed> parse_ldap_uri(const Args& a) {
    SKGATE_TRY(v, url_arg(a, {"ldap", "ldaps", "ldapi"}));
    return Parsed{nullptr, [v](GlobalPolicy& g) { g.remote.ldap_uri = v; }};
}

Result<std::string> plain_text_arg(const Args& a) {
    SKGATE_CHECK(one_arg(a));
    if (a[0].empty() || has_control_chars(a[0]))
        return invalid("value is empty or contains control characters");
    return a[0];
}

Result<Parsed> parse_ldap_base_dn(const Args& a) {
    SKGATE_TRY(v, plain_text_arg(a));
    return Parsed{nullptr, [v](GlobalPolicy& g) { g.remote.ldap_base_dn = v; }};
}

Result<Parsed> parse_ldap_bind_dn(const Args& a) {
    SKGATE_TRY(v, plain_text_arg(a));
    return Parsed{nullptr, [v](GlobalPolicy& g) { g.remote.ldap_bind_dn = v; }};
}

Result<Parsed> parse_ldap_filter(const Args& a) {
    SKGATE_TRY(v, plain_text_arg(a));
    if (v.front() != '(' || v.back() != ')')
        return invalid("an LDAP filter is written in parentheses, e.g. (uid=%u)");
    int depth = 0;
    for (char c : v) {
        depth += c == '(' ? 1 : c == ')' ? -1 : 0;
        if (depth < 0)
            break;
    }
    if (depth != 0)
        return invalid("unbalanced parentheses in \"" + printable(v) + "\"");
    if (v.find("%u") == std::string::npos)
        return invalid("\"" + printable(v) + "\" does not contain %u (the user name)");
    return Parsed{nullptr, [v](GlobalPolicy& g) { g.remote.ldap_filter = v; }};
}

Result<Parsed> parse_ldap_starttls(const Args& a) {
    SKGATE_TRY(v, yes_no(a));
    return Parsed{nullptr, [v](GlobalPolicy& g) { g.remote.ldap_starttls = v; }};
}

template <class Field>
Result<Parsed> remote_path(const Args& a, Field field) {
    SKGATE_TRY(v, absolute_path(a));
    return Parsed{nullptr, [v, field](GlobalPolicy& g) { g.remote.*field = v; }};
}

template <class Field>
Result<Parsed> remote_duration(const Args& a, Field field, int64_t min, int64_t max) {
    SKGATE_CHECK(one_arg(a));
    SKGATE_TRY(d, parse_duration(a[0]));
    if (d < min || d > max)
        return invalid("must be between " + std::to_string(min) + "s and " + std::to_string(max) +
                       "s");
    return Parsed{nullptr, [d, field](GlobalPolicy& g) { g.remote.*field = d; }};
}

Result<Parsed> parse_source_outage(const Args& a) {
    SKGATE_CHECK(one_arg(a));
    std::string v = to_lower(a[0]);
    if (v != "cached" && v != "deny")
        return invalid("value \"" + printable(a[0]) + "\" is not cached or deny");
    SourceOutage o = v == "cached" ? SourceOutage::cached : SourceOutage::deny;
    return Parsed{nullptr, [o](GlobalPolicy& g) { g.remote.outage = o; }};
}

Result<Parsed> parse_minimum_keys(const Args& a) {
    SKGATE_CHECK(one_arg(a));
    const std::string& v = a[0];
    if (v.empty() || v.size() > 2 || v.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(v) < 1 || std::stoi(v) > 16)
        return invalid("value \"" + printable(v) + "\" is not a number from 1 to 16");
    int64_t n = std::stoi(v);
    return Parsed{[n](UserPolicy& p) { p.minimum_keys = n; }, nullptr};
}

Result<Parsed> parse_keys_command(const Args& a) {
    if (a.size() == 1 && iequals(a[0], "none"))
        return Parsed{nullptr, [](GlobalPolicy& g) { g.keys_command.argv.clear(); }};
    if (a.empty())
        return invalid("expects a program's absolute path and its arguments, or none");
    if (a[0].empty() || a[0][0] != '/' || a[0].find('%') != std::string::npos)
        return invalid("\"" + printable(a[0]) +
                       "\" is not an absolute path (sshd's rule for AuthorizedKeysCommand too)");
    for (const auto& arg : a)
        SKGATE_CHECK(check_percent_tokens(arg, kKeysCommandTokens));
    Args argv = a;
    return Parsed{nullptr, [argv](GlobalPolicy& g) { g.keys_command.argv = argv; }};
}

Result<Parsed> parse_keys_command_user(const Args& a) {
    SKGATE_CHECK(one_arg(a));
    SKGATE_CHECK(validate_username(a[0]));
    std::string v = a[0];
    return Parsed{nullptr, [v](GlobalPolicy& g) { g.keys_command.user = v; }};
}

const std::array<Keyword, 35> kKeywords{{
    {"Mode", false, parse_mode},
    {"KeySources", true, parse_key_sources},
    {"RequireSecurityKey", true,
     [](const Args& a) { return user_bool(a, &UserPolicy::require_security_key); }},
    {"TouchRequired", true,
     [](const Args& a) { return user_bool(a, &UserPolicy::touch_required); }},
    {"VerifyRequired", true,
     [](const Args& a) { return user_bool(a, &UserPolicy::verify_required); }},
    {"RequireAttestation", true,
     [](const Args& a) { return user_bool(a, &UserPolicy::require_attestation); }},
    {"AllowedAuthenticators", true, parse_allowed_authenticators},
    {"AllowedApplications", true, parse_allowed_applications},
    {"KeyMaxAge", true, parse_key_max_age},
    {"CounterCheck", true, parse_counter_check},
    {"StepUpTimeout", true, parse_stepup_timeout},
    {"MinimumKeys", true, parse_minimum_keys},
    {"AttestationRoots", false,
     [](const Args& a) { return global_path(a, &GlobalPolicy::attestation_roots); }},
    {"BreakGlassUsers", false, parse_break_glass},
    {"KeysDirectory", false,
     [](const Args& a) { return global_path(a, &GlobalPolicy::keys_directory); }},
    {"RevokedKeys", false,
     [](const Args& a) { return global_path(a, &GlobalPolicy::revoked_keys); }},
    {"StateDirectory", false,
     [](const Args& a) { return global_path(a, &GlobalPolicy::state_directory); }},
    {"MetadataURL", false, parse_metadata_url},
    {"MetadataRootUser", false, parse_metadata_root_user},
    {"HttpKeysURL", false, parse_http_keys_url},
    {"HttpCAFile", false,
     [](const Args& a) { return remote_path(a, &RemoteSettings::http_ca_file); }},
    {"HttpBearerTokenFile", false,
     [](const Args& a) { return remote_path(a, &RemoteSettings::http_bearer_token_file); }},
    {"LdapURI", false, parse_ldap_uri},
    {"LdapBaseDN", false, parse_ldap_base_dn},
    {"LdapFilter", false, parse_ldap_filter},
    {"LdapStartTLS", false, parse_ldap_starttls},
    {"LdapCAFile", false,
     [](const Args& a) { return remote_path(a, &RemoteSettings::ldap_ca_file); }},
    {"LdapBindDN", false, parse_ldap_bind_dn},
    {"LdapBindPasswordFile", false,
     [](const Args& a) { return remote_path(a, &RemoteSettings::ldap_bind_password_file); }},
    {"SourceTimeout", false,
     [](const Args& a) { return remote_duration(a, &RemoteSettings::timeout_seconds, 1, 60); }},
    {"SourceCacheTTL", false,
     [](const Args& a) {
         return remote_duration(a, &RemoteSettings::cache_ttl_seconds, 0, 86400);
     }},
    {"SourceCacheMaxAge", false,
     [](const Args& a) {
         return remote_duration(a, &RemoteSettings::cache_max_age_seconds, 0, 90 * 86400);
     }},
    {"SourceOutage", false, parse_source_outage},
    {"KeysCommand", false, parse_keys_command},
    {"KeysCommandUser", false, parse_keys_command_user},
}};

constexpr size_t kKeywordCount = std::tuple_size_v<decltype(kKeywords)>;

const Keyword* find_keyword(std::string_view name, size_t* index) {
    for (size_t i = 0; i < kKeywords.size(); i++) {
        if (iequals(kKeywords[i].name, name)) {
            *index = i;
            return &kKeywords[i];
        }
    }
    return nullptr;
}

// Splits a line into words: whitespace separates, double quotes group (with
// \" and \\ escapes), an unquoted word starting with '#' ends the line, and
// the first word may be written Keyword=value.
// Words as skgatectl explain shows them again: a word with a space in it
// was quoted.
std::string join_words(const Args& words) {
    std::string out;
    for (const auto& w : words) {
        if (!out.empty())
            out += ' ';
        out += w.find_first_of(" \t") == std::string::npos ? w : "\"" + w + "\"";
    }
    return out;
}

Result<Args> split_words(std::string_view line) {
    Args words;
    size_t i = 0;
    while (true) {
        while (i < line.size() && is_space(line[i]))
            i++;
        if (i == line.size() || line[i] == '#')
            break;
        std::string w;
        if (line[i] == '"') {
            i++;
            bool closed = false;
            while (i < line.size()) {
                if (line[i] == '\\' && i + 1 < line.size() &&
                    (line[i + 1] == '"' || line[i + 1] == '\\')) {
                    w += line[i + 1];
                    i += 2;
                } else if (line[i] == '"') {
                    closed = true;
                    i++;
                    break;
                } else {
                    w += line[i++];
                }
            }
            if (!closed)
                return invalid("missing closing quote");
            if (i < line.size() && !is_space(line[i]))
                return invalid("text directly after a closing quote");
        } else {
            while (i < line.size() && !is_space(line[i]))
                w += line[i++];
        }
        words.push_back(std::move(w));
    }
    if (!words.empty()) {
        size_t eq = words[0].find('=');
        if (eq != std::string::npos && eq > 0) {
            std::string value = words[0].substr(eq + 1);
            words[0].resize(eq);
            if (!value.empty())
                words.insert(words.begin() + 1, value);
        }
    }
    return words;
}

struct Criterion {
    enum Kind { user, group } kind;
    std::string patterns;
};

Status check_pattern_list(const std::string& list, std::string_view what) {
    bool positive = false;
    for (const auto& item : split_commas(list)) {
        std::string_view p = item;
        if (!p.empty() && p.front() == '!')
            p.remove_prefix(1);
        else
            positive = true;
        if (p.empty())
            return invalid("empty " + std::string(what) + " pattern in \"" + printable(list) +
                           "\"");
        for (char c : p) {
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-' || c == '@' || c == '$' || c == '*' ||
                      c == '?';
            if (!ok)
                return invalid("invalid character in " + std::string(what) + " pattern \"" +
                               printable(list) + "\"");
        }
    }
    if (!positive)
        return invalid("pattern list \"" + list + "\" has only negations and so matches no " +
                       std::string(what) + " (as in sshd); write \"*," + list +
                       "\" to match all others");
    return {};
}

Result<std::vector<Criterion>> parse_match(const Args& a) {
    if (a.empty())
        return invalid("Match needs criteria: User, Group or All");
    std::vector<Criterion> out;
    if (a.size() == 1 && iequals(a[0], "all"))
        return out;
    if (a.size() % 2 != 0)
        return invalid(
            "Match criteria come in pairs (User LIST, Group LIST); \"All\" stands alone");
    for (size_t i = 0; i < a.size(); i += 2) {
        Criterion c;
        if (iequals(a[i], "user"))
            c.kind = Criterion::user;
        else if (iequals(a[i], "group"))
            c.kind = Criterion::group;
        else
            return invalid("unsupported Match criterion \"" + printable(a[i]) +
                           "\" (User, Group or All)");
        SKGATE_CHECK(check_pattern_list(a[i + 1], c.kind == Criterion::user ? "user" : "group"));
        c.patterns = a[i + 1];
        out.push_back(std::move(c));
    }
    return out;
}

}  // namespace

struct Policy::Impl {
    struct Directive {
        size_t keyword;
        Apply apply;
        PolicyRule rule;
    };
    struct Block {
        std::vector<Criterion> criteria;  // empty: applies to everyone
        std::vector<Directive> directives;
    };
    GlobalPolicy global;
    std::vector<Block> blocks;
};

Policy::Policy() : impl_(std::make_unique<Impl>()) {}
Policy::~Policy() = default;
Policy::Policy(Policy&&) noexcept = default;
Policy& Policy::operator=(Policy&&) noexcept = default;

Result<Policy> Policy::parse(std::string_view text, std::string_view filename) {
    Policy policy;
    Impl& impl = *policy.impl_;
    impl.blocks.push_back({});
    std::bitset<kKeywordCount> global_seen;
    std::string errors;
    auto fail = [&](size_t line, std::string_view keyword, const std::string& msg) {
        if (!errors.empty())
            errors += '\n';
        errors += std::string(filename) + ":" + std::to_string(line) + ": ";
        if (!keyword.empty())
            errors += std::string(keyword) + ": ";
        errors += msg;
    };

    size_t lineno = 0;
    size_t pos = 0;
    std::string block;  // the Match line lines below belong to
    size_t allowed_authenticators_line = 0;
    size_t ldap_uri_line = 0;
    size_t keys_command_line = 0, command_source_line = 0;
    while (pos <= text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view line =
            text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
        lineno++;
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        bool bad_char = false;
        for (char c : line) {
            auto u = static_cast<unsigned char>(c);
            if ((u < 0x20 && c != '\t') || u == 0x7f)
                bad_char = true;
        }
        if (bad_char) {
            fail(lineno, "", "line contains control characters");
            continue;
        }
        auto words = split_words(line);
        if (!words) {
            fail(lineno, "", words.error().message);
            continue;
        }
        if (words->empty())
            continue;
        const std::string& name = (*words)[0];
        Args args(words->begin() + 1, words->end());
        if (iequals(name, "Match")) {
            block = printable(join_words(*words));
            auto criteria = parse_match(args);
            if (!criteria) {
                fail(lineno, "Match", criteria.error().message);
                // Keep a block that never matches so that its lines are still
                // checked but cannot leak into the previous block.
                impl.blocks.push_back({{Criterion{Criterion::user, "!*"}}, {}});
                continue;
            }
            impl.blocks.push_back({std::move(*criteria), {}});
            continue;
        }
        size_t index = 0;
        const Keyword* kw = find_keyword(name, &index);
        if (!kw) {
            fail(lineno, "", "unknown keyword \"" + printable(name) + "\"");
            continue;
        }
        bool in_match = impl.blocks.size() > 1;
        if (in_match && !kw->in_match) {
            fail(lineno, kw->name, "not allowed in a Match block; move it above the first Match");
            continue;
        }
        auto parsed = kw->parse(args);
        if (!parsed) {
            fail(lineno, kw->name, parsed.error().message);
            continue;
        }
        if (iequals(kw->name, "AllowedAuthenticators") &&
            !(args.size() == 1 && iequals(args[0], "any")) && !allowed_authenticators_line)
            allowed_authenticators_line = lineno;
        if (iequals(kw->name, "LdapURI") && !ldap_uri_line)
            ldap_uri_line = lineno;
        if (iequals(kw->name, "KeysCommand") && !keys_command_line)
            keys_command_line = lineno;
        if (iequals(kw->name, "KeySources") && !command_source_line &&
            std::any_of(args.begin(), args.end(),
                        [](const auto& w) { return iequals(w, "command"); }))
            command_source_line = lineno;
        PolicyRule rule{std::string(kw->name), printable(join_words(args)),
                        std::string(filename) + ":" + std::to_string(lineno), block};
        if (parsed->global) {
            if (!global_seen.test(index)) {
                parsed->global(impl.global);
                impl.global.rules.push_back(std::move(rule));
                global_seen.set(index);
            }
        } else {
            impl.blocks.back().directives.push_back(
                {index, std::move(parsed->user), std::move(rule)});
        }
    }
    // Without a trusted root, any authenticator can claim any AAGUID.
    if (allowed_authenticators_line && impl.global.attestation_roots.empty())
        fail(allowed_authenticators_line, "AllowedAuthenticators",
             "needs AttestationRoots: without a root that signed the attestation, an AAGUID is "
             "only the authenticator's own claim");
    // Refused here, as HttpKeysURL http:// is, rather than by every fetch.
    if (ldap_uri_line && impl.global.remote.ldap_uri.rfind("ldap://", 0) == 0 &&
        !impl.global.remote.ldap_starttls)
        fail(ldap_uri_line, "LdapURI",
             "\"" + printable(impl.global.remote.ldap_uri) +
                 "\" is plain LDAP, and anyone on the path could add a key: use ldaps://, "
                 "ldapi://, or LdapStartTLS yes");
    const KeysCommandSettings& kc = impl.global.keys_command;
    if (command_source_line && kc.argv.empty())
        fail(command_source_line, "KeySources",
             "the command source needs KeysCommand (the program to run, with sshd's tokens)");
    if (!kc.argv.empty() && kc.user.empty())
        fail(keys_command_line, "KeysCommand",
             "needs KeysCommandUser: the account it runs as (sshd's AuthorizedKeysCommandUser)");
    if (!errors.empty())
        return invalid(errors);
    return policy;
}

Result<Policy> Policy::load(const std::string& path, const FileRules& rules) {
    FileRules r = rules;
    r.max_bytes = std::min(r.max_bytes, kMaxConfigBytes);
    auto text = read_trusted_file(path, r);
    if (!text)
        return text.error();
    return parse(*text, path);
}

Result<Policy> Policy::load_or_default(const std::string& path, const FileRules& rules) {
    auto p = load(path, rules);
    if (!p && p.error().code == ErrorCode::not_found && path == kDefaultConfigPath)
        return Policy{};
    return p;
}

const GlobalPolicy& Policy::global() const {
    return impl_->global;
}

bool Policy::is_break_glass(std::string_view user) const {
    const auto& users = impl_->global.break_glass_users;
    return std::find(users.begin(), users.end(), user) != users.end();
}

Result<UserPolicy> Policy::for_user(const UserContext& ctx) const {
    UserPolicy out;
    std::bitset<kKeywordCount> seen;
    std::optional<std::vector<std::string>> groups;
    for (const auto& block : impl_->blocks) {
        bool applies = true;
        for (const auto& c : block.criteria) {
            if (c.kind == Criterion::user) {
                applies = match_pattern_list(ctx.user, c.patterns) == ListMatch::match;
            } else {
                if (!groups) {
                    if (!ctx.groups)
                        return invalid("Match Group needs the groups of " + ctx.user);
                    auto g = ctx.groups();
                    if (!g)
                        return g.error().context("groups of " + ctx.user);
                    groups = std::move(*g);
                }
                // As sshd: a group list matches if any group matches positively
                // and no group matches a negated pattern.
                bool any = false, negated = false;
                for (const auto& g : *groups) {
                    auto m = match_pattern_list(g, c.patterns);
                    any |= m == ListMatch::match;
                    negated |= m == ListMatch::negated;
                }
                applies = any && !negated;
            }
            if (!applies)
                break;
        }
        if (!applies)
            continue;
        for (const auto& d : block.directives) {
            if (!seen.test(d.keyword)) {
                d.apply(out);
                out.rules.push_back(d.rule);
                seen.set(d.keyword);
            }
        }
    }
    return out;
}

Result<std::string> parse_aaguid(std::string_view text) {
    static constexpr std::array<size_t, 4> dashes{8, 13, 18, 23};
    if (text.size() != 36)
        return invalid("AAGUID \"" + printable(text) +
                       "\" is not in the form 8-4-4-4-12 hex digits");
    std::string out;
    for (size_t i = 0; i < text.size(); i++) {
        char c = text[i];
        bool dash = std::find(dashes.begin(), dashes.end(), i) != dashes.end();
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (dash ? c != '-' : !hex)
            return invalid("AAGUID \"" + printable(text) +
                           "\" is not in the form 8-4-4-4-12 hex digits");
    }
    return to_lower(text);
}

}  // namespace skgate
