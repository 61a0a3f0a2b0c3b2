/* Unit tests for bench/files.c (--files patterns, --file-list) and
 * parse_size from bench/opts.c. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "opts.h"

static struct file_set fs;
static char err[256];

static void setup(void)
{
    memset(&fs, 0, sizeof fs);
    err[0] = '\0';
}

static void teardown(void)
{
    files_free(&fs);
}

START_TEST(plain_name)
{
    ck_assert_int_eq(files_add_pattern(&fs, "pub/a.bin", err, sizeof err), 0);
    ck_assert_uint_eq(fs.n, 1);
    ck_assert_str_eq(fs.names[0], "pub/a.bin");
}
END_TEST

START_TEST(range)
{
    ck_assert_int_eq(files_add_pattern(&fs, "d/f{1..3}.bin", err, sizeof err), 0);
    ck_assert_uint_eq(fs.n, 3);
    ck_assert_str_eq(fs.names[0], "d/f1.bin");
    ck_assert_str_eq(fs.names[1], "d/f2.bin");
    ck_assert_str_eq(fs.names[2], "d/f3.bin");
}
END_TEST

START_TEST(range_keeps_width)
{
    ck_assert_int_eq(files_add_pattern(&fs, "x{08..10}", err, sizeof err), 0);
    ck_assert_uint_eq(fs.n, 3);
    ck_assert_str_eq(fs.names[0], "x08");
    ck_assert_str_eq(fs.names[1], "x09");
    ck_assert_str_eq(fs.names[2], "x10");
    /* a single-digit start has no padding to keep */
    ck_assert_int_eq(files_add_pattern(&fs, "y{9..10}", err, sizeof err), 0);
    ck_assert_str_eq(fs.names[3], "y9");
    ck_assert_str_eq(fs.names[4], "y10");
}
END_TEST

START_TEST(bad_patterns)
{
    const char *bad[] = { "f{3..1}", "f{1..}", "f{..2}", "f{a..b}", "f{1..2",
                          "f{1..2}{3..4}", "", "f{1-2}" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(files_add_pattern(&fs, bad[i], err, sizeof err) < 0,
                      "accepted '%s'", bad[i]);
        ck_assert(err[0] != '\0');
    }
    ck_assert_uint_eq(fs.n, 0);
    ck_assert_int_lt(files_add_pattern(&fs, "f{0..99999999}", err, sizeof err), 0);
}
END_TEST

START_TEST(list_file)
{
    char path[] = "/tmp/ferry-bench-files-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char text[] = "# a comment\npub/a\r\n\npub/b\npub/c";
    ck_assert_int_eq(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    ck_assert_int_eq(files_add_list(&fs, path, err, sizeof err), 0);
    unlink(path);
    ck_assert_uint_eq(fs.n, 3);
    ck_assert_str_eq(fs.names[0], "pub/a");
    ck_assert_str_eq(fs.names[1], "pub/b");
    ck_assert_str_eq(fs.names[2], "pub/c");
    ck_assert_int_lt(files_add_list(&fs, "/nonexistent/list", err, sizeof err), 0);
}
END_TEST

START_TEST(sizes)
{
    uint64_t v;
    ck_assert_int_eq(parse_size("4096", &v), 0);
    ck_assert_uint_eq(v, 4096);
    ck_assert_int_eq(parse_size("4K", &v), 0);
    ck_assert_uint_eq(v, 4096);
    ck_assert_int_eq(parse_size("4KiB", &v), 0);
    ck_assert_uint_eq(v, 4096);
    ck_assert_int_eq(parse_size("1.5M", &v), 0);
    ck_assert_uint_eq(v, 1572864);
    ck_assert_int_eq(parse_size("10G", &v), 0);
    ck_assert_uint_eq(v, 10737418240ull);
    ck_assert_int_eq(parse_size("0", &v), 0);
    ck_assert_uint_eq(v, 0);
    const char *bad[] = { "", "-1", "4X", "K", "1.5", "4KK", "1e30" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(parse_size(bad[i], &v) < 0, "accepted '%s'", bad[i]);
}
END_TEST

static Suite *files_suite(void)
{
    Suite *s = suite_create("files");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, plain_name);
    tcase_add_test(tc, range);
    tcase_add_test(tc, range_keeps_width);
    tcase_add_test(tc, bad_patterns);
    tcase_add_test(tc, list_file);
    tcase_add_test(tc, sizes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(files_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
