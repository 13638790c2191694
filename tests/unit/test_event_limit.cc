// One audit event per interval for refused link handshakes
// (agent/event_limit.h); the clock is given, nothing sleeps.
#include "agent/event_limit.h"

#include <gtest/gtest.h>

using skgate::agent::EventRateLimit;

TEST(EventRateLimit, OnePerIntervalAndTheNextSaysHowManyWereLeftOut) {
    EventRateLimit limit(10'000'000);
    const uint64_t t0 = 5'000'000'000;
    auto first = limit.admit(t0);
    ASSERT_TRUE(first);  // the first is always recorded
    EXPECT_EQ(*first, 0u);
    for (uint64_t i = 1; i <= 1000; i++)
        EXPECT_FALSE(limit.admit(t0 + i * 9'000)) << i;  // a flood, all within 9 s
    EXPECT_FALSE(limit.admit(t0 + 9'999'999));
    auto next = limit.admit(t0 + 10'000'000);
    ASSERT_TRUE(next);
    EXPECT_EQ(*next, 1001u);
    // Quiet for a while: the next is recorded at once, with nothing left out.
    auto later = limit.admit(t0 + 60'000'000);
    ASSERT_TRUE(later);
    EXPECT_EQ(*later, 0u);
    EXPECT_FALSE(limit.admit(t0 + 60'000'001));
}

TEST(EventRateLimit, AClockThatGoesBackDoesNotSilenceIt) {
    EventRateLimit limit(10'000'000);
    ASSERT_TRUE(limit.admit(50'000'000));
    auto back = limit.admit(1'000'000);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, 0u);
}
