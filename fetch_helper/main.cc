// skgate-fetch: asks one remote key source for one user's keys.
//
//   skgate-fetch [-f CONFIG] [--timeout-ms N] metadata|http|ldap USER
//
// Run by skgate-keys, pam_skgate and `skgatectl sources test`, never by
// sshd directly. The network lives here so that the programs inside sshd and
// sudo never load libcurl or libldap, and so that a source that hangs can be
// killed at the deadline. Prints the keys as a cache document on stdout,
// each refused entry as "refused: WHERE: why" on stderr, and exits with a
// sysexits(3) status (see skgate-fetch(8)).
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "core/policy/policy.h"
#include "core/sources/ldap_client.h"
#include "core/sources/remote_fetch.h"
#include "core/sources/remote_source.h"
#include "core/sources/source_cache.h"
#include "core/sys/args.h"
#include "core/sys/username.h"

namespace {

using namespace skgate;

constexpr const char* kUsage =
    "usage: skgate-fetch [-f CONFIG] [--timeout-ms N] metadata|http|ldap USER\n";

struct Invocation {
    std::string config = kDefaultConfigPath;
    long timeout_ms = 0;  // 0: SourceTimeout
    std::string source, user;
};

bool parse_args(int argc, char** argv, Invocation* inv) {
    int i = 1;
    while (i + 1 < argc && argv[i][0] == '-') {
        std::string opt = argv[i];
        if (opt == "-f") {
            inv->config = argv[i + 1];
        } else if (opt == "--timeout-ms") {
            auto ms = skgate::parse_integer_in(argv[i + 1], 1, 600'000);
            if (!ms)
                return false;
            inv->timeout_ms = static_cast<decltype(inv->timeout_ms)>(*ms);
        } else {
            return false;
        }
        i += 2;
    }
    if (argc - i != 2)
        return false;
    inv->source = argv[i];
    inv->user = argv[i + 1];
    return true;
}

int fail(int status, const std::string& message) {
    std::fprintf(stderr, "%s\n", message.c_str());
    return status;
}

// Started by root (pam_skgate in sudo, skgatectl), it talks to the network
// as the account that owns the cache instead (skgate), or nobody.
Status drop_privileges(const GlobalPolicy& global) {
    if (geteuid() != 0)
        return {};
    uid_t uid = 65534;
    gid_t gid = 65534;
    struct stat st {};
    std::string sources = global.state_directory + "/sources";
    if (lstat(sources.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid != 0) {
        uid = st.st_uid;
        gid = st.st_gid;
    } else if (const passwd* pw = getpwnam("skgate")) {
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
        return make_error(ErrorCode::permission, "cannot drop root privileges");
    if (setuid(0) == 0)
        return make_error(ErrorCode::permission, "root privileges could be regained");
    return {};
}

int exit_status_for(const Error& e) {
    switch (e.code) {
        case ErrorCode::unavailable:
            return kFetchUnavailable;
        case ErrorCode::invalid:
            return kFetchBadAnswer;
        case ErrorCode::permission:
        case ErrorCode::not_found:
            return kFetchConfig;
        default:
            return kFetchInternal;
    }
}

int run(int argc, char** argv) {
    if (asks_for_help({argv + 1, argv + argc}) && argc == 2) {
        std::fputs(kUsage, stdout);
        return kFetchOk;
    }
    Invocation inv;
    if (!parse_args(argc, argv, &inv))
        return fail(kFetchUsage, kUsage);
    if (auto st = validate_username(inv.user); !st)
        return fail(kFetchUsage, st.error().message);
    auto policy = Policy::load_or_default(inv.config);
    if (!policy)
        return fail(kFetchConfig, "configuration error: " + policy.error().message);
    const RemoteSettings& s = policy->global().remote;
    long timeout_ms = inv.timeout_ms ? inv.timeout_ms : s.timeout_seconds * 1000;

    // Secrets are read before privileges are dropped, so that they may be
    // root:root 0600 when only root runs skgate-fetch.
    if (inv.source == "http" && s.http_keys_url.empty())
        return fail(kFetchConfig, "http: KeySources names http but HttpKeysURL is not set");
    if (inv.source == "ldap") {
        if (auto st = check_ldap_settings(s); !st)
            return fail(kFetchConfig, "ldap: " + st.error().message);
    }
    std::string secret;
    if (inv.source == "http" && !s.http_bearer_token_file.empty()) {
        auto t = read_secret_file(s.http_bearer_token_file, "HttpBearerTokenFile");
        if (t)
            if (auto st = check_bearer_token(*t); !st)
                t = st.error();
        if (!t)
            return fail(kFetchConfig, t.error().message);
        secret = std::move(*t);
    } else if (inv.source == "ldap" && !s.ldap_bind_password_file.empty()) {
        auto t = read_secret_file(s.ldap_bind_password_file, "LdapBindPasswordFile");
        if (!t)
            return fail(kFetchConfig, t.error().message);
        secret = std::move(*t);
    }
    if (auto st = drop_privileges(policy->global()); !st)
        return fail(kFetchInternal, st.error().message);

    Result<RemoteKeys> keys = invalid("");
    if (inv.source == "metadata" || inv.source == "http") {
        auto http = HttpSession::open();
        if (!http)
            return fail(kFetchInternal, http.error().message);
        keys = inv.source == "metadata" ? fetch_metadata_keys(*http, s, inv.user, timeout_ms)
                                        : fetch_http_keys(*http, s, inv.user, secret, timeout_ms);
    } else if (inv.source == "ldap") {
        keys = fetch_ldap_keys(s, inv.user, secret, timeout_ms);
    } else {
        return fail(kFetchUsage, "unknown source \"" + inv.source + "\"\n" + kUsage);
    }
    if (!keys) {
        const Error& e = keys.error();
        // A bad document is the source's fault, not the configuration's.
        int status = exit_status_for(e);
        return fail(status, inv.source + ": " + e.message);
    }
    for (const auto& r : keys->refused)
        std::fprintf(stderr, "refused: %s\n", r.c_str());
    auto text = format_cached_keys({std::time(nullptr), keys->keys});
    if (!text)
        return fail(kFetchInternal, text.error().message);
    if (std::fwrite(text->data(), 1, text->size(), stdout) != text->size() ||
        std::fflush(stdout) != 0)
        return fail(kFetchInternal, "cannot write the answer");
    return kFetchOk;
}

}  // namespace

int main(int argc, char** argv) {
    // Whatever descriptors the caller (sshd, sudo) left open are not ours.
    close_range(3, ~0U, 0);
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "skgate-fetch: internal error: %s\n", e.what());
    } catch (...) {
        std::fputs("skgate-fetch: internal error\n", stderr);
    }
    return kFetchInternal;
}
