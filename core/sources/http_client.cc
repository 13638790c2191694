#include "core/sources/http_client.h"

#include <curl/curl.h>

#include <mutex>

namespace skgate {

namespace {

struct Body {
    std::string data;
    size_t limit = 0;
    bool overflow = false;
};

size_t collect(char* ptr, size_t size, size_t nmemb, void* user) {
    auto* b = static_cast<Body*>(user);
    size_t n = size * nmemb;
    if (b->data.size() + n > b->limit) {
        b->overflow = true;
        return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
    }
    b->data.append(ptr, n);
    return n;
}

struct SlistFree {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

Status global_init() {
    static std::once_flag once;
    static CURLcode rc = CURLE_OK;
    std::call_once(once, [] { rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
    if (rc != CURLE_OK)
        return make_error(ErrorCode::internal,
                          std::string("libcurl initialisation failed: ") + curl_easy_strerror(rc));
    return {};
}

}  // namespace

struct HttpSession::Impl {
    CURL* curl = nullptr;
    ~Impl() {
        if (curl)
            curl_easy_cleanup(curl);
    }
};

HttpSession::HttpSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpSession::HttpSession(HttpSession&&) noexcept = default;
HttpSession& HttpSession::operator=(HttpSession&&) noexcept = default;
HttpSession::~HttpSession() = default;

Result<HttpSession> HttpSession::open() {
    SKGATE_CHECK(global_init());
    auto impl = std::make_unique<Impl>();
    impl->curl = curl_easy_init();
    if (!impl->curl)
        return make_error(ErrorCode::internal, "libcurl: cannot create a handle");
    return HttpSession(std::move(impl));
}

Result<HttpResponse> HttpSession::perform(const HttpRequest& req, long timeout_ms,
                                          size_t max_body) {
    CURL* c = impl_->curl;
    curl_easy_reset(c);
    for (const auto& h : req.headers) {
        if (h.find_first_of("\r\n") != std::string::npos)
            return invalid("HTTP header contains a line break");
    }
    std::unique_ptr<curl_slist, SlistFree> headers;
    for (const auto& h : req.headers) {
        curl_slist* l = curl_slist_append(headers.get(), h.c_str());
        if (!l)
            return make_error(ErrorCode::internal, "out of memory");
        (void)headers.release();
        headers.reset(l);
    }
    Body body;
    body.limit = max_body;
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85: the string form replaces the bitmask
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, long(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    // The environment of sshd's helpers is not the administrator's shell:
    // a proxy is never taken from it.
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!req.ca_file.empty())
        curl_easy_setopt(c, CURLOPT_CAINFO, req.ca_file.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "skgate-fetch");
    if (req.method == "PUT") {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    } else if (req.method != "GET") {
        return invalid("unsupported HTTP method " + req.method);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
    if (body.overflow)
        return invalid("answer larger than " + std::to_string(max_body) + " bytes");
    if (rc != CURLE_OK) {
        std::string why = req.method + " " + req.url + ": " +
                          (errbuf[0] ? std::string(errbuf) : curl_easy_strerror(rc));
        if (rc == CURLE_PEER_FAILED_VERIFICATION && !req.ca_setting.empty())
            why += req.ca_file.empty()
                       ? " (no " + req.ca_setting +
                             " is set, so the system's CA store was used: set " + req.ca_setting +
                             " to the CA that signed the server's certificate)"
                       : " (" + req.ca_setting + " " + req.ca_file +
                             " does not hold the CA that signed the server's certificate, or "
                             "the certificate does not name the host in the URL)";
        return make_error(ErrorCode::unavailable, why);
    }
    HttpResponse out;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out.status);
    out.body = std::move(body.data);
    return out;
}

}  // namespace skgate
