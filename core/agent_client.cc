#include "core/agent_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/agent_protocol.h"
#include "core/monotonic.h"
#include "core/wire.h"

namespace skgate {

namespace {

using namespace agentmsg;

Error sys_error(const std::string& what) {
    return make_error(ErrorCode::io, what + ": " + std::strerror(errno));
}

// Reads or writes exactly n bytes before the deadline.
Status transfer(int fd, uint8_t* buf, size_t n, bool writing, uint64_t deadline_us) {
    size_t done = 0;
    while (done < n) {
        uint64_t now = monotonic_us();
        if (now >= deadline_us)
            return make_error(ErrorCode::io, "the agent did not answer in time");
        pollfd p{fd, static_cast<short>(writing ? POLLOUT : POLLIN), 0};
        int rc = poll(&p, 1, static_cast<int>((deadline_us - now) / 1000 + 1));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return sys_error("poll on the agent socket");
        if (rc == 0)
            continue;
        ssize_t k = writing ? send(fd, buf + done, n - done, MSG_NOSIGNAL)
                            : recv(fd, buf + done, n - done, 0);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k < 0)
            return sys_error("agent socket");
        if (k == 0)
            return make_error(ErrorCode::io, "the agent closed the connection");
        done += static_cast<size_t>(k);
    }
    return {};
}

}  // namespace

Result<AgentClient> AgentClient::connect(const std::string& path, uid_t uid, int timeout_ms) {
    if (path.empty())
        return make_error(ErrorCode::not_found, "no agent (SSH_AUTH_SOCK is not set)");
    sockaddr_un addr{};
    if (path.size() >= sizeof addr.sun_path)
        return invalid("agent socket path is too long");
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0)
        return make_error(ErrorCode::not_found,
                          "no agent at " + path + ": " + std::strerror(errno));
    if (!S_ISSOCK(st.st_mode))
        return make_error(ErrorCode::permission, path + " is not a socket");
    if (st.st_uid != uid)
        return make_error(ErrorCode::permission,
                          "agent socket " + path + " belongs to uid " + std::to_string(st.st_uid) +
                              ", not to the user (uid " + std::to_string(uid) + ")");
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return sys_error("socket");
    AgentClient client(fd, timeout_ms);
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS)
        return sys_error("cannot connect to the agent at " + path);
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, timeout_ms) <= 0)
        return make_error(ErrorCode::io, "the agent at " + path + " does not accept connections");
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return sys_error("cannot identify the agent");
    if (cred.uid != uid && cred.uid != 0)
        return make_error(ErrorCode::permission, "the agent at " + path + " runs as uid " +
                                                     std::to_string(cred.uid) +
                                                     ", not as the user");
    return client;
}

AgentClient::~AgentClient() {
    if (fd_ >= 0)
        close(fd_);
}

Result<Bytes> AgentClient::exchange(ByteView request) {
    uint64_t deadline = monotonic_us() + static_cast<uint64_t>(timeout_ms_) * 1000;
    WireWriter w;
    w.put_string(request);
    Bytes out = std::move(w).take();
    SKGATE_CHECK(transfer(fd_, out.data(), out.size(), true, deadline));
    uint8_t len_buf[4];
    SKGATE_CHECK(transfer(fd_, len_buf, 4, false, deadline));
    uint32_t len = (uint32_t{len_buf[0]} << 24) | (uint32_t{len_buf[1]} << 16) |
                   (uint32_t{len_buf[2]} << 8) | len_buf[3];
    if (len == 0 || len > kMaxAgentMessage)
        return invalid("agent answer of " + std::to_string(len) + " bytes is out of bounds");
    Bytes answer(len);
    SKGATE_CHECK(transfer(fd_, answer.data(), len, false, deadline));
    return answer;
}

Result<std::vector<AgentIdentity>> AgentClient::identities() {
    const uint8_t req[] = {kRequestIdentities};
    SKGATE_TRY(answer, exchange(req));
    WireReader r(answer);
    SKGATE_TRY(type, r.read_u8());
    if (type == kFailure)
        return make_error(ErrorCode::permission, "the agent refused to list its keys");
    if (type != kIdentitiesAnswer)
        return invalid("unexpected agent answer " + std::to_string(type) + " to a key listing");
    SKGATE_TRY(n, r.read_u32());
    if (n > kMaxAgentIdentities)
        return invalid("the agent lists " + std::to_string(n) + " keys");
    std::vector<AgentIdentity> out;
    for (uint32_t i = 0; i < n; i++) {
        auto blob = r.read_string();
        if (!blob)
            return blob.error().context("agent key list");
        auto comment = r.read_string();
        if (!comment)
            return comment.error().context("agent key list");
        auto key = PublicKey::parse_blob(*blob);
        if (key)
            out.push_back({std::move(*key), std::string(as_chars(*comment))});
    }
    SKGATE_CHECK(r.expect_end("the agent's key list"));
    return out;
}

Result<Bytes> AgentClient::sign(const PublicKey& key, ByteView data) {
    WireWriter w;
    w.put_u8(kSignRequest);
    w.put_string(key.blob());
    w.put_string(data);
    w.put_u32(0);
    SKGATE_TRY(answer, exchange(w.bytes()));
    WireReader r(answer);
    SKGATE_TRY(type, r.read_u8());
    if (type == kFailure)
        return make_error(ErrorCode::permission, "the agent refused to sign");
    if (type != kSignResponse)
        return invalid("unexpected agent answer " + std::to_string(type) + " to a sign request");
    auto sig = r.read_string();
    if (!sig)
        return sig.error().context("agent signature");
    SKGATE_CHECK(r.expect_end("the agent's signature"));
    return to_bytes(*sig);
}

Result<Bytes> AgentClient::extension(std::string_view name, ByteView contents) {
    WireWriter w;
    w.put_u8(kExtension);
    w.put_string(name);
    w.put_raw(contents);
    SKGATE_TRY(answer, exchange(w.bytes()));
    if (answer.empty() || answer[0] != kSuccess)
        return make_error(ErrorCode::not_found, "the agent does not support " + std::string(name));
    return Bytes(answer.begin() + 1, answer.end());
}

}  // namespace skgate
