/* Unit tests for bench/hist.c: bucket layout and percentiles against
 * inputs whose answers are known. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "hist.h"

/* relative width of a bucket above the exact range */
#define REL_ERR (1.0 / HIST_HALF)

static struct hist *h;

static void setup(void)
{
    h = hist_new();
    ck_assert_ptr_nonnull(h);
}

static void teardown(void)
{
    hist_free(h);
    h = NULL;
}

START_TEST(empty_is_zero)
{
    ck_assert_uint_eq(h->count, 0);
    ck_assert_uint_eq(hist_percentile(h, 50.0), 0);
    ck_assert_uint_eq(hist_percentile(h, 100.0), 0);
    ck_assert(hist_mean(h) == 0.0);
}
END_TEST

START_TEST(small_values_exact)
{
    /* 1..1000 lie in the exact range: percentile p is exactly 10*p */
    for (uint64_t v = 1; v <= 1000; v++)
        hist_record(h, v);
    ck_assert_uint_eq(h->count, 1000);
    ck_assert_uint_eq(hist_percentile(h, 50.0), 500);
    ck_assert_uint_eq(hist_percentile(h, 90.0), 900);
    ck_assert_uint_eq(hist_percentile(h, 99.0), 990);
    ck_assert_uint_eq(hist_percentile(h, 99.9), 999);
    ck_assert_uint_eq(hist_percentile(h, 100.0), 1000);
    ck_assert_uint_eq(hist_percentile(h, 0.0), 1);
    ck_assert_uint_eq(h->min, 1);
    ck_assert_uint_eq(h->max, 1000);
    ck_assert(hist_mean(h) == 500.5);
}
END_TEST

START_TEST(rank_rounds_up)
{
    /* two values: p50 is the first, anything above 50 the second */
    hist_record(h, 10);
    hist_record(h, 20);
    ck_assert_uint_eq(hist_percentile(h, 50.0), 10);
    ck_assert_uint_eq(hist_percentile(h, 50.1), 20);
    ck_assert_uint_eq(hist_percentile(h, 1.0), 10);
}
END_TEST

static void assert_close(uint64_t got, uint64_t want)
{
    /* reported as the top of want's bucket: never below, within one bucket */
    ck_assert_msg(got >= want, "got %llu < want %llu",
                  (unsigned long long)got, (unsigned long long)want);
    ck_assert_msg((double)(got - want) <= (double)want * REL_ERR,
                  "got %llu too far above %llu",
                  (unsigned long long)got, (unsigned long long)want);
}

START_TEST(large_values_within_precision)
{
    /* 1..100000 microseconds in nanoseconds */
    for (uint64_t i = 1; i <= 100000; i++)
        hist_record(h, i * 1000);
    assert_close(hist_percentile(h, 50.0), 50000 * 1000ull);
    assert_close(hist_percentile(h, 90.0), 90000 * 1000ull);
    assert_close(hist_percentile(h, 99.0), 99000 * 1000ull);
    assert_close(hist_percentile(h, 99.9), 99900 * 1000ull);
    ck_assert_uint_eq(hist_percentile(h, 100.0), 100000 * 1000ull);
}
END_TEST

START_TEST(outlier_shows_in_tail_only)
{
    /* 999 fast requests and one slow one: p99 fast, p99.9 fast, max slow */
    hist_record_n(h, 100000, 999);
    hist_record(h, 5000000000ull);
    assert_close(hist_percentile(h, 50.0), 100000);
    assert_close(hist_percentile(h, 99.0), 100000);
    assert_close(hist_percentile(h, 99.9), 100000);
    ck_assert_uint_eq(hist_percentile(h, 99.95), 5000000000ull);
    ck_assert_uint_eq(hist_percentile(h, 100.0), 5000000000ull);
}
END_TEST

START_TEST(percentile_never_above_max)
{
    hist_record(h, 1000001);   /* mid-bucket: the bucket's top is higher */
    ck_assert_uint_eq(hist_percentile(h, 50.0), 1000001);
    ck_assert_uint_eq(hist_percentile(h, 99.9), 1000001);
}
END_TEST

START_TEST(merge_adds_up)
{
    struct hist *b = hist_new();
    ck_assert_ptr_nonnull(b);
    for (uint64_t v = 1; v <= 500; v++)
        hist_record(h, v);
    for (uint64_t v = 501; v <= 1000; v++)
        hist_record(b, v);
    hist_merge(h, b);
    ck_assert_uint_eq(h->count, 1000);
    ck_assert_uint_eq(h->min, 1);
    ck_assert_uint_eq(h->max, 1000);
    ck_assert_uint_eq(hist_percentile(h, 50.0), 500);
    ck_assert_uint_eq(hist_percentile(h, 75.0), 750);
    /* merging an empty one changes nothing */
    hist_reset(b);
    hist_merge(h, b);
    ck_assert_uint_eq(h->count, 1000);
    ck_assert_uint_eq(h->min, 1);
    hist_free(b);
}
END_TEST

START_TEST(layout_is_contiguous)
{
    /* every bucket starts one past the end of the one before, the first
     * starts at 0 and the last ends at UINT64_MAX */
    ck_assert_uint_eq(hist_bucket_low(0), 0);
    for (size_t i = 1; i < HIST_BUCKETS; i++)
        ck_assert_uint_eq(hist_bucket_low(i), hist_bucket_high(i - 1) + 1);
    ck_assert_uint_eq(hist_bucket_high(HIST_BUCKETS - 1), UINT64_MAX);
    ck_assert_uint_eq(hist_index(UINT64_MAX), HIST_BUCKETS - 1);
}
END_TEST

START_TEST(index_maps_into_its_bucket)
{
    uint64_t vals[] = { 0, 1, 2047, 2048, 2049, 4095, 4096, 123456789,
                        (1ull << 40) + 12345, UINT64_MAX - 1, UINT64_MAX };
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        size_t i = hist_index(vals[k]);
        ck_assert_uint_lt(i, HIST_BUCKETS);
        ck_assert_uint_le(hist_bucket_low(i), vals[k]);
        ck_assert_uint_ge(hist_bucket_high(i), vals[k]);
    }
    /* relative width bound above the exact range */
    for (size_t i = 1u << HIST_SUB_BITS; i < HIST_BUCKETS; i += 977) {
        double lo = (double)hist_bucket_low(i);
        double w = (double)(hist_bucket_high(i) - hist_bucket_low(i)) + 1.0;
        ck_assert(w / lo <= REL_ERR);
    }
}
END_TEST

static Suite *hist_suite(void)
{
    Suite *s = suite_create("hist");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, empty_is_zero);
    tcase_add_test(tc, small_values_exact);
    tcase_add_test(tc, rank_rounds_up);
    tcase_add_test(tc, large_values_within_precision);
    tcase_add_test(tc, outlier_shows_in_tail_only);
    tcase_add_test(tc, percentile_never_above_max);
    tcase_add_test(tc, merge_adds_up);
    tcase_add_test(tc, layout_is_contiguous);
    tcase_add_test(tc, index_maps_into_its_bucket);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hist_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
