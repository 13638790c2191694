// What `skgatectl enable` writes into sshd's and PAM's configuration
// (DESIGN.md section 6), as pure text transformations: the sshd drop-in,
// the lines added to /etc/pam.d/sshd and taken out again, the global `Mode`
// line of skgate.conf, and reading `sshd -T`. No file is touched here.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/policy/settings.h"
#include "core/sys/result.h"

namespace skgate::wiring {

inline constexpr const char* kDropinName = "10-skgate.conf";
// Precedes every line skgatectl adds to a PAM file; `disable` removes the
// marker and the line after it, and nothing else.
inline constexpr std::string_view kPamMarker =
    "# Added by skgatectl enable (skgatectl disable removes it with this comment).";
inline constexpr const char* kSkAlgorithms =
    "sk-ecdsa-sha2-nistp256@openssh.com,sk-ssh-ed25519@openssh.com";

struct Options {
    Mode mode = Mode::audit;
    bool pam_confirm = false;
    std::string helper;       // absolute path of skgate-keys
    std::string config_path;  // skgate.conf; passed to the helper and module when not the default
    std::string pam_module = "pam_skgate.so";
    std::vector<std::string> break_glass_users;
    // What sshd read before skgate (from `sshd -T`): skgate-keys reads these
    // files for it (-a), for every user.
    std::string previous_authorized_keys_file = ".ssh/authorized_keys .ssh/authorized_keys2";
    // The key types break-glass users keep in enforce mode; empty: sshd's default.
    std::string previous_pubkey_algorithms;
    // sshd's own RevokedKeys: the KRL skgatectl revoke keeps (empty: none).
    std::string revoked_keys;
};

// The full text of sshd_config.d/10-skgate.conf.
std::string render_dropin(const Options& o);

// keyword -> value as `sshd -T` must print them once the drop-in is in
// effect (without Match); a difference means something else takes precedence.
std::map<std::string, std::string> expected_effective(const Options& o);

// The `AuthorizedKeysCommand` the drop-in sets (as `sshd -T` prints it).
std::string helper_command(const Options& o);
// The AuthorizedKeysFile patterns skgate-keys reads for sshd (-a).
std::vector<std::string> user_key_file_patterns(const Options& o);

// `sshd -T` output: lower-case keyword -> the rest of the line. Repeated
// keywords (e.g. hostkey) keep the first.
std::map<std::string, std::string> parse_sshd_t(std::string_view text);

// Whether sshd_config reads `dropin_dir`/*.conf through an `Include` before
// its first `Match` (a later Include would only apply inside the Match).
bool includes_dropins(std::string_view sshd_config, std::string_view dropin_dir);

// Adds the session line (and, with pam_confirm, the auth line before the
// distribution's first auth rule). Refuses a file that already loads
// pam_skgate through lines skgatectl did not add, naming the line.
Result<std::string> add_pam_lines(std::string_view pam, const Options& o);
// Takes out exactly the marked lines; the rest stays byte for byte.
std::string remove_pam_lines(std::string_view pam);
bool has_pam_lines(std::string_view pam);

// Sets the global `Mode` of skgate.conf, replacing the first global Mode
// line in place or adding one at the top; everything else is kept.
std::string set_global_mode(std::string_view conf, Mode mode);
// enable --chain: `conf` with the command source added to the global
// KeySources (or a "KeySources local command" line) and the global
// KeysCommand and KeysCommandUser set to `chain`. Refused when KeySources is
// set only in Match blocks, which a global line would override.
Result<std::string> set_keys_command(std::string_view conf, const KeysCommandSettings& chain);
// `conf` with what enable set put back as it was in `original`: the global
// Mode, KeysCommand and KeysCommandUser lines (taken out if `original` had
// none), and the command source enable added to KeySources. What disable
// restores of a policy the administrator edited after enable, so that no
// edit of theirs is lost.
std::string restore_enable_settings(std::string_view conf, std::string_view original);

// The version `sshd -V` / `ssh -V` prints ("OpenSSH_9.2p1 ..."): major and
// minor, or an error when the text is not OpenSSH's.
struct OpenSshVersion {
    int major = 0;
    int minor = 0;
    std::string text;
    bool supports_sk() const { return major > 8 || (major == 8 && minor >= 2); }
    bool supports_verify_required() const { return major > 8 || (major == 8 && minor >= 4); }
};
Result<OpenSshVersion> parse_openssh_version(std::string_view text);

}  // namespace skgate::wiring
