/* Unit tests for the progress bar's formatting (src/client/progress.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/ftpc.h"
#include "progress.h"

START_TEST(human_units)
{
    char b[32];

    progress_human(b, sizeof(b), 0);
    ck_assert_str_eq(b, "0 B");
    progress_human(b, sizeof(b), 1023);
    ck_assert_str_eq(b, "1023 B");
    progress_human(b, sizeof(b), 1024);
    ck_assert_str_eq(b, "1.0 KiB");
    progress_human(b, sizeof(b), 1536);
    ck_assert_str_eq(b, "1.5 KiB");
    progress_human(b, sizeof(b), 3ULL * 1024 * 1024);
    ck_assert_str_eq(b, "3.0 MiB");
    progress_human(b, sizeof(b), 5ULL << 40);
    ck_assert_str_eq(b, "5.0 TiB");
}
END_TEST

START_TEST(bar_half)
{
    char line[256];

    progress_format(line, sizeof(line), 80, "big.bin", 500, 1000, 100.0, 5.0, 0);
    ck_assert_uint_le(strlen(line), 80);
    ck_assert_ptr_eq(strstr(line, "big.bin ["), line);
    ck_assert_ptr_nonnull(strstr(line, " 50%"));
    ck_assert_ptr_nonnull(strstr(line, "500 B"));
    ck_assert_ptr_nonnull(strstr(line, "100 B/s"));
    ck_assert_ptr_nonnull(strstr(line, "ETA 0:05"));
    ck_assert_ptr_nonnull(strstr(line, "=>"));
}
END_TEST

START_TEST(bar_width_is_stable)
{
    char a[256], b[256];

    /* Different numbers, same layout: the bar must not jump. */
    progress_format(a, sizeof(a), 100, "f", 1, 1000000, 1.0, 1.0, 0);
    progress_format(b, sizeof(b), 100, "f", 999999, 1000000, 123456789.0, 1.0, 0);
    ck_assert_uint_eq(strchr(a, ']') - a, strchr(b, ']') - b);
}
END_TEST

START_TEST(bar_final_and_full)
{
    char line[256];

    progress_format(line, sizeof(line), 80, "f", 2048, 2048, 1024.0, 2.0, 1);
    ck_assert_ptr_nonnull(strstr(line, "100%"));
    ck_assert_ptr_nonnull(strstr(line, "in 0:02"));
    ck_assert_ptr_null(strstr(line, "ETA"));
    ck_assert_ptr_null(strstr(line, ">"));
    /* An empty file is complete at once. */
    progress_format(line, sizeof(line), 80, "f", 0, 0, 0, 0.1, 1);
    ck_assert_ptr_nonnull(strstr(line, "100%"));
}
END_TEST

START_TEST(bar_unknown_total)
{
    char line[256];

    progress_format(line, sizeof(line), 80, "stream", 4096, FTPC_SIZE_UNKNOWN, 2048.0, 2.0, 0);
    ck_assert_ptr_null(strchr(line, '['));
    ck_assert_ptr_null(strchr(line, '%'));
    ck_assert_ptr_null(strstr(line, "ETA"));
    ck_assert_ptr_nonnull(strstr(line, "4.0 KiB"));
    ck_assert_ptr_nonnull(strstr(line, "2.0 KiB/s"));
}
END_TEST

START_TEST(bar_narrow_and_long_label)
{
    char line[256], label[200];
    unsigned w;

    memset(label, 'x', sizeof(label) - 1);
    label[sizeof(label) - 1] = '\0';
    for (w = 0; w < 140; w++) {
        progress_format(line, sizeof(line), w, label, 10, 100, 1.0, 1.0, 0);
        ck_assert_uint_le(strlen(line), w);
    }
    progress_format(line, sizeof(line), 100, label, 10, 100, 1.0, 1.0, 0);
    ck_assert_ptr_nonnull(strchr(line, '['));   /* the label did not eat the bar */
    /* A small output buffer truncates, NUL-terminated. */
    progress_format(line, 8, 100, "file", 10, 100, 1.0, 1.0, 0);
    ck_assert_uint_eq(strlen(line), 7);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("progress");
    TCase *tc = tcase_create("format");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, human_units);
    tcase_add_test(tc, bar_half);
    tcase_add_test(tc, bar_width_is_stable);
    tcase_add_test(tc, bar_final_and_full);
    tcase_add_test(tc, bar_unknown_total);
    tcase_add_test(tc, bar_narrow_and_long_label);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
