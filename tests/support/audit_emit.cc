// Records one audit event described by its arguments (FIELD=value ...), so
// the journald and syslog tests can check what really reaches them.
#include <cstring>
#include <string>

#include "core/audit/audit.h"

int main(int argc, char** argv) {
    skgate::audit_set_identifier("skgate-test");
    skgate::AuditEvent e;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto eq = a.find('=');
        if (eq == std::string::npos)
            return 2;
        std::string k = a.substr(0, eq), v = a.substr(eq + 1);
        if (k == "event")
            e.event = v;
        else if (k == "decision")
            e.decision = v == "allow"  ? skgate::Decision::allow
                         : v == "deny" ? skgate::Decision::deny
                                       : skgate::Decision::would_deny;
        else if (k == "message")
            e.message = v;
        else if (k == "user")
            e.user = v;
        else if (k == "reason")
            e.reason = v;
        else if (k == "counter")
            e.counter = static_cast<uint32_t>(std::stoul(v));
        else if (k == "latency_us")
            e.latency_us = std::stoull(v);
        else if (k == "flags")
            e.flags = static_cast<uint8_t>(std::stoul(v, nullptr, 0));
        else
            return 2;
    }
    skgate::audit_record(e);
    return 0;
}
