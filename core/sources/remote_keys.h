// What the remote key sources answer (DESIGN.md section 9), parsed as the
// untrusted input it is: the Linode/Akamai Metadata v1 `GET /v1/ssh-keys`
// document and skgate's generic HTTP key document, both JSON (json-c).
//
// A document that is not what it should be (too large, not JSON, wrong
// shape) is refused whole. Within a good document each key stands alone: a
// line that smuggles in a newline, an option list, control characters or an
// invalid key is refused with its reason, and the others still count.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ssh/authkeys.h"
#include "core/sys/result.h"

namespace skgate {

inline constexpr size_t kMaxRemoteDocumentBytes = 256 * 1024;
inline constexpr size_t kMaxRemoteKeysPerUser = 64;
inline constexpr size_t kMaxRemoteKeyLineBytes = 8 * 1024;

struct RemoteKey {
    AuthorizedKey entry;
    std::optional<std::time_t> expires;  // http only
    std::string origin;                  // where in the document, e.g. users.alice[1]
};

struct RemoteKeys {
    std::vector<RemoteKey> keys;
    std::vector<std::string> refused;  // "ORIGIN: reason", one per refused entry
};

// One key as a remote source gives it: "TYPE BASE64 [COMMENT]" and nothing
// else (no options: skgate sets them from policy).
Result<AuthorizedKey> parse_remote_key_line(std::string_view line);

// {"users": {"NAME": ["KEY LINE", ...], ...}}: the keys listed for `name`.
Result<RemoteKeys> parse_metadata_ssh_keys(std::string_view json, std::string_view name);

// {"keys": [{"key": "KEY LINE", "expires": "2026-12-31T00:00:00Z"}, ...]}
// ("expires" optional). Documented in skgate.conf(5).
Result<RemoteKeys> parse_http_keys(std::string_view json);

}  // namespace skgate
