// The one-time loopback page through which skgate-agent asks the person's
// browser for a passkey (DESIGN.md section 16): navigator.credentials.create
// for `generate --passkey`, .get for each signature. The page lives at
// http://localhost:PORT/TOKEN (TOKEN: 128 random bits) for one request; it
// answers only requests whose Host is that address, takes an answer only
// with that Origin, and only from a connection of the agent's own user.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "core/fido/webauthn.h"
#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate::agent {

inline constexpr const char* kPasskeyRpId = "localhost";
// Connections open at once (a browser preconnects; others wait their turn).
inline constexpr size_t kMaxPageConnections = 16;
inline constexpr size_t kMaxAnswerFields = 8;

struct PageRequest {
    enum class Kind { create, get } kind = Kind::create;
    Bytes challenge;
    std::string user_name;  // create: the name the browser shows and stores
    Bytes credential_id;    // get: the only credential it may use
    bool verify_required = false;
    std::string purpose;  // what the person approves, shown on the page
};

struct PageAnswer {
    WebauthnOrigin where;
    std::map<std::string, Bytes> fields;  // attestationObject, clientDataJSON, ...
};

// The page's answer body: NAME=BASE64URL lines, names of letters only, at
// most kMaxAnswerFields of them, each once.
Result<std::map<std::string, Bytes>> parse_page_answer(std::string_view body);

// Serves the page until the browser answers or `deadline_us` (monotonic)
// passes. `open` gets the URL to show the person (and open their browser
// on). A refusal in the browser (the person cancelled, no authenticator) is
// an ErrorCode::permission error naming what the browser said.
Result<PageAnswer> serve_passkey_page(const PageRequest& request, uint64_t deadline_us,
                                      const std::function<void(const std::string& url)>& open);

// The uid of the process at the other end of an accepted loopback TCP
// connection, from /proc/net/tcp or tcp6.
Result<uid_t> loopback_peer_uid(int fd);

// $BROWSER's first command, else xdg-open, started detached with the URL:
// never waited for, since a browser's first window may run for hours.
Status open_browser(const std::string& url);

}  // namespace skgate::agent
