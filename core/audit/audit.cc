#include "core/audit/audit.h"

#include <syslog.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/audit/journal.h"
#include "core/sys/text.h"

namespace skgate {

namespace {

std::string& identifier() {
    static std::string id = program_invocation_short_name;
    return id;
}

std::string hex_flags(uint8_t f) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", f);
    return buf;
}

// Field/value pairs in a fixed order; empty values are left out.
std::vector<std::pair<const char*, std::string>> fields(const AuditEvent& e) {
    std::vector<std::pair<const char*, std::string>> f;
    auto add = [&](const char* k, const std::string& v) {
        if (!v.empty())
            f.emplace_back(k, v);
    };
    add("SKGATE_EVENT", e.event);
    if (e.decision != Decision::none)
        add("SKGATE_DECISION", std::string(to_string(e.decision)));
    add("SKGATE_REASON", e.reason);
    add("SKGATE_USER", e.user);
    add("SKGATE_REQUESTER", e.requester);
    add("SKGATE_KEY_FP", e.key_fp);
    add("SKGATE_KEY_TYPE", e.key_type);
    add("SKGATE_SOURCE", e.source);
    if (e.flags)
        add("SKGATE_FLAGS", hex_flags(*e.flags));
    if (e.counter)
        add("SKGATE_COUNTER", std::to_string(*e.counter));
    add("SKGATE_REMOTE", e.remote);
    if (e.latency_us)
        add("SKGATE_LATENCY_US", std::to_string(*e.latency_us));
    add("SKGATE_SOURCES", e.sources);
    if (e.cache_age)
        add("SKGATE_CACHE_AGE", std::to_string(*e.cache_age));
    return f;
}

int priority(const AuditEvent& e) {
    return e.decision == Decision::deny ? LOG_WARNING : LOG_INFO;
}

}  // namespace

std::string_view to_string(Decision d) {
    switch (d) {
        case Decision::none:
            return "";
        case Decision::allow:
            return "allow";
        case Decision::deny:
            return "deny";
        case Decision::would_deny:
            return "would-deny";
    }
    return "";
}

void audit_set_identifier(const std::string& id) {
    identifier() = id;
}

std::string audit_syslog_line(const AuditEvent& e) {
    std::string line = printable(e.message, 1024);
    for (const auto& [k, v] : fields(e)) {
        line += ' ';
        line += k;
        line += '=';
        line += printable(v, 512);
    }
    return line;
}

void audit_record(const AuditEvent& e) noexcept {
    try {
        JournalFields j;
        j.emplace_back("MESSAGE", e.message);
        j.emplace_back("PRIORITY", std::to_string(priority(e)));
        j.emplace_back("SYSLOG_IDENTIFIER", identifier());
        for (const auto& [k, v] : fields(e))
            j.emplace_back(k, v);
        int rc = journal_send(j);
        if (rc == 0)
            return;
        // No journald (ENOENT, ECONNREFUSED): the system's syslog gets it.
        if (rc != -ENOENT && rc != -ECONNREFUSED)
            std::fprintf(stderr, "%s: cannot write to the journal: %s\n", identifier().c_str(),
                         std::strerror(-rc));
        // syslog keeps a pointer to the identifier; a static copy outlives it.
        static std::string ident;
        ident = identifier();
        openlog(ident.c_str(), LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
        syslog(priority(e), "%s", audit_syslog_line(e).c_str());
        closelog();
    } catch (...) {
        std::fputs("skgate: audit event lost (out of memory)\n", stderr);
    }
}

}  // namespace skgate
