#include "core/audit/audit_query.h"

#include <pwd.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include "core/sys/account.h"
#include "core/sys/args.h"
#include "core/sys/text.h"
#include "core/sys/timeutil.h"

namespace skgate {

namespace {

constexpr const char* kEvents[] = {"keys-lookup", "keys-warning", "login-confirm", "session-open",
                                   "stepup",      "enroll",       "revoke",        "config-change",
                                   "agent-sign",  "agent-pair",   "agent-link"};
constexpr const char* kDecisions[] = {"allow", "deny", "would-deny"};

// Each journal field an event carries, its JSON key and where it goes.
struct FieldMap {
    const char* journal;
    const char* json;
    std::string AuditRecord::*member;
    bool number = false;  // a JSON number; a value that is not one is left out
};
const FieldMap kFields[] = {
    {"SYSLOG_IDENTIFIER", "identifier", &AuditRecord::identifier},
    {"SKGATE_EVENT", "event", &AuditRecord::event},
    {"SKGATE_DECISION", "decision", &AuditRecord::decision},
    {"SKGATE_USER", "user", &AuditRecord::user},
    {"SKGATE_REQUESTER", "requester", &AuditRecord::requester},
    {"SKGATE_KEY_FP", "key_fp", &AuditRecord::key_fp},
    {"SKGATE_KEY_TYPE", "key_type", &AuditRecord::key_type},
    {"SKGATE_SOURCE", "source", &AuditRecord::source},
    {"SKGATE_REASON", "reason", &AuditRecord::reason},
    {"SKGATE_FLAGS", "flags", &AuditRecord::flags},
    {"SKGATE_COUNTER", "counter", &AuditRecord::counter, true},
    {"SKGATE_REMOTE", "remote", &AuditRecord::remote},
    {"SKGATE_LATENCY_US", "latency_us", &AuditRecord::latency_us, true},
    {"SKGATE_SOURCES", "sources", &AuditRecord::sources},
    {"SKGATE_CACHE_AGE", "cache_age", &AuditRecord::cache_age, true},
    {"MESSAGE", "message", &AuditRecord::message},
};

std::string field(sd_journal* j, const char* name) {
    const void* data = nullptr;
    size_t len = 0;
    if (sd_journal_get_data(j, name, &data, &len) < 0)
        return "";
    std::string_view v(static_cast<const char*>(data), len);
    size_t eq = v.find('=');
    return eq == std::string_view::npos ? "" : std::string(v.substr(eq + 1));
}

// Whether a field of skgate's (or MESSAGE) appears more than once: journald
// keeps every value a writer sends, and reading the first while the filter
// matched another would let a forger's entry pass as another event.
bool has_repeated_field(sd_journal* j) {
    std::vector<std::string> seen;
    const void* data = nullptr;
    size_t len = 0;
    sd_journal_restart_data(j);
    while (sd_journal_enumerate_data(j, &data, &len) > 0) {
        std::string_view v(static_cast<const char*>(data), len);
        std::string_view name = v.substr(0, v.find('='));
        if (!name.starts_with("SKGATE_") && name != "MESSAGE")
            continue;
        if (std::find(seen.begin(), seen.end(), name) != seen.end())
            return true;
        seen.emplace_back(name);
    }
    return false;
}

Status add_match(sd_journal* j, const std::string& m) {
    int r = sd_journal_add_match(j, m.data(), m.size());
    if (r < 0)
        return make_error(ErrorCode::io, "journal filter " + m + ": " + std::strerror(-r));
    return {};
}

struct JournalCloser {
    void operator()(sd_journal* j) const { sd_journal_close(j); }
};

std::string local_time(uint64_t usec) {
    std::time_t t = static_cast<std::time_t>(usec / 1'000'000);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

// A journal field anyone could have written: digits only, no sign, no
// overflow, or nothing.
std::optional<uint64_t> parse_decimal(std::string_view s) {
    auto n = parse_integer_in(s, 0, INT64_MAX);
    if (!n)
        return std::nullopt;
    return static_cast<uint64_t>(*n);
}

// The uid sshd runs skgate-keys as once it has read the users' files.
// The packages make skgate a local account (/etc/passwd); one that only a
// directory service (LDAP, say) knows could carry any user's uid, so its
// entries are not trusted.
std::optional<uint64_t> skgate_account_uid() {
    std::FILE* f = std::fopen("/etc/passwd", "re");
    if (!f)
        return std::nullopt;
    std::optional<uint64_t> uid;
    while (passwd* pw = fgetpwent(f))
        if (std::strcmp(pw->pw_name, "skgate") == 0 && pw->pw_uid > 0)
            uid = pw->pw_uid;
    std::fclose(f);
    return uid;
}

}  // namespace

bool event_writer_is_trusted(std::string_view event, std::optional<uint64_t> uid,
                             std::optional<uint64_t> skgate_uid) {
    if (event.starts_with("agent-"))
        return true;
    if (!uid)
        return false;
    return *uid == 0 || (skgate_uid && *uid == *skgate_uid);
}

bool is_known_decision(std::string_view d) {
    for (const char* k : kDecisions)
        if (d == k)
            return true;
    return false;
}

bool is_known_event(std::string_view e) {
    for (const char* k : kEvents)
        if (e == k)
            return true;
    return false;
}

Result<uint64_t> parse_since(std::string_view text, uint64_t now_usec) {
    if (auto d = parse_duration(text)) {
        uint64_t ago = static_cast<uint64_t>(*d) * 1'000'000;
        return ago > now_usec ? 0 : now_usec - ago;
    }
    auto t = parse_iso8601(text);
    if (!t)
        return invalid("--since \"" + std::string(text) +
                       "\": give a time (2026-11-22T10:00:00Z), a date (2026-11-22) or how long "
                       "ago (30m, 2h, 7d)");
    return static_cast<uint64_t>(*t) * 1'000'000;
}

Result<AuditEvents> query_audit_events(const AuditQuery& q) {
    if (!q.directory.empty()) {
        // Only journald's _UID makes an entry skgate's; in files anyone else
        // could write, _UID says whatever they wrote.
        struct stat st {};
        if (stat(q.directory.c_str(), &st) != 0)
            return make_error(ErrorCode::not_found,
                              "cannot read " + q.directory + ": " + std::strerror(errno));
        if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0)
            return make_error(ErrorCode::permission,
                              q.directory +
                                  " is not a directory only root can write, so the writers' "
                                  "uids in its journal files could be anyone's");
    }
    sd_journal* raw = nullptr;
    int r = q.directory.empty() ? sd_journal_open(&raw, SD_JOURNAL_LOCAL_ONLY)
                                : sd_journal_open_directory(&raw, q.directory.c_str(), 0);
    if (r < 0)
        return make_error(ErrorCode::io, "cannot open the journal" +
                                             (q.directory.empty() ? "" : " in " + q.directory) +
                                             ": " + std::strerror(-r));
    std::unique_ptr<sd_journal, JournalCloser> j(raw);
    // Matches on one field are alternatives; on different fields, all must hold.
    if (!q.event.empty()) {
        SKGATE_CHECK(add_match(j.get(), "SKGATE_EVENT=" + q.event));
    } else {
        for (const char* e : kEvents)
            SKGATE_CHECK(add_match(j.get(), std::string("SKGATE_EVENT=") + e));
    }
    if (!q.user.empty())
        SKGATE_CHECK(add_match(j.get(), "SKGATE_USER=" + q.user));
    if (!q.decision.empty())
        SKGATE_CHECK(add_match(j.get(), "SKGATE_DECISION=" + q.decision));

    AuditEvents result;
    std::vector<AuditRecord>& out = result.events;
    const std::optional<uint64_t> skgate_uid = skgate_account_uid();
    auto read_entry = [&]() {
        AuditRecord e;
        uint64_t t = 0;
        if (sd_journal_get_realtime_usec(j.get(), &t) >= 0)
            e.realtime_usec = t;
        for (const auto& f : kFields)
            e.*f.member = field(j.get(), f.journal);
        e.uid = parse_decimal(field(j.get(), "_UID"));
        e.repeated_fields = has_repeated_field(j.get());
        return e;
    };
    auto trusted = [&](const AuditRecord& e) {
        // What was read must be what the filter asked for, once.
        bool as_asked = !e.repeated_fields && is_known_event(e.event) &&
                        (q.event.empty() || e.event == q.event) &&
                        (q.user.empty() || e.user == q.user) &&
                        (q.decision.empty() || e.decision == q.decision);
        if (as_asked && event_writer_is_trusted(e.event, e.uid, skgate_uid))
            return true;
        ++result.ignored_untrusted;
        return false;
    };
    if (q.limit > 0) {
        // The most recent N: walk back from the end, then put them in order.
        sd_journal_seek_tail(j.get());
        while (out.size() < q.limit && sd_journal_previous(j.get()) > 0) {
            AuditRecord e = read_entry();
            if (q.since_usec && e.realtime_usec < *q.since_usec)
                break;
            if (trusted(e))
                out.push_back(std::move(e));
        }
        std::reverse(out.begin(), out.end());
        return result;
    }
    if (q.since_usec)
        sd_journal_seek_realtime_usec(j.get(), *q.since_usec);
    else
        sd_journal_seek_head(j.get());
    while ((r = sd_journal_next(j.get())) > 0) {
        AuditRecord e = read_entry();
        if (q.since_usec && e.realtime_usec < *q.since_usec)
            continue;
        if (trusted(e))
            out.push_back(std::move(e));
    }
    if (r < 0)
        return make_error(ErrorCode::io, std::string("reading the journal: ") + std::strerror(-r));
    return result;
}

void print_event_table(const std::vector<AuditRecord>& events, std::FILE* out) {
    std::fprintf(out, "%-19s  %-13s  %-10s  %-12s  %-20s  %-6s  %s\n", "TIME", "EVENT", "DECISION",
                 "USER", "KEY", "UID", "REASON");
    for (const auto& e : events) {
        std::string key = e.key_fp.empty() ? "-" : printable(e.key_fp, 17);
        std::string uid = e.uid ? std::to_string(*e.uid) : "-";
        std::fprintf(out, "%-19s  %-13s  %-10s  %-12s  %-20s  %-6s  %s\n",
                     local_time(e.realtime_usec).c_str(), printable(e.event, 13).c_str(),
                     e.decision.empty() ? "-" : printable(e.decision, 10).c_str(),
                     e.user.empty() ? "-" : printable(e.user, 12).c_str(), key.c_str(), uid.c_str(),
                     printable(e.reason.empty() ? e.message : e.reason, 200).c_str());
    }
}

void append_event_json(JsonWriter& j, const AuditRecord& e) {
    j.begin_object();
    j.key("time").value(format_iso8601(static_cast<std::time_t>(e.realtime_usec / 1'000'000)));
    j.key("realtime_usec").value(e.realtime_usec);
    if (e.uid)
        j.key("uid").value(*e.uid);
    for (const auto& f : kFields) {
        const std::string& v = e.*f.member;
        if (v.empty())
            continue;
        if (!f.number) {
            j.key(f.json).value(v);
        } else if (auto n = parse_decimal(v)) {
            j.key(f.json).value(*n);
        }
    }
    j.end_object();
}

}  // namespace skgate
