// Reading skgate's audit events back from the journal (skgatectl audit and
// status), through libsystemd's sd_journal API. Kept out of libskgate_audit so
// that skgate-keys and pam_skgate never load libsystemd (see journal.h).
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "core/sys/json.h"
#include "core/sys/result.h"

namespace skgate {

struct AuditQuery {
    std::optional<uint64_t> since_usec;  // realtime, microseconds since the epoch
    std::string user;
    std::string decision;   // allow | deny | would-deny
    std::string event;      // keys-lookup, stepup, ...
    size_t limit = 0;       // the most recent N; 0: all
    std::string directory;  // a journal directory instead of the system's
};

struct AuditRecord {
    uint64_t realtime_usec = 0;
    std::optional<uint64_t> uid;   // _UID: journald's, from the writer's credentials
    bool repeated_fields = false;  // a SKGATE_ field or MESSAGE given twice: never trusted
    std::string identifier, event, decision, user, requester, key_fp, key_type, source, reason,
        flags, counter, remote, latency_us, sources, cache_age, message;
};

struct AuditEvents {
    std::vector<AuditRecord> events;  // oldest first
    // Entries with skgate's server fields that neither root nor the skgate
    // account wrote, or with one of skgate's fields given twice: any local
    // user can send the journal any field, and only the underscore fields
    // (_UID) are journald's own, so these are forgeries or mistakes, never
    // decisions.
    size_t ignored_untrusted = 0;
};

// A journal that cannot be opened is an error, no events is not. Server
// events (every event but agent-*) count only when _UID is 0 or the skgate
// account's; agent events are the laptop user's own and count from anyone.
Result<AuditEvents> query_audit_events(const AuditQuery& query);
// Whether an event of this name, written by this uid, is one skgate made.
bool event_writer_is_trusted(std::string_view event, std::optional<uint64_t> uid,
                             std::optional<uint64_t> skgate_uid);

// --since: an ISO 8601 time or date (UTC), or a duration ago ("30m", "2h", "7d").
Result<uint64_t> parse_since(std::string_view text, uint64_t now_usec);
// The decisions and events a filter may name.
bool is_known_decision(std::string_view d);
bool is_known_event(std::string_view e);

void print_event_table(const std::vector<AuditRecord>& events, std::FILE* out);
void append_event_json(JsonWriter& j, const AuditRecord& e);

}  // namespace skgate
