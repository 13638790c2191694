// The agent's one-time loopback page: the bounded HTTP request parser, the
// answer format, and the page server against the requests a hostile local
// process or a rebinding site would send (wrong path, wrong Host, another
// Origin, another user's connection).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <thread>

#include "agent/passkey_page.h"
#include "core/sys/base64.h"
#include "core/sys/http_request.h"
#include "core/sys/monotonic.h"
#include "tests/support/helpers.h"

using namespace skgate;
using namespace skgate::agent;
using namespace skgate::test;

namespace {

Result<HttpRequest> head(const std::string& text) {
    return HttpRequest::parse_head(text);
}

}  // namespace

TEST(HttpRequest, ABrowsersRequestParses) {
    auto r = head(
        "POST /tok HTTP/1.1\r\nHost: localhost:4000\r\nOrigin: http://localhost:4000\r\n"
        "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 12\r\nAccept: */*\r\n\r\n");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->method, "POST");
    EXPECT_EQ(r->target, "/tok");
    EXPECT_EQ(*r->header("host"), "localhost:4000");
    EXPECT_EQ(*r->header("origin"), "http://localhost:4000");
    EXPECT_EQ(r->content_length, 12u);
    EXPECT_EQ(r->header("referer"), nullptr);
}

TEST(HttpRequest, EveryMalformedHeadIsRefused) {
    const std::string host = "Host: localhost:1\r\n";
    for (const std::string& bad : std::vector<std::string>{
             std::string("GET /x HTTP/1.1\r\n") + host,  // no empty line
             "GET /x HTTP/1.1\r\n\r\n\r\n",
             "GET  /x HTTP/1.1\r\n\r\n",
             "GET x HTTP/1.1\r\n\r\n",
             "GET /x HTTP/2\r\n\r\n",
             "G(T /x HTTP/1.1\r\n\r\n",
             "GET /x HTTP/1.1\r\n" + host + host + "\r\n",
             "GET /x HTTP/1.1\r\nOrigin: a\r\nOrigin: b\r\n\r\n",
             "POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
             "POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
             "POST /x HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
             "POST /x HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
             "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
             "GET /x HTTP/1.1\r\n folded: yes\r\n\r\n",
             "GET /x HTTP/1.1\r\nNo colon\r\n\r\n",
             "GET /x HTTP/1.1\r\nBad\x01: x\r\n\r\n",
             "GET /x HTTP/1.1\r\nX: a\nb\r\n\r\n",
             "GET /x HTTP/1.1\r\nX: \x7f\r\n\r\n",
         })
        EXPECT_FALSE(head(bad).ok()) << bad;
    std::string many = "GET /x HTTP/1.1\r\n";
    for (size_t i = 0; i <= kMaxHttpHeaders; i++)
        many += "X-" + std::to_string(i) + ": y\r\n";
    EXPECT_NE(head(many + "\r\n").error().message.find("more than"), std::string::npos);
    EXPECT_EQ(*http_head_end("GET / HTTP/1.1\r\n\r\nbody"), 18u);
    EXPECT_EQ(*http_head_end("GET / HTTP/1.1\r\n"), 0u);
    EXPECT_FALSE(http_head_end(std::string(kMaxHttpHeadBytes, 'a')).ok());
}

TEST(PageAnswer, NamedBase64urlFieldsOnly) {
    auto ok = parse_page_answer("clientDataJSON=e30\nsignature=AAE\n");
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    EXPECT_EQ(ok->at("clientDataJSON"), to_bytes(as_bytes("{}")));
    EXPECT_EQ(ok->at("signature"), (Bytes{0, 1}));
    EXPECT_TRUE(parse_page_answer("").ok());
    for (const std::string& bad :
         std::vector<std::string>{"a=AA", "a=AA\na=AA\n", "=AA\n", "a b=AA\n", "a=A+A/\n", "a=!\n",
                                  "a1=AA\n", std::string(40, 'a') + "=AA\n",
                                  "a=AA\nb=AA\nc=AA\nd=AA\ne=AA\nf=AA\ng=AA\nh=AA\ni=AA\n"})
        EXPECT_FALSE(parse_page_answer(bad).ok()) << bad;
}

namespace {

struct Reply {
    std::string head;
    bool closed_silently = false;
};

// One raw HTTP exchange with the page, as any local process could make it.
Reply http_exchange(uint16_t port, const std::string& request) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(fd);
        return {"connect failed", false};
    }
    (void)!write(fd, request.data(), request.size());
    std::string got;
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
        got.append(buf, static_cast<size_t>(n));
    close(fd);
    return {got.substr(0, got.find("\r\n")), got.empty()};
}

class Page : public ::testing::Test {
  protected:
    // Serves a get request in a thread; url() waits for its address.
    void start(uint64_t seconds = 120) {
        PageRequest req;
        req.kind = PageRequest::Kind::get;
        req.challenge = to_bytes(as_bytes("data to sign </script><script>alert(1)"));
        req.credential_id = {1, 2, 3};
        req.purpose = "sudo </script> for alice";
        result_ = std::async(std::launch::async, [this, req, seconds] {
            return serve_passkey_page(req, monotonic_us() + seconds * 1'000'000,
                                      [this](const std::string& u) { url_.set_value(u); });
        });
        std::string u = url_.get_future().get();
        auto colon = u.rfind(':');
        auto slash = u.find('/', colon);
        port_ = static_cast<uint16_t>(std::stoi(u.substr(colon + 1, slash - colon - 1)));
        token_ = u.substr(slash);
        host_ = "localhost:" + std::to_string(port_);
    }
    std::string get(const std::string& target, const std::string& host) {
        return http_exchange(port_, "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
            .head;
    }
    std::string post(const std::string& body, const std::string& origin,
                     const std::string& host = "") {
        return http_exchange(port_, "POST " + token_ + " HTTP/1.1\r\nHost: " +
                                        (host.empty() ? host_ : host) + "\r\nOrigin: " + origin +
                                        "\r\nContent-Type: text/plain\r\nContent-Length: " +
                                        std::to_string(body.size()) + "\r\n\r\n" + body)
            .head;
    }

    std::promise<std::string> url_;
    std::future<Result<PageAnswer>> result_;
    uint16_t port_ = 0;
    std::string token_, host_;
};

}  // namespace

TEST_F(Page, OnlyItsOwnPathHostAndOriginAreHeard) {
    start();
    EXPECT_EQ(token_.size(), 23u) << "a slash and 128 bits of base64url";
    EXPECT_EQ(get(token_, host_), "HTTP/1.1 200 OK");
    EXPECT_EQ(get("/", host_), "HTTP/1.1 404 Not Found");
    EXPECT_EQ(get(token_ + "x", host_), "HTTP/1.1 404 Not Found");
    // A site whose name resolves to 127.0.0.1 (DNS rebinding) sends its Host.
    EXPECT_EQ(get(token_, "evil.example:" + std::to_string(port_)),
              "HTTP/1.1 421 Misdirected Request");
    EXPECT_EQ(get(token_, "127.0.0.1:" + std::to_string(port_)),
              "HTTP/1.1 421 Misdirected Request");
    // Another page's script can POST, but its Origin says so.
    EXPECT_EQ(post("error=eA\n", "http://localhost:1"), "HTTP/1.1 403 Forbidden");
    EXPECT_EQ(post("error=eA\n", "null"), "HTTP/1.1 403 Forbidden");
    EXPECT_EQ(post("not an answer", "http://" + host_), "HTTP/1.1 400 Bad Request");
    EXPECT_EQ(result_.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
        << "none of these ended the request";
    EXPECT_EQ(post("signature=AAE\n", "http://" + host_), "HTTP/1.1 204 No Content");
    auto r = result_.get();
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->where.rp_id, "localhost");
    EXPECT_EQ(r->where.origin, "http://" + host_);
    EXPECT_EQ(r->fields.at("signature"), (Bytes{0, 1}));
    // One request only: the page is gone.
    EXPECT_EQ(get(token_, host_), "connect failed");
}

// The port is held on ::1 too, where a browser may try "localhost" first.
TEST_F(Page, ThePortIsHeldOnBothLoopbacks) {
    start();
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port_);
    a.sin6_addr = in6addr_loopback;
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in6 any{};
        any.sin6_family = AF_INET6;
        any.sin6_addr = in6addr_loopback;
        bool v6 = probe >= 0 && bind(probe, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0;
        if (probe >= 0)
            close(probe);
        post("error=eA\n", "http://" + host_);
        (void)result_.get();
        if (!v6)
            GTEST_SKIP() << "no IPv6 loopback here";
        FAIL() << "the page is not on [::1]:" << port_;
    }
    std::string req = "GET " + token_ + " HTTP/1.1\r\nHost: " + host_ + "\r\n\r\n";
    (void)!write(fd, req.data(), req.size());
    char buf[64] = {};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0).substr(0, 15),
              "HTTP/1.1 200 OK");
    post("error=eA\n", "http://" + host_);
    (void)result_.get();
}

TEST_F(Page, TheBrowsersRefusalEndsTheRequestWithItsName) {
    start();
    EXPECT_EQ(post("error=" + base64url_encode_unpadded(as_bytes("NotAllowedError")) + "\n",
                   "http://" + host_),
              "HTTP/1.1 204 No Content");
    auto r = result_.get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::permission);
    EXPECT_NE(r.error().message.find("NotAllowedError"), std::string::npos);
}

TEST_F(Page, NoValueCanCloseThePagesScript) {
    start();
    std::string page =
        http_exchange(port_, "GET " + token_ + " HTTP/1.1\r\nHost: " + host_ + "\r\n\r\n").head;
    EXPECT_EQ(page, "HTTP/1.1 200 OK");
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    std::string req = "GET " + token_ + " HTTP/1.1\r\nHost: " + host_ + "\r\n\r\n";
    (void)!write(fd, req.data(), req.size());
    std::string body;
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
        body.append(buf, static_cast<size_t>(n));
    close(fd);
    EXPECT_EQ(body.find("sudo </script>"), std::string::npos) << "the purpose closed a script";
    EXPECT_NE(body.find("sudo \\u003c/script>"), std::string::npos);
    EXPECT_NE(body.find("Content-Security-Policy: default-src 'none'"), std::string::npos);
    EXPECT_NE(body.find("X-Frame-Options: DENY"), std::string::npos);
    post("error=eA\n", "http://" + host_);
    (void)result_.get();
}

// Any local user can read the browser's command line, and so the URL: a
// connection from another uid gets nothing, not even a page.
TEST_F(Page, AnotherUsersConnectionIsClosedUnheard) {
    if (!running_as_root())
        GTEST_SKIP() << "needs another uid to connect from";
    const passwd* nobody = getpwnam("nobody");
    ASSERT_NE(nobody, nullptr);
    start();
    int pipefd[2];
    ASSERT_EQ(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        if (setgid(nobody->pw_gid) != 0 || setuid(nobody->pw_uid) != 0)
            _exit(2);
        Reply r = http_exchange(port_, "POST " + token_ + " HTTP/1.1\r\nHost: " + host_ +
                                           "\r\nOrigin: http://" + host_ +
                                           "\r\nContent-Length: 14\r\n\r\nsignature=AAE\n");
        std::string said = r.closed_silently ? "silent" : r.head;
        (void)!write(pipefd[1], said.data(), said.size());
        _exit(0);
    }
    close(pipefd[1]);
    std::string said;
    char buf[256];
    for (ssize_t n; (n = read(pipefd[0], buf, sizeof buf)) > 0;)
        said.append(buf, static_cast<size_t>(n));
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_EQ(said, "silent");
    EXPECT_EQ(result_.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
    post("error=eA\n", "http://" + host_);
    EXPECT_FALSE(result_.get().ok());
}

TEST_F(Page, TheDeadlineEndsAnUnansweredPage) {
    start(1);
    auto r = result_.get();
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("timed out"), std::string::npos);
}
