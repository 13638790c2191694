#include "tests/support/passkey_agent.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "core/ssh/agent_protocol.h"
#include "core/ssh/wire.h"
#include "core/sys/base64.h"
#include "core/sys/frame_io.h"
#include "core/sys/sha256.h"

namespace skgate::test {

PasskeyTestAgent::PasskeyTestAgent(std::string socket_path, const SoftSkKey& key,
                                   WebauthnOrigin page, uint8_t flags, bool counterless)
    : path_(std::move(socket_path)),
      key_(key),
      page_(std::move(page)),
      flags_(flags),
      counterless_(counterless) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path_.size() >= sizeof(sa.sun_path))
        throw std::runtime_error("agent socket path too long: " + path_);
    std::memcpy(sa.sun_path, path_.c_str(), path_.size() + 1);
    ::unlink(path_.c_str());
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::listen(listen_fd_, 8) != 0 || ::pipe2(stop_pipe_, O_CLOEXEC) != 0)
        throw std::runtime_error("cannot listen on " + path_ + ": " + std::strerror(errno));
    thread_ = std::thread([this] { serve(); });
}

PasskeyTestAgent::~PasskeyTestAgent() {
    if (stop_pipe_[1] >= 0)
        (void)!::write(stop_pipe_[1], "x", 1);
    if (thread_.joinable())
        thread_.join();
    for (int fd : {listen_fd_, stop_pipe_[0], stop_pipe_[1]})
        if (fd >= 0)
            ::close(fd);
    ::unlink(path_.c_str());
}

void PasskeyTestAgent::serve() {
    for (;;) {
        pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (fds[1].revents)
            return;
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        serve_connection(fd);
        ::close(fd);
    }
}

// One client at a time: ssh and ssh-keygen each open one connection.
void PasskeyTestAgent::serve_connection(int fd) {
    for (;;) {
        pollfd fds[2] = {{fd, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0 || fds[1].revents)
            return;
        auto req = read_frame(fd, 256 * 1024, 0);
        if (!req)
            return;
        if (!write_frame(fd, answer(*req), 256 * 1024, 0))
            return;
    }
}

Bytes PasskeyTestAgent::answer(ByteView message) {
    auto req = parse_agent_request(message);
    if (!req)
        return agent_failure();
    if (req->kind == AgentRequest::Kind::identities)
        return agent_identities_answer({{key_.public_key().blob(), "passkey"}});
    if (req->kind != AgentRequest::Kind::sign || req->key_blob != key_.public_key().blob())
        return agent_failure();
    signs_++;
    // As navigator.credentials.get answers with the data as the challenge.
    WireWriter ad;
    ad.put_raw(sha256(as_bytes(page_.rp_id)));
    ad.put_u8(flags_);
    ad.put_u32(counterless_ ? 0 : ++counter_);
    std::string cd = R"({"type":"webauthn.get","challenge":")" +
                     base64url_encode_unpadded(req->data) + R"(","origin":")" + page_.origin +
                     R"(","crossOrigin":false})";
    Bytes signed_data = ad.bytes();
    Sha256 h = sha256(as_bytes(cd));
    signed_data.insert(signed_data.end(), h.begin(), h.end());
    WebauthnAssertion a{ad.bytes(), to_bytes(as_bytes(cd)), key_.sign_der(signed_data)};
    auto blob = webauthn_signature_blob(key_.public_key(), a, page_, req->data);
    if (!blob)
        throw std::runtime_error("passkey test agent: " + blob.error().message);
    return agent_sign_response(*blob);
}

}  // namespace skgate::test
