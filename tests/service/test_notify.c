/* Unit tests for notify: real AF_UNIX datagram sockets (a path and the
 * abstract namespace) receive what ferry sends; the watchdog variables. */
#include "ferry/notify.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char dir[64];
static char path[96];

/* A datagram socket bound to a file in a fresh directory. */
static int bind_path(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    snprintf(dir, sizeof(dir), "/tmp/ferry-notify-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/notify", dir);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void unbind_path(int fd)
{
    close(fd);
    unlink(path);
    rmdir(dir);
}

/* The next datagram, which must already be queued: a send on a local
 * datagram socket is complete when sendto() returns. */
static void expect_msg(int fd, const char *want)
{
    char buf[1024];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_str_eq(buf, want);
}

START_TEST(test_path_socket)
{
    int fd = bind_path();

    setenv("NOTIFY_SOCKET", path, 1);
    ck_assert_int_eq(notify_init(), 1);
    ck_assert_int_eq(notify_enabled(), 1);
    ck_assert_ptr_null(getenv("NOTIFY_SOCKET"));   /* not passed on */
    ck_assert_int_eq(notify_ready(), 1);
    expect_msg(fd, "READY=1");
    ck_assert_int_eq(notify_stopping(), 1);
    expect_msg(fd, "STOPPING=1");
    ck_assert_int_eq(notify_watchdog(), 1);
    expect_msg(fd, "WATCHDOG=1");
    ck_assert_int_eq(notify_send("READY=1\nSTATUS=x"), 1);
    expect_msg(fd, "READY=1\nSTATUS=x");
    unbind_path(fd);
}
END_TEST

START_TEST(test_abstract_socket)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char name[64], env[80];
    socklen_t len;
    int fd;

    /* Abstract names are per network namespace, not per directory: make
     * it unique to this process. */
    snprintf(name, sizeof(name), "ferry-test-notify-%ld", (long)getpid());
    memcpy(sa.sun_path + 1, name, strlen(name));
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, len), 0);

    snprintf(env, sizeof(env), "@%s", name);
    setenv("NOTIFY_SOCKET", env, 1);
    ck_assert_int_eq(notify_init(), 1);
    ck_assert_int_eq(notify_ready(), 1);
    expect_msg(fd, "READY=1");
    close(fd);
}
END_TEST

START_TEST(test_status_and_reloading)
{
    int fd = bind_path();
    char buf[256];
    unsigned long long usec;
    ssize_t n;
    int used = 0;

    setenv("NOTIFY_SOCKET", path, 1);
    ck_assert_int_eq(notify_init(), 1);
    ck_assert_int_eq(notify_status("%u clients, %u transfers", 3u, 1u), 1);
    expect_msg(fd, "STATUS=3 clients, 1 transfers");
    /* A newline would start a new KEY= line: it becomes a space. */
    ck_assert_int_eq(notify_status("a\nb\rc"), 1);
    expect_msg(fd, "STATUS=a b c");

    ck_assert_int_eq(notify_reloading(), 1);
    n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_int_eq(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu%n", &usec, &used), 1);
    ck_assert_int_eq(used, (int)n);
    ck_assert_uint_gt(usec, 0);
    unbind_path(fd);
}
END_TEST

START_TEST(test_long_status_is_cut)
{
    int fd = bind_path();
    char big[NOTIFY_STATUS_MAX * 2], buf[NOTIFY_STATUS_MAX * 4];
    ssize_t n;

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    setenv("NOTIFY_SOCKET", path, 1);
    ck_assert_int_eq(notify_init(), 1);
    ck_assert_int_eq(notify_status("%s", big), 1);
    n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    ck_assert_int_eq(n, 7 + NOTIFY_STATUS_MAX);
    unbind_path(fd);
}
END_TEST

START_TEST(test_no_socket_is_a_noop)
{
    unsetenv("NOTIFY_SOCKET");
    ck_assert_int_eq(notify_init(), 0);
    ck_assert_int_eq(notify_enabled(), 0);
    ck_assert_int_eq(notify_ready(), 0);
    ck_assert_int_eq(notify_status("x"), 0);
    ck_assert_int_eq(notify_reloading(), 0);
}
END_TEST

START_TEST(test_bad_socket_names)
{
    char longname[200];

    setenv("NOTIFY_SOCKET", "relative/path", 1);
    ck_assert_int_eq(notify_init(), -EINVAL);
    ck_assert_int_eq(notify_ready(), 0);
    setenv("NOTIFY_SOCKET", "@", 1);
    ck_assert_int_eq(notify_init(), -EINVAL);
    memset(longname, 'a', sizeof(longname) - 1);
    longname[0] = '/';
    longname[sizeof(longname) - 1] = '\0';
    setenv("NOTIFY_SOCKET", longname, 1);
    ck_assert_int_eq(notify_init(), -EINVAL);
    ck_assert_int_eq(notify_enabled(), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    ck_assert_int_eq(notify_init(), 0);
}
END_TEST

START_TEST(test_send_to_missing_socket_fails)
{
    setenv("NOTIFY_SOCKET", "/nonexistent-ferry-dir/notify", 1);
    ck_assert_int_eq(notify_init(), 1);
    ck_assert_int_eq(notify_ready(), -ENOENT);
}
END_TEST

START_TEST(test_watchdog_interval)
{
    char pid[32];

    unsetenv("NOTIFY_SOCKET");
    setenv("WATCHDOG_USEC", "2500000", 1);
    unsetenv("WATCHDOG_PID");
    notify_init();
    ck_assert(notify_watchdog_interval() == 2.5);
    ck_assert_ptr_null(getenv("WATCHDOG_USEC"));

    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("WATCHDOG_USEC", "30000000", 1);
    setenv("WATCHDOG_PID", pid, 1);
    notify_init();
    ck_assert(notify_watchdog_interval() == 30.0);
    ck_assert_ptr_null(getenv("WATCHDOG_PID"));

    /* Meant for another process. */
    snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
    setenv("WATCHDOG_USEC", "30000000", 1);
    setenv("WATCHDOG_PID", pid, 1);
    notify_init();
    ck_assert(notify_watchdog_interval() == 0);

    unsetenv("WATCHDOG_PID");
    setenv("WATCHDOG_USEC", "0", 1);
    notify_init();
    ck_assert(notify_watchdog_interval() == 0);
    setenv("WATCHDOG_USEC", "12abc", 1);
    notify_init();
    ck_assert(notify_watchdog_interval() == 0);
    setenv("WATCHDOG_USEC", "-5", 1);
    notify_init();
    ck_assert(notify_watchdog_interval() == 0);
    unsetenv("WATCHDOG_USEC");
    notify_init();
    ck_assert(notify_watchdog_interval() == 0);
}
END_TEST

static Suite *notify_suite(void)
{
    Suite *s = suite_create("notify");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_path_socket);
    tcase_add_test(tc, test_abstract_socket);
    tcase_add_test(tc, test_status_and_reloading);
    tcase_add_test(tc, test_long_status_is_cut);
    tcase_add_test(tc, test_no_socket_is_a_noop);
    tcase_add_test(tc, test_bad_socket_names);
    tcase_add_test(tc, test_send_to_missing_socket_fails);
    tcase_add_test(tc, test_watchdog_interval);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(notify_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
