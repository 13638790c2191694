#include "core/audit/journal.h"

#include <sys/socket.h>
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
    ssize_t n = sendto(fd, datagram.data(), datagram.size(), MSG_NOSIGNAL,
                       reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    int err = n < 0 ? errno : 0;
    close(fd);
    if (err)
        return -err;
    return static_cast<size_t>(n) == datagram.size() ? 0 : -EMSGSIZE;
}

}  // namespace skgate
