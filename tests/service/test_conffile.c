/* Unit tests for conffile: good files in their variations, and every kind
 * of error named by file and line.  The apply callback here stands in for
 * ferryd's option setter: it knows the keys ferryd has and checks a few
 * values the way the command line does. */
#include "ferry/conffile.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cfg {
    const char *root;
    const char *listen[8];
    int nlisten;
    int write;
    unsigned max_clients;
    const char *model;
    int calls;
    unsigned seen_keys;     /* how many known keys were applied */
};

static const char *const keys[] = {
    "root", "listen", "write", "pasv-ports", "pasv-address", "max-clients",
    "max-per-ip", "login-timeout", "idle-timeout", "data-timeout", "stall-timeout",
    "drain-timeout", "model", "workers", "log-level", "users", "user", "group",
    "chroot", "xferlog", "metrics", "rate-limit", "allow-root",
};

static int apply(void *ctx, const char *key, const char *value, char *err, size_t errlen)
{
    struct cfg *c = ctx;
    size_t i;

    c->calls++;
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(key, keys[i]) == 0)
            break;
    if (i == sizeof(keys) / sizeof(keys[0]))
        return CONFFILE_UNKNOWN_KEY;
    c->seen_keys++;
    if (strcmp(key, "root") == 0) {
        if (!*value) {
            snprintf(err, errlen, "bad value '' for root");
            return -1;
        }
        c->root = value;
    } else if (strcmp(key, "listen") == 0) {
        if (c->nlisten >= 8)
            return -1;
        c->listen[c->nlisten++] = value;
    } else if (strcmp(key, "write") == 0 || strcmp(key, "allow-root") == 0) {
        int b = conffile_parse_bool(value);
        if (b < 0) {
            snprintf(err, errlen, "bad value '%s' for %s (yes or no)", value, key);
            return -1;
        }
        if (key[0] == 'w')
            c->write = b;
    } else if (strcmp(key, "max-clients") == 0) {
        char *end;
        unsigned long v = strtoul(value, &end, 10);
        if (!*value || *end) {
            snprintf(err, errlen, "bad value '%s' for max-clients", value);
            return -1;
        }
        c->max_clients = (unsigned)v;
    } else if (strcmp(key, "model") == 0) {
        c->model = value;
    }
    return 0;
}

static char dir[64], file[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ferry-conf-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/ferryd.conf", dir);
}

static void teardown(void)
{
    unlink(file);
    rmdir(dir);
}

static void write_file(const char *text, size_t len)
{
    FILE *f = fopen(file, "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static struct conffile_arena *load_ok(const char *text, struct cfg *c)
{
    struct conffile_arena *a = NULL;
    char err[512];

    memset(c, 0, sizeof(*c));
    write_file(text, strlen(text));
    ck_assert_msg(conffile_load(file, apply, c, &a, err, sizeof(err)) == 0, "%s", err);
    ck_assert_ptr_nonnull(a);
    return a;
}

/* Expect "<file>:<line>: <what...>" and apply called `calls` times. */
static void load_bad(const char *text, size_t len, unsigned line, const char *what, int calls)
{
    struct conffile_arena *a = (struct conffile_arena *)0x1;
    struct cfg c;
    char err[512], want[600];

    memset(&c, 0, sizeof(c));
    write_file(text, len);
    ck_assert_int_eq(conffile_load(file, apply, &c, &a, err, sizeof(err)), -1);
    ck_assert_ptr_eq(a, (struct conffile_arena *)0x1);
    snprintf(want, sizeof(want), "%s:%u: %s", file, line, what);
    ck_assert_str_eq(err, want);
    if (calls >= 0)
        ck_assert_int_eq(c.calls, calls);
}

#define BAD(text, line, what, calls) load_bad(text, sizeof(text) - 1, line, what, calls)

START_TEST(test_good_file)
{
    struct cfg c;
    struct conffile_arena *a = load_ok(
        "# ferryd.conf\n"
        "\n"
        "root = /srv/ftp\n"
        "listen = 0.0.0.0:21\n"
        "listen=[::]:21\n"
        "  write = yes\n"                 /* indented: an ordinary line */
        "; another comment\n"
        "max-clients: 500\n"              /* ':' works as '=' */
        "model = epoll ; inline comment\n"
        "pasv-ports = 50000-50100\r\n"    /* CRLF */
        "\t\n"
        "metrics = 127.0.0.1:9121", &c);  /* no final newline */

    ck_assert_str_eq(c.root, "/srv/ftp");
    ck_assert_int_eq(c.nlisten, 2);
    ck_assert_str_eq(c.listen[0], "0.0.0.0:21");
    ck_assert_str_eq(c.listen[1], "[::]:21");
    ck_assert_int_eq(c.write, 1);
    ck_assert_uint_eq(c.max_clients, 500);
    ck_assert_str_eq(c.model, "epoll");
    ck_assert_int_eq(c.calls, 8);
    /* The values outlive the load: they live in the arena. */
    unlink(file);
    ck_assert_str_eq(c.root, "/srv/ftp");
    ck_assert_str_eq(c.listen[1], "[::]:21");
    conffile_arena_free(a);
}
END_TEST

START_TEST(test_indented_line_is_not_a_continuation)
{
    struct cfg c;
    struct conffile_arena *a = load_ok("listen = 127.0.0.1:2121\n    root = /x\n", &c);

    ck_assert_int_eq(c.nlisten, 1);
    ck_assert_str_eq(c.listen[0], "127.0.0.1:2121");
    ck_assert_str_eq(c.root, "/x");
    conffile_arena_free(a);
}
END_TEST

START_TEST(test_bom_and_empty_file)
{
    struct cfg c;
    struct conffile_arena *a = load_ok("\xEF\xBB\xBFroot = /bom\n", &c);

    ck_assert_str_eq(c.root, "/bom");
    conffile_arena_free(a);
    a = load_ok("", &c);
    ck_assert_int_eq(c.calls, 0);
    conffile_arena_free(a);
    a = load_ok("# only comments\n\n", &c);
    ck_assert_int_eq(c.calls, 0);
    conffile_arena_free(a);
}
END_TEST

START_TEST(test_every_ferryd_key_is_accepted)
{
    struct cfg c;
    struct conffile_arena *a = load_ok(
        "root = /srv\nlisten = 127.0.0.1:21\nwrite = no\npasv-ports = 50000-50010\n"
        "pasv-address = 203.0.113.5\nmax-clients = 10\nmax-per-ip = 2\n"
        "login-timeout = 30\nidle-timeout = 300\ndata-timeout = 30\n"
        "stall-timeout = 300\ndrain-timeout = 30\nmodel = libev\nworkers = 2\n"
        "log-level = info\nusers = /etc/ferry/users\nuser = ferry\ngroup = ferry\n"
        "chroot = yes\nxferlog = /var/log/ferry/xferlog\nmetrics = 127.0.0.1:9121\n"
        "rate-limit = 1048576\nallow-root = no\n", &c);

    ck_assert_uint_eq(c.seen_keys, 23);
    ck_assert_int_eq(c.write, 0);
    conffile_arena_free(a);
}
END_TEST

START_TEST(test_shipped_example)
{
    struct conffile_arena *a = NULL;
    struct cfg c;
    char err[512];

    memset(&c, 0, sizeof(c));
    ck_assert_msg(conffile_load(FERRY_ETC_DIR "/ferryd.conf", apply, &c, &a, err,
                                sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(c.root, "/srv/ftp");
    ck_assert_int_eq(c.nlisten, 2);
    ck_assert_int_eq(c.write, 0);
    ck_assert_uint_eq(c.max_clients, 500);
    ck_assert_int_eq(c.calls, (int)c.seen_keys);     /* every key known */
    conffile_arena_free(a);
}
END_TEST

START_TEST(test_unknown_key)
{
    BAD("root = /srv\n# c\n\nbogus = 1\nlisten = x\n", 4, "unknown key 'bogus'", 2);
    BAD("Root = /srv\n", 1, "unknown key 'Root'", 1);     /* keys are exact */
}
END_TEST

START_TEST(test_bad_value)
{
    BAD("root = /srv\nlisten = a\nmax-clients = lots\n", 3,
        "bad value 'lots' for max-clients", 3);
    BAD("write = maybe\n", 1, "bad value 'maybe' for write (yes or no)", 1);
    BAD("root =\n", 1, "bad value '' for root", 1);
}
END_TEST

START_TEST(test_syntax_errors)
{
    /* A line with no '=': parsing stops there, later lines are not applied. */
    BAD("root = /srv\njust some words\nlisten = x\nmodel = y\n", 2,
        "expected 'key = value'", 1);
    BAD("root = /srv\nlisten x", 2, "expected 'key = value'", 1);
    BAD("= value\n", 1, "missing key before '='", 0);
    BAD("root = /srv\n[ferryd]\nlisten = x\n", 2, "sections are not used in this file", 1);
    BAD("config = /etc/other.conf\n", 1, "'config' can only be given on the command line", 0);
    BAD("help = yes\n", 1, "'help' can only be given on the command line", 0);
    BAD("root = /a\nroot = /b\0c\n", 2, "NUL byte in line", 1);
}
END_TEST

START_TEST(test_long_line)
{
    char text[1024];
    char want[64];
    int n;

    /* Exactly the limit is fine... */
    n = snprintf(text, sizeof(text), "root = /");
    memset(text + n, 'a', CONFFILE_LINE_MAX - (size_t)n);
    text[CONFFILE_LINE_MAX] = '\n';
    text[CONFFILE_LINE_MAX + 1] = '\0';
    {
        struct cfg c;
        struct conffile_arena *a = load_ok(text, &c);
        ck_assert_uint_eq(strlen(c.root), CONFFILE_LINE_MAX - 7);
        conffile_arena_free(a);
    }
    /* ...one more byte is an error, not a silently cut path. */
    n = snprintf(text, sizeof(text), "listen = x\nroot = /");
    memset(text + n, 'a', 300);
    snprintf(text + n + 300, sizeof(text) - (size_t)n - 300, "\nmodel = y\n");
    snprintf(want, sizeof(want), "line longer than %d bytes", CONFFILE_LINE_MAX);
    load_bad(text, strlen(text), 2, want, 1);
}
END_TEST

START_TEST(test_missing_file)
{
    struct conffile_arena *a = NULL;
    struct cfg c;
    char err[512];

    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(conffile_load("/nonexistent/ferryd.conf", apply, &c, &a, err,
                                   sizeof(err)), -1);
    ck_assert_str_eq(err, "/nonexistent/ferryd.conf: No such file or directory");
    ck_assert_ptr_null(a);
    conffile_arena_free(NULL);
}
END_TEST

START_TEST(test_parse_bool)
{
    ck_assert_int_eq(conffile_parse_bool("yes"), 1);
    ck_assert_int_eq(conffile_parse_bool("TRUE"), 1);
    ck_assert_int_eq(conffile_parse_bool("On"), 1);
    ck_assert_int_eq(conffile_parse_bool("1"), 1);
    ck_assert_int_eq(conffile_parse_bool(NULL), 1);
    ck_assert_int_eq(conffile_parse_bool("no"), 0);
    ck_assert_int_eq(conffile_parse_bool("false"), 0);
    ck_assert_int_eq(conffile_parse_bool("OFF"), 0);
    ck_assert_int_eq(conffile_parse_bool("0"), 0);
    ck_assert_int_eq(conffile_parse_bool(""), -1);
    ck_assert_int_eq(conffile_parse_bool("yess"), -1);
    ck_assert_int_eq(conffile_parse_bool("2"), -1);
}
END_TEST

START_TEST(test_many_values_span_arena_chunks)
{
    /* Enough values to need several arena chunks; all must survive. */
    char *text = malloc(64 * 1024);
    struct conffile_arena *a = NULL;
    struct cfg c;
    char err[512];
    size_t n = 0;
    int i;

    ck_assert_ptr_nonnull(text);
    for (i = 0; i < 400; i++)
        n += (size_t)snprintf(text + n, 64 * 1024 - n, "model = model-%03d-%s\n", i,
                              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    write_file(text, n);
    free(text);
    memset(&c, 0, sizeof(c));
    ck_assert_msg(conffile_load(file, apply, &c, &a, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(c.calls, 400);
    ck_assert_int_eq(strncmp(c.model, "model-399-", 10), 0);
    conffile_arena_free(a);
}
END_TEST

static Suite *conffile_suite(void)
{
    Suite *s = suite_create("conffile");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_good_file);
    tcase_add_test(tc, test_indented_line_is_not_a_continuation);
    tcase_add_test(tc, test_bom_and_empty_file);
    tcase_add_test(tc, test_every_ferryd_key_is_accepted);
    tcase_add_test(tc, test_shipped_example);
    tcase_add_test(tc, test_unknown_key);
    tcase_add_test(tc, test_bad_value);
    tcase_add_test(tc, test_syntax_errors);
    tcase_add_test(tc, test_long_line);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_parse_bool);
    tcase_add_test(tc, test_many_values_span_arena_chunks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conffile_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
