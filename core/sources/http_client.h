// HTTP for the remote key sources, through libcurl: one session per lookup so
// that the metadata service's token and key requests share a connection.
// Only http and https, no redirects, no proxies from the environment, TLS
// always verified, and an answer larger than the limit is cut off and
// refused rather than read into memory.
//
// Linked only into skgate-fetch: skgate-keys and pam_skgate never load
// libcurl (see fetch_helper/main.cc).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/sys/result.h"

namespace skgate {

struct HttpRequest {
    std::string method = "GET";  // GET or PUT
    std::string url;
    std::vector<std::string> headers;  // "Name: value"; never CR or LF
    std::string ca_file;               // empty: the system's CA store
    // The skgate.conf keyword that sets ca_file, named when the server's
    // certificate cannot be verified (empty: none can be set).
    std::string ca_setting;
};

struct HttpResponse {
    long status = 0;
    std::string body;
};

class HttpSession {
  public:
    static Result<HttpSession> open();
    HttpSession(HttpSession&&) noexcept;
    HttpSession& operator=(HttpSession&&) noexcept;
    ~HttpSession();

    // ErrorCode::unavailable for anything the network or server did wrong,
    // ErrorCode::invalid for an answer over `max_body` bytes.
    Result<HttpResponse> perform(const HttpRequest& request, long timeout_ms, size_t max_body);

  private:
    struct Impl;
    explicit HttpSession(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace skgate
