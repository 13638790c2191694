#include "agent/handshake_limit.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace skgate::agent {

PeerHandshakeLimit::Place::~Place() {
    if (limit_)
        limit_->release(source_);
}

std::optional<PeerHandshakeLimit::Place> PeerHandshakeLimit::acquire(const std::string& source) {
    if (source.empty())
        return Place(nullptr, "");
    std::lock_guard<std::mutex> lock(mutex_);
    size_t& n = held_[source];
    if (n >= per_source_)
        return std::nullopt;
    ++n;
    return Place(this, source);
}

size_t PeerHandshakeLimit::held(const std::string& source) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = held_.find(source);
    return it == held_.end() ? 0 : it->second;
}

void PeerHandshakeLimit::release(const std::string& source) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = held_.find(source);
    if (it == held_.end())
        return;
    if (--it->second == 0)
        held_.erase(it);
}

std::string PeerHandshakeLimit::source_of(const sockaddr* addr, socklen_t len) {
    char text[INET6_ADDRSTRLEN] = {};
    if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
        sockaddr_in a{};
        std::memcpy(&a, addr, sizeof a);
        if (!inet_ntop(AF_INET, &a.sin_addr, text, sizeof text))
            return "";
        return text;
    }
    if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
        sockaddr_in6 a{};
        std::memcpy(&a, addr, sizeof a);
        if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr)) {
            in_addr v4{};
            std::memcpy(&v4, a.sin6_addr.s6_addr + 12, sizeof v4);
            if (!inet_ntop(AF_INET, &v4, text, sizeof text))
                return "";
            return text;
        }
        std::memset(a.sin6_addr.s6_addr + 8, 0, 8);
        if (!inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof text))
            return "";
        return std::string(text) + "/64";
    }
    return "";
}

std::string PeerHandshakeLimit::source_of_peer(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
        return "";
    return source_of(reinterpret_cast<const sockaddr*>(&ss), len);
}

}  // namespace skgate::agent
