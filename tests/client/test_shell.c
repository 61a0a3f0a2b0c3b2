/* Unit tests for the prompt's command-line splitting (src/client/shell.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "shell.h"

static int split(const char *in, char **argv, int max, char *buf, size_t bufsz)
{
    ck_assert_uint_lt(strlen(in), bufsz);
    strcpy(buf, in);
    return shell_split(buf, argv, max);
}

START_TEST(split_plain)
{
    char buf[128], *argv[8];

    ck_assert_int_eq(split("  get  a.txt\tb.txt  ", argv, 8, buf, sizeof(buf)), 3);
    ck_assert_str_eq(argv[0], "get");
    ck_assert_str_eq(argv[1], "a.txt");
    ck_assert_str_eq(argv[2], "b.txt");
    ck_assert_int_eq(split("", argv, 8, buf, sizeof(buf)), 0);
    ck_assert_int_eq(split("   \t ", argv, 8, buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(split_quotes)
{
    char buf[128], *argv[8];

    ck_assert_int_eq(split("put \"my file.txt\" 'it''s' x\"y z\"w", argv, 8, buf, sizeof(buf)), 4);
    ck_assert_str_eq(argv[1], "my file.txt");
    ck_assert_str_eq(argv[2], "its");
    ck_assert_str_eq(argv[3], "xy zw");
    ck_assert_int_eq(split("rm '' \"\"", argv, 8, buf, sizeof(buf)), 3);
    ck_assert_str_eq(argv[1], "");
    ck_assert_str_eq(argv[2], "");
}
END_TEST

START_TEST(split_escapes)
{
    char buf[128], *argv[8];

    ck_assert_int_eq(split("get a\\ b \"q\\\"q\" 'no\\esc'", argv, 8, buf, sizeof(buf)), 4);
    ck_assert_str_eq(argv[1], "a b");
    ck_assert_str_eq(argv[2], "q\"q");
    ck_assert_str_eq(argv[3], "no\\esc");
    /* A trailing backslash stays itself. */
    ck_assert_int_eq(split("cd x\\", argv, 8, buf, sizeof(buf)), 2);
    ck_assert_str_eq(argv[1], "x\\");
}
END_TEST

START_TEST(split_errors)
{
    char buf[128], *argv[3];

    ck_assert_int_eq(split("get \"open", argv, 3, buf, sizeof(buf)), -1);
    ck_assert_int_eq(split("get 'open", argv, 3, buf, sizeof(buf)), -1);
    ck_assert_int_eq(split("a b c", argv, 3, buf, sizeof(buf)), 3);
    ck_assert_int_eq(split("a b c d", argv, 3, buf, sizeof(buf)), -2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shell");
    TCase *tc = tcase_create("split");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, split_plain);
    tcase_add_test(tc, split_quotes);
    tcase_add_test(tc, split_escapes);
    tcase_add_test(tc, split_errors);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
