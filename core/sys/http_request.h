// One HTTP/1.1 request as a browser sends it to a loopback page of
// skgate-agent: the request line, the header fields and a Content-Length
// body, all bounded. Nothing else of HTTP is accepted (no chunked bodies,
// no obsolete line folding, no repeated Host, Origin or Content-Length),
// since the only client meant to speak to it is a browser on this machine.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/sys/result.h"

namespace skgate {

inline constexpr size_t kMaxHttpHeadBytes = 8 * 1024;
inline constexpr size_t kMaxHttpBodyBytes = 32 * 1024;
inline constexpr size_t kMaxHttpHeaders = 64;

struct HttpRequest {
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
    size_t content_length = 0;

    // The value of the one field named `name` (lower case), or nullptr.
    const std::string* header(std::string_view name) const;

    // `head`: everything up to and including the empty line that ends it.
    static Result<HttpRequest> parse_head(std::string_view head);
};

// Where the head ends in `buffered` (just past "\r\n\r\n"), or 0 when it
// has not ended yet; an error when the head is already too long.
Result<size_t> http_head_end(std::string_view buffered);

}  // namespace skgate
