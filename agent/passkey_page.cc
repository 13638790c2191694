#include "agent/passkey_page.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "core/link/channel_crypto.h"
#include "core/sys/base64.h"
#include "core/sys/http_request.h"
#include "core/sys/json.h"
#include "core/sys/monotonic.h"
#include "core/sys/sha256.h"
#include "core/sys/text.h"

namespace skgate::agent {

namespace {

// One request's whole exchange on a connection: a browser sends at once.
constexpr uint64_t kConnectionUs = 10'000'000;

class Fd {
  public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    Fd& operator=(Fd&& o) noexcept {
        std::swap(fd_, o.fd_);
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    int get() const { return fd_; }

  private:
    int fd_;
};

std::string errno_text(const std::string& what) {
    return what + ": " + std::strerror(errno);
}

Error io_error(std::string message) {
    return make_error(ErrorCode::io, std::move(message));
}

// A JSON string (quotes included) for a <script> element: "<" escaped too,
// so that no value can close the element.
std::string script_json(std::string_view s) {
    std::string out;
    for (char c : json_escape(s)) {
        if (c == '<')
            out += "\\u003c";
        else
            out += c;
    }
    return out;
}

constexpr std::string_view kPageScript = R"JS(
"use strict";
const p = JSON.parse(document.getElementById("skgate-request").textContent);
document.getElementById("purpose").textContent = p.purpose;
const bin = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const b64u = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const say = (text) => { document.getElementById("status").textContent = text; };
async function answer(fields) {
  const body = Object.entries(fields).map(([k, v]) => k + "=" + v + "\n").join("");
  const r = await fetch(location.pathname + "/" + p.answer, {method: "POST", body: body,
                                            headers: {"Content-Type": "text/plain"}});
  if (!r.ok) throw new Error("skgate-agent refused the answer (" + r.status + ")");
}
async function run() {
  document.getElementById("again").hidden = true;
  say("Waiting for your passkey...");
  try {
    let fields;
    if (p.kind === "create") {
      const c = await navigator.credentials.create({publicKey: {
        challenge: bin(p.challenge), rp: {id: p.rpId, name: "skgate-agent"},
        user: {id: bin(p.userId), name: p.user, displayName: p.user},
        pubKeyCredParams: [{type: "public-key", alg: -7}], attestation: "direct",
        authenticatorSelection: {userVerification: p.uv, residentKey: "discouraged"},
        timeout: p.timeoutMs}});
      fields = {attestationObject: b64u(c.response.attestationObject),
                clientDataJSON: b64u(c.response.clientDataJSON)};
    } else {
      const a = await navigator.credentials.get({publicKey: {
        challenge: bin(p.challenge), rpId: p.rpId, userVerification: p.uv,
        allowCredentials: [{type: "public-key", id: bin(p.credentialId)}], timeout: p.timeoutMs}});
      fields = {authenticatorData: b64u(a.response.authenticatorData),
                clientDataJSON: b64u(a.response.clientDataJSON),
                signature: b64u(a.response.signature)};
    }
    await answer(fields);
    say("Done. You can close this tab.");
  } catch (e) {
    try {
      await answer({error: b64u(new TextEncoder().encode(e.name || "Error"))});
      say("Not approved (" + (e.name || e) + "). skgate-agent was told.");
    } catch (e2) {
      say("Not approved (" + (e.name || e) + ").");
      document.getElementById("again").hidden = false;
    }
  }
  window.skgateDone = true;
}
document.getElementById("again").onclick = run;
run();
)JS";

struct Page {
    std::string html;
    std::string script_hash;  // for the CSP: the only script that may run
};

Page page_html(const PageRequest& req, uint64_t timeout_ms, ByteView user_id,
               const std::string& answer) {
    std::string uv = req.verify_required ? "required" : "preferred";
    std::string params =
        std::string("{\"kind\":\"") + (req.kind == PageRequest::Kind::create ? "create" : "get") +
        "\",\"rpId\":\"" + kPasskeyRpId + "\",\"challenge\":\"" +
        base64url_encode_unpadded(req.challenge) + "\",\"user\":" + script_json(req.user_name) +
        ",\"userId\":\"" + base64url_encode_unpadded(user_id) + "\",\"credentialId\":\"" +
        base64url_encode_unpadded(req.credential_id) + "\",\"uv\":\"" + uv + "\",\"answer\":\"" +
        answer + "\",\"purpose\":" + script_json(req.purpose) +
        ",\"timeoutMs\":" + std::to_string(timeout_ms) + "}";
    std::string title = req.kind == PageRequest::Kind::create ? "Create an SSH key" : "Approve";
    Sha256 hash = sha256(as_bytes(kPageScript));
    return {"<!doctype html>\n<meta charset=\"utf-8\">\n<title>skgate-agent: " + title +
                "</title>\n<h1>skgate-agent</h1>\n<p id=\"purpose\"></p>\n<p id=\"status\"></p>\n"
                "<button id=\"again\" hidden>Try again</button>\n"
                "<script type=\"application/json\" id=\"skgate-request\">" +
                params + "</script>\n<script>" + std::string(kPageScript) + "</script>\n",
            "'sha256-" + base64_encode(hash) + "'"};
}

std::string response(int code, std::string_view reason, std::string_view type,
                     std::string_view body, const std::string& script_hash = "'none'") {
    std::string out = "HTTP/1.1 " + std::to_string(code) + " " + std::string(reason) +
                      "\r\nConnection: close\r\nCache-Control: no-store\r\n"
                      "Referrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n"
                      "X-Content-Type-Options: nosniff\r\n"
                      "Cross-Origin-Opener-Policy: same-origin\r\n"
                      "Content-Security-Policy: default-src 'none'; script-src " +
                      script_hash +
                      "; connect-src 'self'; frame-ancestors 'none'; form-action 'none'\r\n";
    if (!type.empty())
        out += "Content-Type: " + std::string(type) + "\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    out += body;
    return out;
}

void send_all(int fd, const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        off += static_cast<size_t>(n);
    }
}

// 127.0.0.1 and ::1 on one port: whoever else held ::1's would get the
// browser's connections to "localhost" when it tries IPv6 first, and be
// the page's origin.
struct Listeners {
    Fd v4, v6;
    uint16_t port = 0;
};

Result<Listeners> listen_loopback() {
    for (int attempt = 0; attempt < 8; attempt++) {
        Listeners l;
        l.v4 = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (l.v4.get() < 0)
            return io_error(errno_text("socket"));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(l.v4.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::listen(l.v4.get(), 16) != 0)
            return io_error(errno_text("listening on 127.0.0.1"));
        socklen_t len = sizeof a;
        if (::getsockname(l.v4.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
            return io_error(errno_text("getsockname"));
        l.port = ntohs(a.sin_port);
        l.v6 = Fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (l.v6.get() < 0)
            return l;  // no IPv6 here: nobody can hold ::1 either
        int only = 1;
        ::setsockopt(l.v6.get(), IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof only);
        sockaddr_in6 b{};
        b.sin6_family = AF_INET6;
        b.sin6_addr = in6addr_loopback;
        b.sin6_port = htons(l.port);
        if (::bind(l.v6.get(), reinterpret_cast<sockaddr*>(&b), sizeof b) == 0 &&
            ::listen(l.v6.get(), 16) == 0)
            return l;
        if (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT) {
            l.v6 = Fd();
            return l;
        }
        // Someone has [::1]:port: another port.
    }
    return io_error("no loopback port was free on both 127.0.0.1 and ::1");
}

std::string proc_address(const sockaddr_storage& s) {
    char buf[64];
    if (s.ss_family == AF_INET) {
        const auto& a = reinterpret_cast<const sockaddr_in&>(s);
        std::snprintf(buf, sizeof buf, "%08X:%04X", a.sin_addr.s_addr, ntohs(a.sin_port));
    } else {
        const auto& a = reinterpret_cast<const sockaddr_in6&>(s);
        uint32_t w[4];
        std::memcpy(w, &a.sin6_addr, sizeof w);
        std::snprintf(buf, sizeof buf, "%08X%08X%08X%08X:%04X", w[0], w[1], w[2], w[3],
                      ntohs(a.sin6_port));
    }
    return buf;
}

struct Connection {
    Fd fd;
    std::string buf;
    uint64_t deadline_us = 0;
};

// A TCP table line's fields that matter here.
struct TcpEntry {
    std::string local, remote, state, inode;
    unsigned long uid = 0;
};

bool read_tcp_entry(const std::string& line, TcpEntry& e) {
    std::istringstream in(line);
    std::string slot, queues, timer, retransmits, timeout;
    return static_cast<bool>(in >> slot >> e.local >> e.remote >> e.state >> queues >> timer >>
                             retransmits >> e.uid >> timeout >> e.inode);
}

// The uid of the live socket with these addresses in one table. Only an
// established socket with an inode counts: a closed one lingers in
// TIME_WAIT as root's (uid 0, inode 0).
std::optional<uid_t> find_socket_uid(const char* table_path, const std::string& local,
                                     const std::string& remote) {
    std::ifstream table(table_path);
    std::string line;
    std::getline(table, line);  // the column titles
    while (std::getline(table, line)) {
        TcpEntry e;
        if (!read_tcp_entry(line, e) || e.local != local || e.remote != remote)
            continue;
        if (e.state != "01" || e.inode == "0")
            return std::nullopt;
        return static_cast<uid_t>(e.uid);
    }
    return std::nullopt;
}

// An IPv4 address as an IPv6 socket bound to it shows it (::ffff:a.b.c.d).
sockaddr_storage v4_mapped(const sockaddr_storage& s) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(s);
    sockaddr_storage out{};
    auto& b = reinterpret_cast<sockaddr_in6&>(out);
    b.sin6_family = AF_INET6;
    b.sin6_port = a.sin_port;
    b.sin6_addr.s6_addr[10] = 0xff;
    b.sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&b.sin6_addr.s6_addr[12], &a.sin_addr, 4);
    return out;
}

}  // namespace

Result<std::map<std::string, Bytes>> parse_page_answer(std::string_view body) {
    std::map<std::string, Bytes> out;
    while (!body.empty()) {
        size_t eol = body.find('\n');
        if (eol == std::string_view::npos)
            return invalid("the answer's last line does not end");
        std::string_view line = body.substr(0, eol);
        body.remove_prefix(eol + 1);
        size_t eq = line.find('=');
        std::string_view name = line.substr(0, eq);
        if (eq == std::string_view::npos || name.empty() || name.size() > 32 ||
            !std::all_of(name.begin(), name.end(),
                         [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }))
            return invalid("malformed answer line");
        if (out.count(std::string(name)))
            return invalid("answer field " + std::string(name) + " is given twice");
        if (out.size() == kMaxAnswerFields)
            return invalid("too many answer fields");
        auto value = base64url_decode_unpadded(line.substr(eq + 1));
        if (!value)
            return invalid("answer field " + std::string(name) + " is not base64url");
        out.emplace(std::string(name), std::move(*value));
    }
    return out;
}

Result<uid_t> loopback_peer_uid(int fd) {
    sockaddr_storage ours{}, peer{};
    socklen_t a = sizeof ours, b = sizeof peer;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ours), &a) != 0 ||
        ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &b) != 0)
        return io_error(errno_text("the connection's addresses"));
    if (ours.ss_family != peer.ss_family ||
        (ours.ss_family != AF_INET && ours.ss_family != AF_INET6))
        return invalid("not a TCP connection over IP");
    // The peer's own socket: its local address is our peer, its remote ours.
    std::optional<uid_t> uid;
    if (ours.ss_family == AF_INET) {
        uid = find_socket_uid("/proc/net/tcp", proc_address(peer), proc_address(ours));
        if (!uid)  // a dual-stack client connected through ::ffff:127.0.0.1
            uid = find_socket_uid("/proc/net/tcp6", proc_address(v4_mapped(peer)),
                                  proc_address(v4_mapped(ours)));
    } else {
        uid = find_socket_uid("/proc/net/tcp6", proc_address(peer), proc_address(ours));
    }
    if (!uid)
        return make_error(ErrorCode::not_found,
                          "the connecting socket is not an open one on this machine's loopback");
    return *uid;
}

Status open_browser(const std::string& url) {
    std::vector<std::string> argv;
    if (const char* b = std::getenv("BROWSER"); b && *b) {
        std::string first(b);
        first = first.substr(0, first.find(':'));
        argv = split_whitespace(first);
    }
    if (argv.empty())
        argv = {"xdg-open"};
    argv.push_back(url);
    // Everything the child needs is made before fork: the agent has threads.
    std::vector<char*> args;
    for (auto& a : argv)
        args.push_back(a.data());
    args.push_back(nullptr);
    pid_t child = ::fork();
    if (child < 0)
        return io_error(errno_text("fork"));
    if (child == 0) {
        // Detached twice over: the agent never waits for the browser, and
        // the browser gets none of the agent's descriptors or signal state.
        ::setsid();
        if (::fork() != 0)
            ::_exit(0);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        int null = ::open("/dev/null", O_RDWR);
        if (null >= 0) {
            ::dup2(null, 0);
            ::dup2(null, 1);
        }
        ::closefrom(3);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return {};
}

Result<PageAnswer> serve_passkey_page(const PageRequest& request, uint64_t deadline_us,
                                      const std::function<void(const std::string&)>& open) {
    SKGATE_TRY(listeners, listen_loopback());
    SKGATE_TRY(token_bytes, random_bytes(16));
    SKGATE_TRY(answer_bytes, random_bytes(16));
    SKGATE_TRY(user_id, random_bytes(16));
    const std::string token = "/" + base64url_encode_unpadded(token_bytes);
    // The page is served once, and only the page knows where its answer
    // goes: whoever else learns the URL (a relay of the user's, say) and
    // takes the page first leaves the person's browser a visible error,
    // and cannot answer without it.
    const std::string answer_token = base64url_encode_unpadded(answer_bytes);
    const std::string answer_path = token + "/" + answer_token;
    bool page_served = false;
    const std::string host = std::string(kPasskeyRpId) + ":" + std::to_string(listeners.port);
    const WebauthnOrigin where{kPasskeyRpId, "http://" + host};
    uint64_t now = monotonic_us();
    uint64_t timeout_ms = deadline_us > now ? (deadline_us - now) / 1000 : 0;
    const Page page = page_html(request, timeout_ms, user_id, answer_token);
    open(where.origin + token);

    std::vector<Connection> conns;
    const uid_t me = ::geteuid();
    for (;;) {
        now = monotonic_us();
        if (now >= deadline_us)
            return make_error(ErrorCode::not_found, "timed out waiting for the browser");
        std::vector<pollfd> fds;
        for (int l : {listeners.v4.get(), listeners.v6.get()})
            if (l >= 0)
                fds.push_back({l, POLLIN, 0});
        const size_t first_conn = fds.size();
        uint64_t wake = deadline_us;
        for (const auto& c : conns) {
            fds.push_back({c.fd.get(), POLLIN, 0});
            wake = std::min(wake, c.deadline_us);
        }
        uint64_t left = wake > now ? wake - now : 0;
        int ms = static_cast<int>(std::min<uint64_t>(left / 1000 + 1, 60'000));
        if (::poll(fds.data(), fds.size(), ms) < 0 && errno != EINTR)
            return io_error(errno_text("poll"));
        now = monotonic_us();
        std::optional<Result<PageAnswer>> outcome;
        for (size_t i = first_conn; i < fds.size() && !outcome; i++) {
            Connection& c = conns[i - first_conn];
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[4096];
            ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
            if (n <= 0) {
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                c.deadline_us = 0;  // closed: dropped below
                continue;
            }
            c.buf.append(buf, static_cast<size_t>(n));
            auto end = http_head_end(c.buf);
            if (!end) {
                send_all(c.fd.get(), response(431, "Request Header Fields Too Large", "", ""));
                c.deadline_us = 0;
                continue;
            }
            if (*end == 0)
                continue;
            auto req = HttpRequest::parse_head(std::string_view(c.buf).substr(0, *end));
            if (!req) {
                send_all(c.fd.get(),
                         response(400, "Bad Request", "text/plain", req.error().message + "\n"));
                c.deadline_us = 0;
                continue;
            }
            if (c.buf.size() < *end + req->content_length) {
                if (c.buf.size() > kMaxHttpHeadBytes + kMaxHttpBodyBytes)
                    c.deadline_us = 0;
                continue;
            }
            std::string_view body = std::string_view(c.buf).substr(*end, req->content_length);
            const std::string* h = req->header("host");
            // Another Host is DNS rebinding: a site whose name resolves here.
            if (!h || *h != host) {
                send_all(c.fd.get(), response(421, "Misdirected Request", "", ""));
            } else if (req->method == "GET" && req->target == token) {
                if (page_served) {
                    send_all(c.fd.get(), response(410, "Gone", "text/plain",
                                                  "This page was opened already.\n"));
                } else {
                    page_served = true;
                    send_all(c.fd.get(), response(200, "OK", "text/html; charset=utf-8", page.html,
                                                  page.script_hash));
                }
            } else if (req->target != answer_path) {
                send_all(c.fd.get(), response(404, "Not Found", "", ""));
            } else if (req->method == "POST") {
                const std::string* origin = req->header("origin");
                auto fields = parse_page_answer(body);
                if (!origin || *origin != where.origin) {
                    send_all(c.fd.get(), response(403, "Forbidden", "", ""));
                } else if (!fields) {
                    send_all(c.fd.get(), response(400, "Bad Request", "text/plain",
                                                  fields.error().message + "\n"));
                } else {
                    send_all(c.fd.get(), response(204, "No Content", "", ""));
                    if (auto e = fields->find("error"); e != fields->end())
                        outcome = make_error(ErrorCode::permission,
                                             "the browser did not approve (" +
                                                 printable(as_chars(e->second), 60) + ")");
                    else
                        outcome = PageAnswer{where, std::move(*fields)};
                }
            } else {
                send_all(c.fd.get(), response(405, "Method Not Allowed", "", ""));
            }
            c.deadline_us = 0;
        }
        if (outcome)
            return std::move(*outcome);
        conns.erase(std::remove_if(conns.begin(), conns.end(),
                                   [&](const Connection& c) { return c.deadline_us <= now; }),
                    conns.end());
        for (size_t i = 0; i < first_conn; i++) {
            if (!(fds[i].revents & POLLIN))
                continue;
            Fd fd(::accept4(fds[i].fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
            if (fd.get() < 0) {
                // Out of descriptors, say: the listener stays readable, and
                // polling it again at once would spin.
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            // Any local user can read a browser's command line, and so the
            // URL: only the agent's own user's connections are heard.
            auto uid = loopback_peer_uid(fd.get());
            if (!uid || *uid != me)
                continue;
            if (conns.size() >= kMaxPageConnections) {
                // Room for the newest: the oldest connection that has said
                // nothing goes (a browser's preconnects, or a page's).
                auto silent = std::find_if(conns.begin(), conns.end(),
                                           [](const Connection& c) { return c.buf.empty(); });
                if (silent == conns.end())
                    continue;
                conns.erase(silent);
            }
            conns.push_back({std::move(fd), {}, std::min(deadline_us, now + kConnectionUs)});
        }
    }
}

}  // namespace skgate::agent
