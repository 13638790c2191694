// skgatectl enable / disable / status: sshd and PAM wiring (core/sshd_enable).
#include <unistd.h>

#include <cstdio>

#include "admin/commands.h"
#include "core/audit/audit_query.h"
#include "core/policy/policy.h"
#include "core/sources/inventory.h"
#include "core/store/revocation.h"
#include "core/sys/args.h"
#include "core/sys/json.h"
#include "core/wiring/sshd_enable.h"

namespace skgate::admin {

namespace {

const std::set<std::string> kPathOptions = {"-f",       "--sshd-config", "--pam-file",   "--sshd",
                                            "--helper", "--pam-module",  "--systemd-dir"};

int usage(const char* text) {
    std::fputs(text, stderr);
    return kExitUsage;
}

int fail(const char* cmd, const std::string& msg) {
    std::fprintf(stderr, "skgatectl: %s: %s\n", cmd, msg.c_str());
    return kExitFailure;
}

std::set<std::string> with_paths(std::set<std::string> extra) {
    extra.insert(kPathOptions.begin(), kPathOptions.end());
    return extra;
}

SystemPaths paths_from(const ArgParser& a) {
    SystemPaths p;
    p.helper = SKGATE_HELPER_PATH;
    const std::pair<const char*, std::string SystemPaths::*> options[] = {
        {"-f", &SystemPaths::skgate_conf},
        {"--sshd-config", &SystemPaths::sshd_config},
        {"--pam-file", &SystemPaths::pam_file},
        {"--sshd", &SystemPaths::sshd},
        {"--helper", &SystemPaths::helper},
        {"--pam-module", &SystemPaths::pam_module},
        {"--systemd-dir", &SystemPaths::systemd_dir},
    };
    for (const auto& [name, member] : options)
        if (auto v = a.value(name))
            p.*member = *v;
    return p;
}

bool must_be_root(const char* cmd) {
    if (geteuid() == 0)
        return true;
    std::fprintf(stderr, "skgatectl: %s: must be run as root (it changes sshd's configuration)\n",
                 cmd);
    return false;
}

void print_report(const Report& r) {
    for (const auto& line : r)
        std::printf("  %s\n", line.c_str());
}

}  // namespace

int cmd_enable(const Args& args) {
    ArgParser a(with_paths({"--mode"}), {"--pam-confirm", "--force", "--replace-existing",
                                         "--chain", "--no-reload", "--dry-run"});
    if (!a.parse(args) || !a.positional().empty())
        return usage(kEnableUsage);
    EnableRequest req;
    std::string mode = a.value("--mode").value_or("audit");
    if (mode == "enforce")
        req.mode = Mode::enforce;
    else if (mode != "audit")
        return usage(kEnableUsage);
    req.pam_confirm = a.flag("--pam-confirm");
    req.force = a.flag("--force");
    req.replace_existing = a.flag("--replace-existing");
    req.chain = a.flag("--chain");
    req.reload = !a.flag("--no-reload");
    req.dry_run = a.flag("--dry-run");
    if (!must_be_root("enable"))
        return kExitFailure;
    auto r = enable_skgate(paths_from(a), req);
    if (!r)
        return fail("enable", r.error().message);
    if (req.dry_run) {
        std::fputs(r->diff.c_str(), stdout);
        print_report(r->report);
        return kExitOk;
    }
    if (!r->changed) {
        print_report(r->report);
        return kExitOk;
    }
    std::printf("skgate enabled (%s mode):\n", mode.c_str());
    print_report(r->report);
    if (req.mode == Mode::audit)
        std::printf(
            "Logins work as before; read what enforce mode would refuse with\n"
            "  skgatectl audit --decision would-deny\n"
            "then switch with: skgatectl enable --mode enforce\n");
    return kExitOk;
}

int cmd_disable(const Args& args) {
    ArgParser a(with_paths({}), {"--no-reload"});
    if (!a.parse(args) || !a.positional().empty())
        return usage(kDisableUsage);
    if (!must_be_root("disable"))
        return kExitFailure;
    auto r = disable_skgate(paths_from(a), !a.flag("--no-reload"));
    if (!r)
        return fail("disable", r.error().message);
    if (r->changed)
        std::printf("skgate disabled:\n");
    print_report(r->report);
    return kExitOk;
}

int cmd_status(const Args& args) {
    ArgParser a(with_paths({"--journal-directory"}), {"--json"});
    if (!a.parse(args) || !a.positional().empty())
        return usage(kStatusUsage);
    // The record, sshd -T and the journal are root's: anyone else would be
    // told "disabled" about a machine that is not.
    if (geteuid() != 0)
        return fail("status",
                    "must be run as root (sshd -T, skgate's record and the journal are "
                    "readable only by root)");
    SystemPaths paths = paths_from(a);
    auto policy = Policy::load_or_default(paths.skgate_conf);
    if (!policy)
        return fail("status", policy.error().message);
    WiringStatus w = wiring_status(paths, *policy);
    auto revocations = check_revocations(policy->global().revoked_keys);
    auto version = openssh_version(paths);

    const KeyInventory inv = count_keys(*policy);
    AuditQuery q;
    q.limit = 5;
    if (auto d = a.value("--journal-directory"))
        q.directory = *d;
    auto recent = query_audit_events(q);

    const char* mode = w.enabled ? (w.mode == Mode::enforce ? "enforce" : "audit") : "disabled";
    if (a.flag("--json")) {
        JsonWriter j;
        j.begin_object();
        j.key("mode").value(mode);
        j.key("pam_confirm").value(w.pam_confirm);
        j.key("sshd_dropin").value(w.dropin_present);
        j.key("pam_lines").value(w.pam_session);
        j.key("authorized_keys_command").value(w.authorized_keys_command);
        j.key("authorized_keys_command_is_skgate").value(w.command_is_ours);
        j.key("sshd_command_line").value(w.running_command_line);
        j.key("sshd_command_line_overrides").begin_array();
        for (const auto& o : w.overrides)
            j.value(o);
        j.end_array();
        if (!w.sshd_error.empty())
            j.key("sshd_error").value(w.sshd_error);
        j.key("accepted_with_force").begin_array();
        for (const auto& f : w.forced)
            j.value(f);
        j.end_array();
        j.key("changed_since_enable").begin_array();
        for (const auto& d : w.drift)
            j.value(d);
        j.end_array();
        if (version) {
            j.key("openssh").value(version->text);
            j.key("sk_keys_supported").value(version->supports_sk());
            j.key("verify_required_supported").value(version->supports_verify_required());
        }
        j.key("revoked_keys").begin_object();
        if (revocations) {
            j.key("listed").value(static_cast<uint64_t>(revocations->listed));
            j.key("list_bytes").value(static_cast<uint64_t>(revocations->list_bytes));
            j.key("index").value(!revocations->index_exists   ? "missing"
                                 : revocations->index_current ? "current"
                                                              : "stale");
        } else {
            j.key("error").value(revocations.error().message);
        }
        j.end_object();
        j.key("sources").begin_object();
        for (const auto& [name, c] :
             {std::pair<const char*, const SourceCount&>{"local", inv.local},
              {"authorized_keys", inv.authorized_keys}}) {
            j.key(name).begin_object();
            j.key("users").value(static_cast<uint64_t>(c.users));
            j.key("keys").value(static_cast<uint64_t>(c.keys));
            j.key("security_keys").value(static_cast<uint64_t>(c.security_keys));
            j.key("unreadable").value(static_cast<uint64_t>(c.unreadable));
            j.end_object();
        }
        j.end_object();
        j.key("short_of_keys").begin_array();
        for (const auto& s : inv.short_of_keys) {
            j.begin_object();
            j.key("user").value(s.user);
            j.key("keys").value(static_cast<uint64_t>(s.keys));
            j.key("minimum").value(static_cast<uint64_t>(s.minimum));
            j.end_object();
        }
        j.end_array();
        j.key("recent_events").begin_array();
        if (recent)
            for (const auto& e : recent->events)
                append_event_json(j, e);
        j.end_array();
        j.key("recent_events_ignored")
            .value(static_cast<uint64_t>(recent ? recent->ignored_untrusted : 0));
        j.end_object();
        std::printf("%s\n", j.str().c_str());
        return kExitOk;
    }
    std::printf("mode:            %s%s\n", mode, w.pam_confirm ? " (with PAM confirmation)" : "");
    std::printf("sshd drop-in:    %s (%s)\n", paths.dropin_path().c_str(),
                w.dropin_present ? "present" : "absent");
    std::printf("PAM (%s): %s\n", paths.pam_file.c_str(),
                w.pam_session ? "skgate's lines present" : "no skgate lines");
    if (!w.sshd_error.empty())
        std::printf("sshd -T:         fails: %s\n", w.sshd_error.c_str());
    else
        std::printf("sshd uses:       AuthorizedKeysCommand %s%s\n",
                    w.authorized_keys_command.c_str(), w.command_is_ours ? " (skgate)" : "");
    if (!w.running_command_line.empty())
        std::printf("sshd runs:       %s\n", w.running_command_line.c_str());
    for (const auto& o : w.overrides)
        std::printf("warning:         %s: it overrides skgate's drop-in\n", o.c_str());
    for (const auto& d : w.drift)
        std::printf("warning:         %s changed since skgatectl enable\n", d.c_str());
    for (const auto& f : w.forced)
        std::printf("warning:         accepted with enable --force: %s\n", f.c_str());
    if (w.pam_confirm)
        std::printf(
            "note:            PAM confirmation needs keyboard-interactive: ssh -o BatchMode=yes\n"
            "                 and clients that turn it off (Ansible's defaults) cannot log in\n");
    if (version)
        std::printf("OpenSSH:         %s: security keys %s, verify-required %s\n",
                    version->text.c_str(), version->supports_sk() ? "yes" : "no (8.2+ needed)",
                    version->supports_verify_required() ? "yes" : "no (8.4+ needed)");
    else
        std::printf("OpenSSH:         unknown (%s)\n", version.error().message.c_str());
    std::printf("local store:     %zu keys for %zu users in %s%s\n", inv.local.keys,
                inv.local.users, policy->global().keys_directory.c_str(),
                inv.local.unreadable ? " (some files unreadable: see skgatectl list)" : "");
    std::printf("authorized_keys: %zu keys (%zu security keys) for %zu users%s\n",
                inv.authorized_keys.keys, inv.authorized_keys.security_keys,
                inv.authorized_keys.users,
                inv.authorized_keys.unreadable ? " (some files unsafe or unreadable)" : "");
    for (const auto& s : inv.short_of_keys)
        std::printf("warning:         %s\n", short_of_keys_text(s).c_str());
    if (!revocations)
        std::printf("revoked keys:    unreadable: %s\n", revocations.error().message.c_str());
    else
        std::printf("revoked keys:    %zu (%zu bytes in %s), index %s\n", revocations->listed,
                    revocations->list_bytes, policy->global().revoked_keys.c_str(),
                    !revocations->index_exists ? "missing (skgatectl enable or revoke writes it)"
                    : revocations->index_current
                        ? "current"
                        : "stale: sshd does not see later changes (skgatectl revoke "
                          "--rebuild-index)");
    if (!recent) {
        std::printf("recent events:   journal unreadable: %s\n", recent.error().message.c_str());
    } else if (recent->events.empty()) {
        std::printf("recent events:   none in the journal\n");
    } else {
        std::printf("recent events:\n");
        print_event_table(recent->events, stdout);
    }
    if (recent && recent->ignored_untrusted > 0)
        std::printf(
            "warning:         ignored %zu recent journal entries with skgate's fields "
            "that neither root nor the skgate account wrote (forged?)\n",
            recent->ignored_untrusted);
    return kExitOk;
}

}  // namespace skgate::admin
