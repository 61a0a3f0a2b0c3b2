/* Unit tests for users: the file format and its errors, password checks
 * against yescrypt and sha512-crypt hashes made here with libxcrypt, the
 * swap of tables on reload, and the failed-login table. */
#include "ferry/users.h"

#include <arpa/inet.h>
#include <check.h>
#include <crypt.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

static char dir[64];
static char file[128];
static char hash_y[CRYPT_OUTPUT_SIZE];    /* yescrypt of "secret-y" */
static char hash_6[CRYPT_OUTPUT_SIZE];    /* sha512-crypt of "secret-6" */

static void make_hash(const char *prefix, const char *password, char *out)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data cd;

    memset(&cd, 0, sizeof(cd));
    ck_assert_ptr_nonnull(crypt_gensalt_rn(prefix, 0, NULL, 0, salt, sizeof(salt)));
    ck_assert_ptr_nonnull(crypt_rn(password, salt, &cd, sizeof(cd)));
    ck_assert_int_eq(strncmp(cd.output, prefix, strlen(prefix)), 0);
    snprintf(out, CRYPT_OUTPUT_SIZE, "%s", cd.output);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ferry-users-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/users", dir);
    make_hash("$y$", "secret-y", hash_y);
    make_hash("$6$", "secret-6", hash_6);
}

static void teardown(void)
{
    unlink(file);
    rmdir(dir);
}

static void write_file(const char *text)
{
    FILE *f = fopen(file, "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

/* Load text as the users file and expect failure with message
 * "<file>:<line>: ..." containing what. */
static void expect_error(const char *text, unsigned line, const char *what)
{
    struct users *t = (struct users *)0x1;
    char err[512], prefix[160];

    write_file(text);
    ck_assert_int_eq(users_load(file, &t, err, sizeof(err)), -1);
    ck_assert_ptr_eq(t, (struct users *)0x1);        /* untouched */
    snprintf(prefix, sizeof(prefix), "%s:%u: ", file, line);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "'%s' lacks '%s'", err, prefix);
    ck_assert_msg(strstr(err, what) != NULL, "'%s' lacks '%s'", err, what);
}

static struct users *load_good(void)
{
    char text[2048], err[512];
    struct users *t = NULL;

    snprintf(text, sizeof(text),
             "# ferry users\n"
             "\n"
             "alice:%s:/alice:rw\n"
             "   bob:%s:/shared//bob/:r   \r\n"
             "carol:!%s:/carol:rw\n"
             "dave:*:/:r",                    /* no final newline */
             hash_y, hash_6, hash_y);
    write_file(text);
    ck_assert_msg(users_load(file, &t, err, sizeof(err)) == 0, "%s", err);
    return t;
}

START_TEST(test_load_and_find)
{
    struct users *t = load_good();
    const struct ferry_user *u;

    ck_assert_uint_eq(users_count(t), 4);
    u = users_find(t, "alice");
    ck_assert_ptr_nonnull(u);
    ck_assert_str_eq(u->home, "/alice");
    ck_assert_int_eq(u->write, 1);
    ck_assert_uint_eq(u->line, 3);
    u = users_find(t, "bob");
    ck_assert_ptr_nonnull(u);
    ck_assert_str_eq(u->home, "/shared/bob");
    ck_assert_int_eq(u->write, 0);
    ck_assert_str_eq(u->hash, hash_6);
    ck_assert_uint_eq(u->line, 4);
    u = users_find(t, "dave");
    ck_assert_ptr_nonnull(u);
    ck_assert_str_eq(u->home, "/");
    ck_assert_ptr_null(users_find(t, "eve"));
    ck_assert_ptr_null(users_find(t, "alic"));
    ck_assert_ptr_null(users_find(t, ""));
    users_unref(t);
}
END_TEST

START_TEST(test_authenticate)
{
    struct users *t = load_good();
    const struct ferry_user *u = NULL;
    char longpw[CRYPT_MAX_PASSPHRASE_SIZE + 10];

    ck_assert_int_eq(users_authenticate(t, "alice", "secret-y", &u), 1);   /* yescrypt */
    ck_assert_ptr_nonnull(u);
    ck_assert_str_eq(u->name, "alice");
    u = NULL;
    ck_assert_int_eq(users_authenticate(t, "bob", "secret-6", &u), 1);     /* sha512-crypt */
    ck_assert_str_eq(u->name, "bob");
    u = NULL;
    ck_assert_int_eq(users_authenticate(t, "alice", "secret-6", &u), 0);
    ck_assert_int_eq(users_authenticate(t, "alice", "secret-", &u), 0);
    ck_assert_int_eq(users_authenticate(t, "alice", "", &u), 0);
    ck_assert_int_eq(users_authenticate(t, "bob", "secret-y", &u), 0);
    ck_assert_int_eq(users_authenticate(t, "eve", "secret-y", &u), 0);     /* unknown */
    ck_assert_int_eq(users_authenticate(t, "carol", "secret-y", &u), 0);   /* locked */
    ck_assert_int_eq(users_authenticate(t, "dave", "*", &u), 0);           /* locked */
    ck_assert_ptr_null(u);
    memset(longpw, 'a', sizeof(longpw) - 1);
    longpw[sizeof(longpw) - 1] = '\0';
    ck_assert_int_eq(users_authenticate(t, "alice", longpw, &u), 0);
    ck_assert_ptr_null(u);
    users_unref(t);
}
END_TEST

START_TEST(test_parse_line_pure)
{
    struct ferry_user u;
    char err[256];
    char l1[] = "  # comment", l2[] = "", l3[] = "x:*:/a/./b:r", l4[] = "x:*:///:rw";
    char l5[] = "x:*:/a/../b:r", l6[] = "x:*:a/b:r", l7[] = "x:*:/a:rwx";
    char l8[] = "x y:*:/a:r", l9[] = "x:*:/a:r:extra", l10[] = "x:*:/a", l11[] = "x::/a:r";
    char l12[] = ":*:/a:r", l13[] = "x:*:/a\tb:r";

    ck_assert_int_eq(users_parse_line(l1, &u, err, sizeof(err)), 0);
    ck_assert_int_eq(users_parse_line(l2, &u, err, sizeof(err)), 0);
    ck_assert_int_eq(users_parse_line(l3, &u, err, sizeof(err)), -1);
    ck_assert_int_eq(users_parse_line(l4, &u, err, sizeof(err)), 1);
    ck_assert_str_eq(u.home, "/");
    ck_assert_int_eq(u.write, 1);
    ck_assert_int_eq(users_parse_line(l5, &u, err, sizeof(err)), -1);
    ck_assert_int_eq(users_parse_line(l6, &u, err, sizeof(err)), -1);
    ck_assert_int_eq(users_parse_line(l7, &u, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "perms") != NULL, "%s", err);
    ck_assert_int_eq(users_parse_line(l8, &u, err, sizeof(err)), -1);
    ck_assert_int_eq(users_parse_line(l9, &u, err, sizeof(err)), -1);
    ck_assert_int_eq(users_parse_line(l10, &u, err, sizeof(err)), -1);
    ck_assert_int_eq(users_parse_line(l11, &u, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "empty hash") != NULL, "%s", err);
    ck_assert_int_eq(users_parse_line(l12, &u, err, sizeof(err)), -1);
    ck_assert_int_eq(users_parse_line(l13, &u, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_file_errors_name_the_line)
{
    char text[2048];

    snprintf(text, sizeof(text), "alice:%s:/a:rw\n# c\nbob:%s:/b:read\n", hash_y, hash_6);
    expect_error(text, 3, "perms must be 'r' or 'rw'");
    snprintf(text, sizeof(text), "\n\nalice:%s:/a\n", hash_y);
    expect_error(text, 3, "expected name:hash:home:perms");
    snprintf(text, sizeof(text), "alice:%s:../a:r\n", hash_y);
    expect_error(text, 1, "home must be");
    snprintf(text, sizeof(text), "alice:%s:/a:r\nbob:%s:/b:r\nalice:%s:/c:r\n",
             hash_y, hash_6, hash_6);
    expect_error(text, 3, "user 'alice' is listed twice (first on line 1)");
    /* Legacy methods are refused: DES and MD5-crypt. */
    expect_error("old:abJnggxhB/yWI:/a:r\n", 1, "weak legacy method");
    expect_error("old:$1$saltsalt$qjXMvbEw8oaL.CzflDugX/:/a:r\n", 1, "weak legacy method");
    expect_error("x:$y$nonsense:/a:r\n", 1, "not a crypt(3) hash");
    expect_error("x:$6$salt$:/a:r\n", 1, "not a crypt(3) hash");
    expect_error("x:$6$salt$a b:/a:r\n", 1, "not a crypt(3) hash");
    expect_error("x:$$$:/a:r\n", 1, "not a crypt(3) hash");
}
END_TEST

START_TEST(test_missing_and_odd_files)
{
    struct users *t = NULL;
    char err[512];

    ck_assert_int_eq(users_load("/nonexistent/ferry-users", &t, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "/nonexistent/ferry-users: No such file") != NULL, "%s", err);
    ck_assert_int_eq(users_load("/tmp", &t, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "not a regular file") != NULL, "%s", err);
    ck_assert_ptr_null(t);

    /* An empty file is a valid table with nobody in it. */
    write_file("# nobody yet\n");
    ck_assert_int_eq(users_load(file, &t, err, sizeof(err)), 0);
    ck_assert_uint_eq(users_count(t), 0);
    ck_assert_ptr_null(users_find(t, "x"));
    ck_assert_int_eq(users_authenticate(t, "x", "y", NULL), 0);
    users_unref(t);
}
END_TEST

START_TEST(test_nul_byte_is_refused)
{
    FILE *f = fopen(file, "w");
    struct users *t = NULL;
    char err[512];

    ck_assert_ptr_nonnull(f);
    fwrite("a:*:/:r\n\0b:*:/:r\n", 1, 18, f);
    fclose(f);
    ck_assert_int_eq(users_load(file, &t, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "NUL") != NULL, "%s", err);
}
END_TEST

START_TEST(test_current_swap_keeps_old_alive)
{
    struct users_current cur;
    struct users *a = load_good(), *held, *b, *now;
    char err[512];

    users_current_init(&cur, a);
    held = users_current_get(&cur);                 /* a session's reference */
    ck_assert_ptr_eq(held, a);

    write_file("zed:*:/z:r\n");
    ck_assert_int_eq(users_load(file, &b, err, sizeof(err)), 0);
    users_current_set(&cur, b);                     /* reload */
    /* The old table is still usable by whoever held it. */
    ck_assert_ptr_nonnull(users_find(held, "alice"));
    users_unref(held);                              /* last ref: freed */
    now = users_current_get(&cur);
    ck_assert_ptr_eq(now, b);
    ck_assert_ptr_null(users_find(now, "alice"));
    ck_assert_ptr_nonnull(users_find(now, "zed"));
    users_unref(now);
    users_current_fini(&cur);
}
END_TEST

START_TEST(test_shipped_example)
{
    struct users *t = NULL;
    const struct ferry_user *u = NULL;
    char err[512];

    ck_assert_msg(users_load(FERRY_ETC_DIR "/users.example", &t, err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_uint_eq(users_count(t), 3);
    ck_assert_int_eq(users_authenticate(t, "alice", "alice-example", &u), 1);
    ck_assert_str_eq(u->home, "/incoming/alice");
    ck_assert_int_eq(u->write, 1);
    ck_assert_int_eq(users_authenticate(t, "bob", "bob-example", &u), 1);
    ck_assert_str_eq(u->home, "/pub");
    ck_assert_int_eq(u->write, 0);
    ck_assert_int_eq(users_authenticate(t, "carol", "", NULL), 0);
    users_unref(t);
}
END_TEST

/* ---- failed logins ---- */

static struct sockaddr_storage v4(const char *s)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *sa = (struct sockaddr_in *)&ss;

    memset(&ss, 0, sizeof(ss));
    sa->sin_family = AF_INET;
    ck_assert_int_eq(inet_pton(AF_INET, s, &sa->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *s)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;

    memset(&ss, 0, sizeof(ss));
    sa->sin6_family = AF_INET6;
    ck_assert_int_eq(inet_pton(AF_INET6, s, &sa->sin6_addr), 1);
    return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

START_TEST(test_authfail_schedule)
{
    const struct authfail_policy p = { 1.0, 8.0, 5, 100.0 };
    struct authfail *t = authfail_new(16, &p);
    struct sockaddr_storage a = v4("192.0.2.1"), b = v4("192.0.2.2");
    struct authfail_verdict v;
    const double want[] = { 1, 2, 4, 8, 8, 8 };
    unsigned i;

    ck_assert_ptr_nonnull(t);
    authfail_check(t, SA(a), 0, &v);
    ck_assert_uint_eq(v.failures, 0);
    ck_assert_int_eq(v.close, 0);
    for (i = 0; i < 6; i++) {
        authfail_failed(t, SA(a), 10.0 + i, &v);
        ck_assert_uint_eq(v.failures, i + 1);
        ck_assert_msg(v.delay == want[i], "failure %u: delay %g", i + 1, v.delay);
        ck_assert_int_eq(v.close, i + 1 >= 5);
    }
    /* Over the limit: refused before any password check. */
    authfail_check(t, SA(a), 20, &v);
    ck_assert_int_eq(v.close, 1);
    ck_assert(v.delay == 0);
    /* Another address is not affected. */
    authfail_check(t, SA(b), 20, &v);
    ck_assert_int_eq(v.close, 0);
    ck_assert_uint_eq(v.failures, 0);
    ck_assert_uint_eq(authfail_size(t, 20), 1);
    /* The window runs from the last failure (at 15): forgotten at 115. */
    authfail_check(t, SA(a), 114.9, &v);
    ck_assert_int_eq(v.close, 1);
    authfail_check(t, SA(a), 115.0, &v);
    ck_assert_int_eq(v.close, 0);
    ck_assert_uint_eq(v.failures, 0);
    authfail_failed(t, SA(a), 116, &v);
    ck_assert_uint_eq(v.failures, 1);
    ck_assert(v.delay == 1.0);
    authfail_free(t);
}
END_TEST

START_TEST(test_authfail_address_grouping)
{
    struct authfail *t = authfail_new(16, NULL);
    struct sockaddr_storage a4 = v4("198.51.100.7"), m4 = v6("::ffff:198.51.100.7");
    struct sockaddr_storage x1 = v6("2001:db8:1:2::1"), x2 = v6("2001:db8:1:2:ffff::9");
    struct sockaddr_storage y = v6("2001:db8:1:3::1");
    struct authfail_verdict v;

    ck_assert_ptr_nonnull(t);
    authfail_failed(t, SA(a4), 1, &v);
    authfail_failed(t, SA(m4), 2, &v);            /* the same IPv4 host */
    ck_assert_uint_eq(v.failures, 2);
    authfail_failed(t, SA(x1), 3, &v);
    authfail_failed(t, SA(x2), 4, &v);            /* the same /64 */
    ck_assert_uint_eq(v.failures, 2);
    authfail_failed(t, SA(y), 5, &v);             /* another /64 */
    ck_assert_uint_eq(v.failures, 1);
    ck_assert_uint_eq(authfail_size(t, 5), 3);
    authfail_free(t);
}
END_TEST

START_TEST(test_authfail_full_table_evicts_oldest)
{
    const struct authfail_policy p = { 1.0, 16.0, 10, 1000.0 };
    struct authfail *t = authfail_new(3, &p);
    struct sockaddr_storage a = v4("10.0.0.1"), b = v4("10.0.0.2");
    struct sockaddr_storage c = v4("10.0.0.3"), d = v4("10.0.0.4");
    struct authfail_verdict v;

    ck_assert_ptr_nonnull(t);
    authfail_failed(t, SA(a), 1, &v);
    authfail_failed(t, SA(a), 2, &v);
    authfail_failed(t, SA(b), 3, &v);
    authfail_failed(t, SA(c), 4, &v);
    authfail_failed(t, SA(a), 5, &v);             /* a is now the newest */
    ck_assert_uint_eq(v.failures, 3);
    authfail_failed(t, SA(d), 6, &v);             /* full: b (oldest) goes */
    ck_assert_uint_eq(authfail_size(t, 6), 3);
    authfail_check(t, SA(b), 7, &v);
    ck_assert_uint_eq(v.failures, 0);
    authfail_check(t, SA(a), 7, &v);
    ck_assert_uint_eq(v.failures, 3);
    authfail_check(t, SA(c), 7, &v);
    ck_assert_uint_eq(v.failures, 1);
    authfail_check(t, SA(d), 7, &v);
    ck_assert_uint_eq(v.failures, 1);
    /* Everything expires in order. */
    ck_assert_uint_eq(authfail_size(t, 1004.5), 2);   /* c (4) gone */
    ck_assert_uint_eq(authfail_size(t, 1006), 0);
    authfail_free(t);
}
END_TEST

START_TEST(test_authfail_many_addresses_churn)
{
    /* Far more addresses than capacity, spread over time: the table stays
     * at its capacity and keeps answering for the recent ones. */
    const struct authfail_policy p = { 1.0, 16.0, 3, 50.0 };
    struct authfail *t = authfail_new(64, &p);
    struct authfail_verdict v;
    unsigned i;

    ck_assert_ptr_nonnull(t);
    for (i = 0; i < 10000; i++) {
        struct sockaddr_storage ss;
        struct sockaddr_in *sa = (struct sockaddr_in *)&ss;
        memset(&ss, 0, sizeof(ss));
        sa->sin_family = AF_INET;
        sa->sin_addr.s_addr = htonl(0x0a000000u + i);
        authfail_failed(t, SA(ss), i * 0.01, &v);
        ck_assert_uint_eq(v.failures, 1);
    }
    ck_assert_uint_le(authfail_size(t, 100), 64);
    authfail_free(t);
}
END_TEST

/* The fork model: each child counts into the table its parent made. */
START_TEST(test_authfail_shared_across_fork)
{
    struct authfail_policy p = { 0.5, 8, 10, 900 };
    struct authfail *t = authfail_new_shared(16, &p);
    struct sockaddr_storage a = v4("203.0.113.9");
    struct authfail_verdict v;
    int status;

    ck_assert_ptr_nonnull(t);
    for (int i = 0; i < 4; i++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            authfail_failed(t, SA(a), 10 + i, &v);
            _exit(v.failures == (unsigned)i + 1 ? 0 : 1);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    authfail_check(t, SA(a), 20, &v);
    ck_assert_uint_eq(v.failures, 4);
    ck_assert_uint_eq(authfail_size(t, 20), 1);
    authfail_failed(t, SA(a), 21, &v);
    ck_assert_uint_eq(v.failures, 5);
    ck_assert(v.delay == 8);                     /* 0.5 doubled, capped */
    authfail_free(t);
}
END_TEST

START_TEST(test_authfail_bad_arguments)
{
    const struct authfail_policy bad = { 1.0, 16.0, 0, 10.0 };

    errno = 0;
    ck_assert_ptr_null(authfail_new(0, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(authfail_new(8, &bad));
    authfail_free(NULL);
}
END_TEST

static Suite *users_suite(void)
{
    Suite *s = suite_create("users");
    TCase *tc = tcase_create("file");
    TCase *af = tcase_create("authfail");

    tcase_add_checked_fixture(tc, setup, teardown);
    /* Hashing at yescrypt's default cost takes a moment per test. */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_load_and_find);
    tcase_add_test(tc, test_authenticate);
    tcase_add_test(tc, test_parse_line_pure);
    tcase_add_test(tc, test_file_errors_name_the_line);
    tcase_add_test(tc, test_missing_and_odd_files);
    tcase_add_test(tc, test_nul_byte_is_refused);
    tcase_add_test(tc, test_current_swap_keeps_old_alive);
    tcase_add_test(tc, test_shipped_example);
    suite_add_tcase(s, tc);
    tcase_add_test(af, test_authfail_schedule);
    tcase_add_test(af, test_authfail_address_grouping);
    tcase_add_test(af, test_authfail_full_table_evicts_oldest);
    tcase_add_test(af, test_authfail_many_addresses_churn);
    tcase_add_test(af, test_authfail_bad_arguments);
    tcase_add_test(af, test_authfail_shared_across_fork);
    suite_add_tcase(s, af);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(users_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
