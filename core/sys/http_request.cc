#include "core/sys/http_request.h"

#include <algorithm>
#include <charconv>

#include "core/sys/text.h"

namespace skgate {

namespace {

// RFC 9110's token characters, for methods and field names.
bool is_token(std::string_view s) {
    if (s.empty())
        return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
}

bool is_field_value(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u == '\t' || (u >= 0x20 && u != 0x7f);
    });
}

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// Fields that decide where a request goes or how long it is: one of each.
constexpr std::string_view kSingleFields[] = {"host", "origin", "content-length",
                                              "transfer-encoding", "content-type"};

}  // namespace

const std::string* HttpRequest::header(std::string_view name) const {
    for (const auto& [n, v] : headers)
        if (n == name)
            return &v;
    return nullptr;
}

Result<size_t> http_head_end(std::string_view buffered) {
    size_t end = buffered.find("\r\n\r\n");
    if (end != std::string_view::npos && end + 4 <= kMaxHttpHeadBytes)
        return end + 4;
    if (buffered.size() >= kMaxHttpHeadBytes)
        return invalid("the request's head is longer than " + std::to_string(kMaxHttpHeadBytes) +
                       " bytes");
    return size_t{0};
}

Result<HttpRequest> HttpRequest::parse_head(std::string_view head) {
    if (head.size() > kMaxHttpHeadBytes)
        return invalid("the request's head is too long");
    if (head.size() < 4 || head.substr(head.size() - 4) != "\r\n\r\n")
        return invalid("the request's head does not end with an empty line");
    head.remove_suffix(2);  // every line, the last included, now ends "\r\n"
    HttpRequest r;
    size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
        return invalid("malformed request line");
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);
    if (!is_token(method) || target.empty() || target.front() != '/' || !is_field_value(target) ||
        target.find_first_of(" \t") != std::string_view::npos)
        return invalid("malformed request line");
    if (version != "HTTP/1.1" && version != "HTTP/1.0")
        return invalid("not HTTP/1.1");
    r.method = std::string(method);
    r.target = std::string(target);
    while (!head.empty()) {
        eol = head.find("\r\n");
        line = head.substr(0, eol);
        head.remove_prefix(eol + 2);
        if (line.find('\r') != std::string_view::npos || line.find('\n') != std::string_view::npos)
            return invalid("a header line holds a bare CR or LF");
        if (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
            return invalid("folded header lines are not accepted");
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
            return invalid("malformed header line");
        std::string name = to_lower(line.substr(0, colon));
        std::string_view value = trim_ows(line.substr(colon + 1));
        if (!is_field_value(value))
            return invalid("header " + name + " holds control characters");
        if (std::find(std::begin(kSingleFields), std::end(kSingleFields), name) !=
                std::end(kSingleFields) &&
            r.header(name))
            return invalid("header " + name + " is given twice");
        if (r.headers.size() == kMaxHttpHeaders)
            return invalid("more than " + std::to_string(kMaxHttpHeaders) + " headers");
        r.headers.emplace_back(std::move(name), std::string(value));
    }
    if (r.header("transfer-encoding"))
        return invalid("Transfer-Encoding is not accepted (give Content-Length)");
    if (const std::string* cl = r.header("content-length")) {
        size_t n = 0;
        auto [end, ec] = std::from_chars(cl->data(), cl->data() + cl->size(), n);
        if (ec != std::errc() || end != cl->data() + cl->size() || cl->empty())
            return invalid("Content-Length is not a number");
        if (n > kMaxHttpBodyBytes)
            return invalid("the body is larger than " + std::to_string(kMaxHttpBodyBytes) +
                           " bytes");
        r.content_length = n;
    }
    return r;
}

}  // namespace skgate
