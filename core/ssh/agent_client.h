// The client side of the ssh-agent protocol (draft-miller-ssh-agent): list
// identities and ask for a signature, over a socket that must belong to the
// expected user.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/ssh/sshkey.h"
#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

inline constexpr size_t kMaxAgentMessage = 256 * 1024;
inline constexpr size_t kMaxAgentIdentities = 1024;

struct AgentIdentity {
    PublicKey key;
    std::string comment;
};

class AgentClient {
  public:
    // Connects to `socket_path` only if the socket is owned by `uid` and the
    // process listening on it runs as `uid` (or root): another user's agent
    // could answer in the user's name. `timeout_ms` bounds every exchange.
    static Result<AgentClient> connect(const std::string& socket_path, uid_t uid, int timeout_ms);

    // For a privileged caller (pam_skgate in sudo or su): the socket is looked
    // up and connected by a child running with `as`'s identity only, so root
    // never opens a path the caller chose and no error tells the caller more
    // than it could see itself; the agent must then run as `as.uid` (or root).
    // Every exchange of the client shares the one absolute `deadline_us`
    // (monotonic_us clock): a stalling agent cannot stretch it.
    struct Identity {
        uid_t uid;
        gid_t gid;
    };
    static Result<AgentClient> connect_as(const std::string& socket_path, Identity as,
                                          uint64_t deadline_us);

    AgentClient(AgentClient&& o) noexcept
        : fd_(o.fd_), timeout_ms_(o.timeout_ms_), deadline_us_(o.deadline_us_) {
        o.fd_ = -1;
    }
    AgentClient& operator=(AgentClient&&) = delete;
    AgentClient(const AgentClient&) = delete;
    ~AgentClient();

    // Takes a connected socket whose peer has been checked.
    static AgentClient adopt(int fd, int timeout_ms, uint64_t deadline_us) {
        return AgentClient(fd, timeout_ms, deadline_us);
    }

    // Identities whose keys parse; others are skipped.
    Result<std::vector<AgentIdentity>> identities();
    // The agent's signature blob over `data`; an ErrorCode::permission error
    // when the agent refuses (SSH_AGENT_FAILURE).
    Result<Bytes> sign(const PublicKey& key, ByteView data);

    // One raw message and its answer (bodies without length prefixes).
    Result<Bytes> request(ByteView message) { return exchange(message); }
    // An SSH_AGENTC_EXTENSION request; the answer's contents after
    // SSH_AGENT_SUCCESS, or an error when the agent does not support it.
    Result<Bytes> extension(std::string_view name, ByteView contents);

  private:
    AgentClient(int fd, int timeout_ms, uint64_t deadline_us)
        : fd_(fd), timeout_ms_(timeout_ms), deadline_us_(deadline_us) {}
    Result<Bytes> exchange(ByteView request);
    int fd_ = -1;
    int timeout_ms_ = 0;        // per exchange, when deadline_us_ is 0
    uint64_t deadline_us_ = 0;  // one bound for every exchange
};

}  // namespace skgate
