// sshd's %-tokens (sshd_config(5) TOKENS) in a command's arguments: checked
// once when the configuration is read, expanded for every run. A token sshd
// would not give, or a '%' that is not one, is an error, never passed on.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/sys/result.h"

namespace skgate {

// `allowed` lists the token letters that may appear ("%%" always may).
Status check_percent_tokens(std::string_view text, std::string_view allowed);

// Every %X replaced by values[X]; "%%" by '%'. A letter without a value is an
// error naming it.
Result<std::string> expand_percent_tokens(std::string_view text,
                                          const std::map<char, std::string>& values);

}  // namespace skgate
