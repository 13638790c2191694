// Audit events (DESIGN.md section 10): one structured journal entry per
// decision, falling back to syslog when journald is not running.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace skgate {

enum class Decision { none, allow, deny, would_deny };

std::string_view to_string(Decision d);

struct AuditEvent {
    std::string event;  // keys-lookup, login-confirm, session-open, stepup, enroll, ...
    Decision decision = Decision::none;
    std::string message;  // a readable sentence; never secrets
    std::string reason;
    std::string user;
    std::string requester;  // step-up: the invoking user (real uid)
    std::string key_fp;
    std::string key_type;
    std::string source;
    std::optional<uint8_t> flags;
    std::optional<uint32_t> counter;
    std::string remote;
    std::optional<uint64_t> latency_us;
    // Remote key sources: what each did ("http: fetched 2 keys; metadata:
    // cached (age 300 s), unavailable: …") and the oldest cache age served.
    std::string sources;
    std::optional<int64_t> cache_age;
};

// SYSLOG_IDENTIFIER for every event of this process (the binary's name).
void audit_set_identifier(const std::string& identifier);

// Records the event. Never throws and never fails the caller: losing an audit
// line must not turn into an outage, but it is reported on stderr.
void audit_record(const AuditEvent& event) noexcept;

// The syslog line used when journald is absent, for tests and the fallback.
std::string audit_syslog_line(const AuditEvent& event);

}  // namespace skgate
