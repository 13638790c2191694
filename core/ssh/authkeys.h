// authorized_keys lines (sshd(8) AUTHORIZED_KEYS FILE FORMAT): options, key,
// comment. The parser follows sshd's grammar; the formatter guarantees that
// nothing in a value or comment can end the line or smuggle in an option.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ssh/sshkey.h"
#include "core/sys/result.h"
#include "core/sys/timeutil.h"

namespace skgate {

inline constexpr size_t kMaxAuthorizedKeyLine = 32 * 1024;

struct KeyOption {
    std::string name;                  // lower case, e.g. "no-touch-required"
    std::optional<std::string> value;  // dequoted; nullopt for a flag
    bool operator==(const KeyOption&) const = default;
};
using KeyOptions = std::vector<KeyOption>;

struct AuthorizedKey {
    KeyOptions options;
    PublicKey key;
    std::string comment;
};

bool is_blank_or_comment(std::string_view line);

// One line without its newline. Blank and comment lines are errors here:
// callers skip them with is_blank_or_comment().
Result<AuthorizedKey> parse_authorized_key(std::string_view line);

// An option list alone: `name[="value"][,name[="value"]]...`.
Result<KeyOptions> parse_key_options(std::string_view text);
// Renders options so that sshd parses back exactly the same list. Refuses
// names outside [a-z0-9-] and values with control characters or a trailing
// backslash (which sshd's quoting cannot express).
Result<std::string> format_key_options(const KeyOptions& options);
// options (if any), key, and comment with control characters replaced by '?'.
Result<std::string> format_authorized_key(const AuthorizedKey& entry);

// What sshd makes of an option list. Defaults are sshd's for a key line.
struct SshdKeyOptions {
    bool restrict = false;
    bool cert_authority = false;
    bool touch_required = true;
    bool verify_required = false;
    std::optional<bool> port_forwarding, agent_forwarding, x11_forwarding, pty, user_rc;
    std::optional<std::string> command, principals, from, tunnel;
    std::optional<std::time_t> expiry_time;
    std::vector<std::string> environment, permitopen, permitlisten;
};

// Interprets options as sshd 9.x does (last flag wins, `restrict` resets the
// permits before it, duplicate command/principals/from are errors, the
// earliest expiry-time wins). Unknown options are errors.
Result<SshdKeyOptions> interpret_sshd_options(const KeyOptions& options);

// expiry-time's dates: parse_expiry_time and format_expiry_time, with every
// other date skgate reads, in sys/timeutil.h.

}  // namespace skgate
