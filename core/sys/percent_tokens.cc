#include "core/sys/percent_tokens.h"

#include "core/sys/text.h"

namespace skgate {

namespace {

// Calls `on_token` for each %X and `on_text` for each other character.
template <class Token, class Text>
Status walk(std::string_view text, Token on_token, Text on_text) {
    for (size_t i = 0; i < text.size(); i++) {
        if (text[i] != '%') {
            on_text(text[i]);
            continue;
        }
        if (i + 1 == text.size())
            return invalid("\"" + printable(text) + "\" ends with a lone '%' (write %% for '%')");
        char letter = text[++i];
        if (letter == '%') {
            on_text('%');
            continue;
        }
        SKGATE_CHECK(on_token(letter));
    }
    return {};
}

}  // namespace

Status check_percent_tokens(std::string_view text, std::string_view allowed) {
    return walk(
        text,
        [&](char letter) -> Status {
            if (allowed.find(letter) == std::string_view::npos) {
                std::string list;
                for (char a : allowed)
                    list += std::string(list.empty() ? "" : " ") + "%" + a;
                return invalid("unknown token %" + printable(std::string_view(&letter, 1)) +
                               " in \"" + printable(text) + "\" (known: " + list + " %%)");
            }
            return {};
        },
        [](char) {});
}

Result<std::string> expand_percent_tokens(std::string_view text,
                                          const std::map<char, std::string>& values) {
    std::string out;
    SKGATE_CHECK(walk(
        text,
        [&](char letter) -> Status {
            auto it = values.find(letter);
            if (it == values.end())
                return invalid("no value for %" + printable(std::string_view(&letter, 1)) +
                               " in \"" + printable(text) + "\"");
            out += it->second;
            return {};
        },
        [&](char c) { out += c; }));
    return out;
}

}  // namespace skgate
