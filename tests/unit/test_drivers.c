/* Unit tests for the event drivers epoll, poll, select and libev-lt.
 *
 * Each driver runs a real worker through the public worker API: a
 * listening socket on 127.0.0.1:0 handed to worker_init(), the worker in a
 * thread of its own, and plain blocking clients on the other side.  The
 * same checks run for every driver (Check loop tests over `drivers`):
 * accepting and answering, many clients at once, a download larger than
 * the per-turn send budget and an upload (readiness, interest changes and
 * the ready list), a timeout with no I/O at all (the wait honours the
 * worker's deadline), a stop request (wake), and a one-session worker
 * that ends by itself (the per-client models' use).  Then the driver
 * specific ones: epoll drops events of a closed-and-reused fd by
 * generation, select refuses descriptors >= FD_SETSIZE.
 *
 * Every client socket has a receive/send timeout so that a driver that
 * hangs fails the test instead of blocking it; no test asserts on time.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "ferry/config.h"
#include "ferry/driver.h"
#include "ferry/listener.h"
#include "ferry/log.h"
#include "ferry/session.h"
#include "ferry/worker.h"

static const struct driver_ops *const drivers[] = {
    &driver_epoll,
    &driver_poll,
    &driver_select,
    &driver_libev_lt,
};
#define NDRIVERS ((int)(sizeof(drivers) / sizeof(drivers[0])))

/* Larger than WORKER_SEND_BUDGET, so a download needs several turns and
 * goes through the ready list. */
#define BIG_SIZE   (3u * 1024 * 1024 + 12345)
#define UP_SIZE    (2u * 1024 * 1024 + 777)
#define IO_TIMEOUT 20   /* seconds a client waits before calling it a hang */

static char root_dir[64];

static unsigned char pattern(size_t i, unsigned seed)
{
    return (unsigned char)((i * 131u + (i >> 12) + seed) & 0xff);
}

/* ---- the server side: one worker in a thread ------------------------- */

struct rig {
    struct ferry_config cfg;
    struct server srv;
    struct worker w;
    pthread_t tid;
    int port;
    int run_result;
    int running;
};

static void *rig_thread(void *arg)
{
    struct rig *r = arg;
    r->run_result = worker_run(&r->w);
    return NULL;
}

static int listen_any(int *port)
{
    struct sockaddr_storage ss;
    struct sockaddr_in sin;
    socklen_t len;
    char err[128];
    int fd;

    ck_assert_int_eq(listener_parse("127.0.0.1:0", &ss, &len, err, sizeof(err)), 0);
    fd = listener_open(&ss, len, 128, 0);
    ck_assert_int_ge(fd, 0);
    len = sizeof(sin);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* Set up server and worker (with one listener when listen != 0) without
 * running it.  login_timeout 0 keeps the default. */
static void rig_init_tmo(struct rig *r, const struct driver_ops *drv, int listen,
                         double login_timeout)
{
    int lfd = -1;

    memset(r, 0, sizeof(*r));
    config_defaults(&r->cfg);
    if (login_timeout > 0)
        r->cfg.login_timeout = login_timeout;
    r->cfg.root = root_dir;
    r->cfg.create_root = 0;
    r->cfg.write = 1;
    r->cfg.anon_write = 1;
    r->cfg.model = drv->name;
    r->cfg.drain_timeout = 30;
    ck_assert_int_eq(server_init(&r->srv, &r->cfg), 0);
    if (listen)
        lfd = listen_any(&r->port);
    ck_assert_int_eq(worker_init(&r->w, 0, &r->srv, drv, &lfd, listen ? 1 : 0), 0);
}

static void rig_init(struct rig *r, const struct driver_ops *drv, int listen)
{
    rig_init_tmo(r, drv, listen, 0);
}

static void rig_run(struct rig *r)
{
    ck_assert_int_eq(pthread_create(&r->tid, NULL, rig_thread, r), 0);
    r->running = 1;
}

static void rig_start(struct rig *r, const struct driver_ops *drv)
{
    rig_init(r, drv, 1);
    rig_run(r);
}

/* Wait for the worker thread (it must end by itself or after a stop). */
static void rig_join(struct rig *r)
{
    ck_assert(r->running);
    ck_assert_int_eq(pthread_join(r->tid, NULL), 0);
    r->running = 0;
    ck_assert_int_eq(r->run_result, 0);
}

static void rig_request_stop(struct rig *r)
{
    atomic_store(&r->srv.stopping, 1);
    worker_request_stop(&r->w);
}

static void rig_fini(struct rig *r)
{
    worker_fini(&r->w);
    server_fini(&r->srv);
}

static void rig_stop(struct rig *r)
{
    rig_request_stop(r);
    rig_join(r);
    ck_assert_uint_eq(r->w.nsessions, 0);
    rig_fini(r);
}

/* ---- the client side: blocking sockets, one reply at a time ---------- */

struct client {
    int fd;
    size_t len;
    char buf[4096];
};

static void set_timeouts(int fd)
{
    struct timeval tv = { IO_TIMEOUT, 0 };
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
}

static int connect_port(int port)
{
    struct sockaddr_in sin = { 0 };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    set_timeouts(fd);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

static void client_open(struct client *c, int port)
{
    c->fd = connect_port(port);
    c->len = 0;
}

static void client_close(struct client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* One line without its CRLF.  Returns its length, 0 at EOF (line empty),
 * -1 on a timeout or error. */
static int read_line(struct client *c, char *line, size_t size)
{
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            size_t n = (size_t)(nl - c->buf) + 1, keep = n - 1;
            if (keep && c->buf[keep - 1] == '\r')
                keep--;
            if (keep >= size)
                keep = size - 1;
            memcpy(line, c->buf, keep);
            line[keep] = '\0';
            memmove(c->buf, c->buf + n, c->len - n);
            c->len -= n;
            return (int)keep + 1;
        }
        if (c->len == sizeof(c->buf))
            return -1;
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (r == 0) {
            line[0] = '\0';
            return 0;
        }
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c->len += (size_t)r;
    }
}

/* The final line of one reply; returns its code, 0 at EOF, -1 on error. */
static int read_reply(struct client *c, char *line, size_t size)
{
    for (;;) {
        int n = read_line(c, line, size);
        if (n <= 0)
            return n;
        if (strlen(line) >= 4 && line[3] == ' ' && line[0] >= '1' && line[0] <= '5')
            return atoi(line);
    }
}

static void send_all(int fd, const void *p, size_t len)
{
    const char *b = p;
    while (len > 0) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_msg(n > 0, "send: %s", strerror(errno));
        b += n;
        len -= (size_t)n;
    }
}

static int command(struct client *c, const char *cmd, char *line, size_t size)
{
    char out[512];
    int n = snprintf(out, sizeof(out), "%s\r\n", cmd);
    send_all(c->fd, out, (size_t)n);
    return read_reply(c, line, size);
}

static void expect(struct client *c, const char *cmd, int code)
{
    char line[512];
    int r = command(c, cmd, line, sizeof(line));
    ck_assert_msg(r == code, "%s: wanted %d, got \"%s\" (%d)", cmd, code, line, r);
}

static void login(struct client *c)
{
    char line[512];
    ck_assert_int_eq(read_reply(c, line, sizeof(line)), 220);
    expect(c, "USER anonymous", 331);
    expect(c, "PASS test@", 230);
    expect(c, "TYPE I", 200);
}

/* EPSV and connect to the port it names. */
static int open_data(struct client *c)
{
    char line[512];
    const char *p;
    ck_assert_int_eq(command(c, "EPSV", line, sizeof(line)), 229);
    p = strstr(line, "(|||");
    ck_assert_ptr_nonnull(p);
    return connect_port(atoi(p + 4));
}

/* ---- fixture: the root folder ---------------------------------------- */

static void write_file(const char *name, size_t size, unsigned seed)
{
    char path[128];
    unsigned char *data = malloc(size);
    FILE *f;

    ck_assert_ptr_nonnull(data);
    for (size_t i = 0; i < size; i++)
        data[i] = pattern(i, seed);
    snprintf(path, sizeof(path), "%s/%s", root_dir, name);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, size, f), size);
    ck_assert_int_eq(fclose(f), 0);
    free(data);
}

static void root_setup(void)
{
    snprintf(root_dir, sizeof(root_dir), "/tmp/ferry-drivers-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root_dir));
    write_file("big.bin", BIG_SIZE, 1);
}

static void root_teardown(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/big.bin", root_dir);
    unlink(path);
    for (int i = 0; i < NDRIVERS; i++) {
        snprintf(path, sizeof(path), "%s/up-%s.bin", root_dir, drivers[i]->name);
        unlink(path);
    }
    rmdir(root_dir);
}

/* ---- tests for every driver ------------------------------------------ */

START_TEST(test_banner_and_quit)
{
    struct rig r;
    struct client c;
    char line[512];

    rig_start(&r, drivers[_i]);
    client_open(&c, r.port);
    ck_assert_int_eq(read_reply(&c, line, sizeof(line)), 220);
    ck_assert_uint_eq(atomic_load(&r.srv.nsessions_total), 1);
    ck_assert_uint_eq(atomic_load(&r.srv.nclients), 1);
    expect(&c, "NOOP", 200);
    expect(&c, "QUIT", 221);
    /* The server closes after the goodbye. */
    ck_assert_int_eq(read_line(&c, line, sizeof(line)), 0);
    client_close(&c);
    rig_stop(&r);
}
END_TEST

START_TEST(test_many_clients)
{
    enum { N = 60 };
    struct rig r;
    static struct client cs[N];
    char line[512];

    rig_start(&r, drivers[_i]);
    /* All connected before any is served further: the worker holds N
     * sessions at once. */
    for (int i = 0; i < N; i++)
        client_open(&cs[i], r.port);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(read_reply(&cs[i], line, sizeof(line)), 220);
    ck_assert_uint_eq(atomic_load(&r.srv.nclients), N);
    /* Pipelined: every client sends before any reads. */
    for (int i = 0; i < N; i++)
        send_all(cs[i].fd, "NOOP\r\nSYST\r\n", 12);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(read_reply(&cs[i], line, sizeof(line)), 200);
        ck_assert_int_eq(read_reply(&cs[i], line, sizeof(line)), 215);
    }
    /* Half leave on their own, the rest are drained by the stop. */
    for (int i = 0; i < N / 2; i++) {
        expect(&cs[i], "QUIT", 221);
        client_close(&cs[i]);
    }
    rig_request_stop(&r);
    for (int i = N / 2; i < N; i++) {
        ck_assert_int_eq(read_reply(&cs[i], line, sizeof(line)), 421);
        ck_assert_int_eq(read_line(&cs[i], line, sizeof(line)), 0);
        client_close(&cs[i]);
    }
    rig_join(&r);
    ck_assert_uint_eq(r.w.nsessions, 0);
    ck_assert_uint_eq(atomic_load(&r.srv.nclients), 0);
    ck_assert_uint_eq(r.w.stats.accepted, N);
    rig_fini(&r);
}
END_TEST

START_TEST(test_download_and_upload)
{
    const struct driver_ops *drv = drivers[_i];
    struct rig r;
    struct client c;
    char line[512], name[64], path[160];
    unsigned char *buf = malloc(BIG_SIZE + 1);
    size_t got = 0;
    int d;

    ck_assert_ptr_nonnull(buf);
    rig_start(&r, drv);
    client_open(&c, r.port);
    login(&c);

    /* Download: several budgets' worth, compared byte for byte. */
    d = open_data(&c);
    expect(&c, "RETR big.bin", 150);
    for (;;) {
        ssize_t n = recv(d, buf + got, BIG_SIZE + 1 - got, 0);
        ck_assert_msg(n >= 0, "recv: %s", strerror(errno));
        if (n == 0)
            break;
        got += (size_t)n;
        ck_assert_uint_le(got, BIG_SIZE);
    }
    close(d);
    ck_assert_int_eq(read_reply(&c, line, sizeof(line)), 226);
    ck_assert_uint_eq(got, BIG_SIZE);
    for (size_t i = 0; i < got; i++)
        if (buf[i] != pattern(i, 1))
            ck_abort_msg("byte %zu differs", i);

    /* Upload: the data connection's read interest. */
    for (size_t i = 0; i < UP_SIZE; i++)
        buf[i] = pattern(i, 7);
    snprintf(name, sizeof(name), "up-%s.bin", drv->name);
    d = open_data(&c);
    snprintf(line, sizeof(line), "STOR %s", name);
    expect(&c, line, 150);
    send_all(d, buf, UP_SIZE);
    close(d);
    ck_assert_int_eq(read_reply(&c, line, sizeof(line)), 226);

    snprintf(path, sizeof(path), "%s/%s", root_dir, name);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    memset(buf, 0, UP_SIZE);
    ck_assert_uint_eq(fread(buf, 1, BIG_SIZE, f), UP_SIZE);
    fclose(f);
    for (size_t i = 0; i < UP_SIZE; i++)
        if (buf[i] != pattern(i, 7))
            ck_abort_msg("uploaded byte %zu differs", i);
    unlink(path);

    expect(&c, "QUIT", 221);
    client_close(&c);
    free(buf);
    rig_stop(&r);
}
END_TEST

START_TEST(test_timeout_without_io)
{
    struct rig r;
    struct client c;
    char line[512];

    rig_init_tmo(&r, drivers[_i], 1, 0.2);
    rig_run(&r);
    client_open(&c, r.port);
    ck_assert_int_eq(read_reply(&c, line, sizeof(line)), 220);
    /* Nothing sent: only the driver's timed wait can end this. */
    ck_assert_int_eq(read_reply(&c, line, sizeof(line)), 421);
    ck_assert_ptr_nonnull(strstr(line, "Login timeout"));
    ck_assert_int_eq(read_line(&c, line, sizeof(line)), 0);
    client_close(&c);
    rig_stop(&r);
}
END_TEST

START_TEST(test_stop_requested_before_run)
{
    struct rig r;

    /* A wake that arrives before the loop starts is not lost. */
    rig_init(&r, drivers[_i], 1);
    rig_request_stop(&r);
    ck_assert_int_eq(worker_run(&r.w), 0);
    ck_assert(r.w.stopping);
    rig_fini(&r);
}
END_TEST

START_TEST(test_stop_while_waiting)
{
    struct rig r;

    /* No client, no timer: the loop sleeps for ever unless woken. */
    rig_start(&r, drivers[_i]);
    rig_stop(&r);
}
END_TEST

START_TEST(test_solo_worker_ends_with_its_session)
{
    struct rig r;
    struct client c;
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    const char *reason;
    char line[512];
    int port, lfd, fd;

    /* As the per-client models use a driver: no listener, one session
     * handed over, and the worker is done when it leaves. */
    rig_init(&r, drivers[_i], 0);
    r.w.solo = 1;
    lfd = listen_any(&port);
    client_open(&c, port);
    /* Loopback completes the handshake within connect(); the retries
     * only cover a slow scheduler. */
    for (int tries = 0; tries < 10000; tries++) {
        fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0 || errno != EAGAIN)
            break;
        usleep(1000);
    }
    ck_assert_int_ge(fd, 0);
    close(lfd);
    ck_assert_int_eq(server_admit(&r.srv, &peer, &reason), 0);
    ck_assert_ptr_nonnull(session_new(&r.w, fd, &peer, plen));
    rig_run(&r);
    login(&c);
    /* A transfer, so that more than the control connection is polled. */
    int d = open_data(&c);
    expect(&c, "LIST", 150);
    while (recv(d, line, sizeof(line), 0) > 0)
        ;
    close(d);
    ck_assert_int_eq(read_reply(&c, line, sizeof(line)), 226);
    expect(&c, "QUIT", 221);
    client_close(&c);
    rig_join(&r);
    ck_assert_uint_eq(r.w.nsessions, 0);
    ck_assert_uint_eq(atomic_load(&r.srv.nclients), 0);
    rig_fini(&r);
}
END_TEST

/* ---- epoll: stale events --------------------------------------------- */

START_TEST(test_epoll_stale_generation)
{
    struct rig r;
    struct conn a = { 0 }, b = { 0 };
    int sv[2], fd;
    unsigned long stale;

    rig_init(&r, &driver_epoll, 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    a.fd = sv[0];
    a.kind = CONN_DATA;
    ck_assert_int_eq(worker_conn_add(&r.w, &a), 0);
    uint32_t old_gen = a.gen;
    ck_assert_ptr_eq(worker_lookup(&r.w, sv[0], old_gen), &a);

    /* Close the fd and take the same number for a new connection, as an
     * accept in the middle of an event batch would. */
    worker_conn_del(&r.w, &a);
    close(sv[0]);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(fd, sv[0]);
    b.fd = fd;
    b.kind = CONN_DATA;
    ck_assert_int_eq(worker_conn_add(&r.w, &b), 0);
    ck_assert_uint_ne(b.gen, old_gen);

    /* An event queued for the old registration finds nothing. */
    stale = r.w.stats.stale_events;
    ck_assert_ptr_null(worker_lookup(&r.w, fd, old_gen));
    ck_assert_uint_eq(r.w.stats.stale_events, stale + 1);
    ck_assert_ptr_eq(worker_lookup(&r.w, fd, b.gen), &b);
    ck_assert_uint_eq(r.w.stats.stale_events, stale + 1);

    worker_conn_del(&r.w, &b);
    ck_assert_ptr_null(worker_lookup(&r.w, fd, b.gen));
    close(fd);
    close(sv[1]);
    rig_fini(&r);
}
END_TEST

/* ---- select: FD_SETSIZE ---------------------------------------------- */

/* Room for descriptors past FD_SETSIZE.  0, or -1 when the hard limit
 * does not allow it (the test then has nothing to check). */
static int raise_nofile(void)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur >= FD_SETSIZE + 64)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < FD_SETSIZE + 64)
        return -1;
    rl.rlim_cur = FD_SETSIZE + 64;
    return setrlimit(RLIMIT_NOFILE, &rl) == 0 ? 0 : -1;
}

START_TEST(test_select_refuses_high_fd)
{
    struct rig r;
    struct conn c = { 0 };
    int sock, high = FD_SETSIZE + 8;

    if (raise_nofile() < 0) {
        fprintf(stderr, "test_select_refuses_high_fd: RLIMIT_NOFILE too low, skipped\n");
        return;
    }
    rig_init(&r, &driver_select, 0);
    sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(sock, 0);
    ck_assert_int_eq(dup2(sock, high), high);
    close(sock);
    c.fd = high;
    c.kind = CONN_DATA;
    ck_assert_int_eq(worker_conn_add(&r.w, &c), -EMFILE);
    ck_assert(!c.in_table);
    ck_assert_ptr_null(worker_lookup(&r.w, high, c.gen));
    /* FD_SETSIZE - 1 is the last one select can watch. */
    ck_assert_int_eq(dup2(high, FD_SETSIZE - 1), FD_SETSIZE - 1);
    c.fd = FD_SETSIZE - 1;
    ck_assert_int_eq(worker_conn_add(&r.w, &c), 0);
    worker_conn_del(&r.w, &c);
    close(FD_SETSIZE - 1);
    close(high);
    rig_fini(&r);
}
END_TEST

START_TEST(test_select_high_fd_client_refused_server_goes_on)
{
    struct rig r;
    struct client c;
    char line[512];
    int *fill, nfill = 0, devnull, n;

    if (raise_nofile() < 0) {
        fprintf(stderr, "test_select_high_fd_client: RLIMIT_NOFILE too low, skipped\n");
        return;
    }
    rig_start(&r, &driver_select);
    /* Take every descriptor below FD_SETSIZE, so that the server accepts
     * the next client on one select cannot watch. */
    fill = calloc(FD_SETSIZE, sizeof(*fill));
    ck_assert_ptr_nonnull(fill);
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(devnull, 0);
    fill[nfill++] = devnull;
    for (;;) {
        int fd = dup(devnull);
        ck_assert_int_ge(fd, 0);
        fill[nfill++] = fd;
        if (fd >= FD_SETSIZE - 1)
            break;
        ck_assert_int_lt(nfill, FD_SETSIZE);
    }
    client_open(&c, r.port);
    ck_assert_int_ge(c.fd, FD_SETSIZE);
    /* Refused: never a banner.  (A 421 line first, or just the close.) */
    n = read_line(&c, line, sizeof(line));
    ck_assert_int_ge(n, 0);
    if (n > 0)
        ck_assert_msg(strncmp(line, "421", 3) == 0, "got \"%s\"", line);
    client_close(&c);
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    free(fill);

    /* Low descriptors again: the worker serves as before. */
    client_open(&c, r.port);
    ck_assert_int_eq(read_reply(&c, line, sizeof(line)), 220);
    expect(&c, "QUIT", 221);
    client_close(&c);
    rig_stop(&r);
}
END_TEST

static Suite *drivers_suite(void)
{
    Suite *s = suite_create("drivers");
    TCase *tc = tcase_create("all");

    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_banner_and_quit, 0, NDRIVERS);
    tcase_add_loop_test(tc, test_many_clients, 0, NDRIVERS);
    tcase_add_loop_test(tc, test_download_and_upload, 0, NDRIVERS);
    tcase_add_loop_test(tc, test_timeout_without_io, 0, NDRIVERS);
    tcase_add_loop_test(tc, test_stop_requested_before_run, 0, NDRIVERS);
    tcase_add_loop_test(tc, test_stop_while_waiting, 0, NDRIVERS);
    tcase_add_loop_test(tc, test_solo_worker_ends_with_its_session, 0, NDRIVERS);
    suite_add_tcase(s, tc);

    tc = tcase_create("specific");
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_epoll_stale_generation);
    tcase_add_test(tc, test_select_refuses_high_fd);
    tcase_add_test(tc, test_select_high_fd_client_refused_server_goes_on);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    /* The drivers log every connection; the tests want only problems. */
    log_set_level(LOG_WARN);
    signal(SIGPIPE, SIG_IGN);
    sr = srunner_create(drivers_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
