// SSH_AUTH_INFO_0, as sshd (ExposeAuthInfo yes) passes it to PAM: one line
// per completed authentication method, "METHOD[/SUBMETHOD][ DETAILS]\n"
// (e.g. "keyboard-interactive/pam"); a publickey
// line's details are the key's type and base64 blob. Untrusted in the sense
// that a bug or a misconfiguration must never turn it into an allow: the
// parser is strict and bounded.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/ssh/sshkey.h"
#include "core/sys/result.h"

namespace skgate {

inline constexpr size_t kMaxAuthInfoBytes = 64 * 1024;
inline constexpr size_t kMaxAuthInfoLines = 16;

struct AuthMethod {
    std::string method;  // "publickey", "keyboard-interactive", ...
    std::string details;
};

struct AuthInfo {
    std::vector<AuthMethod> methods;
    std::vector<PublicKey> publickeys;  // the keys of the publickey lines, in order

    // Any malformed line, or a publickey line whose key does not parse, makes
    // the whole value invalid.
    static Result<AuthInfo> parse(std::string_view value);
};

}  // namespace skgate
