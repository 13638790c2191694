// skgate-keys: sshd's AuthorizedKeysCommand, as skgatectl enable wires it:
//
//   AuthorizedKeysFile none
//   AuthorizedKeysCommand /usr/libexec/skgate/skgate-keys -a .ssh/authorized_keys %u %t %k %f
//   AuthorizedKeysCommandUser root
//
// Started as root, it reads root's skgate.conf, reads the user's own
// authorized_keys files with the user's identity (sshd itself reads none),
// runs KeysCommand as KeysCommandUser if the command source applies, becomes
// the skgate account for good, and only then parses any key. It prints on stdout only
// authorized_keys lines for keys that policy allows, with the options that
// make sshd enforce it; everything else goes to the journal (and stderr).
// Exit codes are documented in skgate-keys(8).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "core/audit/audit.h"
#include "core/decide/keylookup.h"
#include "core/policy/policy.h"
#include "core/store/user_keyfiles.h"
#include "core/sys/args.h"
#include "core/sys/base64.h"
#include "core/sys/monotonic.h"
#include "core/sys/privileges.h"
#include "core/sys/username.h"

namespace {

// sysexits(3) values, so that sshd's log ("exited on status N") is readable.
constexpr int kExitOk = 0;
constexpr int kExitUsage = 64;
constexpr int kExitInternal = 70;
constexpr int kExitStore = 74;
constexpr int kExitConfig = 78;

constexpr const char* kUsage =
    "usage: skgate-keys [-f CONFIG] [-a AUTHORIZED_KEYS_FILE]... [-u ACCOUNT]\n"
    "                   USER [KEYTYPE KEYBLOB [FINGERPRINT]]\n";

struct Invocation {
    std::string config = skgate::kDefaultConfigPath;
    std::vector<std::string> user_files;  // -a: what sshd's AuthorizedKeysFile was
    bool user_files_given = false;        // -a none: no files at all
    std::string run_as = "skgate";        // -u: the account to become when started as root
    std::string user;
    std::string key_type, key_blob, fingerprint;
};

bool parse_args(int argc, char** argv, Invocation* inv) {
    int i = 1;
    while (i + 1 < argc && argv[i][0] == '-' && argv[i][1] != '\0' && argv[i][2] == '\0') {
        std::string opt = argv[i], value = argv[i + 1];
        if (opt == "-f") {
            inv->config = value;
        } else if (opt == "-a") {
            if (value != "none" && !skgate::validate_user_key_file_pattern(value).ok())
                return false;
            if (value != "none")
                inv->user_files.push_back(value);
            inv->user_files_given = true;
        } else if (opt == "-u" && skgate::validate_username(value).ok()) {
            inv->run_as = value;
        } else {
            return false;
        }
        i += 2;
    }
    if (!inv->user_files_given)
        inv->user_files = skgate::kDefaultUserKeyFiles;
    int rest = argc - i;
    if (rest != 1 && rest != 3 && rest != 4)
        return false;
    inv->user = argv[i];
    if (rest >= 3) {
        inv->key_type = argv[i + 1];
        inv->key_blob = argv[i + 2];
    }
    if (rest == 4)
        inv->fingerprint = argv[i + 3];
    return true;
}

// Started as root: the user's own key files are read with the user's
// identity (a 0700 home is readable to its owner, and root never opens a
// path as root that the user could point elsewhere), then every privilege
// is given up for the -u account before any key is parsed. Not root:
// nothing to give up, and the lookup reads the files with the process's own
// identity.
skgate::Result<std::optional<skgate::UserKeyFiles>> read_user_files_as_root(const Invocation& inv) {
    if (geteuid() != 0)
        return std::optional<skgate::UserKeyFiles>{};
    auto account = skgate::lookup_account(inv.user);
    if (!account) {
        if (account.error().code != skgate::ErrorCode::not_found)
            return account.error();
        return std::optional<skgate::UserKeyFiles>{};
    }
    skgate::UserKeyFiles read;
    SKGATE_CHECK(skgate::with_file_identity_of(
        *account, [&] { read = skgate::read_user_key_files(*account, inv.user_files); }));
    return std::optional<skgate::UserKeyFiles>{std::move(read)};
}

skgate::Status drop_root(const Invocation& inv) {
    if (geteuid() != 0 || inv.run_as == "root")
        return {};
    auto target = skgate::lookup_account(inv.run_as);
    if (!target)
        return skgate::make_error(skgate::ErrorCode::permission,
                                  "cannot become " + inv.run_as +
                                      " (-u): " + target.error().message +
                                      "; skgatectl enable creates the skgate account");
    return skgate::become(*target);
}

// The command source runs KeysCommand while skgate-keys may still become
// KeysCommandUser; its output is parsed only after root is given up. The
// offered key goes to it as sshd gave it, unparsed.
std::optional<skgate::KeysCommandAnswer> run_keys_command_if_listed(const Invocation& inv,
                                                                    const skgate::Policy& policy,
                                                                    uint64_t deadline_us) {
    auto evaluated =
        policy.for_user({inv.user, [&] { return skgate::lookup_user_groups(inv.user); }});
    // Not run is an answer too: the recorded one must not stand in for it.
    if (!evaluated)
        return skgate::KeysCommandAnswer{"", "KeysCommand not run: the policy for " + inv.user +
                                                 " could not be evaluated (" +
                                                 evaluated.error().message + ")"};
    const auto& sources = evaluated->key_sources;
    if (std::find(sources.begin(), sources.end(), skgate::KeySource::command) == sources.end())
        return std::nullopt;
    return skgate::run_keys_command(policy.global().keys_command, inv.user,
                                    {inv.key_type, inv.key_blob, inv.fingerprint}, deadline_us);
}

void warn(const std::string& user, const std::string& text) {
    std::fprintf(stderr, "skgate-keys: %s\n", text.c_str());
    skgate::AuditEvent w;
    w.event = "keys-warning";
    w.user = user;
    w.message = text;
    skgate::audit_record(w);
}

int finish_denied(const Invocation& inv, const std::string& reason, uint64_t start, int status) {
    skgate::AuditEvent e;
    e.event = "keys-lookup";
    e.decision = skgate::Decision::deny;
    e.user = inv.user;
    e.reason = reason;
    e.message = (inv.user.empty() ? std::string("?") : inv.user) + ": no keys (" + reason + ")";
    e.latency_us = skgate::monotonic_us() - start;
    skgate::audit_record(e);
    std::fprintf(stderr, "skgate-keys: %s\n", reason.c_str());
    return status;
}

// The key sshd offers: %t and %k must agree and parse.
skgate::Result<skgate::PublicKey> offered_key(const Invocation& inv) {
    auto blob = skgate::base64_decode(inv.key_blob);
    if (!blob)
        return blob.error().context("offered key");
    auto key = skgate::PublicKey::parse_blob(*blob);
    if (!key)
        return key.error().context("offered key");
    if (key->type_name() != inv.key_type)
        return skgate::invalid("offered key type " + inv.key_type + " does not match its data (" +
                               key->type_name() + ")");
    if (!inv.fingerprint.empty() && inv.fingerprint != key->fingerprint())
        return skgate::invalid("offered fingerprint does not match the key");
    return key;
}

int run(int argc, char** argv) {
    uint64_t start = skgate::monotonic_us();
    // sshd never passes this (a user name cannot start with '-'): it is a
    // person asking, and is answered with no keys.
    if (skgate::asks_for_help({argv + 1, argv + argc}) && argc == 2) {
        std::fputs(kUsage, stdout);
        return kExitOk;
    }
    Invocation inv;
    if (!parse_args(argc, argv, &inv)) {
        std::fputs(kUsage, stderr);
        return finish_denied(inv, "bad command line", start, kExitUsage);
    }
    if (auto st = skgate::validate_username(inv.user); !st)
        return finish_denied(inv, st.error().message, start, kExitOk);
    // Root's own configuration (a trusted file) is read first: it says
    // whether KeysCommand runs, which needs root.
    auto policy = skgate::Policy::load_or_default(inv.config);
    if (!policy)
        return finish_denied(inv, "configuration error: " + policy.error().message, start,
                             kExitConfig);
    auto user_files = read_user_files_as_root(inv);
    if (!user_files)
        return finish_denied(inv, "cannot give up root: " + user_files.error().message, start,
                             kExitInternal);
    auto keys_command =
        run_keys_command_if_listed(inv, *policy, skgate::lookup_deadline(*policy, start));
    if (auto dropped = drop_root(inv); !dropped)
        return finish_denied(
            inv, "cannot give up root: " + dropped.error().message, start,
            dropped.error().code == skgate::ErrorCode::permission ? kExitConfig : kExitInternal);

    skgate::LookupRequest req{inv.user, std::nullopt, std::time(nullptr)};
    req.keys_command = std::move(keys_command);
    req.started_us = start;
    req.remote.config_path = inv.config;
    req.remote.fetch_helper = skgate::find_fetch_helper();
    req.user_files = std::move(*user_files);
    req.user_file_patterns = inv.user_files;
    if (!inv.key_type.empty()) {
        auto key = offered_key(inv);
        if (!key)
            return finish_denied(inv, key.error().message, start, kExitOk);
        req.offered = std::move(*key);
    }

    auto result = skgate::lookup_keys(*policy, req);
    if (!result) {
        const auto& err = result.error();
        int status = (err.code == skgate::ErrorCode::permission ||
                      err.code == skgate::ErrorCode::io || err.code == skgate::ErrorCode::invalid)
                         ? kExitStore
                         : kExitInternal;
        return finish_denied(inv, "cannot read keys: " + err.message, start, status);
    }
    for (const auto& w : result->warnings)
        warn(inv.user, w);

    std::string out;
    for (const auto& line : result->lines())
        out += line + "\n";
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0)
        return finish_denied(inv, "cannot write to sshd", start, kExitInternal);

    skgate::audit_record(lookup_audit_event(*result, req, skgate::monotonic_us() - start));
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    skgate::audit_set_identifier("skgate-keys");
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "skgate-keys: internal error: %s\n", e.what());
    } catch (...) {
        std::fputs("skgate-keys: internal error\n", stderr);
    }
    return kExitInternal;
}
