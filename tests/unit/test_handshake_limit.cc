// The TCP link's handshake places per source (agent/handshake_limit.h).
#include "agent/handshake_limit.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

using skgate::agent::kMaxLinkHandshakesPerSource;
using skgate::agent::PeerHandshakeLimit;

TEST(PeerHandshakeLimit, OneSourceGetsItsShareAndNoMore) {
    PeerHandshakeLimit limit;
    std::vector<PeerHandshakeLimit::Place> held;
    for (size_t i = 0; i < kMaxLinkHandshakesPerSource; i++) {
        auto p = limit.acquire("192.0.2.7");
        ASSERT_TRUE(p) << i;
        held.push_back(std::move(*p));
    }
    EXPECT_FALSE(limit.acquire("192.0.2.7"));
    EXPECT_EQ(limit.held("192.0.2.7"), kMaxLinkHandshakesPerSource);
    // Another source is not kept out.
    auto other = limit.acquire("192.0.2.8");
    EXPECT_TRUE(other);
    EXPECT_EQ(limit.held("192.0.2.8"), 1u);
    // A place given back can be taken again.
    held.pop_back();
    EXPECT_EQ(limit.held("192.0.2.7"), kMaxLinkHandshakesPerSource - 1);
    EXPECT_TRUE(limit.acquire("192.0.2.7"));
    held.clear();
    EXPECT_EQ(limit.held("192.0.2.7"), 0u);
}

TEST(PeerHandshakeLimit, ConnectionsNotOverIpAreNotCounted) {
    PeerHandshakeLimit limit(1);
    std::vector<PeerHandshakeLimit::Place> held;
    for (int i = 0; i < 10; i++) {
        auto p = limit.acquire("");
        ASSERT_TRUE(p);
        held.push_back(std::move(*p));
    }
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    EXPECT_EQ(PeerHandshakeLimit::source_of_peer(sv[0]), "");
    close(sv[0]);
    close(sv[1]);
}

TEST(PeerHandshakeLimit, SourcesAreAddressesAndIpv6Slash64s) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    ASSERT_EQ(inet_pton(AF_INET6, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", &a.sin6_addr), 1);
    EXPECT_EQ(PeerHandshakeLimit::source_of(reinterpret_cast<sockaddr*>(&a), sizeof a),
              "2001:db8:1:2::/64");
    ASSERT_EQ(inet_pton(AF_INET6, "2001:db8:1:2::1", &a.sin6_addr), 1);
    EXPECT_EQ(PeerHandshakeLimit::source_of(reinterpret_cast<sockaddr*>(&a), sizeof a),
              "2001:db8:1:2::/64");
    ASSERT_EQ(inet_pton(AF_INET6, "::ffff:198.51.100.4", &a.sin6_addr), 1);
    EXPECT_EQ(PeerHandshakeLimit::source_of(reinterpret_cast<sockaddr*>(&a), sizeof a),
              "198.51.100.4");
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    ASSERT_EQ(inet_pton(AF_INET, "198.51.100.4", &v4.sin_addr), 1);
    EXPECT_EQ(PeerHandshakeLimit::source_of(reinterpret_cast<sockaddr*>(&v4), sizeof v4),
              "198.51.100.4");
    // Too short for its family: no source.
    EXPECT_EQ(PeerHandshakeLimit::source_of(reinterpret_cast<sockaddr*>(&v4), 4), "");
}

// A real TCP connection counts under the address it comes from (here
// 127.0.0.2, bound by the client).
TEST(PeerHandshakeLimit, ATcpPeerCountsUnderItsAddress) {
    int srv = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(srv, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(srv, 4), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(getsockname(srv, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(client, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ASSERT_EQ(inet_pton(AF_INET, "127.0.0.2", &from.sin_addr), 1);
    ASSERT_EQ(bind(client, reinterpret_cast<sockaddr*>(&from), sizeof from), 0)
        << std::strerror(errno);
    ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
        << std::strerror(errno);
    int accepted = accept(srv, nullptr, nullptr);
    ASSERT_GE(accepted, 0);
    EXPECT_EQ(PeerHandshakeLimit::source_of_peer(accepted), "127.0.0.2");
    close(accepted);
    close(client);
    close(srv);
}
