/* Unit tests for ratelimit: the token bucket's arithmetic on a simulated
 * clock.  Rates and times are powers of two so that every expected value
 * is exact in binary floating point. */
#include "ferry/ratelimit.h"

#include <check.h>
#include <stdlib.h>

START_TEST(test_unlimited)
{
    struct ratelimit r;
    double wait = -1;

    ratelimit_init(&r, 0, 0, 0);
    ck_assert_uint_eq(ratelimit_avail(&r, 0, 1 << 20, &wait), 1 << 20);
    ck_assert(wait == 0);
    ratelimit_spend(&r, 1 << 30);
    ck_assert_uint_eq(ratelimit_avail(&r, 0, 1 << 20, &wait), 1 << 20);
}
END_TEST

START_TEST(test_burst_then_quantum)
{
    struct ratelimit r;
    double wait;

    /* 1024 B/s, burst one second's worth, quantum 1024/16 = 64 bytes. */
    ratelimit_init(&r, 1024, 0, 100.0);
    ck_assert_uint_eq(ratelimit_avail(&r, 100.0, 65536, &wait), 1024);   /* full bucket */
    ck_assert(wait == 0);
    ratelimit_spend(&r, 1024);
    ck_assert_uint_eq(ratelimit_avail(&r, 100.0, 65536, &wait), 0);
    ck_assert_msg(wait == 0.0625, "wait %g", wait);                       /* 64 / 1024 */
    /* Half way there: still nothing, and the wait shrinks. */
    ck_assert_uint_eq(ratelimit_avail(&r, 100.03125, 65536, &wait), 0);
    ck_assert_msg(wait == 0.03125, "wait %g", wait);
    ck_assert_uint_eq(ratelimit_avail(&r, 100.0625, 65536, &wait), 64);
    ck_assert(wait == 0);
    ratelimit_spend(&r, 64);
    /* After a quarter second: 256 bytes. */
    ck_assert_uint_eq(ratelimit_avail(&r, 100.3125, 65536, &wait), 256);
}
END_TEST

START_TEST(test_short_send_spends_only_what_went)
{
    struct ratelimit r;
    double wait;

    ratelimit_init(&r, 1024, 0, 0);
    ck_assert_uint_eq(ratelimit_avail(&r, 0, 4096, &wait), 1024);
    ratelimit_spend(&r, 100);                       /* the socket took 100 */
    ck_assert_uint_eq(ratelimit_avail(&r, 0, 4096, &wait), 924);
}
END_TEST

START_TEST(test_small_want)
{
    struct ratelimit r;
    double wait;

    ratelimit_init(&r, 1024, 0, 0);
    ratelimit_spend(&r, 1024 - 5);                  /* 5 tokens left */
    ck_assert_uint_eq(ratelimit_avail(&r, 0, 5, &wait), 5);
    ck_assert_uint_eq(ratelimit_avail(&r, 0, 3, &wait), 3);
    /* 8 wanted, 5 there: below the quantum but it is all that is wanted,
     * so wait for exactly those 3 more bytes. */
    ck_assert_uint_eq(ratelimit_avail(&r, 0, 8, &wait), 0);
    ck_assert_msg(wait == 3.0 / 1024, "wait %g", wait);
    ck_assert_uint_eq(ratelimit_avail(&r, 3.0 / 1024, 8, &wait), 8);
    ck_assert_uint_eq(ratelimit_avail(&r, 0, 0, &wait), 0);
    ck_assert(wait == 0);
}
END_TEST

START_TEST(test_debt_delays)
{
    struct ratelimit r;
    double wait;

    ratelimit_init(&r, 1024, 0, 0);
    ratelimit_spend(&r, 2048);                      /* a recv brought more */
    ck_assert_uint_eq(ratelimit_avail(&r, 0, 4096, &wait), 0);
    ck_assert_msg(wait == 1.0625, "wait %g", wait); /* (1024 debt + 64) / 1024 */
    ck_assert_uint_eq(ratelimit_avail(&r, 1.0625, 4096, &wait), 64);
}
END_TEST

START_TEST(test_tokens_capped_at_burst)
{
    struct ratelimit r;
    double wait;

    ratelimit_init(&r, 1024, 4096, 0);
    ratelimit_spend(&r, 4096);
    ck_assert_uint_eq(ratelimit_avail(&r, 3600, 1 << 20, &wait), 4096);
    /* A clock that goes back adds nothing and takes nothing. */
    ck_assert_uint_eq(ratelimit_avail(&r, 10, 1 << 20, &wait), 4096);
}
END_TEST

START_TEST(test_tiny_rate)
{
    struct ratelimit r;
    double wait;

    /* 8 B/s: the quantum would be half a byte, so it is one byte. */
    ratelimit_init(&r, 8, 0, 0);
    ck_assert_uint_eq(ratelimit_avail(&r, 0, 100, &wait), 8);
    ratelimit_spend(&r, 8);
    ck_assert_uint_eq(ratelimit_avail(&r, 0, 100, &wait), 0);
    ck_assert(wait == 0.125);
    ck_assert_uint_eq(ratelimit_avail(&r, 0.125, 100, &wait), 1);
}
END_TEST

START_TEST(test_long_run_average)
{
    /* Move 1 MiB at 64 KiB/s on a simulated clock, sending whenever
     * allowed in chunks of at most 16 KiB and sleeping exactly as told.
     * The first second's burst goes at once, the rest at the rate. */
    const size_t total = 1 << 20, rate = 65536;
    struct ratelimit r;
    double now = 0, wait;
    size_t sent = 0;
    unsigned turns = 0, wakeups = 0;

    ratelimit_init(&r, rate, 0, now);
    while (sent < total && turns++ < 100000) {
        size_t want = total - sent < 16384 ? total - sent : 16384;
        size_t n = ratelimit_avail(&r, now, want, &wait);
        if (n == 0) {
            ck_assert(wait > 0);
            now += wait;
            wakeups++;
            continue;
        }
        ratelimit_spend(&r, n);
        sent += n;
    }
    ck_assert_uint_eq(sent, total);
    /* (1 MiB - 64 KiB burst) / 64 KiB/s = 15 s, give or take one quantum. */
    ck_assert_msg(now >= 15.0 - 1e-9 && now <= 15.0 + 1.0 / 16 + 1e-9, "took %g s", now);
    /* About 16 wake-ups a second, not one per byte. */
    ck_assert_msg(wakeups <= 16 * 16 + 2, "%u wake-ups", wakeups);
}
END_TEST

static Suite *ratelimit_suite(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_unlimited);
    tcase_add_test(tc, test_burst_then_quantum);
    tcase_add_test(tc, test_short_send_spends_only_what_went);
    tcase_add_test(tc, test_small_want);
    tcase_add_test(tc, test_debt_delays);
    tcase_add_test(tc, test_tokens_capped_at_burst);
    tcase_add_test(tc, test_tiny_rate);
    tcase_add_test(tc, test_long_run_average);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ratelimit_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
