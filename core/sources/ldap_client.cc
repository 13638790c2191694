#include "core/sources/ldap_client.h"

#include <ldap.h>

#include <cerrno>
#include <memory>

#include "core/sys/text.h"

namespace skgate {

namespace {

struct LdapUnbind {
    void operator()(LDAP* ld) const { ldap_unbind_ext_s(ld, nullptr, nullptr); }
};
using LdapPtr = std::unique_ptr<LDAP, LdapUnbind>;

struct MsgFree {
    void operator()(LDAPMessage* m) const { ldap_msgfree(m); }
};
struct ValuesFree {
    void operator()(berval** v) const { ldap_value_free_len(v); }
};

// Which errors mean "the directory could not be asked" (an outage).
bool is_unreachable(int rc) {
    return rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT || rc == LDAP_CONNECT_ERROR ||
           rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY || rc == LDAP_TIMELIMIT_EXCEEDED;
}

Error ldap_failure(const std::string& what, int rc, LDAP* ld = nullptr) {
    std::string msg = what + ": " + ldap_err2string(rc);
    char* diag = nullptr;
    if (ld && ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag) == LDAP_OPT_SUCCESS && diag) {
        if (*diag && std::string_view(diag) != "(unknown error code)")
            msg += " (" + printable(diag, 200) + ")";
        ldap_memfree(diag);
    }
    // The directory refusing skgate, or refusing a setting skgate sends
    // (LdapFilter, LdapBaseDN, LdapBindDN): a refusal, never an outage that
    // would serve the cache.
    if (rc == LDAP_INVALID_CREDENTIALS || rc == LDAP_INAPPROPRIATE_AUTH ||
        rc == LDAP_INSUFFICIENT_ACCESS || rc == LDAP_STRONG_AUTH_REQUIRED ||
        rc == LDAP_CONFIDENTIALITY_REQUIRED || rc == LDAP_FILTER_ERROR ||
        rc == LDAP_INVALID_DN_SYNTAX || rc == LDAP_NO_SUCH_OBJECT)
        return make_error(ErrorCode::permission, msg);
    return make_error(is_unreachable(rc) ? ErrorCode::unavailable : ErrorCode::invalid, msg);
}

// One LDAP message (the entry, or the bind and StartTLS answers) may be at
// most as large as a whole HTTP answer and its encoding: libldap would
// otherwise read whatever a hostile directory sends into memory.
constexpr ber_len_t kMaxLdapMessageBytes = kMaxRemoteDocumentBytes + 16 * 1024;

bool starts_with(const std::string& s, std::string_view prefix) {
    return s.compare(0, prefix.size(), prefix) == 0;
}

Result<LdapPtr> connect(const RemoteSettings& s, long timeout_ms) {
    LDAP* raw = nullptr;
    int rc = ldap_initialize(&raw, s.ldap_uri.c_str());
    if (rc != LDAP_SUCCESS)
        return make_error(ErrorCode::permission,
                          "LdapURI " + s.ldap_uri + ": " + ldap_err2string(rc));
    LdapPtr ld(raw);
    int version = LDAP_VERSION3;
    timeval tv{timeout_ms / 1000, static_cast<suseconds_t>((timeout_ms % 1000) * 1000)};
    int demand = LDAP_OPT_X_TLS_DEMAND;
    int zero = 0;
    if (ldap_set_option(raw, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
        ldap_set_option(raw, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
        ldap_set_option(raw, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
        ldap_set_option(raw, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
        ldap_set_option(raw, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) != LDAP_OPT_SUCCESS)
        return make_error(ErrorCode::internal, "cannot set LDAP connection options");
    if (!s.ldap_ca_file.empty()) {
        if (ldap_set_option(raw, LDAP_OPT_X_TLS_CACERTFILE, s.ldap_ca_file.c_str()) !=
                LDAP_OPT_SUCCESS ||
            ldap_set_option(raw, LDAP_OPT_X_TLS_NEWCTX, &zero) != LDAP_OPT_SUCCESS)
            return make_error(ErrorCode::permission, "LdapCAFile " + s.ldap_ca_file +
                                                         ": cannot be used as the TLS trust store");
    }
    // Connecting now rather than at the first request lets the size limit
    // hold from the first byte the directory sends.
    rc = ldap_connect(raw);
    if (rc != LDAP_SUCCESS) {
        Error e = ldap_failure("connect to " + s.ldap_uri, rc, raw);
        // libldap says the same for a closed port and a refused certificate.
        if (starts_with(s.ldap_uri, "ldaps://"))
            e.message +=
                " (nothing answered, or the TLS handshake failed: check LdapCAFile and that the "
                "server's certificate names the host in LdapURI)";
        return e;
    }
    Sockbuf* sb = nullptr;
    ber_len_t max_incoming = kMaxLdapMessageBytes;
    if (ldap_get_option(raw, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS || !sb ||
        ber_sockbuf_ctrl(sb, LBER_SB_OPT_SET_MAX_INCOMING, &max_incoming) != 1)
        return make_error(ErrorCode::internal, "cannot limit the size of LDAP answers");
    if (s.ldap_starttls) {
        rc = ldap_start_tls_s(raw, nullptr, nullptr);
        if (rc != LDAP_SUCCESS) {
            Error e = ldap_failure("StartTLS with " + s.ldap_uri, rc, raw);
            // A server without TLS is misconfigured, not down; but a
            // connection that never came up is an outage.
            if (rc == LDAP_CONNECT_ERROR || rc == LDAP_SERVER_DOWN)
                e.code = ErrorCode::unavailable;
            if (rc == LDAP_CONNECT_ERROR)
                e.message +=
                    "; the TLS handshake failed: check LdapCAFile and the server's "
                    "certificate (its name must match LdapURI)";
            return e;
        }
    }
    return ld;
}

}  // namespace

Status check_ldap_settings(const RemoteSettings& s) {
    if (s.ldap_uri.empty())
        return invalid("KeySources names ldap but LdapURI is not set");
    if (s.ldap_base_dn.empty())
        return invalid("LdapBaseDN is not set");
    bool protected_link = starts_with(s.ldap_uri, "ldaps://") ||
                          starts_with(s.ldap_uri, "ldapi://") || s.ldap_starttls;
    if (!protected_link)
        return invalid("LdapURI " + s.ldap_uri +
                       " is plain LDAP: use ldaps://, ldapi:// or LdapStartTLS yes (anyone on the "
                       "path could otherwise add keys)");
    if (s.ldap_bind_dn.empty() != s.ldap_bind_password_file.empty())
        return invalid("LdapBindDN and LdapBindPasswordFile go together");
    return {};
}

std::string ldap_escape_filter_value(std::string_view value) {
    std::string out;
    for (char ch : value) {
        auto c = static_cast<unsigned char>(ch);
        if (c == '*' || c == '(' || c == ')' || c == '\\' || c == 0 || c >= 0x80) {
            out += '\\';
            out += hex_encode(ByteView(&c, 1));
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

std::string ldap_filter_for(const RemoteSettings& s, const std::string& user) {
    std::string out;
    const std::string& f = s.ldap_filter;
    for (size_t i = 0; i < f.size(); i++) {
        if (f[i] == '%' && i + 1 < f.size() && f[i + 1] == 'u') {
            out += ldap_escape_filter_value(user);
            i++;
        } else {
            out += f[i];
        }
    }
    return out;
}

Result<RemoteKeys> fetch_ldap_keys(const RemoteSettings& s, const std::string& user,
                                   const std::string& bind_password, long timeout_ms) {
    SKGATE_CHECK(check_ldap_settings(s));
    SKGATE_TRY(ld, connect(s, timeout_ms));
    if (!s.ldap_bind_dn.empty()) {
        berval cred{bind_password.size(), const_cast<char*>(bind_password.data())};
        int rc = ldap_sasl_bind_s(ld.get(), s.ldap_bind_dn.c_str(), LDAP_SASL_SIMPLE, &cred,
                                  nullptr, nullptr, nullptr);
        if (rc != LDAP_SUCCESS)
            return ldap_failure("bind as " + s.ldap_bind_dn + " to " + s.ldap_uri, rc, ld.get());
    }
    std::string filter = ldap_filter_for(s, user);
    char attr[] = "sshPublicKey";
    char* attrs[] = {attr, nullptr};
    timeval tv{timeout_ms / 1000, static_cast<suseconds_t>((timeout_ms % 1000) * 1000)};
    LDAPMessage* raw = nullptr;
    errno = 0;
    int rc = ldap_search_ext_s(ld.get(), s.ldap_base_dn.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(),
                               attrs, 0, nullptr, nullptr, &tv, 2, &raw);
    int search_errno = errno;
    std::unique_ptr<LDAPMessage, MsgFree> res(raw);
    if (rc == LDAP_SIZELIMIT_EXCEEDED)
        return invalid("more than one entry matches " + filter + " under " + s.ldap_base_dn);
    if (rc == LDAP_NO_SUCH_OBJECT)
        return make_error(ErrorCode::permission,
                          "LdapBaseDN " + s.ldap_base_dn + " does not exist on " + s.ldap_uri);
    // libldap reports a message over the limit as a dropped connection;
    // ber_get_next's ERANGE tells the two apart.
    if (rc == LDAP_SERVER_DOWN && search_errno == ERANGE)
        return invalid("search " + filter + " under " + s.ldap_base_dn +
                       ": the directory sent a message larger than " +
                       std::to_string(kMaxLdapMessageBytes) + " bytes (the limit for one entry)");
    if (rc != LDAP_SUCCESS)
        return ldap_failure("search " + filter + " under " + s.ldap_base_dn, rc, ld.get());
    int entries = ldap_count_entries(ld.get(), res.get());
    RemoteKeys out;
    if (entries <= 0)
        return out;
    if (entries > 1)
        return invalid(std::to_string(entries) + " entries match " + filter + " under " +
                       s.ldap_base_dn + "; which one is " + user + "'s cannot be told");
    LDAPMessage* entry = ldap_first_entry(ld.get(), res.get());
    std::unique_ptr<berval*, ValuesFree> values(ldap_get_values_len(ld.get(), entry, attr));
    if (!values)
        return out;
    // Too many keys refuses the whole entry, as the other sources do: which
    // of them to keep cannot be told.
    const size_t count = static_cast<size_t>(ldap_count_values_len(values.get()));
    if (count > kMaxRemoteKeysPerUser)
        return invalid(user + "'s entry under " + s.ldap_base_dn + " has " + std::to_string(count) +
                       " sshPublicKey values, more than " + std::to_string(kMaxRemoteKeysPerUser));
    size_t n = 0;
    for (berval** v = values.get(); *v; v++, n++) {
        std::string origin = "sshPublicKey[" + std::to_string(n) + "]";
        auto key = parse_remote_key_line(std::string_view((*v)->bv_val, (*v)->bv_len));
        if (!key) {
            out.refused.push_back(origin + ": " + key.error().message);
            continue;
        }
        out.keys.push_back({std::move(*key), std::nullopt, origin});
    }
    return out;
}

}  // namespace skgate
