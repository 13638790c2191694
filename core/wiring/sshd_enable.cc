#include "core/wiring/sshd_enable.h"

#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <shadow.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

#include "core/audit/audit.h"
#include "core/decide/keylookup.h"
#include "core/sources/inventory.h"
#include "core/sources/keys_command.h"
#include "core/store/keystore.h"
#include "core/store/revocation.h"
#include "core/store/user_keyfiles.h"
#include "core/sys/account.h"
#include "core/sys/atomicfile.h"
#include "core/sys/match.h"
#include "core/sys/percent_tokens.h"
#include "core/sys/subprocess.h"
#include "core/sys/text.h"
#include "core/sys/username.h"

namespace skgate {

namespace {

constexpr size_t kMaxConfigFile = 1024 * 1024;
constexpr const char* kRecordName = "record";

// A file as it is on disk, or its absence.
struct FileState {
    bool exists = false;
    std::string content;
    mode_t mode = 0644;
    uid_t uid = 0;
    gid_t gid = 0;
};

Result<FileState> read_file_state(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return FileState{};
        return make_error(ErrorCode::io, "cannot read " + path + ": " + std::strerror(errno));
    }
    FileState st;
    st.exists = true;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return make_error(ErrorCode::invalid, path + " is not a regular file");
    }
    st.mode = sb.st_mode & 07777;
    st.uid = sb.st_uid;
    st.gid = sb.st_gid;
    char buf[8192];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return make_error(ErrorCode::io, "cannot read " + path + ": " + std::strerror(e));
        }
        if (n == 0)
            break;
        st.content.append(buf, static_cast<size_t>(n));
        if (st.content.size() > kMaxConfigFile) {
            close(fd);
            return invalid(path + " is larger than " + std::to_string(kMaxConfigFile) + " bytes");
        }
    }
    close(fd);
    return st;
}

Status put_file_state(const std::string& path, const FileState& st) {
    if (!st.exists) {
        if (unlink(path.c_str()) != 0 && errno != ENOENT)
            return make_error(ErrorCode::io, "cannot remove " + path + ": " + std::strerror(errno));
        return {};
    }
    return write_file_atomic(path, st.content, FileOwner{st.uid, st.gid, st.mode});
}

// The files enable manages, by role (the names the enable record uses), in
// the order enable writes them: the policy and the drop-in before sshd -t,
// PAM only after sshd accepted them.
constexpr const char* kRolePolicy = "policy";
constexpr const char* kRoleDropin = "sshd-dropin";
constexpr const char* kRolePam = "pam";

// One file skgatectl changed: how it was, and what skgatectl wrote.
struct ManagedFile {
    std::string role;  // kRolePolicy, kRoleDropin or kRolePam
    std::string path;
    FileState original;
    std::string written;
};

struct EnableRecord {
    Mode mode = Mode::audit;
    bool pam_confirm = false;
    std::string previous_authorized_keys_file;
    std::string previous_pubkey_algorithms;
    std::vector<ManagedFile> files;
    // What --force accepted, one sentence each: status keeps saying it.
    std::vector<std::string> forced;

    const ManagedFile* find(const std::string& role) const {
        for (const auto& f : files)
            if (f.role == role)
                return &f;
        return nullptr;
    }
};

std::string state_dir_of(const Policy& policy) {
    return policy.global().state_directory + "/enable";
}

// record: "key value" lines; each file's bytes live in their own files
// (original-ROLE, written-ROLE), so no content needs escaping.
Status save_record(const std::string& dir, const EnableRecord& r) {
    const FileOwner root_only{0, 0, 0600};
    std::string text = "# skgatectl enable's record; skgatectl disable reads it. Do not edit.\n";
    text += "mode " + std::string(to_string(r.mode)) + "\n";
    text += std::string("pam-confirm ") + (r.pam_confirm ? "yes" : "no") + "\n";
    text += "previous-authorized-keys-file " + r.previous_authorized_keys_file + "\n";
    text += "previous-pubkey-algorithms " + r.previous_pubkey_algorithms + "\n";
    for (const auto& f : r.files) {
        if (f.path.find('\n') != std::string::npos)
            return invalid("a path with a newline cannot be recorded: " + f.path);
        char meta[64];
        std::snprintf(meta, sizeof meta, "%s %04o %u %u", f.original.exists ? "present" : "absent",
                      static_cast<unsigned>(f.original.mode), static_cast<unsigned>(f.original.uid),
                      static_cast<unsigned>(f.original.gid));
        text += "file " + f.role + " " + meta + " " + f.path + "\n";
        SKGATE_CHECK(write_file_atomic(dir + "/original-" + f.role, f.original.content, root_only));
        SKGATE_CHECK(write_file_atomic(dir + "/written-" + f.role, f.written, root_only));
    }
    for (const auto& f : r.forced)
        text += "forced " + printable(f, 4096) + "\n";
    return write_file_atomic(dir + "/" + kRecordName, text, root_only);
}

Result<std::optional<EnableRecord>> load_record(const std::string& dir) {
    SKGATE_TRY(rec, read_file_state(dir + "/" + kRecordName));
    if (!rec.exists)
        return std::optional<EnableRecord>{};
    auto bad = [&](const std::string& why) {
        return invalid(dir + "/" + kRecordName + ": " + why +
                       "; restore it from a backup, or remove the directory and undo the "
                       "wiring by hand");
    };
    EnableRecord r;
    std::istringstream in(rec.content);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#')
            continue;
        size_t sp = line.find(' ');
        std::string key = line.substr(0, sp);
        std::string value = sp == std::string::npos ? "" : line.substr(sp + 1);
        if (key == "mode") {
            if (value != "audit" && value != "enforce")
                return bad("unknown mode \"" + value + "\"");
            r.mode = value == "enforce" ? Mode::enforce : Mode::audit;
        } else if (key == "pam-confirm") {
            r.pam_confirm = value == "yes";
        } else if (key == "previous-authorized-keys-file") {
            r.previous_authorized_keys_file = value;
        } else if (key == "previous-pubkey-algorithms") {
            r.previous_pubkey_algorithms = value;
        } else if (key == "forced") {
            r.forced.push_back(value);
        } else if (key == "file") {
            std::istringstream f(value);
            ManagedFile m;
            std::string presence, mode;
            unsigned uid = 0, gid = 0;
            if (!(f >> m.role >> presence >> mode >> uid >> gid))
                return bad("malformed file line");
            std::getline(f >> std::ws, m.path);
            if (m.path.empty() || m.path[0] != '/' ||
                (m.role != kRoleDropin && m.role != kRolePam && m.role != kRolePolicy))
                return bad("malformed file line");
            m.original.exists = presence == "present";
            m.original.mode = static_cast<mode_t>(std::strtoul(mode.c_str(), nullptr, 8) & 07777);
            m.original.uid = uid;
            m.original.gid = gid;
            SKGATE_TRY(orig, read_file_state(dir + "/original-" + m.role));
            SKGATE_TRY(written, read_file_state(dir + "/written-" + m.role));
            if (!orig.exists || !written.exists)
                return bad("the saved copies of " + m.path + " are missing");
            m.original.content = std::move(orig.content);
            m.written = std::move(written.content);
            r.files.push_back(std::move(m));
        } else {
            return bad("unknown line \"" + key + "\"");
        }
    }
    return std::optional<EnableRecord>(std::move(r));
}

void remove_record(const std::string& dir) {
    for (const char* name : {kRecordName, "original-sshd-dropin", "written-sshd-dropin",
                             "original-pam", "written-pam", "original-policy", "written-policy"})
        unlink((dir + "/" + name).c_str());
}

// A connection for `sshd -T -C`: documentation addresses (RFC 5737) and
// the default port, unless a Match block names its own.
struct ProbeConnection {
    std::string user, host = "client", addr = "192.0.2.1", laddr = "192.0.2.2", lport = "22",
                      rdomain = "default";
    std::string spec() const {
        return "user=" + user + ",host=" + host + ",addr=" + addr + ",laddr=" + laddr +
               ",lport=" + lport + ",rdomain=" + rdomain;
    }
};

Result<std::map<std::string, std::string>> sshd_effective(const SystemPaths& paths,
                                                          const std::string& connection = "") {
    std::vector<std::string> argv = {paths.sshd, "-T", "-f", paths.sshd_config};
    if (!connection.empty()) {
        argv.push_back("-C");
        argv.push_back(connection);
    }
    SKGATE_TRY(out, run_process(argv));
    // sshd -T alone refuses a configuration with Match LocalAddress,
    // LocalPort or RDomain; the global values are then those of a
    // connection for no account, which only wildcard blocks match (and
    // those are probed on their own).
    if (out.status != 0 && connection.empty() &&
        out.err.find("not in connection test specification") != std::string::npos) {
        argv.push_back("-C");
        argv.push_back(ProbeConnection{".skgate-probe"}.spec());
        SKGATE_TRY(retry, run_process(argv));
        out = std::move(retry);
    }
    if (out.status != 0)
        return invalid(describe_failure(argv, out));
    return wiring::parse_sshd_t(out.out);
}

Status sshd_test(const SystemPaths& paths) {
    std::vector<std::string> argv = {paths.sshd, "-t", "-f", paths.sshd_config};
    SKGATE_TRY(out, run_process(argv));
    if (out.status != 0)
        return invalid(describe_failure(argv, out));
    return {};
}

// An expired account: PAM's account stack refuses it whatever the key. A
// locked password ("!", useradd's default) is not counted: with UsePAM yes,
// as Debian and RHEL ship sshd, a key still logs in.
bool account_locked(const std::string& name) {
    struct spwd sp {};
    struct spwd* found = nullptr;
    std::vector<char> buf(16384);
    if (getspnam_r(name.c_str(), &sp, buf.data(), buf.size(), &found) != 0 || !found)
        return false;
    long today = static_cast<long>(std::time(nullptr) / 86400);
    return found->sp_expire > 0 && found->sp_expire <= today;
}

// Accounts that could still log in under enforce mode: a login shell, not
// locked, and a key skgate-keys would give sshd for them (an enrolled
// security key, or a break-glass user's own key), as decided now.
std::vector<std::string> users_who_keep_access(const Policy& policy,
                                               const std::vector<std::string>& user_files) {
    std::vector<Account> accounts;
    setpwent();
    while (struct passwd* pw = getpwent()) {
        if (has_login_shell(pw->pw_shell) && validate_username(pw->pw_name))
            accounts.push_back({pw->pw_name, pw->pw_uid, pw->pw_gid, pw->pw_dir ? pw->pw_dir : ""});
    }
    endpwent();
    std::vector<std::string> out;
    for (const auto& a : accounts) {
        if (account_locked(a.name))
            continue;
        LookupRequest req{a.name, std::nullopt, std::time(nullptr)};
        req.account_lookup = [&](const std::string&) -> Result<Account> { return a; };
        req.remote.may_fetch = false;         // the caches only: enable never waits on the network
        req.user_file_patterns = user_files;  // the files skgate-keys will be given (-a)
        auto r = lookup_keys(policy, req);
        if (!r)
            continue;
        for (const auto& v : r->verdicts) {
            if (v.decision == Decision::allow) {
                out.push_back(a.name);
                break;
            }
        }
    }
    return out;
}

Status check_nobody_locked_out(const Policy& policy, const std::vector<std::string>& user_files) {
    auto keep = users_who_keep_access(policy, user_files);
    if (keep.empty())
        return invalid(
            "enforce mode would lock everyone out: no account with a login shell that is not "
            "expired has a key skgate would allow (an enrolled security key, or for "
            "BreakGlassUsers a key in their own authorized_keys that is not revoked). Enroll a "
            "key first (skgatectl enroll), enable --mode audit, or pass --force if you have "
            "another way in");
    const char* admin = std::getenv("SUDO_USER");
    if (admin && *admin) {
        bool found = false;
        for (const auto& u : keep)
            found = found || u == admin;
        if (!found)
            return invalid(std::string("enforce mode would lock you (") + admin +
                           ") out: no key skgate would allow for you (enrolled, or as a "
                           "BreakGlassUsers account with a key of your own). Enroll your key "
                           "first (skgatectl enroll --user " +
                           admin + " ...), or pass --force");
    }
    return {};
}

Status ensure_system_user(const SystemPaths& paths, Report& report) {
    auto acct = lookup_account("skgate");
    if (acct)
        return {};
    if (acct.error().code != ErrorCode::not_found)
        return acct.error();
    std::vector<std::string> argv = {paths.useradd,      "--system",          "--user-group",
                                     "--no-create-home", "--home-dir",        "/nonexistent",
                                     "--shell",          "/usr/sbin/nologin", "skgate"};
    SKGATE_TRY(out, run_process(argv));
    if (out.status != 0)
        return invalid("cannot create the system user skgate (AuthorizedKeysCommandUser): " +
                       describe_failure(argv, out));
    report.push_back("created the system user skgate (sshd runs skgate-keys as it)");
    return {};
}

// The pid in sshd's PidFile, when an sshd runs with it.
std::optional<long> running_sshd_pid(const std::map<std::string, std::string>& effective) {
    auto it = effective.find("pidfile");
    if (it == effective.end() || it->second == "none" || it->second.empty())
        return std::nullopt;
    auto pidtext = read_file_state(it->second);
    if (!pidtext || !pidtext->exists)
        return std::nullopt;
    char* end = nullptr;
    long pid = std::strtol(pidtext->content.c_str(), &end, 10);
    auto comm = read_file_state("/proc/" + std::to_string(pid) + "/comm");
    if (pid <= 1 || !comm || !comm->exists || comm->content.find("sshd") == std::string::npos)
        return std::nullopt;
    return pid;
}

// What in an sshd command line would take precedence over the drop-in: a
// -o (which beats every file) setting anything skgate sets or relies on,
// and a -f naming another configuration file than the one enable checks.
// Other -o options (Port, ListenAddress, LogLevel) are the unit's business.
bool option_touches_skgate(std::string_view option) {
    static constexpr std::string_view kKeywords[] = {"authenticationmethods",
                                                     "authorizedkeyscommand",
                                                     "authorizedkeyscommanduser",
                                                     "authorizedkeysfile",
                                                     "authorizedprincipalscommand",
                                                     "authorizedprincipalscommanduser",
                                                     "authorizedprincipalsfile",
                                                     "challengeresponseauthentication",
                                                     "exposeauthinfo",
                                                     "hostbasedauthentication",
                                                     "include",
                                                     "kbdinteractiveauthentication",
                                                     "match",
                                                     "pubkeyacceptedalgorithms",
                                                     "pubkeyacceptedkeytypes",
                                                     "pubkeyauthentication",
                                                     "revokedkeys",
                                                     "trustedusercakeys",
                                                     "usepam"};
    std::string keyword = to_lower(option.substr(0, option.find_first_of(" \t=")));
    for (auto k : kKeywords)
        if (keyword == k)
            return true;
    return false;
}

std::vector<std::string> overriding_arguments(const std::vector<std::string>& argv,
                                              const std::string& sshd_config) {
    // As sshd's getopt reads them: flags may be bundled ("-Do X"), and an
    // option's argument is the rest of its word or the next word.
    static constexpr std::string_view kTakesArgument = "CEbcfghkopu";
    std::vector<std::string> out;
    for (size_t i = 1; i < argv.size(); i++) {
        const std::string& a = argv[i];
        if (a == "--")
            break;
        if (a.size() < 2 || a[0] != '-')
            continue;
        for (size_t j = 1; j < a.size(); j++) {
            if (kTakesArgument.find(a[j]) == std::string_view::npos)
                continue;
            std::string v = j + 1 < a.size()      ? a.substr(j + 1)
                            : i + 1 < argv.size() ? argv[++i]
                                                  : "";
            if (a[j] == 'o' && option_touches_skgate(v))
                out.push_back("-o " + v);
            else if (a[j] == 'f' && v != sshd_config)
                out.push_back("-f " + v);
            break;
        }
    }
    return out;
}

// One Match block of sshd_config or a file it includes, and a connection
// (`sshd -T -C`) that it applies to.
struct MatchProbe {
    std::string where;  // FILE:LINE: Match ...
    std::string user;
    std::string connection;
    std::string users;     // the block's User list, as written ("" without one)
    std::string unprobed;  // why no connection it applies to could be made
};

bool literal(const std::string& pattern) {
    return !pattern.empty() && pattern[0] != '!' &&
           pattern.find_first_of("*?") == std::string::npos;
}

// A member of the group: its listed members first, then an account whose
// primary group it is. Empty when nobody is in it (the block applies to no one).
std::string member_of(const std::string& group) {
    struct group* gr = getgrnam(group.c_str());
    if (!gr)
        return "";
    if (gr->gr_mem && gr->gr_mem[0])
        return gr->gr_mem[0];
    gid_t gid = gr->gr_gid;
    std::string found;
    setpwent();
    while (struct passwd* pw = getpwent()) {
        if (pw->pw_gid == gid) {
            found = pw->pw_name;
            break;
        }
    }
    endpwent();
    return found;
}

// The first account, and the first group, that an sshd pattern list
// matches: a block of only wildcards or negations ("Match User *,!root")
// is probed for someone it applies to. Empty when it applies to nobody.
std::string first_account_matching(const std::string& list) {
    std::string found;
    setpwent();
    while (struct passwd* pw = getpwent()) {
        if (match_pattern_list(pw->pw_name, list) == ListMatch::match) {
            found = pw->pw_name;
            break;
        }
    }
    endpwent();
    return found;
}

std::string first_group_matching(const std::string& list) {
    std::vector<std::string> names;  // member_of looks groups up itself
    setgrent();
    while (struct group* gr = getgrent())
        if (match_pattern_list(gr->gr_name, list) == ListMatch::match)
            names.push_back(gr->gr_name);
    endgrent();
    for (const auto& n : names)
        if (!member_of(n).empty())
            return n;
    return "";
}

// A value the pattern list matches, for sshd -T -C: its first literal
// (for an address, a CIDR's network address), else its first positive
// pattern with each wildcard filled in ("10.1.*" gives 10.1.1.1,
// "*.example.com" a.example.com), if the list then matches it. Empty
// when none can be made.
std::string value_matching(const std::string& list, bool address) {
    std::vector<std::string> literals, filled;
    for (const auto& item : split_commas(list)) {
        if (item.empty() || item[0] == '!')
            continue;
        std::string v = address ? item.substr(0, item.find('/')) : item;
        for (char& ch : v)
            if (ch == '*' || ch == '?')
                ch = address ? '1' : 'a';
        if (address && v.find(':') == std::string::npos)
            while (std::count(v.begin(), v.end(), '.') < 3)
                v += ".1";
        (literal(item) ? literals : filled).push_back(v);
    }
    literals.insert(literals.end(), filled.begin(), filled.end());
    for (const auto& v : literals) {
        // A CIDR list is matched by sshd's own rules (its network address
        // is inside it); wildcards are checked here.
        if (list.find('/') != std::string::npos || match_pattern_list(v, list) == ListMatch::match)
            return v;
    }
    return "";
}

// True when `value` is one of the list's items as written.
bool value_is_literal(const std::string& list, const std::string& value) {
    for (const auto& item : split_commas(list))
        if (item == value)
            return true;
    return false;
}

void collect_match_probes(const std::string& file, int depth, std::vector<MatchProbe>& out) {
    if (depth > 16)
        return;
    auto st = read_file_state(file);
    if (!st || !st->exists)
        return;
    std::istringstream in(st->content);
    size_t lineno = 0;
    for (std::string line; std::getline(in, line);) {
        lineno++;
        auto w = split_quoted_words(line);
        if (w.empty() || w[0][0] == '#')
            continue;
        std::string key = to_lower(w[0]);
        if (key == "include") {
            for (size_t i = 1; i < w.size(); i++) {
                std::string pattern = w[i][0] == '/' ? w[i] : "/etc/ssh/" + w[i];
                glob_t g{};
                if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
                    for (size_t j = 0; j < g.gl_pathc; j++)
                        collect_match_probes(g.gl_pathv[j], depth + 1, out);
                }
                globfree(&g);
            }
            continue;
        }
        if (key != "match")
            continue;
        ProbeConnection c;
        std::string& user = c.user;
        MatchProbe probe;
        bool applies = true;
        if (w.size() % 2 == 0 && !(w.size() == 2 && to_lower(w[1]) == "all"))
            probe.unprobed = "criteria and values do not pair up";
        for (size_t i = 1; i + 1 < w.size(); i += 2) {
            std::string criterion = to_lower(w[i]);
            const std::string& list = w[i + 1];
            bool address = criterion == "address" || criterion == "localaddress";
            std::string value = value_matching(list, address);
            bool any_positive = false;
            for (const auto& item : split_commas(list))
                any_positive = any_positive || (!item.empty() && item[0] != '!');
            if (!any_positive) {
                applies = false;  // only negations: sshd's list never matches
                continue;
            }
            if (criterion == "user") {
                probe.users = list;
                // A list of only wildcards or negations: an account it matches.
                user = !value.empty() && literal(value) && value_is_literal(list, value)
                           ? value
                           : first_account_matching(list);
                applies = applies && !user.empty();
            } else if (criterion == "group") {
                for (const auto& g : split_commas(list))
                    if (user.empty() && literal(g))
                        user = member_of(g);
                if (user.empty())
                    user = member_of(first_group_matching(list));
                applies = applies && !user.empty();
            } else if (criterion != "host" && !address && criterion != "localport" &&
                       criterion != "rdomain") {
                probe.unprobed = "sshd's " + w[i] + " criterion is not one enable knows";
            } else if (value.empty()) {
                probe.unprobed = "no " + w[i] + " that matches \"" + list + "\" could be made";
            } else if (criterion == "host") {
                c.host = value;
            } else if (criterion == "address") {
                c.addr = value;
            } else if (criterion == "localaddress") {
                c.laddr = value;
            } else if (criterion == "localport") {
                c.lport = value;
            } else {
                c.rdomain = value;
            }
        }
        if (!applies)
            continue;  // nobody is in the group: the block changes no login
        if (user.empty())
            user = "root";
        probe.where = file + ":" + std::to_string(lineno) + ": " + std::string(trim(line));
        probe.user = user;
        probe.connection = c.spec();
        out.push_back(std::move(probe));
    }
}

// -o and -f in the running sshd's command line and in the ssh/sshd units'
// ExecStart lines (with their drop-ins and the variables of the environment
// files Debian and RHEL ship), each named with where it is.
std::vector<std::string> sshd_command_line_overrides(
    const SystemPaths& paths, const std::map<std::string, std::string>& effective,
    std::string* running) {
    std::vector<std::string> found;
    if (auto pid = running_sshd_pid(effective)) {
        auto cmdline = read_file_state("/proc/" + std::to_string(*pid) + "/cmdline");
        if (cmdline && cmdline->exists) {
            std::vector<std::string> argv;
            std::string cur;
            for (char c : cmdline->content) {
                if (c == '\0') {
                    argv.push_back(cur);
                    cur.clear();
                } else {
                    cur += c;
                }
            }
            // sshd rewrites its process title: "sshd: /usr/sbin/sshd -D ...
            // [listener] 0 of 10-100 startups", one string.
            if (argv.size() == 1) {
                std::string title = argv[0];
                if (title.rfind("sshd: ", 0) == 0)
                    title.erase(0, 6);
                if (size_t l = title.find(" [listener]"); l != std::string::npos)
                    title.erase(l);
                argv = split_whitespace(title);
            }
            for (const auto& a : argv)
                *running += (running->empty() ? "" : " ") + a;
            for (const auto& o : overriding_arguments(argv, paths.sshd_config))
                found.push_back("the running sshd (pid " + std::to_string(*pid) + ") has " + o);
        }
    }
    std::vector<std::string> dirs = {"/etc/systemd/system", "/run/systemd/system",
                                     "/lib/systemd/system", "/usr/lib/systemd/system"};
    std::vector<std::string> env_files = {"/etc/default/ssh", "/etc/sysconfig/sshd"};
    if (!paths.systemd_dir.empty()) {
        dirs = {paths.systemd_dir};
        env_files = {paths.systemd_dir + "/default-ssh"};
    }
    std::vector<std::string> unit_files;
    for (const auto& d : dirs) {
        for (const char* unit : {"ssh.service", "sshd.service"}) {
            unit_files.push_back(d + "/" + unit);
            std::error_code ec;
            for (const auto& e : std::filesystem::directory_iterator(d + "/" + unit + ".d", ec)) {
                if (e.path().extension() == ".conf")
                    unit_files.push_back(e.path().string());
            }
        }
    }
    // Each trimmed line of the files that exist, with its FILE:LINE.
    auto each_line = [](const std::vector<std::string>& files, const auto& fn) {
        for (const auto& f : files) {
            auto st = read_file_state(f);
            if (!st || !st->exists)
                continue;
            std::istringstream in(st->content);
            size_t lineno = 0;
            for (std::string line; std::getline(in, line);)
                fn(f + ":" + std::to_string(++lineno), std::string(trim(line)));
        }
    };
    each_line(unit_files, [&](const std::string& where, const std::string& t) {
        size_t eq = t.find('=');
        if (eq == std::string::npos || trim(std::string_view(t).substr(0, eq)) != "ExecStart")
            return;
        std::string cmd(trim(std::string_view(t).substr(eq + 1)));
        while (!cmd.empty() && std::string_view("-@+!:").find(cmd[0]) != std::string_view::npos)
            cmd.erase(0, 1);
        for (const auto& o : overriding_arguments(split_quoted_words(cmd), paths.sshd_config))
            found.push_back(where + ": ExecStart has " + o);
    });
    each_line(env_files, [&](const std::string& where, const std::string& t) {
        if (t.empty() || t[0] == '#' || t.find('=') == std::string::npos)
            return;
        // The value loses its quotes when read ("..." or '...'), then
        // $SSHD_OPTS splits on whitespace.
        std::vector<std::string> argv = {"sshd"};
        for (const auto& part : split_quoted_words(t.substr(t.find('=') + 1)))
            for (auto& w : split_whitespace(part))
                argv.push_back(w);
        for (const auto& o : overriding_arguments(argv, paths.sshd_config))
            found.push_back(where + ": " + o);
    });
    return found;
}

// SIGHUP to the sshd that wrote `pidfile`, the way `systemctl reload ssh`
// does it; nothing when no sshd runs.
void reload_sshd(const std::map<std::string, std::string>& effective, Report& report) {
    auto it = effective.find("pidfile");
    if (it == effective.end() || it->second == "none" || it->second.empty()) {
        report.push_back("sshd has no PidFile: reload it yourself (systemctl reload ssh)");
        return;
    }
    auto pidtext = read_file_state(it->second);
    if (!pidtext || !pidtext->exists) {
        report.push_back("sshd is not running (no " + it->second +
                         "): the new settings apply when it starts");
        return;
    }
    char* end = nullptr;
    long pid = std::strtol(pidtext->content.c_str(), &end, 10);
    auto comm = read_file_state("/proc/" + std::to_string(pid) + "/comm");
    if (pid <= 1 || !comm || !comm->exists || comm->content.find("sshd") == std::string::npos) {
        report.push_back("no sshd runs with the pid in " + it->second +
                         ": the new settings apply when it starts");
        return;
    }
    if (kill(static_cast<pid_t>(pid), SIGHUP) != 0) {
        report.push_back("could not signal sshd (pid " + std::to_string(pid) + "): " +
                         std::strerror(errno) + "; reload it yourself (systemctl reload ssh)");
        return;
    }
    report.push_back("reloaded sshd (pid " + std::to_string(pid) +
                     "); existing sessions are not affected");
}

wiring::Options options_for(const SystemPaths& paths, const Policy& policy, Mode mode,
                            bool pam_confirm) {
    wiring::Options o;
    o.mode = mode;
    o.pam_confirm = pam_confirm;
    o.helper = paths.helper;
    o.config_path = paths.skgate_conf == kDefaultConfigPath ? "" : paths.skgate_conf;
    o.pam_module = paths.pam_module;
    o.break_glass_users = policy.global().break_glass_users;
    o.revoked_keys = krl_path_for(policy.global().revoked_keys);
    return o;
}

// Puts files back as they were before this run, in reverse order.
void roll_back(const std::vector<std::pair<std::string, FileState>>& applied) {
    for (auto it = applied.rbegin(); it != applied.rend(); ++it)
        (void)put_file_state(it->first, it->second);
}

// `diff -u` of a file as it is and as enable would write it.
Result<std::string> unified_diff(const std::string& path, const FileState& now,
                                 const std::string& next) {
    if (now.exists && now.content == next)
        return std::string();
    char dir_template[] = "/tmp/skgatectl-diff-XXXXXX";
    if (!mkdtemp(dir_template))
        return make_error(ErrorCode::io, "cannot make a directory for the diff: " +
                                             std::string(std::strerror(errno)));
    const std::string dir = dir_template, a = dir + "/now", b = dir + "/next";
    auto cleanup = [&] {
        unlink(a.c_str());
        unlink(b.c_str());
        rmdir(dir.c_str());
    };
    Status wa = write_file_atomic(a, now.exists ? now.content : "", {geteuid(), getegid(), 0600});
    Status wb = write_file_atomic(b, next, {geteuid(), getegid(), 0600});
    if (!wa || !wb) {
        cleanup();
        return !wa ? wa.error() : wb.error();
    }
    auto out = run_process(
        {"/usr/bin/diff", "-u", "--label", now.exists ? path : "/dev/null", "--label", path, a, b});
    cleanup();
    if (!out)
        return out.error();
    if (out->status != 1)
        return make_error(ErrorCode::internal, "diff failed: " + out->err);
    return out->out;
}

void audit_config_change(const std::string& what, Decision decision) {
    AuditEvent ev;
    ev.event = "config-change";
    ev.decision = decision;
    ev.message = what;
    ev.reason = what;
    audit_record(ev);
}

}  // namespace

std::string SystemPaths::dropin_path() const {
    std::string dir = dropin_dir;
    if (dir.empty()) {
        size_t slash = sshd_config.rfind('/');
        dir = (slash == std::string::npos ? std::string(".") : sshd_config.substr(0, slash)) +
              "/sshd_config.d";
    }
    return dir + "/" + wiring::kDropinName;
}

// sshd accepts a user certificate from a TrustedUserCAKeys authority, and
// a host key under HostbasedAuthentication, without asking skgate-keys:
// neither is skgate's decision, so enable stops unless --force accepts it.
Status check_no_other_way_in(const std::map<std::string, std::string>& eff,
                             const std::string& where, bool force,
                             const std::function<void(const std::string&)>& accept) {
    auto value = [&](const char* key) {
        auto it = eff.find(key);
        return it == eff.end() ? std::string() : it->second;
    };
    std::vector<std::string> found;
    if (std::string ca = value("trustedusercakeys"); !ca.empty() && ca != "none")
        found.push_back("TrustedUserCAKeys " + ca +
                        " (a certificate it signed logs in without skgate-keys)");
    if (value("hostbasedauthentication") == "yes")
        found.push_back(
            "HostbasedAuthentication yes (a trusted host's key logs in without "
            "skgate-keys)");
    for (const auto& f : found) {
        std::string what = where + " makes sshd use " + f;
        if (!force)
            return invalid(what + ": remove it, or pass --force to accept it");
        accept(what);
    }
    return {};
}

// What sshd will really use, globally and in each Match block of
// sshd_config and its includes for a user it applies to (sshd -T alone
// shows only the global values): skgate's values, or with --force a
// sentence for each difference that `accept` records.
Status check_sshd_uses_skgate(const SystemPaths& paths, const Policy& policy,
                              const wiring::Options& opts,
                              const std::map<std::string, std::string>& global, bool force,
                              const std::function<void(const std::string&)>& accept) {
    for (const auto& [key, value] : wiring::expected_effective(opts)) {
        auto it = global.find(key);
        const std::string now = it == global.end() ? "" : it->second;
        if (now != value)
            return invalid("sshd would use \"" + key + " " + now + "\", not skgate's \"" + value +
                           "\": an earlier drop-in or line sets it first; remove it there");
    }
    SKGATE_CHECK(check_no_other_way_in(global, "sshd_config", force, accept));
    std::vector<MatchProbe> probes;
    collect_match_probes(paths.sshd_config, 0, probes);
    for (const auto& p : probes) {
        if (!p.unprobed.empty()) {
            std::string what = p.where + ": enable cannot tell which connection it applies to (" +
                               p.unprobed + ")";
            if (!force)
                return invalid(what +
                               ": write it with values enable can probe (a user, group, host or "
                               "address that it matches), or pass --force to accept it unchecked");
            accept(what);
            continue;
        }
        SKGATE_TRY(eff, sshd_effective(paths, p.connection));
        SKGATE_CHECK(check_no_other_way_in(eff, p.where + " for " + p.user, force, accept));
        // Exempt only a block that names break-glass users and nobody else
        // (skgate's own): a wildcard block probed as root applies to all.
        bool break_glass = !p.users.empty();
        for (const auto& u : split_commas(p.users))
            break_glass = break_glass && literal(u) && policy.is_break_glass(u);
        for (const auto& [key, value] : wiring::expected_effective(opts)) {
            // skgate's own block gives break-glass users their key types.
            if (break_glass &&
                (key == "pubkeyacceptedalgorithms" || key == "authenticationmethods"))
                continue;
            if (eff[key] == value)
                continue;
            std::string what = p.where + " makes sshd use \"" + key + " " + eff[key] + "\" for " +
                               p.user + ", not skgate's \"" + value + "\"";
            if (!force)
                return invalid(what +
                               ": change that block (sshd reads the first value it meets), or "
                               "pass --force to accept it");
            accept(what);
        }
    }
    return {};
}

// sshd as enable finds it: a version with security keys, a configuration
// that passes and reads the drop-ins first, and no AuthorizedKeysCommand,
// RevokedKeys or command-line option that skgate's drop-in would silently
// override (the last two only with --force, each passed to `accept`).
// Returns what `sshd -T` prints now.
Result<std::map<std::string, std::string>> check_sshd_before_enable(
    const SystemPaths& paths, const EnableRequest& request, const Policy& policy,
    const std::function<void(const std::string&)>& accept) {
    SKGATE_TRY(version, openssh_version(paths));
    if (!version.supports_sk())
        return invalid(version.text + " has no security-key support (OpenSSH 8.2 or later needed)");

    SKGATE_TRY(sshd_config, read_file_state(paths.sshd_config));
    const std::string dropin = paths.dropin_path();
    const std::string dropin_dir = dropin.substr(0, dropin.rfind('/'));
    if (!sshd_config.exists)
        return make_error(ErrorCode::not_found, paths.sshd_config + " does not exist");
    if (!wiring::includes_dropins(sshd_config.content, dropin_dir))
        return invalid(paths.sshd_config + " does not read " + dropin_dir +
                       "/*.conf before its first Match block; add \"Include " + dropin_dir +
                       "/*.conf\" at its top (Debian 12 and RHEL 9 ship it there)");

    auto before = sshd_effective(paths);
    if (!before)
        return invalid("sshd's current configuration does not pass: " + before.error().message +
                       "; fix that first, skgatectl changes nothing until it does");
    const std::string existing = (*before)["authorizedkeyscommand"];
    if (!existing.empty() && existing != "none" && existing.rfind(paths.helper, 0) != 0 &&
        !request.replace_existing && !request.chain)
        return invalid("sshd already runs another AuthorizedKeysCommand (\"" + existing +
                       "\"); skgate would take its place. Pass --chain to run it as skgate's "
                       "command key source, or --replace-existing to let skgate's drop-in take "
                       "precedence, or remove it");

    // The drop-in's RevokedKeys replaces any sshd had: keys the
    // administrator revoked there would log in again.
    const std::string ours = krl_path_for(policy.global().revoked_keys);
    const std::string revoked_before = (*before)["revokedkeys"];
    const bool replaces_revoked =
        !revoked_before.empty() && revoked_before != "none" && revoked_before != ours;
    if (replaces_revoked && request.force)
        accept("dropping sshd's RevokedKeys " + revoked_before + " for " + ours);
    if (replaces_revoked && !request.force)
        return invalid("sshd already reads RevokedKeys " + revoked_before +
                       ", which skgate's drop-in would replace with " + ours +
                       ": revoke those keys with skgatectl revoke (--key-file) first, then "
                       "remove that RevokedKeys line, or pass --force to drop it");

    // A -o on sshd's command line beats every file: enable would write a
    // drop-in that sshd ignores, and status would report it as in force.
    std::string running;
    auto overrides = sshd_command_line_overrides(paths, *before, &running);
    if (!overrides.empty() && !request.force) {
        std::string list;
        for (const auto& o : overrides)
            list += (list.empty() ? "" : "; ") + o;
        return invalid("sshd is started with options that override skgate's drop-in (" + list +
                       "): remove them (systemctl edit ssh, or the environment file) and restart "
                       "sshd, or pass --force if they set nothing skgate sets");
    }
    for (const auto& o : overrides)
        accept(o + " on sshd's command line");

    return std::move(*before);
}

std::string join_words(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words)
        out += (out.empty() ? "" : " ") + w;
    return out;
}

// enable --chain: the AuthorizedKeysCommand sshd ran before skgate, as the
// command source's settings. Once enabled, sshd runs skgate-keys, and the
// command chained then is in skgate.conf already.
Result<KeysCommandSettings> chained_command(const SystemPaths& paths, const Policy& policy,
                                            std::map<std::string, std::string>& before) {
    const std::string existing = before["authorizedkeyscommand"];
    const std::string user = before["authorizedkeyscommanduser"];
    if (existing.rfind(paths.helper, 0) == 0) {
        if (policy.global().keys_command.argv.empty())
            return invalid(
                "--chain: sshd runs skgate-keys already and skgate.conf has no "
                "KeysCommand: there is no other command to chain");
        return policy.global().keys_command;
    }
    if (existing.empty() || existing == "none")
        return invalid("--chain: sshd runs no AuthorizedKeysCommand to chain");
    KeysCommandSettings chain{split_quoted_words(existing), user};
    if (chain.argv.empty() || chain.argv[0].empty() || chain.argv[0][0] != '/')
        return invalid("--chain: sshd's AuthorizedKeysCommand \"" + printable(existing, 300) +
                       "\" does not start with an absolute path");
    for (const auto& arg : chain.argv)
        if (Status t = check_percent_tokens(arg, kKeysCommandTokens); !t)
            return invalid("--chain: sshd's AuthorizedKeysCommand: " + t.error().message +
                           "; skgate-keys is given only these by sshd: set KeysCommand by hand "
                           "with them, or leave the command out");
    if (user.empty() || user == "none")
        return invalid("--chain: sshd's AuthorizedKeysCommand \"" + printable(existing, 300) +
                       "\" has no AuthorizedKeysCommandUser");
    if (Status u = validate_username(user); !u)
        return u.error().context("--chain: AuthorizedKeysCommandUser");
    // sshd applies the same rules to its AuthorizedKeysCommand: one that
    // fails them never answered, and chaining it would only hide that.
    if (auto program = check_keys_command_program(chain); !program)
        return program.error().context("--chain");
    return chain;
}

// What enable will write: each managed file as it is now, as it was before
// the first enable, and its new text. A file changed since the last enable
// is refused (the policy excepted: the administrator's edit stays).
struct EnablePlan {
    EnableRecord record;
    std::map<std::string, FileState> current;  // by role
};

Result<EnablePlan> plan_enable(const SystemPaths& paths, const EnableRequest& request,
                               const wiring::Options& opts,
                               const std::optional<EnableRecord>& previous,
                               const std::string& dropin,
                               const std::optional<KeysCommandSettings>& chain) {
    // Start from what was there before the first enable, so that running
    // enable again (say audit, then enforce) never stacks changes.
    EnablePlan plan;
    EnableRecord& record = plan.record;
    record.mode = request.mode;
    record.pam_confirm = request.pam_confirm;
    record.previous_authorized_keys_file = opts.previous_authorized_keys_file;
    record.previous_pubkey_algorithms = opts.previous_pubkey_algorithms;
    struct Target {
        std::string role, path;
    };
    const Target targets[] = {
        {kRolePolicy, paths.skgate_conf}, {kRoleDropin, dropin}, {kRolePam, paths.pam_file}};
    // What each file holds now, by role: the dry run's diff, "unchanged" and
    // the roll-back start from it.
    std::map<std::string, FileState>& current = plan.current;
    for (const auto& t : targets) {
        SKGATE_TRY(now, read_file_state(t.path));
        ManagedFile m{t.role, t.path, now, ""};
        if (const ManagedFile* prev = previous ? previous->find(t.role) : nullptr) {
            if (t.role == kRolePolicy && now.exists && now.content != prev->written) {
                // The administrator's own edit (it loaded above, so it is
                // valid): keep it, and let disable give back only the Mode
                // line skgate set, never the file of before the edit.
                m.original = now;
                m.original.content =
                    wiring::restore_enable_settings(now.content, prev->original.content);
                if (!prev->original.exists && m.original.content.empty())
                    m.original.exists = false;
            } else if (!now.exists || now.content != prev->written) {
                return invalid(t.path +
                               " was changed since skgatectl enable; run skgatectl "
                               "disable first (it keeps your change), then enable");
            } else {
                m.original = prev->original;
            }
        } else if (t.role == kRoleDropin && now.exists) {
            return invalid(t.path +
                           " exists but skgatectl has no record of writing it; move it "
                           "away and run enable again");
        }
        current[t.role] = now;
        record.files.push_back(std::move(m));
    }
    for (auto& m : record.files) {
        if (m.role == kRolePolicy) {
            m.written = wiring::set_global_mode(m.original.content, request.mode);
            if (chain) {
                auto chained = wiring::set_keys_command(m.written, *chain);
                if (!chained)
                    return chained.error().context(m.path);
                m.written = std::move(*chained);
            }
        } else if (m.role == kRoleDropin) {
            m.written = wiring::render_dropin(opts);
        } else {
            if (!m.original.exists)
                return make_error(ErrorCode::not_found,
                                  m.path + " does not exist: is sshd's PAM service elsewhere?");
            auto pam = wiring::add_pam_lines(m.original.content, opts);
            if (!pam)
                return pam.error().context(m.path);
            m.written = *pam;
        }
    }

    return plan;
}

Result<WiringOutcome> enable_skgate(const SystemPaths& paths, const EnableRequest& request) {
    WiringOutcome outcome;
    Report& report = outcome.report;
    SKGATE_TRY(policy, Policy::load_or_default(paths.skgate_conf));
    const std::string state_dir = state_dir_of(policy);
    std::optional<FileLock> lock;
    if (!request.dry_run) {
        SKGATE_CHECK(ensure_directory(policy.global().state_directory, FileOwner{0, 0, 0755}));
        SKGATE_CHECK(ensure_directory(state_dir, FileOwner{0, 0, 0700}));
        SKGATE_TRY(l, FileLock::acquire(state_dir + "/lock"));
        lock.emplace(std::move(l));
    }
    SKGATE_TRY(previous, load_record(state_dir));

    const std::string dropin = paths.dropin_path();
    std::vector<std::string> forced;
    auto accept = [&](const std::string& what) {
        forced.push_back(what);
        report.push_back("--force: accepted " + what);
    };
    SKGATE_TRY(before, check_sshd_before_enable(paths, request, policy, accept));

    // The files sshd read before skgate, which skgate-keys is given (-a).
    std::string previous_files =
        previous ? previous->previous_authorized_keys_file : before["authorizedkeysfile"];
    if (previous_files.empty())
        previous_files = ".ssh/authorized_keys .ssh/authorized_keys2";
    std::vector<std::string> user_files;
    if (previous_files != "none")
        user_files = split_whitespace(previous_files);
    // Each pattern goes into skgate-keys' command line and pam_skgate's
    // module arguments: one that either would read differently is refused
    // here, before anything is written.
    for (const auto& f : user_files)
        if (Status v = validate_user_key_file_pattern(f); !v)
            return make_error(ErrorCode::invalid,
                              "sshd's AuthorizedKeysFile: " + v.error().message +
                                  "; rename the file, or set AuthorizedKeysFile to patterns "
                                  "without it, and run enable again");

    if (request.mode == Mode::enforce) {
        Status guard = check_nobody_locked_out(policy, user_files);
        if (!guard && !request.force)
            return guard.error();
        if (!guard) {  // the guard's first clause says who is locked out
            const std::string& why = guard.error().message;
            accept(why.substr(0, why.find(": ")));
        }
    }

    wiring::Options opts = options_for(paths, policy, request.mode, request.pam_confirm);
    opts.previous_authorized_keys_file = previous_files;
    opts.previous_pubkey_algorithms =
        previous ? previous->previous_pubkey_algorithms : before["pubkeyacceptedalgorithms"];

    std::optional<KeysCommandSettings> chain;
    if (request.chain) {
        SKGATE_TRY(c, chained_command(paths, policy, before));
        chain = std::move(c);
        report.push_back("chained: skgate-keys runs \"" + printable(join_words(chain->argv), 300) +
                         "\" as " + chain->user + " (the command key source)");
        for (const auto& w : keys_command_warnings(*chain))
            report.push_back("warning: " + w);
    }
    SKGATE_TRY(plan, plan_enable(paths, request, opts, previous, dropin, chain));
    EnableRecord& record = plan.record;
    const std::map<std::string, FileState>& current = plan.current;

    bool same =
        previous && previous->mode == request.mode && previous->pam_confirm == request.pam_confirm;
    for (const auto& m : record.files)
        same = same && current.at(m.role).exists && current.at(m.role).content == m.written;
    if (same && !request.dry_run) {
        // Files as written, but sshd's other configuration may have changed
        // since: check it as a fresh enable would, and keep the record of
        // what --force accepted true.
        SKGATE_TRY(now, sshd_effective(paths));
        SKGATE_CHECK(check_sshd_uses_skgate(paths, policy, opts, now, request.force, accept));
        if (forced != previous->forced) {
            EnableRecord updated = *previous;
            updated.forced = forced;
            SKGATE_CHECK(save_record(state_dir, updated));
        }
        outcome.changed = false;
        report.push_back("unchanged: skgate is already enabled in " +
                         std::string(to_string(request.mode)) + " mode" +
                         (request.pam_confirm ? " with PAM confirmation" : "") +
                         " with exactly these files; nothing was written or reloaded");
        return outcome;
    }
    if (request.dry_run) {
        outcome.changed = false;
        for (const auto& m : record.files) {
            SKGATE_TRY(d, unified_diff(m.path, current.at(m.role), m.written));
            outcome.diff += d;
        }
        report.push_back(outcome.diff.empty() ? "dry run: nothing would change"
                                              : "dry run: nothing was written");
        return outcome;
    }

    SKGATE_CHECK(ensure_system_user(paths, report));
    // sshd refuses every key while its RevokedKeys cannot be read: the KRL
    // exists before the drop-in names it.
    if (Status krl = RevocationList::rebuild_index(policy.global().revoked_keys); !krl)
        return krl.error().context("cannot write the revocation index sshd reads");
    // The originals are safe on disk before anything changes.
    SKGATE_CHECK(save_record(state_dir, record));

    std::vector<std::pair<std::string, FileState>> applied;
    auto fail = [&](const Error& e) -> Error {
        roll_back(applied);
        if (previous)
            (void)save_record(state_dir, *previous);
        else
            remove_record(state_dir);
        return e.context("nothing was changed");
    };
    for (const ManagedFile& m : record.files) {
        if (m.role == kRolePam)
            continue;  // only once sshd has accepted the policy and the drop-in
        FileState next = m.original.exists ? m.original : FileState{true, "", 0644, 0, 0};
        next.exists = true;
        next.content = m.written;
        Status w = put_file_state(m.path, next);
        applied.emplace_back(m.path, current.at(m.role));
        if (!w)
            return fail(w.error());
    }
    if (Status t = sshd_test(paths); !t)
        return fail(invalid("sshd -t refused the result: " + t.error().message));
    auto after = sshd_effective(paths);
    if (!after)
        return fail(after.error());
    if (Status uses = check_sshd_uses_skgate(paths, policy, opts, *after, request.force, accept);
        !uses)
        return fail(uses.error());
    if (!forced.empty()) {
        record.forced = forced;
        if (Status saved = save_record(state_dir, record); !saved)
            return fail(saved.error());
    }
    {
        const ManagedFile* pam = record.find(kRolePam);
        if (!pam)
            return fail(make_error(ErrorCode::internal, "enable made no record of the PAM file"));
        const ManagedFile& m = *pam;
        FileState next = m.original;
        next.content = m.written;
        Status w = put_file_state(m.path, next);
        applied.emplace_back(m.path, current.at(kRolePam));
        if (!w)
            return fail(w.error());
    }
    report.push_back("wrote " + dropin + " (" + std::string(to_string(request.mode)) + " mode" +
                     (request.pam_confirm ? ", PAM confirmation" : "") + "); sshd -t accepts it");
    report.push_back("added skgate's lines to " + paths.pam_file);
    report.push_back("set Mode " + std::string(to_string(request.mode)) + " in " +
                     paths.skgate_conf);
    if (request.pam_confirm)
        report.push_back(
            "PAM confirmation needs keyboard-interactive: ssh -o BatchMode=yes and tools that "
            "turn it off (Ansible's defaults) can no longer log in");
    if (request.reload)
        reload_sshd(*after, report);
    audit_config_change("skgate enabled in " + std::string(to_string(request.mode)) + " mode" +
                            (request.pam_confirm ? " with PAM confirmation" : ""),
                        Decision::allow);
    return outcome;
}

Result<WiringOutcome> disable_skgate(const SystemPaths& paths, bool reload) {
    WiringOutcome outcome;
    Report& report = outcome.report;
    SKGATE_TRY(policy, Policy::load_or_default(paths.skgate_conf));
    const std::string state_dir = state_dir_of(policy);
    SKGATE_TRY(existing_dir, read_file_state(state_dir + "/" + kRecordName));
    if (!existing_dir.exists) {
        outcome.changed = false;
        report.push_back("unchanged: skgate is not enabled (no record in " + state_dir +
                         "): nothing to do");
        return outcome;
    }
    SKGATE_TRY(lock, FileLock::acquire(state_dir + "/lock"));
    SKGATE_TRY(loaded, load_record(state_dir));
    if (!loaded) {
        outcome.changed = false;
        return outcome;
    }
    const EnableRecord& record = *loaded;

    std::vector<std::pair<std::string, FileState>> applied;
    for (const auto& m : record.files) {
        SKGATE_TRY(now, read_file_state(m.path));
        FileState next = m.original;
        if (!now.exists || now.content != m.written) {
            if (m.role == kRolePam) {
                next = now;
                next.content = wiring::remove_pam_lines(now.content);
                report.push_back(m.path + " changed since enable: took out only skgate's lines");
            } else if (m.role == kRolePolicy) {
                if (!now.exists) {
                    report.push_back(m.path + " was removed since enable: left so");
                    continue;
                }
                // The administrator's edits stay; the Mode line enable set
                // goes back to what it was.
                next = now;
                next.content = wiring::restore_enable_settings(now.content, m.original.content);
                report.push_back(m.path +
                                 " changed since enable: kept the edits, put the Mode line back");
            } else {
                report.push_back(m.path + " changed since enable: removed it all the same");
            }
        }
        Status w = put_file_state(m.path, next);
        applied.emplace_back(m.path, now);
        if (!w) {
            roll_back(applied);
            return w.error().context("nothing was changed");
        }
    }
    if (Status t = sshd_test(paths); !t) {
        roll_back(applied);
        return invalid("sshd -t refuses the configuration without skgate (" + t.error().message +
                       "); skgate stays enabled, fix the rest of sshd_config first");
    }
    remove_record(state_dir);
    report.push_back("restored " + paths.sshd_config + "'s drop-in directory, " + paths.pam_file +
                     " and " + paths.skgate_conf + " as they were before enable");
    auto after = sshd_effective(paths);
    if (!reload)
        report.push_back("sshd was not reloaded (--no-reload): systemctl reload ssh");
    else if (after)
        reload_sshd(*after, report);
    audit_config_change("skgate disabled", Decision::none);
    (void)lock;
    return outcome;
}

WiringStatus wiring_status(const SystemPaths& paths, const Policy& policy) {
    WiringStatus s;
    auto rec = load_record(state_dir_of(policy));
    if (rec && *rec) {
        s.enabled = true;
        s.mode = (*rec)->mode;
        s.pam_confirm = (*rec)->pam_confirm;
        s.forced = (*rec)->forced;
        for (const auto& m : (*rec)->files) {
            auto now = read_file_state(m.path);
            if (!now || !now->exists || now->content != m.written)
                s.drift.push_back(m.path);
        }
    }
    auto dropin = read_file_state(paths.dropin_path());
    s.dropin_present = dropin && dropin->exists;
    auto pam = read_file_state(paths.pam_file);
    s.pam_session = pam && pam->exists && wiring::has_pam_lines(pam->content);
    auto eff = sshd_effective(paths);
    if (eff) {
        s.authorized_keys_command = (*eff)["authorizedkeyscommand"];
        s.command_is_ours =
            !paths.helper.empty() && s.authorized_keys_command.rfind(paths.helper, 0) == 0;
        s.overrides = sshd_command_line_overrides(paths, *eff, &s.running_command_line);
        // What sshd really runs: a -o on its command line wins over sshd -T.
        for (const auto& o : s.overrides) {
            if (to_lower(o).find("authorizedkeyscommand") != std::string::npos)
                s.command_is_ours = false;
        }
    } else {
        s.sshd_error = eff.error().message;
    }
    return s;
}

Result<wiring::OpenSshVersion> openssh_version(const SystemPaths& paths) {
    // sshd -V exists from OpenSSH 9.0; older ones print their version in the
    // usage message of an unknown option.
    for (const char* opt : {"-V", "-?"}) {
        auto out = run_process({paths.sshd, opt});
        if (!out)
            return out.error();
        auto v = wiring::parse_openssh_version(out->err + out->out);
        if (v)
            return v;
    }
    return invalid("cannot tell which OpenSSH " + paths.sshd + " is");
}

}  // namespace skgate
