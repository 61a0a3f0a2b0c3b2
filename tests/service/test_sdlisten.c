/* Unit tests for sdlisten: real sockets are put at descriptors 3, 4, ...
 * with the LISTEN_* variables set, as systemd does.
 *
 * Check keeps descriptors of its own open in the test process (its
 * message file may well be fd 3), so every scenario runs in a child of
 * the test, which may clobber fds 3.. freely and reports through a pipe
 * kept at a high descriptor. */
#include "ferry/sdlisten.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define REPORT_FD 200
#define PARK_FD   100          /* sockets wait here before moving to 3.. */

enum sock_kind { TCP4, TCP6, TCP4_UNLISTENED, UDP4, UNIX_STREAM, CLOSED };

struct report {
    int r;
    char err[256];
    struct sdlisten_fd fds[4];
    int nonblock[4], cloexec[4];
    unsigned short port[4];     /* the port each socket was bound to */
    int env_left;               /* LISTEN_* variables still set */
};

/* Make a socket of the given kind, blocking and inheritable (so that the
 * test sees sdlisten change both), parked at PARK_FD + i. */
static int make_socket(enum sock_kind kind, int i, unsigned short *port)
{
    int fd = -1, one = 1;

    *port = 0;
    switch (kind) {
    case TCP4: case TCP4_UNLISTENED: case UDP4: {
        struct sockaddr_in sa = { .sin_family = AF_INET };
        socklen_t len = sizeof(sa);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, kind == UDP4 ? SOCK_DGRAM : SOCK_STREAM, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            return -1;
        if (kind == TCP4 && listen(fd, 8) < 0)
            return -1;
        getsockname(fd, (struct sockaddr *)&sa, &len);
        *port = ntohs(sa.sin_port);
        break;
    }
    case TCP6: {
        struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
        socklen_t len = sizeof(sa);
        sa.sin6_addr = in6addr_loopback;
        fd = socket(AF_INET6, SOCK_STREAM, 0);
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0)
            return -1;
        getsockname(fd, (struct sockaddr *)&sa, &len);
        *port = ntohs(sa.sin6_port);
        break;
    }
    case UNIX_STREAM: {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        /* Autobind: an abstract name the kernel picks. */
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa_family_t)) < 0 ||
            listen(fd, 8) < 0)
            return -1;
        break;
    }
    case CLOSED:
        return 0;
    }
    if (dup2(fd, PARK_FD + i) < 0)
        return -1;
    close(fd);
    return 0;
}

/* In the child: set up the sockets and variables, call sdlisten_take,
 * describe the outcome.  pid_delta != 0 sets LISTEN_PID to another pid. */
static void child(const enum sock_kind *kinds, int n, const char *nfds, const char *names,
                  int pid_delta, int max, struct report *rep)
{
    char pid[32];
    int i;

    memset(rep, 0, sizeof(*rep));
    for (i = 0; i < n; i++)
        if (make_socket(kinds[i], i, &rep->port[i]) < 0)
            _exit(3);
    for (i = 0; i < n; i++) {
        if (kinds[i] == CLOSED)
            close(SD_LISTEN_FDS_START + i);
        else if (dup2(PARK_FD + i, SD_LISTEN_FDS_START + i) < 0)
            _exit(4);
        close(PARK_FD + i);
    }
    snprintf(pid, sizeof(pid), "%ld", (long)getpid() + pid_delta);
    setenv("LISTEN_PID", pid, 1);
    if (nfds)
        setenv("LISTEN_FDS", nfds, 1);
    else
        unsetenv("LISTEN_FDS");
    if (names)
        setenv("LISTEN_FDNAMES", names, 1);
    else
        unsetenv("LISTEN_FDNAMES");

    rep->r = sdlisten_take(rep->fds, max, rep->err, sizeof(rep->err));
    for (i = 0; i < rep->r && i < 4; i++) {
        rep->nonblock[i] = (fcntl(rep->fds[i].fd, F_GETFL) & O_NONBLOCK) != 0;
        rep->cloexec[i] = (fcntl(rep->fds[i].fd, F_GETFD) & FD_CLOEXEC) != 0;
    }
    rep->env_left = (getenv("LISTEN_PID") != NULL) + (getenv("LISTEN_FDS") != NULL) +
                    (getenv("LISTEN_FDNAMES") != NULL);
}

static void run(const enum sock_kind *kinds, int n, const char *nfds, const char *names,
                int pid_delta, int max, struct report *rep)
{
    int p[2], status;
    pid_t pid;
    ssize_t got;

    ck_assert_int_eq(pipe(p), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct report r;
        if (dup2(p[1], REPORT_FD) < 0)
            _exit(2);
        close(p[0]);
        close(p[1]);
        child(kinds, n, nfds, names, pid_delta, max, &r);
        _exit(write(REPORT_FD, &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 5);
    }
    close(p[1]);
    got = read(p[0], rep, sizeof(*rep));
    close(p[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child failed setting up (status %d)", status);
    ck_assert_int_eq(got, (ssize_t)sizeof(*rep));
}

START_TEST(test_two_listeners_with_names)
{
    enum sock_kind k[] = { TCP4, TCP6 };
    struct report rep;

    run(k, 2, "2", "ftp:ftp6", 0, 4, &rep);
    ck_assert_msg(rep.r == 2, "r=%d err=%s", rep.r, rep.err);
    ck_assert_int_eq(rep.fds[0].fd, 3);
    ck_assert_int_eq(rep.fds[1].fd, 4);
    ck_assert_str_eq(rep.fds[0].name, "ftp");
    ck_assert_str_eq(rep.fds[1].name, "ftp6");
    ck_assert_int_eq(rep.fds[0].family, AF_INET);
    ck_assert_int_eq(rep.fds[1].family, AF_INET6);
    ck_assert_int_eq(ntohs(((struct sockaddr_in *)&rep.fds[0].addr)->sin_port), rep.port[0]);
    ck_assert_int_eq(ntohs(((struct sockaddr_in6 *)&rep.fds[1].addr)->sin6_port), rep.port[1]);
    ck_assert_int_eq(rep.nonblock[0] + rep.nonblock[1], 2);
    ck_assert_int_eq(rep.cloexec[0] + rep.cloexec[1], 2);
    ck_assert_int_eq(rep.env_left, 0);
}
END_TEST

START_TEST(test_no_names_is_unknown)
{
    enum sock_kind k[] = { TCP4 };
    struct report rep;

    run(k, 1, "1", NULL, 0, 4, &rep);
    ck_assert_msg(rep.r == 1, "r=%d err=%s", rep.r, rep.err);
    ck_assert_str_eq(rep.fds[0].name, "unknown");
    ck_assert_int_eq(rep.nonblock[0], 1);
}
END_TEST

START_TEST(test_empty_name_is_unknown)
{
    enum sock_kind k[] = { TCP4, TCP4 };
    struct report rep;

    run(k, 2, "2", ":b", 0, 4, &rep);
    ck_assert_msg(rep.r == 2, "r=%d err=%s", rep.r, rep.err);
    ck_assert_str_eq(rep.fds[0].name, "unknown");
    ck_assert_str_eq(rep.fds[1].name, "b");
}
END_TEST

START_TEST(test_not_activated)
{
    enum sock_kind k[] = { TCP4 };
    struct report rep;

    run(k, 1, NULL, NULL, 0, 4, &rep);
    ck_assert_int_eq(rep.r, 0);
    ck_assert_int_eq(rep.env_left, 0);
}
END_TEST

START_TEST(test_other_pid_is_not_ours)
{
    enum sock_kind k[] = { TCP4 };
    struct report rep;

    run(k, 1, "1", "ftp", 1, 4, &rep);
    ck_assert_int_eq(rep.r, 0);
    ck_assert_int_eq(rep.env_left, 0);
}
END_TEST

START_TEST(test_zero_fds)
{
    struct report rep;

    run(NULL, 0, "0", NULL, 0, 4, &rep);
#ifdef FERRY_HAVE_LIBSYSTEMD
    /* libsystemd (252) finds no names for zero sockets and says EINVAL;
     * a service manager never passes LISTEN_FDS=0.  Either way, nothing
     * is taken and ferryd does not start on a half-read hand-over. */
    ck_assert_int_le(rep.r, 0);
#else
    ck_assert_int_eq(rep.r, 0);
#endif
}
END_TEST

START_TEST(test_not_listening_is_refused)
{
    enum sock_kind k[] = { TCP4, TCP4_UNLISTENED };
    struct report rep;

    run(k, 2, "2", NULL, 0, 4, &rep);
    ck_assert_int_eq(rep.r, -1);
    ck_assert_msg(strstr(rep.err, "descriptor 4 is not listening"), "%s", rep.err);
    ck_assert_int_eq(rep.env_left, 0);
}
END_TEST

START_TEST(test_datagram_is_refused)
{
    enum sock_kind k[] = { UDP4 };
    struct report rep;

    run(k, 1, "1", NULL, 0, 4, &rep);
    ck_assert_int_eq(rep.r, -1);
    ck_assert_msg(strstr(rep.err, "not a stream socket"), "%s", rep.err);
}
END_TEST

START_TEST(test_unix_socket_is_refused)
{
    enum sock_kind k[] = { UNIX_STREAM };
    struct report rep;

    run(k, 1, "1", NULL, 0, 4, &rep);
    ck_assert_int_eq(rep.r, -1);
    ck_assert_msg(strstr(rep.err, "not an IPv4 or IPv6"), "%s", rep.err);
}
END_TEST

START_TEST(test_closed_descriptor_is_refused)
{
    enum sock_kind k[] = { CLOSED };
    struct report rep;

    run(k, 1, "1", NULL, 0, 4, &rep);
    ck_assert_int_eq(rep.r, -1);
#ifdef FERRY_HAVE_LIBSYSTEMD
    /* libsystemd fails on it first (setting FD_CLOEXEC). */
    ck_assert_msg(strstr(rep.err, "Bad file descriptor"), "%s", rep.err);
#else
    ck_assert_msg(strstr(rep.err, "descriptor 3"), "%s", rep.err);
#endif
}
END_TEST

START_TEST(test_bad_variables)
{
    enum sock_kind k[] = { TCP4, TCP4 };
    struct report rep;

    run(k, 2, "two", NULL, 0, 4, &rep);
    ck_assert_int_eq(rep.r, -1);
    ck_assert_msg(strstr(rep.err, "LISTEN_FDS"), "%s", rep.err);
    run(k, 2, "-1", NULL, 0, 4, &rep);
    ck_assert_int_eq(rep.r, -1);
    run(k, 2, "2", "only-one", 0, 4, &rep);
    ck_assert_int_eq(rep.r, -1);
#ifdef FERRY_HAVE_LIBSYSTEMD
    ck_assert_msg(strstr(rep.err, "LISTEN_FDNAMES"), "%s", rep.err);
#else
    ck_assert_msg(strstr(rep.err, "LISTEN_FDNAMES has 1 names for 2"), "%s", rep.err);
#endif
    ck_assert_int_eq(rep.env_left, 0);
    run(k, 2, "2", NULL, 0, 1, &rep);
    ck_assert_int_eq(rep.r, -1);
    ck_assert_msg(strstr(rep.err, "at most 1"), "%s", rep.err);
}
END_TEST

static Suite *sdlisten_suite(void)
{
    Suite *s = suite_create("sdlisten");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_two_listeners_with_names);
    tcase_add_test(tc, test_no_names_is_unknown);
    tcase_add_test(tc, test_empty_name_is_unknown);
    tcase_add_test(tc, test_not_activated);
    tcase_add_test(tc, test_other_pid_is_not_ours);
    tcase_add_test(tc, test_zero_fds);
    tcase_add_test(tc, test_not_listening_is_refused);
    tcase_add_test(tc, test_datagram_is_refused);
    tcase_add_test(tc, test_unix_socket_is_refused);
    tcase_add_test(tc, test_closed_descriptor_is_refused);
    tcase_add_test(tc, test_bad_variables);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sdlisten_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
