// skgatectl audit: skgate's decisions from the journal (core/audit_query).
#include <sys/time.h>

#include <cstdio>
#include <cstdlib>

#include "admin/commands.h"
#include "core/audit/audit_query.h"
#include "core/sys/args.h"
#include "core/sys/json.h"
#include "core/sys/username.h"

namespace skgate::admin {

namespace {

int usage(const std::string& why) {
    if (!why.empty())
        std::fprintf(stderr, "skgatectl: audit: %s\n", why.c_str());
    std::fputs(kAuditUsage, stderr);
    return kExitUsage;
}

uint64_t now_usec() {
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    return static_cast<uint64_t>(tv.tv_sec) * 1'000'000 + static_cast<uint64_t>(tv.tv_usec);
}

}  // namespace

int cmd_audit(const Args& args) {
    ArgParser a({"--since", "--user", "--decision", "--event", "--lines", "--directory"},
                {"--json"});
    if (auto st = a.parse(args); !st)
        return usage(st.error().message);
    if (!a.positional().empty())
        return usage("unexpected argument \"" + a.positional()[0] + "\"");
    AuditQuery q;
    if (auto s = a.value("--since")) {
        auto t = parse_since(*s, now_usec());
        if (!t)
            return usage(t.error().message);
        q.since_usec = *t;
    }
    if (auto u = a.value("--user")) {
        if (auto v = validate_username(*u); !v)
            return usage("--user: " + v.error().message);
        q.user = *u;
    }
    if (auto d = a.value("--decision")) {
        if (!is_known_decision(*d))
            return usage("--decision must be allow, deny or would-deny");
        q.decision = *d;
    }
    if (auto e = a.value("--event")) {
        if (!is_known_event(*e))
            return usage("unknown --event \"" + *e + "\" (see skgatectl(8) for the list)");
        q.event = *e;
    }
    auto lines = a.integer("--lines", 1, 1'000'000, 0);
    if (!lines)
        return usage(lines.error().message);
    q.limit = static_cast<size_t>(*lines);
    if (auto d = a.value("--directory"))
        q.directory = *d;
    auto events = query_audit_events(q);
    if (!events) {
        std::fprintf(stderr, "skgatectl: audit: %s\n", events.error().message.c_str());
        return kExitFailure;
    }
    if (events->ignored_untrusted > 0)
        std::fprintf(stderr,
                     "skgatectl: audit: ignored %zu journal entr%s with skgate's fields that "
                     "neither root nor the skgate account wrote, or that give a field twice "
                     "(any local user can write those fields; see them with journalctl "
                     "SKGATE_EVENT=... _UID=...)\n",
                     events->ignored_untrusted, events->ignored_untrusted == 1 ? "y" : "ies");
    if (a.flag("--json")) {
        for (const auto& e : events->events) {
            JsonWriter j;
            append_event_json(j, e);
            std::printf("%s\n", j.str().c_str());
        }
        return kExitOk;
    }
    if (events->events.empty()) {
        std::printf("no skgate events match\n");
        return kExitOk;
    }
    print_event_table(events->events, stdout);
    return kExitOk;
}

}  // namespace skgate::admin
