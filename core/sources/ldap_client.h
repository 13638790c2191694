// The ldap key source: OpenLDAP's libldap, the openssh-lpk schema
// (`sshPublicKey` values on `ldapPublicKey` entries). Runs in skgate-fetch
// only. The connection is always protected (ldaps://, ldapi:// or StartTLS)
// because an attacker on the path could otherwise add keys, and a bind
// password is never sent in the clear.
#pragma once

#include <string>

#include "core/policy/settings.h"
#include "core/sources/remote_keys.h"
#include "core/sys/result.h"

namespace skgate {

// The settings' own consistency: URI and base DN set, TLS or ldapi://.
Status check_ldap_settings(const RemoteSettings& settings);

// RFC 4515 escaping of a value placed in a filter, and the filter itself.
std::string ldap_escape_filter_value(std::string_view value);
std::string ldap_filter_for(const RemoteSettings& settings, const std::string& user);

// No matching entry: no keys. More than one: refused (ErrorCode::invalid),
// because which entry is the user's cannot be told. A failed bind is
// ErrorCode::permission; a server that cannot be reached, unavailable.
Result<RemoteKeys> fetch_ldap_keys(const RemoteSettings& settings, const std::string& user,
                                   const std::string& bind_password, long timeout_ms);

}  // namespace skgate
