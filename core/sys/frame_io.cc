#include "core/sys/frame_io.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/sys/monotonic.h"

namespace skgate {

namespace {

Error socket_error(const char* what) {
    return make_error(ErrorCode::io, std::string(what) + ": " + std::strerror(errno));
}

// Exactly n bytes, each transfer only once poll says it will not block.
Status transfer(int fd, uint8_t* buf, size_t n, bool writing, uint64_t deadline_us) {
    size_t done = 0;
    while (done < n) {
        SKGATE_CHECK(wait_socket_ready(fd, writing ? POLLOUT : POLLIN, deadline_us));
        ssize_t k = writing ? ::send(fd, buf + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT)
                            : ::recv(fd, buf + done, n - done, MSG_DONTWAIT);
        if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (k < 0)
            return socket_error(writing ? "send" : "receive");
        if (k == 0)
            return make_error(ErrorCode::io, "the peer closed the connection");
        done += static_cast<size_t>(k);
    }
    return {};
}

}  // namespace

Status wait_socket_ready(int fd, short events, uint64_t deadline_us) {
    for (;;) {
        int wait_ms = -1;
        if (deadline_us) {
            uint64_t now = monotonic_us();
            if (now >= deadline_us)
                return make_error(ErrorCode::not_found, "timed out");
            wait_ms = static_cast<int>((deadline_us - now) / 1000 + 1);
        }
        pollfd p{fd, events, 0};
        int rc = poll(&p, 1, wait_ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return socket_error("poll");
        if (rc > 0)
            return {};
    }
}

Status write_frame(int fd, ByteView body, size_t max_body, uint64_t deadline_us) {
    if (body.empty() || body.size() > max_body)
        return invalid("frame of " + std::to_string(body.size()) + " bytes is out of bounds (1.." +
                       std::to_string(max_body) + ")");
    Bytes buf(4 + body.size());
    const auto len = static_cast<uint32_t>(body.size());
    buf[0] = static_cast<uint8_t>(len >> 24);
    buf[1] = static_cast<uint8_t>(len >> 16);
    buf[2] = static_cast<uint8_t>(len >> 8);
    buf[3] = static_cast<uint8_t>(len);
    std::memcpy(buf.data() + 4, body.data(), body.size());
    return transfer(fd, buf.data(), buf.size(), true, deadline_us);
}

Result<Bytes> read_frame(int fd, size_t max_body, uint64_t deadline_us) {
    uint8_t len_buf[4];
    SKGATE_CHECK(transfer(fd, len_buf, 1, false, deadline_us));
    // A frame begun is finished soon, even by a reader that waits for ever
    // for the next one: a peer that sends a length and stops would
    // otherwise hold the connection (a descriptor, a thread) for good.
    if (deadline_us == 0)
        deadline_us = monotonic_us() + kFrameCompletionUs;
    SKGATE_CHECK(transfer(fd, len_buf + 1, sizeof len_buf - 1, false, deadline_us));
    const uint32_t len = (uint32_t{len_buf[0]} << 24) | (uint32_t{len_buf[1]} << 16) |
                         (uint32_t{len_buf[2]} << 8) | len_buf[3];
    if (len == 0 || len > max_body)
        return invalid("frame of " + std::to_string(len) + " bytes is out of bounds (1.." +
                       std::to_string(max_body) + ")");
    Bytes body(len);
    SKGATE_CHECK(transfer(fd, body.data(), len, false, deadline_us));
    return body;
}

}  // namespace skgate
