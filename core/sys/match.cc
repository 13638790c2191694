#include "core/sys/match.h"

#include <vector>

#include "core/sys/text.h"

namespace skgate {

bool match_pattern(std::string_view s, std::string_view p) {
    // Iterative glob with single-star backtracking: linear in practice and
    // never recursive, so a hostile pattern cannot exhaust the stack.
    size_t si = 0, pi = 0, star = std::string_view::npos, mark = 0;
    while (si < s.size()) {
        if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
            si++;
            pi++;
        } else if (pi < p.size() && p[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (star != std::string_view::npos) {
            pi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (pi < p.size() && p[pi] == '*')
        pi++;
    return pi == p.size();
}

ListMatch match_pattern_list(std::string_view s, std::string_view list) {
    bool positive = false;
    for (const auto& item : split_commas(list)) {
        std::string_view pat = item;
        bool negate = !pat.empty() && pat.front() == '!';
        if (negate)
            pat.remove_prefix(1);
        if (match_pattern(s, pat)) {
            if (negate)
                return ListMatch::negated;
            positive = true;
        }
    }
    return positive ? ListMatch::match : ListMatch::no_match;
}

}  // namespace skgate
