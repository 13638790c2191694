#include "core/link/channel.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "core/link/broker_settings.h"
#include "core/link/channel_crypto.h"
#include "core/ssh/wire.h"
#include "core/sys/args.h"
#include "core/sys/frame_io.h"
#include "core/sys/monotonic.h"

namespace skgate {

namespace {

constexpr std::string_view kUnixPrefix = "unix:";
constexpr size_t kSeqBytes = 8;

Error sys_error(const std::string& what) {
    return make_error(ErrorCode::io, what + ": " + std::strerror(errno));
}

Result<sockaddr_un> unix_address(std::string_view path) {
    sockaddr_un addr{};
    if (path.empty() || path[0] != '/')
        return invalid("socket path '" + std::string(path) + "' is not absolute");
    if (path.size() >= sizeof addr.sun_path)
        return invalid("socket path '" + std::string(path) + "' is longer than " +
                       std::to_string(sizeof addr.sun_path - 1) + " bytes");
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    return addr;
}

// Waits for `events` on fd until the deadline (0: for ever).

Bytes nonce_for(uint64_t seq) {
    Bytes n(kAeadNonceBytes, 0);
    for (size_t i = 0; i < 8; i++)
        n[4 + i] = static_cast<uint8_t>(seq >> (56 - 8 * i));
    return n;
}

Bytes aad_for(uint64_t seq, ChannelRole sender) {
    std::string_view label =
        sender == ChannelRole::agent ? "skgate-channel-v1 a2b" : "skgate-channel-v1 b2a";
    Bytes aad(label.begin(), label.end());
    for (size_t i = 0; i < 8; i++)
        aad.push_back(static_cast<uint8_t>(seq >> (56 - 8 * i)));
    return aad;
}

}  // namespace

SocketTransport::~SocketTransport() {
    if (fd_ >= 0)
        close(fd_);
}

// A peer that reads nothing for this long fails the send.
constexpr uint64_t kSendTimeoutUs = 10'000'000;

Status SocketTransport::send(ByteView frame) {
    std::lock_guard<std::mutex> lock(send_mutex_);
    // A peer that stops reading fails the send instead of holding every
    // other sender behind this lock.
    if (Status sent = write_frame(fd_, frame, max_frame_, monotonic_us() + kSendTimeoutUs); !sent)
        return sent.error().context("channel send");
    return {};
}

Result<Bytes> SocketTransport::receive(int timeout_ms) {
    const uint64_t deadline =
        timeout_ms < 0 ? 0 : monotonic_us() + static_cast<uint64_t>(timeout_ms) * 1000 + 1;
    return read_frame(fd_, max_frame_, deadline);
}

void SocketTransport::shutdown() {
    ::shutdown(fd_, SHUT_RDWR);
}

namespace {

constexpr std::string_view kTcpPrefix = "tcp:";

using TcpAddress = HostPort;

Result<TcpAddress> tcp_address(std::string_view address) {
    return parse_host_port(address.substr(kTcpPrefix.size()), address, "tcp");
}

// A connected TCP link socket: no Nagle delay on small frames, and keepalive
// probes so that a peer that vanished (a phone off the network) is noticed
// within about a minute rather than never.
void tune_tcp(int fd) {
    int one = 1, idle = 20, interval = 5, count = 4;
    unsigned int user_timeout_ms = 40'000;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
}

Result<addrinfo*> resolve(const TcpAddress& a, bool passive) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    addrinfo* res = nullptr;
    int rc = getaddrinfo(a.host.c_str(), a.port.c_str(), &hints, &res);
    if (rc != 0)
        return make_error(ErrorCode::io, "cannot resolve " + a.host + ": " + gai_strerror(rc));
    return res;
}

Status connect_with_timeout(int fd, const sockaddr* addr, socklen_t len, int timeout_ms,
                            const std::string& what) {
    if (::connect(fd, addr, len) == 0)
        return {};
    if (errno != EINPROGRESS && errno != EAGAIN)
        return sys_error("cannot connect to " + what);
    SKGATE_CHECK(wait_socket_ready(fd, POLLOUT, monotonic_us() + uint64_t(timeout_ms) * 1000 + 1));
    int err = 0;
    socklen_t err_len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0 || err != 0) {
        errno = err;
        return sys_error("cannot connect to " + what);
    }
    return {};
}

Result<std::unique_ptr<Transport>> connect_tcp(std::string_view address, int timeout_ms) {
    SKGATE_TRY(a, tcp_address(address));
    SKGATE_TRY(res, resolve(a, false));
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(res, freeaddrinfo);
    Error last = make_error(ErrorCode::io, "cannot connect to " + a.host + " port " + a.port);
    for (addrinfo* ai = list.get(); ai; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            last = sys_error("socket");
            continue;
        }
        auto transport = std::make_unique<SocketTransport>(fd);
        Status st = connect_with_timeout(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms,
                                         std::string(address.substr(kTcpPrefix.size())));
        if (!st) {
            last = st.error();
            continue;
        }
        tune_tcp(fd);
        return std::unique_ptr<Transport>(std::move(transport));
    }
    return last;
}

}  // namespace

Result<HostPort> parse_host_port(std::string_view rest, std::string_view address,
                                 std::string_view scheme) {
    const std::string whole(address), form = std::string(scheme) + ":";
    std::string_view host, port;
    if (!rest.empty() && rest[0] == '[') {
        size_t close_bracket = rest.find(']');
        if (close_bracket == std::string_view::npos || close_bracket + 1 >= rest.size() ||
            rest[close_bracket + 1] != ':')
            return invalid("channel address '" + whole + "': an IPv6 address is written " + form +
                           "[ADDRESS]:PORT");
        host = rest.substr(1, close_bracket - 1);
        port = rest.substr(close_bracket + 2);
    } else {
        size_t colon = rest.rfind(':');
        if (colon == std::string_view::npos)
            return invalid("channel address '" + whole + "' is not of the form " + form +
                           "HOST:PORT");
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return invalid("channel address '" + whole + "': an IPv6 address is written " + form +
                           "[ADDRESS]:PORT");
    }
    if (host.empty() || host.size() > 253)
        return invalid("channel address '" + whole + "' names no host");
    for (char c : host)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' &&
            c != '_')
            return invalid("channel address '" + whole +
                           "': the host has a character a host name or address cannot");
    if (!parse_integer_in(port, 1, 65535))
        return invalid("channel address '" + whole +
                       "': the port must be a number from 1 to 65535");
    return HostPort{std::string(host), std::string(port)};
}

Status check_channel_address(std::string_view address) {
    if (is_broker_address(address)) {
        SKGATE_TRY(a, BrokerAddress::parse(address));
        (void)a;
        return {};
    }
    if (address.substr(0, kTcpPrefix.size()) == kTcpPrefix) {
        SKGATE_TRY(a, tcp_address(address));
        (void)a;
        return {};
    }
    if (address.substr(0, kUnixPrefix.size()) != kUnixPrefix)
        return invalid("channel address '" + std::string(address) +
                       "' is not of the form unix:/path, tcp:HOST:PORT or "
                       "mqtts:HOST:PORT/TOPIC");
    auto addr = unix_address(address.substr(kUnixPrefix.size()));
    if (!addr)
        return addr.error().context("channel address");
    return {};
}

Result<std::unique_ptr<Transport>> connect_socket_channel(std::string_view address,
                                                          int timeout_ms) {
    SKGATE_CHECK(check_channel_address(address));
    if (is_broker_address(address))
        return invalid("'" + std::string(address) + "' is a broker address, not a socket's");
    if (address.substr(0, kTcpPrefix.size()) == kTcpPrefix)
        return connect_tcp(address, timeout_ms);
    std::string path(address.substr(kUnixPrefix.size()));
    SKGATE_TRY(addr, unix_address(path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return sys_error("socket");
    auto transport = std::make_unique<SocketTransport>(fd);
    SKGATE_CHECK(connect_with_timeout(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr,
                                      timeout_ms, path));
    return std::unique_ptr<Transport>(std::move(transport));
}

Result<Listener> Listener::bind_tcp(std::string_view address) {
    SKGATE_TRY(a, tcp_address(address));
    SKGATE_TRY(res, resolve(a, true));
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(res, freeaddrinfo);
    Error last = make_error(ErrorCode::io, "cannot listen on " + std::string(address));
    for (addrinfo* ai = list.get(); ai; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            last = sys_error("socket");
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
            last = sys_error("cannot listen on " + std::string(address.substr(kTcpPrefix.size())));
            close(fd);
            continue;
        }
        Listener l(fd, "");
        l.tcp_ = true;
        return l;
    }
    return last;
}

Result<Listener> Listener::bind_unix(const std::string& path) {
    SKGATE_TRY(addr, unix_address(path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return sys_error("socket");
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            close(fd);
            return make_error(ErrorCode::permission,
                              path + " exists and is not a socket; remove it first");
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live =
            probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        if (probe >= 0)
            close(probe);
        if (live) {
            close(fd);
            return make_error(ErrorCode::permission,
                              path + " is in use: another agent is already running there");
        }
        unlink(path.c_str());  // a stale socket of an earlier run
    }
    // The mode is set at creation: no moment where another user could connect.
    mode_t old = umask(0177);
    int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    umask(old);
    if (rc != 0 || listen(fd, 64) != 0) {
        Error e = sys_error("cannot listen on " + path);
        close(fd);
        return e;
    }
    return Listener(fd, path);
}

Listener::~Listener() {
    if (fd_ >= 0) {
        close(fd_);
        if (!path_.empty())
            unlink(path_.c_str());
    }
}

Result<int> Listener::accept(int timeout_ms) {
    uint64_t deadline = timeout_ms < 0 ? 0 : monotonic_us() + uint64_t(timeout_ms) * 1000 + 1;
    for (;;) {
        SKGATE_CHECK(wait_socket_ready(fd_, POLLIN, deadline));
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c >= 0) {
            if (tcp_)
                tune_tcp(c);
            return c;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            return make_error(ErrorCode::unavailable,
                              std::string("accept: ") + std::strerror(errno) +
                                  " (out of descriptors or memory for now)");
        if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
            return sys_error("accept");
    }
}

ChannelKeys::~ChannelKeys() {
    wipe(agent_to_authenticator);
    wipe(authenticator_to_agent);
}

SecureChannel::SecureChannel(std::shared_ptr<Transport> transport, ChannelRole role,
                             const ChannelKeys& keys)
    : transport_(std::move(transport)) {
    bool agent = role == ChannelRole::agent;
    send_key_ = agent ? keys.agent_to_authenticator : keys.authenticator_to_agent;
    recv_key_ = agent ? keys.authenticator_to_agent : keys.agent_to_authenticator;
    role_ = role;
}

SecureChannel::~SecureChannel() {
    wipe(send_key_);
    wipe(recv_key_);
}

Status SecureChannel::send(const CborFields& message) {
    Bytes plain = message.encode();
    if (plain.size() > kMaxCborInput)
        return invalid("message of " + std::to_string(plain.size()) + " bytes is too large");
    std::lock_guard<std::mutex> lock(send_mutex_);
    uint64_t seq = send_seq_;
    SKGATE_TRY(sealed, aead_seal(send_key_, nonce_for(seq), aad_for(seq, role_), plain));
    Bytes frame(kSeqBytes);
    for (size_t i = 0; i < kSeqBytes; i++)
        frame[i] = static_cast<uint8_t>(seq >> (56 - 8 * i));
    frame.insert(frame.end(), sealed.begin(), sealed.end());
    SKGATE_CHECK(transport_->send(frame));
    send_seq_++;
    return {};
}

Result<CborFields> SecureChannel::receive(int timeout_ms) {
    SKGATE_TRY(frame, transport_->receive(timeout_ms));
    return open(frame);
}

Result<CborFields> SecureChannel::open(ByteView frame) {
    if (frame.size() < kSeqBytes + kAeadTagBytes)
        return invalid("sealed frame of " + std::to_string(frame.size()) + " bytes is too short");
    uint64_t seq = 0;
    for (size_t i = 0; i < kSeqBytes; i++)
        seq = (seq << 8) | frame[i];
    if (seq != recv_seq_)
        return make_error(ErrorCode::permission, "message with sequence number " +
                                                     std::to_string(seq) + " refused (" +
                                                     std::to_string(recv_seq_) +
                                                     " expected): replayed, reordered or dropped");
    ChannelRole sender =
        role_ == ChannelRole::agent ? ChannelRole::authenticator : ChannelRole::agent;
    SKGATE_TRY(plain, aead_open(recv_key_, nonce_for(seq), aad_for(seq, sender),
                                frame.subspan(kSeqBytes)));
    recv_seq_++;
    return CborFields::parse(plain);
}

Status send_plain(Transport& t, const CborFields& message) {
    return t.send(message.encode());
}

Result<CborFields> receive_plain(Transport& t, int timeout_ms) {
    SKGATE_TRY(frame, t.receive(timeout_ms));
    return CborFields::parse(frame);
}

}  // namespace skgate
