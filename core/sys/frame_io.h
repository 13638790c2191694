// Length-prefixed frames on a stream socket: a u32 big-endian length, then
// that many bytes (1..max). The one implementation of the framing both the
// ssh-agent protocol (AgentClient, the agent's server) and the link channel
// (SocketTransport) use.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

inline constexpr uint64_t kFrameCompletionUs = 10'000'000;

// deadline_us: monotonic microseconds bounding the whole frame; 0 waits for
// ever for the frame's first byte, then kFrameCompletionUs for the rest.
// A deadline that passes is an ErrorCode::not_found error ("timed
// out"); a peer that closed the connection, or any socket error, an
// ErrorCode::io one; a length outside 1..max_body an ErrorCode::invalid one.
Status write_frame(int fd, ByteView body, size_t max_body, uint64_t deadline_us);
// Until `fd` is ready for poll `events` (POLLIN, POLLOUT), with the same
// deadline rules: for the framing above, and for a socket's connect().
Status wait_socket_ready(int fd, short events, uint64_t deadline_us);
Result<Bytes> read_frame(int fd, size_t max_body, uint64_t deadline_us);

}  // namespace skgate
