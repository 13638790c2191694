#include <gtest/gtest.h>

#include "core/sys/match.h"

using namespace skgate;

TEST(Match, Wildcards) {
    EXPECT_TRUE(match_pattern("alice", "alice"));
    EXPECT_TRUE(match_pattern("alice", "a*"));
    EXPECT_TRUE(match_pattern("alice", "*"));
    EXPECT_TRUE(match_pattern("alice", "al?ce"));
    EXPECT_TRUE(match_pattern("", "*"));
    EXPECT_FALSE(match_pattern("alice", "bob"));
    EXPECT_FALSE(match_pattern("alice", "al?"));
    EXPECT_FALSE(match_pattern("Alice", "alice"));
    EXPECT_TRUE(match_pattern("a-b-c", "a*c"));
    EXPECT_TRUE(match_pattern("aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*a*b"));
    EXPECT_FALSE(match_pattern("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "*a*a*a*a*a*a*b"));
}

TEST(Match, ListsAndNegation) {
    EXPECT_EQ(match_pattern_list("alice", "bob,alice"), ListMatch::match);
    EXPECT_EQ(match_pattern_list("root", "*,!root"), ListMatch::negated);
    EXPECT_EQ(match_pattern_list("alice", "*,!root"), ListMatch::match);
    // sshd semantics: only negations never match
    EXPECT_EQ(match_pattern_list("alice", "!root"), ListMatch::no_match);
    EXPECT_EQ(match_pattern_list("carol", "bob,alice"), ListMatch::no_match);
}
