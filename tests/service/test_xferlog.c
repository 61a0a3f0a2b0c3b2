/* Unit tests for xferlog: exact lines for fixed entries, sanitising of
 * client-chosen fields, whole lines under concurrent writers, reopen. */
#include "ferry/xferlog.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 2026-11-25 09:14:35 UTC, a Wednesday. */
#define WED_NOV_25 ((time_t)1795598075)
/* 2026-03-05 23:59:59 UTC, a Thursday: a one-digit day. */
#define THU_MAR_5 ((time_t)1772755199)

static struct xferlog_entry entry(void)
{
    struct xferlog_entry e = {
        .end = WED_NOV_25, .seconds = 0.3, .host = "127.0.0.1", .bytes = 1234,
        .path = "/path", .binary = 1, .direction = XFERLOG_OUT, .anonymous = 1,
        .user = "anonymous@", .complete = 1,
    };
    return e;
}

static void expect_line(const struct xferlog_entry *e, int utc, const char *want)
{
    char out[XFERLOG_LINE_MAX];
    size_t n = xferlog_format(out, sizeof(out), e, utc);

    ck_assert_str_eq(out, want);
    ck_assert_uint_eq(n, strlen(want));
}

START_TEST(test_classic_line)
{
    struct xferlog_entry e = entry();

    expect_line(&e, 1, "Wed Nov 25 09:14:35 2026 1 127.0.0.1 1234 /path b _ o a anonymous@ ftp 0 * c\n");
}
END_TEST

START_TEST(test_fields)
{
    struct xferlog_entry e = entry();

    e.end = THU_MAR_5;
    e.seconds = 2.6;
    e.host = "::1";
    e.bytes = 18446744073709551615ULL;
    e.path = "/up/new.bin";
    e.binary = 0;
    e.direction = XFERLOG_IN;
    e.anonymous = 0;
    e.user = "alice";
    e.complete = 0;
    expect_line(&e, 1, "Thu Mar  5 23:59:59 2026 3 ::1 18446744073709551615 /up/new.bin a _ i r alice ftp 0 * i\n");
    e.direction = XFERLOG_DELETE;
    e.seconds = 2.4;
    e.bytes = 0;
    e.complete = 1;
    expect_line(&e, 1, "Thu Mar  5 23:59:59 2026 2 ::1 0 /up/new.bin a _ d r alice ftp 0 * c\n");
}
END_TEST

START_TEST(test_transfer_time_rounding)
{
    struct xferlog_entry e = entry();
    char out[XFERLOG_LINE_MAX];
    const double in[] = { 0, -3, 1.49, 1.5, 59.5, 1e300 };
    const char *want[] = { " 1 ", " 1 ", " 1 ", " 2 ", " 60 ", " 1 " };
    unsigned i;

    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        e.seconds = in[i];
        xferlog_format(out, sizeof(out), &e, 1);
        ck_assert_msg(strncmp(out + 24, want[i], strlen(want[i])) == 0,
                      "%g s: %s", in[i], out);
    }
}
END_TEST

START_TEST(test_sanitising)
{
    struct xferlog_entry e = entry();

    e.path = "/my file\nwith\tcontrol\x7f.txt";
    e.user = "evil user\r\n";
    e.host = "";
    expect_line(&e, 1, "Wed Nov 25 09:14:35 2026 1 - 1234 /my_file?with?control?.txt b _ o a evil_user?? ftp 0 * c\n");
    e.path = NULL;
    e.user = NULL;
    e.host = "127.0.0.1";
    expect_line(&e, 1, "Wed Nov 25 09:14:35 2026 1 127.0.0.1 1234 - b _ o a - ftp 0 * c\n");
    /* UTF-8 names pass through as bytes. */
    e.path = "/caf\xc3\xa9";
    e.user = "x";
    expect_line(&e, 1, "Wed Nov 25 09:14:35 2026 1 127.0.0.1 1234 /caf\xc3\xa9 b _ o a x ftp 0 * c\n");
}
END_TEST

START_TEST(test_long_fields_are_cut)
{
    struct xferlog_entry e = entry();
    static char path[10000], user[1000];
    char out[XFERLOG_LINE_MAX], small[16];
    size_t n;

    memset(path, 'p', sizeof(path) - 1);
    memset(user, 'u', sizeof(user) - 1);
    path[0] = '/';
    e.path = path;
    e.user = user;
    n = xferlog_format(out, sizeof(out), &e, 1);
    ck_assert_uint_lt(n, XFERLOG_LINE_MAX);
    ck_assert_uint_eq(strlen(out), n);
    ck_assert_int_eq(out[n - 1], '\n');
    ck_assert_ptr_nonnull(strstr(out, " ftp 0 * c\n"));
    /* A small buffer gets a cut, terminated copy and the full length. */
    e = entry();
    n = xferlog_format(small, sizeof(small), &e, 1);
    ck_assert_uint_eq(n, 77);
    ck_assert_str_eq(small, "Wed Nov 25 09:1");
}
END_TEST

START_TEST(test_local_time)
{
    struct xferlog_entry e = entry();

    /* A POSIX TZ string needs no zone files: UTC+1, no DST. */
    setenv("TZ", "FRY-1", 1);
    tzset();
    expect_line(&e, 0, "Wed Nov 25 10:14:35 2026 1 127.0.0.1 1234 /path b _ o a anonymous@ ftp 0 * c\n");
    expect_line(&e, 1, "Wed Nov 25 09:14:35 2026 1 127.0.0.1 1234 /path b _ o a anonymous@ ftp 0 * c\n");
}
END_TEST

static char dir[64], file[128], moved[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ferry-xferlog-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/xferlog", dir);
    snprintf(moved, sizeof(moved), "%s/xferlog.1", dir);
}

static void teardown(void)
{
    unlink(file);
    unlink(moved);
    rmdir(dir);
}

/* Lines of a file; each must equal want (NULL: any). */
static int count_lines(const char *p, const char *want)
{
    FILE *f = fopen(p, "r");
    char line[XFERLOG_LINE_MAX];
    int n = 0;

    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f)) {
        ck_assert_int_eq(line[strlen(line) - 1], '\n');
        if (want)
            ck_assert_str_eq(line, want);
        n++;
    }
    fclose(f);
    return n;
}

#define THREADS 4
#define LINES_PER_THREAD 500

static void *writer(void *arg)
{
    struct xferlog *x = arg;
    struct xferlog_entry e = entry();
    int i;

    for (i = 0; i < LINES_PER_THREAD; i++)
        if (xferlog_write(x, &e) != 0)
            return (void *)1;
    return NULL;
}

START_TEST(test_concurrent_writers_whole_lines)
{
    struct xferlog *x = xferlog_open(file, 1);
    pthread_t th[THREADS];
    void *rv;
    int i;

    ck_assert_ptr_nonnull(x);
    for (i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, writer, x), 0);
    for (i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_join(th[i], &rv), 0);
        ck_assert_ptr_null(rv);
    }
    xferlog_close(x);
    ck_assert_int_eq(count_lines(file, "Wed Nov 25 09:14:35 2026 1 127.0.0.1 1234 /path b _ o a anonymous@ ftp 0 * c\n"),
                     THREADS * LINES_PER_THREAD);
}
END_TEST

START_TEST(test_reopen_after_rotation)
{
    struct xferlog *x = xferlog_open(file, 1);
    struct xferlog_entry e = entry();

    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(xferlog_write(x, &e), 0);
    ck_assert_int_eq(xferlog_write(x, &e), 0);
    ck_assert_int_eq(rename(file, moved), 0);          /* logrotate */
    ck_assert_int_eq(xferlog_write(x, &e), 0);         /* still the old file */
    ck_assert_int_eq(xferlog_reopen(x), 0);
    e.direction = XFERLOG_IN;
    ck_assert_int_eq(xferlog_write(x, &e), 0);
    xferlog_close(x);
    ck_assert_int_eq(count_lines(moved, NULL), 3);
    ck_assert_int_eq(count_lines(file, "Wed Nov 25 09:14:35 2026 1 127.0.0.1 1234 /path b _ i a anonymous@ ftp 0 * c\n"), 1);
}
END_TEST

START_TEST(test_appends_to_existing_file)
{
    struct xferlog *x;
    struct xferlog_entry e = entry();
    FILE *f = fopen(file, "w");

    ck_assert_ptr_nonnull(f);
    fputs("old line\n", f);
    fclose(f);
    x = xferlog_open(file, 1);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(xferlog_write(x, &e), 0);
    xferlog_close(x);
    ck_assert_int_eq(count_lines(file, NULL), 2);
}
END_TEST

START_TEST(test_open_failures_and_null)
{
    struct xferlog_entry e = entry();
    struct xferlog *x;

    errno = 0;
    ck_assert_ptr_null(xferlog_open("/nonexistent-ferry/xferlog", 0));
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(xferlog_write(NULL, &e), 0);
    ck_assert_int_eq(xferlog_reopen(NULL), 0);
    xferlog_close(NULL);
    /* A reopen that fails keeps the old file in use. */
    x = xferlog_open(file, 1);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(unlink(file), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    ck_assert_int_eq(xferlog_reopen(x), -ENOENT);
    ck_assert_int_eq(xferlog_write(x, &e), 0);
    xferlog_close(x);
    ck_assert_int_eq(mkdir(dir, 0700), 0);             /* for teardown */
}
END_TEST

static Suite *xferlog_suite(void)
{
    Suite *s = suite_create("xferlog");
    TCase *fmt = tcase_create("format");
    TCase *io = tcase_create("file");

    tcase_add_test(fmt, test_classic_line);
    tcase_add_test(fmt, test_fields);
    tcase_add_test(fmt, test_transfer_time_rounding);
    tcase_add_test(fmt, test_sanitising);
    tcase_add_test(fmt, test_long_fields_are_cut);
    tcase_add_test(fmt, test_local_time);
    suite_add_tcase(s, fmt);
    tcase_add_checked_fixture(io, setup, teardown);
    tcase_add_test(io, test_concurrent_writers_whole_lines);
    tcase_add_test(io, test_reopen_after_rotation);
    tcase_add_test(io, test_appends_to_existing_file);
    tcase_add_test(io, test_open_failures_and_null);
    suite_add_tcase(s, io);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(xferlog_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
