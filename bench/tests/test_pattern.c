/* Unit tests for include/ferry/pattern.h: the synthetic-file content that ferryd
 * serves and ferry-bench checks.  The known bytes below pin the function:
 * if they change, ferryd and every pattern file made before disagree. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/pattern.h"

START_TEST(known_bytes)
{
    static const uint8_t first[16] = {
        0x00, 0xc0, 0x81, 0xdd, 0xd1, 0x3e, 0xbb, 0xe6,
        0xba, 0xab, 0x7d, 0xfb, 0x6c, 0xf1, 0xe6, 0x47,
    };
    for (unsigned i = 0; i < 16; i++)
        ck_assert_uint_eq(ferry_pattern_byte(i), first[i]);
    ck_assert_uint_eq(ferry_pattern_byte(1000000), 0x54);
    ck_assert_uint_eq(ferry_pattern_byte(1048572), 0x58);
    ck_assert_uint_eq(ferry_pattern_byte(4294967296ull), 0x4a);
    ck_assert_uint_eq(ferry_pattern_byte(10737418240ull), 0xe3);
}
END_TEST

START_TEST(period)
{
    /* the one period: what a server's shared buffer relies on */
    uint64_t offs[] = { 0, 1, 4095, 65536, 1000000, FERRY_PATTERN_PERIOD - 1,
                        (1ull << 32) + 7, (10ull << 30) + 12345 };
    for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++)
        ck_assert_uint_eq(ferry_pattern_byte(offs[k]),
                          ferry_pattern_byte(offs[k] + FERRY_PATTERN_PERIOD));
}
END_TEST

START_TEST(no_short_period)
{
    /* shifting the stream by any amount up to 256 KiB, or by any power of
     * two below 2^40, changes it within its first 64 bytes */
    enum { WIN = 64 };
    uint8_t a[WIN], b[WIN];
    ferry_pattern_fill(a, 0, WIN);
    for (uint64_t s = 1; s <= 256 * 1024; s++) {
        ferry_pattern_fill(b, s, WIN);
        ck_assert_msg(memcmp(a, b, WIN) != 0, "shift %llu repeats",
                      (unsigned long long)s);
    }
    for (unsigned e = 0; e < 40; e++) {
        ferry_pattern_fill(b, 1ull << e, WIN);
        ck_assert_msg(memcmp(a, b, WIN) != 0, "shift 2^%u repeats", e);
    }
}
END_TEST

START_TEST(fill_matches_byte)
{
    /* across the period boundary, and from a large offset */
    enum { N = 5000 };
    static uint8_t buf[N];
    uint64_t starts[] = { 0, FERRY_PATTERN_PERIOD - 2500, (1ull << 33) + 3 };
    for (size_t k = 0; k < sizeof starts / sizeof starts[0]; k++) {
        ferry_pattern_fill(buf, starts[k], N);
        for (unsigned i = 0; i < N; i++)
            ck_assert_uint_eq(buf[i], ferry_pattern_byte(starts[k] + i));
    }
}
END_TEST

START_TEST(bytes_are_spread)
{
    /* every byte value appears about equally often over a period (a
     * constant or a small alphabet would make short transfers that read
     * zeros or one repeated byte look right) */
    static unsigned count[256];
    memset(count, 0, sizeof count);
    for (uint32_t i = 0; i < FERRY_PATTERN_PERIOD; i++)
        count[ferry_pattern_byte(i)]++;
    unsigned expect = FERRY_PATTERN_PERIOD / 256;
    for (unsigned v = 0; v < 256; v++) {
        ck_assert_uint_gt(count[v], expect * 9 / 10);
        ck_assert_uint_lt(count[v], expect * 11 / 10);
    }
}
END_TEST

static Suite *pattern_suite(void)
{
    Suite *s = suite_create("pattern");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, known_bytes);
    tcase_add_test(tc, period);
    tcase_add_test(tc, no_short_period);
    tcase_add_test(tc, fill_matches_byte);
    tcase_add_test(tc, bytes_are_spread);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pattern_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
