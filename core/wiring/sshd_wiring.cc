#include "core/wiring/sshd_wiring.h"

#include <optional>
#include <sstream>

#include "core/store/user_keyfiles.h"
#include "core/sys/match.h"
#include "core/sys/text.h"

namespace skgate::wiring {

namespace {

std::vector<std::string_view> split_lines_keep_ends(std::string_view text) {
    std::vector<std::string_view> lines;
    size_t start = 0;
    while (start < text.size()) {
        size_t nl = text.find('\n', start);
        size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
        lines.push_back(text.substr(start, end - start));
        start = end;
    }
    return lines;
}

bool is_comment_or_blank(std::string_view line) {
    std::string_view t = trim(line);
    return t.empty() || t[0] == '#';
}

// sshd_config lines split as "Keyword value" or "Keyword=value".
std::pair<std::string, std::string> keyword_and_value(std::string_view line) {
    std::string_view t = trim(line);
    size_t end = t.find_first_of(" \t=");
    if (end == std::string_view::npos)
        return {to_lower(t), ""};
    std::string_view rest = t.substr(end);
    size_t v = rest.find_first_not_of(" \t=");
    return {to_lower(t.substr(0, end)),
            v == std::string_view::npos ? "" : std::string(rest.substr(v))};
}

bool loads_pam_skgate(std::string_view line) {
    if (is_comment_or_blank(line))
        return false;
    for (const auto& w : split_whitespace(line)) {
        size_t slash = w.rfind('/');
        std::string_view base = slash == std::string::npos ? std::string_view(w)
                                                           : std::string_view(w).substr(slash + 1);
        if (base.rfind("pam_skgate", 0) == 0)
            return true;
    }
    return false;
}

// A line that may bring auth rules into the stack: our auth rule goes first.
bool may_add_auth_rules(std::string_view line) {
    if (is_comment_or_blank(line))
        return false;
    // trim() keeps a form feed or vertical tab that splitting drops: such a
    // line has no words at all.
    auto w = split_whitespace(line);
    return !w.empty() && (w[0] == "auth" || w[0] == "-auth" || w[0] == "@include");
}

}  // namespace

std::vector<std::string> user_key_file_patterns(const Options& o) {
    std::vector<std::string> out;
    for (const auto& w : split_whitespace(o.previous_authorized_keys_file)) {
        if (w != "none")
            out.push_back(w);
    }
    return out;
}

namespace {

// pam_skgate reads the same user files as skgate-keys (-a), or its login
// confirmation would refuse keys sshd accepted from a custom AuthorizedKeysFile.
std::string module_args(const Options& o) {
    std::string args = o.config_path.empty() ? "" : " config=" + o.config_path;
    auto patterns = user_key_file_patterns(o);
    if (patterns == kDefaultUserKeyFiles)
        return args;
    if (patterns.empty())
        return args + " keyfile=none";
    for (const auto& p : patterns)
        args += " keyfile=" + p;
    return args;
}

}  // namespace

std::string helper_command(const Options& o) {
    std::string cmd = o.helper;
    if (!o.config_path.empty())
        cmd += " -f " + o.config_path;
    // sshd expands %-tokens in the command's arguments: doubled, the
    // pattern reaches skgate-keys as AuthorizedKeysFile had it, and
    // skgate-keys expands it for the user itself.
    auto patterns = user_key_file_patterns(o);
    if (patterns.empty())
        cmd += " -a none";  // sshd read no file before skgate either
    for (const auto& pattern : patterns) {
        std::string escaped;
        for (char c : pattern)
            escaped += c == '%' ? std::string("%%") : std::string(1, c);
        cmd += " -a " + escaped;
    }
    return cmd + " %u %t %k %f";
}

std::string render_dropin(const Options& o) {
    std::string s = "# Written by skgatectl enable (mode " + std::string(to_string(o.mode)) +
                    "); skgatectl disable removes it.\n"
                    "# Do not edit: run skgatectl enable again with other options instead.\n"
                    "# sshd uses the first value it reads for each keyword, and this file is\n"
                    "# included before the rest of sshd_config, so these settings win.\n";
    s += "# One decision point: sshd reads no AuthorizedKeysFile itself. skgate-keys,\n"
         "# started as root, reads the users' own files (the -a patterns, what\n"
         "# AuthorizedKeysFile was) with each user's identity, becomes the skgate\n"
         "# account, and decides every key; revoked keys sshd refuses itself.\n";
    s += "AuthorizedKeysFile none\n";
    s += "AuthorizedKeysCommand " + helper_command(o) + "\n";
    s += "AuthorizedKeysCommandUser root\n";
    s += "ExposeAuthInfo yes\n";
    if (!o.revoked_keys.empty())
        s += "RevokedKeys " + o.revoked_keys + "\n";
    if (o.mode == Mode::enforce) {
        s += "# Only security keys, with the options that make sshd check user\n"
             "# presence (and verification where policy says so).\n";
        s += std::string("PubkeyAcceptedAlgorithms ") + kSkAlgorithms + "\n";
    } else {
        s += "# Audit mode: skgate-keys serves the keys sshd would have read, unchanged,\n"
             "# and records what enforce mode would refuse (would-deny).\n";
    }
    if (o.pam_confirm) {
        s += "# pam_skgate confirms the login key in a keyboard-interactive step that\n"
             "# never prompts. ssh -o BatchMode=yes and clients that turn\n"
             "# keyboard-interactive off (Ansible's defaults) cannot log in.\n"
             "UsePAM yes\n"
             "KbdInteractiveAuthentication yes\n"
             "AuthenticationMethods publickey,keyboard-interactive:pam\n";
    }
    if (!o.break_glass_users.empty() && (o.mode == Mode::enforce || o.pam_confirm)) {
        std::string users;
        for (const auto& u : o.break_glass_users)
            users += (users.empty() ? "" : ",") + u;
        s += "\n# Break-glass users (BreakGlassUsers in skgate.conf) keep the key types\n"
             "# they had; skgate-keys still decides (and records) each of their keys.\n";
        s += "Match User " + users + "\n";
        if (o.mode == Mode::enforce && !o.previous_pubkey_algorithms.empty())
            s += "    PubkeyAcceptedAlgorithms " + o.previous_pubkey_algorithms + "\n";
        if (o.pam_confirm)
            s += "    AuthenticationMethods publickey\n";
    }
    return s;
}

std::map<std::string, std::string> expected_effective(const Options& o) {
    std::map<std::string, std::string> e = {
        {"authorizedkeyscommand", helper_command(o)},
        {"authorizedkeyscommanduser", "root"},
        {"authorizedkeysfile", "none"},
        {"exposeauthinfo", "yes"},
    };
    if (!o.revoked_keys.empty())
        e["revokedkeys"] = o.revoked_keys;
    if (o.mode == Mode::enforce)
        e["pubkeyacceptedalgorithms"] = kSkAlgorithms;
    if (o.pam_confirm) {
        e["usepam"] = "yes";
        e["kbdinteractiveauthentication"] = "yes";
        e["authenticationmethods"] = "publickey,keyboard-interactive:pam";
    }
    return e;
}

std::map<std::string, std::string> parse_sshd_t(std::string_view text) {
    std::map<std::string, std::string> out;
    for (auto line : split_lines_keep_ends(text)) {
        std::string_view t = trim(line);
        if (t.empty())
            continue;
        size_t sp = t.find(' ');
        std::string key = to_lower(t.substr(0, sp));
        std::string value = sp == std::string_view::npos ? "" : std::string(trim(t.substr(sp)));
        out.emplace(std::move(key), std::move(value));
    }
    return out;
}

bool includes_dropins(std::string_view sshd_config, std::string_view dropin_dir) {
    const std::string probe = std::string(dropin_dir) + "/" + kDropinName;
    for (auto line : split_lines_keep_ends(sshd_config)) {
        if (is_comment_or_blank(line))
            continue;
        auto [key, value] = keyword_and_value(line);
        if (key == "match")
            return false;
        if (key != "include")
            continue;
        for (const auto& pattern : split_whitespace(value)) {
            // sshd reads relative Include paths under /etc/ssh.
            std::string absolute = pattern[0] == '/' ? pattern : "/etc/ssh/" + pattern;
            if (match_pattern(probe, absolute))
                return true;
        }
    }
    return false;
}

bool has_pam_lines(std::string_view pam) {
    for (auto line : split_lines_keep_ends(pam))
        if (trim(line) == kPamMarker)
            return true;
    return false;
}

Result<std::string> add_pam_lines(std::string_view pam, const Options& o) {
    auto lines = split_lines_keep_ends(pam);
    for (size_t i = 0; i < lines.size(); i++) {
        if (loads_pam_skgate(lines[i]))
            return invalid("line " + std::to_string(i + 1) + " already loads pam_skgate (\"" +
                           std::string(trim(lines[i])) +
                           "\"), and skgatectl did not add it: remove that line, or leave the "
                           "PAM file to you by not running skgatectl enable");
    }
    const std::string marker = std::string(kPamMarker) + "\n";
    std::string out;
    bool auth_added = !o.pam_confirm;
    for (auto line : lines) {
        if (!auth_added && may_add_auth_rules(line)) {
            out += marker;
            out += "auth [success=done default=die] " + o.pam_module + module_args(o) + "\n";
            auth_added = true;
        }
        out += line;
    }
    if (!out.empty() && out.back() != '\n')
        out += '\n';
    if (!auth_added) {
        out += marker;
        out += "auth [success=done default=die] " + o.pam_module + module_args(o) + "\n";
    }
    out += marker;
    out += "session optional " + o.pam_module + module_args(o) + "\n";
    return out;
}

std::string remove_pam_lines(std::string_view pam) {
    std::string out;
    auto lines = split_lines_keep_ends(pam);
    for (size_t i = 0; i < lines.size(); i++) {
        if (trim(lines[i]) == kPamMarker && i + 1 < lines.size() &&
            loads_pam_skgate(lines[i + 1])) {
            i++;
            continue;
        }
        out += lines[i];
    }
    return out;
}

namespace {

// `conf` with its first global `keyword` line (before the first Match)
// replaced by `line`, or taken out when there is no `line`; when it has none
// and `add` is set, `line` goes before the first Match, or at the end.
std::string replace_global_line(std::string_view conf, std::string_view keyword,
                                const std::optional<std::string>& line, bool add) {
    std::string out;
    bool done = false;
    for (auto l : split_lines_keep_ends(conf)) {
        if (!done && !is_comment_or_blank(l)) {
            auto key = keyword_and_value(l).first;
            if (key == "match") {
                if (add && line)
                    out += *line;
                done = true;
            } else if (key == keyword) {
                if (line)
                    out += *line;
                done = true;
                continue;
            }
        }
        out += l;
    }
    if (!done && add && line) {
        if (!out.empty() && out.back() != '\n')
            out += '\n';
        out += *line;
    }
    return out;
}

// The value of the first global `keyword` line, if there is one.
std::optional<std::string> global_value(std::string_view conf, std::string_view keyword) {
    for (auto l : split_lines_keep_ends(conf)) {
        if (is_comment_or_blank(l))
            continue;
        auto [key, value] = keyword_and_value(l);
        if (key == "match")
            break;
        if (key == keyword)
            return value;
    }
    return std::nullopt;
}

// Whether a Match block sets `keyword`.
bool set_in_match(std::string_view conf, std::string_view keyword) {
    bool in_match = false;
    for (auto l : split_lines_keep_ends(conf)) {
        if (is_comment_or_blank(l))
            continue;
        auto key = keyword_and_value(l).first;
        in_match = in_match || key == "match";
        if (in_match && key == keyword)
            return true;
    }
    return false;
}

bool lists_command(const std::string& sources) {
    for (const auto& w : split_whitespace(sources))
        if (to_lower(w) == "command")
            return true;
    return false;
}

std::string quoted_words(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) {
        out += out.empty() ? "" : " ";
        if (w.find_first_of(" \t\"\\#") == std::string::npos) {
            out += w;
            continue;
        }
        out += '"';
        for (char c : w) {
            if (c == '"' || c == '\\')
                out += '\\';
            out += c;
        }
        out += '"';
    }
    return out;
}

}  // namespace

std::string set_global_mode(std::string_view conf, Mode mode) {
    return replace_global_line(conf, "mode", "Mode " + std::string(to_string(mode)) + "\n", true);
}

Result<std::string> set_keys_command(std::string_view conf, const KeysCommandSettings& chain) {
    std::string out(conf);
    auto sources = global_value(out, "keysources");
    if (!sources && set_in_match(out, "keysources"))
        return invalid(
            "KeySources is set only in Match blocks, and a global line would override them: add "
            "command to the KeySources lines that should use the chained command, and KeysCommand "
            "and KeysCommandUser above the first Match, by hand");
    if (!sources)
        out =
            replace_global_line(out, "keysources", std::string("KeySources local command\n"), true);
    else if (!lists_command(*sources))
        out = replace_global_line(out, "keysources", "KeySources " + *sources + " command\n", true);
    out = replace_global_line(out, "keyscommand", "KeysCommand " + quoted_words(chain.argv) + "\n",
                              true);
    return replace_global_line(out, "keyscommanduser", "KeysCommandUser " + chain.user + "\n",
                               true);
}

std::string restore_enable_settings(std::string_view conf, std::string_view original) {
    auto value = global_value(original, "mode");
    std::string out = replace_global_line(
        conf, "mode", value ? std::optional<std::string>("Mode " + *value + "\n") : std::nullopt,
        false);
    for (const auto& [keyword, name] : {std::pair{"keyscommand", "KeysCommand"},
                                        std::pair{"keyscommanduser", "KeysCommandUser"}}) {
        auto was = global_value(original, keyword);
        out = replace_global_line(
            out, keyword,
            was ? std::optional<std::string>(std::string(name) + " " + *was + "\n") : std::nullopt,
            false);
    }
    // KeySources keeps the administrator's edits: only the source enable
    // added goes, and the line it added.
    auto was = global_value(original, "keysources");
    auto now = global_value(out, "keysources");
    if (now && !(was && lists_command(*was)) && lists_command(*now)) {
        std::string kept;
        for (const auto& w : split_whitespace(*now))
            if (to_lower(w) != "command")
                kept += (kept.empty() ? "" : " ") + w;
        bool added_by_enable = !was && to_lower(kept) == "local";
        out = replace_global_line(out, "keysources",
                                  added_by_enable || kept.empty()
                                      ? std::nullopt
                                      : std::optional<std::string>("KeySources " + kept + "\n"),
                                  false);
    }
    return out;
}

Result<OpenSshVersion> parse_openssh_version(std::string_view text) {
    size_t at = text.find("OpenSSH_");
    if (at == std::string_view::npos)
        return invalid("not an OpenSSH version string: \"" + std::string(trim(text)) + "\"");
    std::string_view v = text.substr(at + 8);
    OpenSshVersion out;
    size_t i = 0;
    auto number = [&](int& n) {
        size_t start = i;
        while (i < v.size() && i - start < 4 && v[i] >= '0' && v[i] <= '9')
            n = n * 10 + (v[i++] - '0');
        return i > start;
    };
    if (!number(out.major) || i >= v.size() || v[i++] != '.' || !number(out.minor))
        return invalid("cannot read the OpenSSH version in \"" + std::string(trim(text)) + "\"");
    size_t end = text.find_first_of(", \n", at);
    out.text =
        std::string(text.substr(at, end == std::string_view::npos ? text.size() - at : end - at));
    return out;
}

}  // namespace skgate::wiring
