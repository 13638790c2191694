#include "core/ssh/agent_client.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/ssh/agent_protocol.h"
#include "core/ssh/wire.h"
#include "core/sys/frame_io.h"
#include "core/sys/monotonic.h"
#include "core/sys/text.h"

namespace skgate {

namespace {

using namespace agentmsg;

Error sys_error(const std::string& what) {
    return make_error(ErrorCode::io, what + ": " + std::strerror(errno));
}

// The frame layer's errors, in the words of an agent.
Error agent_error(const Error& e) {
    if (e.code == ErrorCode::not_found)
        return make_error(ErrorCode::io, "the agent did not answer in time");
    if (e.code == ErrorCode::invalid)
        return invalid("agent answer: " + e.message);
    return make_error(ErrorCode::io, "agent socket: " + e.message);
}

}  // namespace

namespace {

// What the connecting child reports: how far it got and the errno there.
struct ConnectReport {
    int stage;  // 0 connected, 1 lstat, 2 not a socket, 3 owner, 4 socket, 5 connect, 6 identity
    int err;
    uid_t owner;
};

std::string describe(const ConnectReport& r, const std::string& raw_path, uid_t uid) {
    // The path is the caller's choice: never raw into a log line.
    const std::string path = printable(raw_path, 200);
    switch (r.stage) {
        case 1:
            return r.err == ENOENT
                       ? "no agent at " + path
                       : "cannot reach the agent at " + path + ": " + std::strerror(r.err);
        case 2:
            return path + " is not a socket";
        case 3:
            return "agent socket " + path + " belongs to uid " + std::to_string(r.owner) +
                   ", not to the user (uid " + std::to_string(uid) + ")";
        case 4:
            return std::string("socket: ") + std::strerror(r.err);
        case 5:
            return "cannot connect to the agent at " + path + ": " + std::strerror(r.err);
        case 6:
            return "cannot take the user's identity to reach the agent";
    }
    return "cannot reach the agent at " + path;
}

ErrorCode code_of(const ConnectReport& r) {
    if (r.stage == 1 && r.err == ENOENT)
        return ErrorCode::not_found;
    return r.stage == 2 || r.stage == 3 ? ErrorCode::permission : ErrorCode::io;
}

int remaining_ms(uint64_t deadline_us) {
    uint64_t now = monotonic_us();
    return now >= deadline_us ? 0 : static_cast<int>((deadline_us - now) / 1000 + 1);
}

// lstat, ownership check and a non-blocking connect, with nothing but
// system calls: it also runs in a child of a possibly threaded process.
ConnectReport connect_socket(const sockaddr_un& addr, uid_t uid, uint64_t deadline_us, int* fd) {
    struct stat st {};
    if (lstat(addr.sun_path, &st) != 0)
        return {1, errno, 0};
    if (!S_ISSOCK(st.st_mode))
        return {2, 0, 0};
    if (st.st_uid != uid)
        return {3, 0, st.st_uid};
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return {4, errno, 0};
    // AF_UNIX connects at once or fails (EAGAIN: the listener's backlog is
    // full); EINPROGRESS is waited for and its outcome read back.
    if (::connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        int e = errno;
        if (e != EINPROGRESS) {
            close(s);
            return {5, e, 0};
        }
        pollfd p{s, POLLOUT, 0};
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (poll(&p, 1, remaining_ms(deadline_us)) <= 0) {
            close(s);
            return {5, ETIMEDOUT, 0};
        }
        if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
            close(s);
            return {5, soerr ? soerr : errno, 0};
        }
    }
    *fd = s;
    return {0, 0, 0};
}

// The child: drop to the caller, connect, hand the descriptor back.
[[noreturn]] void connect_child(int chan, const sockaddr_un& addr, AgentClient::Identity as,
                                uint64_t deadline_us) {
    ConnectReport r{6, 0, 0};
    int fd = -1;
    // Nothing of the privileged parent reaches the caller's identity: no
    // signal handlers run, no inherited descriptor but the channel stays
    // open, and the process is not dumpable (so the caller cannot ptrace it).
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    if (chan != 3) {
        if (dup2(chan, 3) < 0)
            _exit(1);
        chan = 3;
    }
    if (close_range(4, ~0U, 0) != 0)
        _exit(1);
    if (setgroups(1, &as.gid) == 0 && setresgid(as.gid, as.gid, as.gid) == 0 &&
        setresuid(as.uid, as.uid, as.uid) == 0 && getuid() == as.uid && geteuid() == as.uid &&
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
        r = connect_socket(addr, as.uid, deadline_us, &fd);
    iovec iov{&r, sizeof r};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (fd >= 0) {
        m.msg_control = control;
        m.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    _exit(sendmsg(chan, &m, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof r) ? 0 : 1);
}

Result<sockaddr_un> socket_address(const std::string& path) {
    if (path.empty())
        return make_error(ErrorCode::not_found, "no agent (SSH_AUTH_SOCK is not set)");
    sockaddr_un addr{};
    if (path.size() >= sizeof addr.sun_path || path.find('\0') != std::string::npos)
        return invalid("agent socket path is too long");
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    return addr;
}

// Runs connect_child and receives its report and descriptor.
Result<int> connect_through_child(const sockaddr_un& addr, const std::string& path,
                                  AgentClient::Identity as, uint64_t deadline_us) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        return sys_error("socketpair");
    pid_t pid = fork();
    if (pid < 0) {
        close(pair[0]);
        close(pair[1]);
        return sys_error("fork");
    }
    if (pid == 0) {
        close(pair[0]);
        connect_child(pair[1], addr, as, deadline_us);
    }
    close(pair[1]);
    ConnectReport r{6, 0, 0};
    int fd = -1;
    pollfd p{pair[0], POLLIN, 0};
    int ready = 0;
    do {
        ready = poll(&p, 1, remaining_ms(deadline_us));
    } while (ready < 0 && errno == EINTR);
    bool got = false;
    if (ready > 0) {
        iovec iov{&r, sizeof r};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = control;
        m.msg_controllen = sizeof control;
        ssize_t n = recvmsg(pair[0], &m, MSG_CMSG_CLOEXEC);
        got = n == static_cast<ssize_t>(sizeof r);
        for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
                c->cmsg_len == CMSG_LEN(sizeof(int)))
                std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
        }
    }
    close(pair[0]);
    // The child has nothing left to do: never wait on one the caller stopped.
    kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!got) {
        if (fd >= 0)
            close(fd);
        const std::string shown = printable(path, 200);  // the caller's choice
        return make_error(ErrorCode::io, ready == 0
                                             ? "the agent at " + shown + " did not answer in time"
                                             : "cannot reach the agent at " + shown);
    }
    if (r.stage != 0 || fd < 0) {
        if (fd >= 0)
            close(fd);
        return make_error(code_of(r), describe(r, path, as.uid));
    }
    return fd;
}

Result<AgentClient> finish_connect(int fd, const std::string& path, uid_t uid, bool root_peer_ok,
                                   int timeout_ms, uint64_t deadline_us) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        Error e = sys_error("cannot identify the agent");
        close(fd);
        return e;
    }
    if (cred.uid != uid && !(root_peer_ok && cred.uid == 0)) {
        close(fd);
        return make_error(ErrorCode::permission, "the agent at " + printable(path, 200) +
                                                     " runs as uid " + std::to_string(cred.uid) +
                                                     ", not as the user");
    }
    return AgentClient::adopt(fd, timeout_ms, deadline_us);
}

}  // namespace

Result<AgentClient> AgentClient::connect(const std::string& path, uid_t uid, int timeout_ms) {
    SKGATE_TRY(addr, socket_address(path));
    int fd = -1;
    uint64_t deadline = monotonic_us() + static_cast<uint64_t>(timeout_ms) * 1000;
    ConnectReport r = connect_socket(addr, uid, deadline, &fd);
    if (r.stage != 0)
        return make_error(code_of(r), describe(r, path, uid));
    return finish_connect(fd, path, uid, true, timeout_ms, 0);
}

Result<AgentClient> AgentClient::connect_as(const std::string& path, Identity as,
                                            uint64_t deadline_us) {
    SKGATE_TRY(addr, socket_address(path));
    int fd = -1;
    if (geteuid() == as.uid && getuid() == as.uid) {
        ConnectReport r = connect_socket(addr, as.uid, deadline_us, &fd);
        if (r.stage != 0)
            return make_error(code_of(r), describe(r, path, as.uid));
    } else {
        SKGATE_TRY(got, connect_through_child(addr, path, as, deadline_us));
        fd = got;
    }
    return finish_connect(fd, path, as.uid, false, 0, deadline_us);
}

AgentClient::~AgentClient() {
    if (fd_ >= 0)
        close(fd_);
}

Result<Bytes> AgentClient::exchange(ByteView request) {
    uint64_t deadline =
        deadline_us_ ? deadline_us_ : monotonic_us() + static_cast<uint64_t>(timeout_ms_) * 1000;
    if (Status sent = write_frame(fd_, request, kMaxAgentMessage, deadline); !sent)
        return agent_error(sent.error());
    auto answer = read_frame(fd_, kMaxAgentMessage, deadline);
    if (!answer)
        return agent_error(answer.error());
    return std::move(*answer);
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
