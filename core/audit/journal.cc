#include "core/audit/journal.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace skgate {

namespace {

bool valid_name(const std::string& n) {
    if (n.empty() || n.size() > 64 || n[0] == '_')
        return false;
    for (char c : n) {
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

void put_le64(std::string& out, uint64_t v) {
    for (int i = 0; i < 8; i++)
        out += static_cast<char>((v >> (8 * i)) & 0xff);
}

}  // namespace

std::string journal_encode(const JournalFields& fields) {
    std::string out;
    for (const auto& [name, raw] : fields) {
        if (!valid_name(name))
            continue;
        size_t room = kMaxJournalEntryBytes > out.size() + name.size() + 10
                          ? kMaxJournalEntryBytes - out.size() - name.size() - 10
                          : 0;
        std::string value = raw.substr(0, room);
        if (value.find('\n') == std::string::npos) {
            out += name + "=" + value + "\n";
        } else {
            // Values with newlines use the length-prefixed form.
            out += name + "\n";
            put_le64(out, value.size());
            out += value + "\n";
        }
    }
    return out;
}

int journal_send(const JournalFields& fields, const char* socket_path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (std::strlen(socket_path) >= sizeof addr.sun_path)
        return -ENAMETOOLONG;
    std::strcpy(addr.sun_path, socket_path);
    std::string datagram = journal_encode(fields);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    // Without credentials of its own the datagram carries the real uid, and
    // in sudo and su PAM runs with the invoking user's real uid: journald
    // would record a root decision as that user's (and skgatectl audit,
    // which trusts only root's and skgate's entries, would drop it). The
    // kernel lets a process name its effective uid, never another.
    iovec iov{datagram.data(), datagram.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))] = {};
    msghdr msg{};
    msg.msg_name = &addr;
    msg.msg_namelen = sizeof addr;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_CREDENTIALS;
    cm->cmsg_len = CMSG_LEN(sizeof(ucred));
    ucred cred{getpid(), geteuid(), getegid()};
    std::memcpy(CMSG_DATA(cm), &cred, sizeof cred);
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EPERM) {
        // Credentials the kernel will not take (an unusual namespace): the
        // event still matters more than whose uid it shows.
        msg.msg_control = nullptr;
        msg.msg_controllen = 0;
        n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    }
    int err = n < 0 ? errno : 0;
    close(fd);
    if (err)
        return -err;
    return static_cast<size_t>(n) == datagram.size() ? 0 : -EMSGSIZE;
}

}  // namespace skgate
