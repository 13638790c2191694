// The names a user's known_hosts gives a server's host key, so that the
// authenticator's prompt can say "web1.example.org" and not only a
// fingerprint. For the prompt only: a window and every check stay bound to
// the host key itself.
#pragma once

#include <string>
#include <vector>

namespace skgate::agent {

inline constexpr size_t kMaxKnownHostsBytes = 4 * 1024 * 1024;

// Plain host names (and [host]:port) from `text`'s lines whose key has the
// fingerprint `host_key_fp`, in file order, without repeats. Hashed names
// (HashKnownHosts), negations, wildcards, @revoked and @cert-authority lines
// name nobody and are skipped.
std::vector<std::string> known_host_names(const std::string& text, const std::string& host_key_fp);

// The same over ~/.ssh/known_hosts, ~/.ssh/known_hosts2 and
// /etc/ssh/ssh_known_hosts (a missing or oversized file is skipped), joined
// with ", " and cut to fit `max_bytes`.
std::string known_host_names_for(const std::string& home, const std::string& host_key_fp,
                                 size_t max_bytes);

}  // namespace skgate::agent
