#include "core/sys/username.h"

#include "core/sys/text.h"

namespace skgate {

Status validate_username(std::string_view user) {
    if (user.empty())
        return invalid("user name is empty");
    if (user.size() > kMaxUsernameBytes)
        return invalid("user name is longer than " + std::to_string(kMaxUsernameBytes) + " bytes");
    if (user.front() == '-' || user.front() == '.')
        return invalid("user name \"" + printable(user) + "\" starts with '" +
                       std::string(1, user.front()) + "'");
    for (size_t i = 0; i < user.size(); i++) {
        char c = user[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || c == '@' ||
                  (c == '$' && i + 1 == user.size());
        if (!ok)
            return invalid("user name \"" + printable(user) + "\" contains an invalid character");
    }
    return {};
}

}  // namespace skgate
