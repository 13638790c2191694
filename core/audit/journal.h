// Writing to journald with its native protocol (systemd's "Native Journal
// Protocol": one datagram of KEY=value fields on /run/systemd/journal/socket).
//
// Why not sd_journal_send: linking libsystemd (and the compression and crypto
// libraries behind it) costs skgate-keys and every sshd that loads pam_skgate
// about half a millisecond per start. Reading the journal (skgatectl audit)
// uses libsystemd's sd_journal API.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace skgate {

using JournalFields = std::vector<std::pair<std::string, std::string>>;

inline constexpr const char* kJournalSocket = "/run/systemd/journal/socket";
// A datagram well below the socket's limit; longer values are cut.
inline constexpr size_t kMaxJournalEntryBytes = 48 * 1024;

// Field names must be [A-Z0-9_] and not start with '_' (journald rejects
// them otherwise); values may hold any bytes. Returns 0 or -errno.
int journal_send(const JournalFields& fields, const char* socket_path = kJournalSocket);

// The datagram journal_send would send, for tests.
std::string journal_encode(const JournalFields& fields);

}  // namespace skgate
