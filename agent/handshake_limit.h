// How many of the TCP link's connections (run --listen) one source may have
// in their session handshake at once: one host on the network must not take
// every place (kMaxLinkHandshakes) and keep the real authenticator's
// reconnect out. Connections that are not over IP (the Unix link socket)
// are not counted.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace skgate::agent {

inline constexpr size_t kMaxLinkHandshakesPerSource = 4;

class PeerHandshakeLimit {
  public:
    explicit PeerHandshakeLimit(size_t per_source = kMaxLinkHandshakesPerSource)
        : per_source_(per_source) {}
    PeerHandshakeLimit(const PeerHandshakeLimit&) = delete;
    PeerHandshakeLimit& operator=(const PeerHandshakeLimit&) = delete;

    // One source's place, given back when it is destroyed (the limit must
    // outlive it).
    class Place {
      public:
        Place(Place&& o) noexcept : limit_(o.limit_), source_(std::move(o.source_)) {
            o.limit_ = nullptr;
        }
        Place& operator=(Place&&) = delete;
        ~Place();

      private:
        friend class PeerHandshakeLimit;
        Place(PeerHandshakeLimit* limit, std::string source)
            : limit_(limit), source_(std::move(source)) {}
        PeerHandshakeLimit* limit_;
        std::string source_;
    };

    // A place for a connection from `source` (source_of()), or nothing when
    // that source holds per_source places already. "" (not over IP) always
    // gets one, uncounted.
    std::optional<Place> acquire(const std::string& source);
    // How many places `source` holds.
    size_t held(const std::string& source);

    // The source a connection counts under: its IPv4 address, or its IPv6
    // address's /64 (one host has a whole /64 to choose from; an IPv4-mapped
    // address counts as the IPv4 one); "" for anything else.
    static std::string source_of(const sockaddr* addr, socklen_t len);
    // The same for a connected socket's peer.
    static std::string source_of_peer(int fd);

  private:
    void release(const std::string& source);
    const size_t per_source_;
    std::mutex mutex_;
    std::map<std::string, size_t> held_;
};

}  // namespace skgate::agent
