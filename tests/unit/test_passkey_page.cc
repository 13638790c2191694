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
    std::string head;  // the status line
    std::string all;
    bool closed_silently = false;
};

int connect_to(int family, uint16_t port) {
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (family == AF_INET) {
        auto& a = reinterpret_cast<sockaddr_in&>(ss);
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof a;
    } else {
        auto& a = reinterpret_cast<sockaddr_in6&>(ss);
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(port);
        a.sin6_addr = in6addr_loopback;
        len = sizeof a;
    }
    if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// One raw HTTP exchange with the page, as any local process could make it.
Reply http_exchange(uint16_t port, const std::string& request, int family = AF_INET) {
    int fd = connect_to(family, port);
    if (fd < 0)
        return {"connect failed", "", false};
    (void)!write(fd, request.data(), request.size());
    std::string got;
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
        got.append(buf, static_cast<size_t>(n));
    close(fd);
    return {got.substr(0, got.find("\r\n")), got, got.empty()};
}

class Page : public ::testing::Test {
  protected:
    // Serves a get request in a thread; waits for its address.
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
    // The page, as the browser takes it; the answer path is in it.
    Reply fetch_page(int family = AF_INET) {
        Reply r = http_exchange(port_, "GET " + token_ + " HTTP/1.1\r\nHost: " + host_ + "\r\n\r\n",
                                family);
        auto at = r.all.find("\"answer\":\"");
        if (at != std::string::npos) {
            at += 10;
            answer_ = token_ + "/" + r.all.substr(at, r.all.find('"', at) - at);
        }
        return r;
    }
    std::string post_request(const std::string& target, const std::string& body,
                             const std::string& origin) {
        return "POST " + target + " HTTP/1.1\r\nHost: " + host_ + "\r\nOrigin: " + origin +
               "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n\r\n" + body;
    }
    std::string post(const std::string& body, const std::string& origin,
                     const std::string& target = "") {
        return http_exchange(port_, post_request(target.empty() ? answer_ : target, body, origin))
            .head;
    }
    void finish() {
        post("error=eA\n", "http://" + host_);
        (void)result_.get();
    }

    std::promise<std::string> url_;
    std::future<Result<PageAnswer>> result_;
    uint16_t port_ = 0;
    std::string token_, host_, answer_;
};

}  // namespace

TEST_F(Page, OnlyItsOwnPathHostAndOriginAreHeard) {
    start();
    EXPECT_EQ(token_.size(), 23u) << "a slash and 128 bits of base64url";
    EXPECT_EQ(get("/", host_), "HTTP/1.1 404 Not Found");
    EXPECT_EQ(get(token_ + "x", host_), "HTTP/1.1 404 Not Found");
    // A site whose name resolves to 127.0.0.1 (DNS rebinding) sends its Host.
    EXPECT_EQ(get(token_, "evil.example:" + std::to_string(port_)),
              "HTTP/1.1 421 Misdirected Request");
    EXPECT_EQ(get(token_, "127.0.0.1:" + std::to_string(port_)),
              "HTTP/1.1 421 Misdirected Request");
    // Nobody can answer before the page is served: only the page knows where.
    EXPECT_EQ(post("signature=AAE\n", "http://" + host_, token_), "HTTP/1.1 404 Not Found");
    EXPECT_EQ(fetch_page().head, "HTTP/1.1 200 OK");
    ASSERT_EQ(answer_.size(), token_.size() + 23) << answer_;
    // Served once: whoever takes it second gets an error to see.
    EXPECT_EQ(get(token_, host_), "HTTP/1.1 410 Gone");
    EXPECT_EQ(post("signature=AAE\n", "http://" + host_, token_), "HTTP/1.1 404 Not Found");
    // Another page's script can POST, but its Origin says so.
    EXPECT_EQ(post("error=eA\n", "http://localhost:1"), "HTTP/1.1 403 Forbidden");
    EXPECT_EQ(post("error=eA\n", "null"), "HTTP/1.1 403 Forbidden");
    EXPECT_EQ(post("not an answer", "http://" + host_), "HTTP/1.1 400 Bad Request");
    EXPECT_EQ(post("signature=AAE\n", "http://" + host_), "HTTP/1.1 204 No Content");
    auto r = result_.get();
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->where.rp_id, "localhost");
    EXPECT_EQ(r->where.origin, "http://" + host_);
    EXPECT_EQ(r->fields.size(), 1u) << "none of the refused requests ended or changed it";
    EXPECT_EQ(r->fields.at("signature"), (Bytes{0, 1}));
    // One request only: the page is gone.
    EXPECT_EQ(get(token_, host_), "connect failed");
}

// The port is held on ::1 too, where a browser may try "localhost" first.
TEST_F(Page, ThePortIsHeldOnBothLoopbacks) {
    start();
    int probe = connect_to(AF_INET6, port_);
    if (probe < 0) {
        int s6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in6 any{};
        any.sin6_family = AF_INET6;
        any.sin6_addr = in6addr_loopback;
        bool v6 = s6 >= 0 && bind(s6, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0;
        if (s6 >= 0)
            close(s6);
        fetch_page();
        finish();
        if (!v6)
            GTEST_SKIP() << "no IPv6 loopback here";
        FAIL() << "the page is not on [::1]:" << port_;
    }
    close(probe);
    EXPECT_EQ(fetch_page(AF_INET6).head, "HTTP/1.1 200 OK");
    finish();
}

TEST_F(Page, TheBrowsersRefusalEndsTheRequestWithItsName) {
    start();
    fetch_page();
    EXPECT_EQ(post("error=" + base64url_encode_unpadded(as_bytes("NotAllowedError")) + "\n",
                   "http://" + host_),
              "HTTP/1.1 204 No Content");
    auto r = result_.get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::permission);
    EXPECT_NE(r.error().message.find("NotAllowedError"), std::string::npos);
}

TEST_F(Page, NoValueCanCloseThePagesScriptAndNoOtherScriptRuns) {
    start();
    Reply page = fetch_page();
    EXPECT_EQ(page.head, "HTTP/1.1 200 OK");
    EXPECT_EQ(page.all.find("sudo </script>"), std::string::npos) << "the purpose closed a script";
    EXPECT_NE(page.all.find("sudo \\u003c/script>"), std::string::npos);
    EXPECT_NE(page.all.find("Content-Security-Policy: default-src 'none'; script-src 'sha256-"),
              std::string::npos)
        << page.all.substr(0, 800);
    EXPECT_EQ(page.all.find("unsafe-inline"), std::string::npos);
    EXPECT_NE(page.all.find("X-Frame-Options: DENY"), std::string::npos);
    EXPECT_NE(page.all.find("Cross-Origin-Opener-Policy: same-origin"), std::string::npos);
    finish();
}

// Sixteen connections that say nothing (a browser's preconnects, or a
// hostile page's) do not keep the browser's own request out.
TEST_F(Page, SilentConnectionsMakeRoomForOneThatSpeaks) {
    start();
    std::vector<int> silent;
    for (size_t i = 0; i < kMaxPageConnections + 4; i++)
        silent.push_back(connect_to(AF_INET, port_));
    EXPECT_EQ(fetch_page().head, "HTTP/1.1 200 OK");
    for (int fd : silent)
        if (fd >= 0)
            close(fd);
    finish();
}

// Any local user can read the browser's command line, and so the URL: a
// connection from another uid gets nothing, not even a page, whether it
// waits for an answer or closes at once (a closed socket lingers in
// /proc/net/tcp as root's).
TEST_F(Page, AnotherUsersConnectionIsClosedUnheard) {
    if (!running_as_root())
        GTEST_SKIP() << "needs another uid to connect from";
    const passwd* nobody = getpwnam("nobody");
    ASSERT_NE(nobody, nullptr);
    start();
    fetch_page();
    for (bool close_at_once : {false, true}) {
        int pipefd[2];
        ASSERT_EQ(pipe(pipefd), 0);
        const std::string request = post_request(answer_, "signature=AAE\n", "http://" + host_);
        pid_t pid = fork();
        if (pid == 0) {
            close(pipefd[0]);
            if (setgid(nobody->pw_gid) != 0 || setuid(nobody->pw_uid) != 0)
                _exit(2);
            std::string said = "silent";
            if (close_at_once) {
                for (int i = 0; i < 20; i++) {
                    int fd = connect_to(AF_INET, port_);
                    if (fd >= 0) {
                        (void)!write(fd, request.data(), request.size());
                        close(fd);
                    }
                }
            } else {
                Reply r = http_exchange(port_, request);
                if (!r.closed_silently)
                    said = r.head;
            }
            (void)!write(pipefd[1], said.data(), said.size());
            _exit(0);
        }
        close(pipefd[1]);
        std::string said;
        char buf[256];
        for (ssize_t n; (n = read(pipefd[0], buf, sizeof buf)) > 0;)
            said.append(buf, static_cast<size_t>(n));
        close(pipefd[0]);
        waitpid(pid, nullptr, 0);
        EXPECT_EQ(said, "silent");
    }
    // Whatever reached the page from nobody, the person's answer is what
    // ends it.
    EXPECT_EQ(post("error=" + base64url_encode_unpadded(as_bytes("FromTheUser")) + "\n",
                   "http://" + host_),
              "HTTP/1.1 204 No Content");
    auto r = result_.get();
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("FromTheUser"), std::string::npos) << r.error().message;
}

TEST_F(Page, TheDeadlineEndsAnUnansweredPage) {
    start(1);
    auto r = result_.get();
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("timed out"), std::string::npos);
}
