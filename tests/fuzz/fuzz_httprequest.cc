// What reaches the agent's loopback page: an HTTP request head, and the
// page's answer body. No crash; whatever parses stays within its limits.
#include <cstdlib>
#include <string_view>

#include "agent/passkey_page.h"
#include "core/sys/http_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto end = skgate::http_head_end(in);
    if (end && *end > 0) {
        auto r = skgate::HttpRequest::parse_head(in.substr(0, *end));
        if (r && (r->content_length > skgate::kMaxHttpBodyBytes ||
                  r->headers.size() > skgate::kMaxHttpHeaders || r->target.empty() ||
                  r->target[0] != '/'))
            std::abort();
    }
    (void)skgate::HttpRequest::parse_head(in);
    auto answer = skgate::agent::parse_page_answer(in);
    if (answer && answer->size() > skgate::agent::kMaxAnswerFields)
        std::abort();
    return 0;
}
