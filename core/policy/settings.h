// The settings skgate.conf(5) gives, as plain types: what the layers below
// the parser (sources, the key lookup, enable) need to know of a policy
// without including the parser itself (policy.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skgate {

inline constexpr const char* kDefaultConfigPath = SKGATE_SYSCONFDIR "/skgate/skgate.conf";
inline constexpr size_t kMaxConfigBytes = 256 * 1024;

enum class Mode { enforce, audit };
enum class CounterCheck { strict, warn, off };
enum class KeySource { local, authorized_keys, metadata, http, ldap, command };
enum class SourceOutage { cached, deny };

std::string_view to_string(Mode m);
std::string_view to_string(CounterCheck c);
std::string_view to_string(KeySource s);
std::string_view to_string(SourceOutage o);
bool is_remote(KeySource s);

// A line of skgate.conf that set a keyword: what `skgatectl explain` shows
// as the rules that decided.
struct PolicyRule {
    std::string keyword;  // as skgate.conf(5) spells it
    std::string value;    // its arguments, as written
    std::string where;    // FILE:LINE
    std::string block;    // "Match User alice", or "" above the first Match
};

// What applies to one user after Match blocks are resolved.
struct UserPolicy {
    Mode mode = Mode::enforce;
    std::vector<KeySource> key_sources{KeySource::local};
    bool require_security_key = true;
    bool touch_required = true;
    bool verify_required = false;
    bool require_attestation = false;
    std::vector<std::string> allowed_authenticators;  // AAGUIDs, lower case; empty = any
    // The security keys' applications (FIDO relying-party IDs) that may log
    // in, as sshd patterns: OpenSSH's own keys are "ssh:…", a browser
    // passkey's is its site's domain.
    std::vector<std::string> allowed_applications{"ssh:*"};
    std::optional<int64_t> key_max_age_seconds;
    CounterCheck counter_check = CounterCheck::strict;
    int64_t stepup_timeout_seconds = 60;
    // MinimumKeys: enrolled keys a user should have (a backup authenticator's
    // among them); status and list warn about users with fewer.
    int64_t minimum_keys = 1;
    std::vector<PolicyRule> rules;  // the lines that set the above; unset ones are defaults
};

// The remote key sources (DESIGN.md section 9): where they are and what an
// outage does. Global, because one cache serves every user.
struct RemoteSettings {
    std::string metadata_url = "http://169.254.169.254";
    std::string metadata_root_user = "root";  // who gets root's keys; empty: nobody
    std::string http_keys_url;                // https://…/%u; empty: not configured
    std::string http_ca_file;                 // empty: the system's CA store
    std::string http_bearer_token_file;
    std::string ldap_uri;
    std::string ldap_base_dn;
    std::string ldap_filter = "(&(objectClass=ldapPublicKey)(uid=%u))";
    bool ldap_starttls = false;
    std::string ldap_ca_file;
    std::string ldap_bind_dn;
    std::string ldap_bind_password_file;
    int64_t timeout_seconds = 5;            // for one lookup, all remote sources together
    int64_t cache_ttl_seconds = 300;        // a younger cache is used without asking
    int64_t cache_max_age_seconds = 86400;  // an older cache is never used
    SourceOutage outage = SourceOutage::cached;
};

// The `command` key source (DESIGN.md section 9): another program's
// AuthorizedKeysCommand (a cloud's, sssd's, userdbctl's) run by skgate-keys,
// its keys passed through policy like every other source's.
// The sshd tokens skgate-keys is given and so can pass on: the user, uid and
// home, the offered key's type, base64 and fingerprint (sshd_config(5)).
inline constexpr std::string_view kKeysCommandTokens = "uUhtkf";

struct KeysCommandSettings {
    std::vector<std::string> argv;  // KeysCommand, tokens unexpanded; empty: not configured
    std::string user;               // KeysCommandUser: the account it runs as
};

// Settings that cannot vary per user (they are not allowed in Match blocks).
struct GlobalPolicy {
    std::string keys_directory = SKGATE_SYSCONFDIR "/skgate/keys.d";
    std::string revoked_keys = SKGATE_SYSCONFDIR "/skgate/revoked";
    std::string state_directory = SKGATE_LOCALSTATEDIR "/lib/skgate";
    std::string attestation_roots;  // empty: no roots configured
    std::vector<std::string> break_glass_users;
    RemoteSettings remote;
    KeysCommandSettings keys_command;
    std::vector<PolicyRule> rules;  // the lines that set the above
};

}  // namespace skgate
