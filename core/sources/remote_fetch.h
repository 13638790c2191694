// Asking the remote key sources (DESIGN.md section 9) for one user's keys.
// Runs in skgate-fetch only; errors distinguish a source that could not be
// asked (ErrorCode::unavailable) from one that answered nonsense
// (ErrorCode::invalid) and from a configuration mistake (the others).
#pragma once

#include <string>

#include "core/policy/settings.h"
#include "core/sources/http_client.h"
#include "core/sources/remote_keys.h"
#include "core/sys/result.h"

namespace skgate {

// A URL template with %u replaced by the user name, percent-encoded.
std::string expand_url_user(const std::string& url_template, const std::string& user);

// The users whose keys in the metadata document belong to `user`:
// MetadataRootUser moves root's keys to another account (or to none).
std::vector<std::string> metadata_names_for(const RemoteSettings& settings,
                                            const std::string& user);

Result<RemoteKeys> fetch_metadata_keys(HttpSession& http, const RemoteSettings& settings,
                                       const std::string& user, long timeout_ms);

// A 404 answer means the user has no keys there; any other status but 200
// is an outage. `bearer_token` is sent as "Authorization: Bearer" if set.
Result<RemoteKeys> fetch_http_keys(HttpSession& http, const RemoteSettings& settings,
                                   const std::string& user, const std::string& bearer_token,
                                   long timeout_ms);

// A bearer token goes into a header: visible ASCII only, bounded.
Status check_bearer_token(std::string_view token);

// A bearer token or password file: the first line, no control characters.
Result<std::string> read_secret_file(const std::string& path, const char* what);

}  // namespace skgate
