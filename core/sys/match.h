// sshd's pattern language (ssh_config(5) PATTERNS): `*` and `?` wildcards,
// comma-separated lists, `!` negation.
#pragma once

#include <string_view>

namespace skgate {

bool match_pattern(std::string_view s, std::string_view pattern);

enum class ListMatch { no_match, match, negated };
// As sshd: a negated pattern that matches wins (negated); otherwise the list
// matches when any positive pattern does. A list of only negations therefore
// never matches.
ListMatch match_pattern_list(std::string_view s, std::string_view list);

}  // namespace skgate
