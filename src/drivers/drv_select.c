/* drv_select: a level-triggered loop over select().
 *
 * The oldest multiplexer, kept to show its costs: fd_set is a bitmap of
 * FD_SETSIZE (1024) bits, so descriptors at or above it cannot be watched
 * at all -- FD_SET on one writes past the set, undefined behaviour that
 * glibc's fortified build aborts on.  `add` refuses such a descriptor with
 * -EMFILE before it can reach FD_SET, and the worker refuses the client.
 * Each call copies both sets into the kernel and back, and both sides scan
 * every bit up to the highest fd.
 *
 * Interest is two master sets (read, write), updated by `interest`; a
 * connection that wants nothing is in neither.  The driver's own table
 * maps fd -> conn (bounded by FD_SETSIZE, so a fixed array), and the
 * ready descriptors are copied out as (fd, generation) before any is
 * handed to the worker: a handler may close an fd and reuse the number,
 * and worker_lookup() then drops the stale entry.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <unistd.h>

#include "ferry/driver.h"
#include "ferry/worker.h"

struct fired {
    int      fd;
    uint32_t gen;
    int      ev;
};

struct drv_select {
    fd_set        rd, wr;              /* interest */
    fd_set        rd_out, wr_out;      /* results of the last select() */
    int           maxfd;               /* highest fd registered, or the eventfd */
    int           evfd;
    struct conn  *byfd[FD_SETSIZE];
    struct fired  fired[FD_SETSIZE];
};

/* Time from now until the deadline next, rounded up to a microsecond;
 * NULL (wait for ever) when there is none. */
static struct timeval *wait_tv(struct timeval *tv, double next, double now)
{
    if (next < 0)
        return NULL;
    double s = next - now;
    if (s <= 0) {
        tv->tv_sec = 0;
        tv->tv_usec = 0;
        return tv;
    }
    if (s > 86400.0 * 365)
        s = 86400.0 * 365;   /* loops after a year; no overflow */
    tv->tv_sec = (time_t)s;
    double us = (s - (double)tv->tv_sec) * 1e6;
    tv->tv_usec = (suseconds_t)us;
    if ((double)tv->tv_usec < us)
        tv->tv_usec++;
    if (tv->tv_usec >= 1000000) {
        tv->tv_sec++;
        tv->tv_usec -= 1000000;
    }
    return tv;
}

static int select_init(struct worker *w)
{
    struct drv_select *d = calloc(1, sizeof(*d));
    int r;

    if (!d)
        return -ENOMEM;
    d->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (d->evfd < 0) {
        r = -errno;
        free(d);
        return r;
    }
    if (d->evfd >= FD_SETSIZE) {
        close(d->evfd);
        free(d);
        return -EMFILE;
    }
    FD_ZERO(&d->rd);
    FD_ZERO(&d->wr);
    FD_SET(d->evfd, &d->rd);
    d->maxfd = d->evfd;
    w->drv_state = d;
    return 0;
}

static void select_fini(struct worker *w)
{
    struct drv_select *d = w->drv_state;
    if (!d)
        return;
    close(d->evfd);
    free(d);
    w->drv_state = NULL;
}

/* Put c's fd in the sets its interest asks for.  A passive data listener
 * wants its client for as long as it is open (the session sets its
 * want_read after registering it). */
static void set_interest(struct drv_select *d, const struct conn *c)
{
    if (c->want_read || c->kind == CONN_PASV)
        FD_SET(c->fd, &d->rd);
    else
        FD_CLR(c->fd, &d->rd);
    if (c->want_write)
        FD_SET(c->fd, &d->wr);
    else
        FD_CLR(c->fd, &d->wr);
}

static int select_add(struct worker *w, struct conn *c)
{
    struct drv_select *d = w->drv_state;
    /* The one check that keeps an fd >= FD_SETSIZE away from FD_SET. */
    if (c->fd < 0 || c->fd >= FD_SETSIZE)
        return -EMFILE;
    if (d->byfd[c->fd])
        return -EEXIST;
    d->byfd[c->fd] = c;
    set_interest(d, c);
    if (c->fd > d->maxfd)
        d->maxfd = c->fd;
    return 0;
}

static void select_del(struct worker *w, struct conn *c)
{
    struct drv_select *d = w->drv_state;
    if (c->fd < 0 || c->fd >= FD_SETSIZE || d->byfd[c->fd] != c)
        return;
    d->byfd[c->fd] = NULL;
    FD_CLR(c->fd, &d->rd);
    FD_CLR(c->fd, &d->wr);
    while (d->maxfd > d->evfd && !d->byfd[d->maxfd])
        d->maxfd--;
}

static void select_interest(struct worker *w, struct conn *c)
{
    struct drv_select *d = w->drv_state;
    if (c->fd >= 0 && c->fd < FD_SETSIZE && d->byfd[c->fd] == c)
        set_interest(d, c);
}

static void drain_wake(struct drv_select *d)
{
    uint64_t v;
    /* EAGAIN only: another thread's wake was already consumed. */
    (void)!read(d->evfd, &v, sizeof(v));
}

/* Copy out the ready descriptors, then hand them to the worker.  Returns
 * 1 when the wake-up fired. */
static int dispatch(struct worker *w, struct drv_select *d, int nready)
{
    int woke = 0, k = 0;

    /* nready counts set bits in both sets; a socket ready both ways is
     * counted twice. */
    for (int fd = 0; fd <= d->maxfd && nready > 0; fd++) {
        int ev = 0;
        if (FD_ISSET(fd, &d->rd_out)) {
            ev |= WEV_READ;
            nready--;
        }
        if (FD_ISSET(fd, &d->wr_out)) {
            ev |= WEV_WRITE;
            nready--;
        }
        if (!ev)
            continue;
        if (fd == d->evfd) {
            drain_wake(d);
            woke = 1;
            continue;
        }
        struct conn *c = d->byfd[fd];
        if (!c)
            continue;
        d->fired[k].fd = fd;
        d->fired[k].gen = c->gen;
        d->fired[k].ev = ev;
        k++;
    }
    for (int j = 0; j < k; j++) {
        struct conn *c = worker_lookup(w, d->fired[j].fd, d->fired[j].gen);
        if (c)
            worker_event(w, c, d->fired[j].ev);
    }
    return woke;
}

static int select_run(struct worker *w)
{
    struct drv_select *d = w->drv_state;

    w->now = worker_clock();
    worker_check_stop(w);
    while (!worker_done(w)) {
        struct timeval tv, *tvp;
        int busy = worker_run_ready(w);
        w->now = worker_clock();
        double next = worker_expire(w);
        if (worker_done(w))
            break;
        if (busy || w->nready) {
            tv.tv_sec = 0;
            tv.tv_usec = 0;
            tvp = &tv;
        } else {
            tvp = wait_tv(&tv, next, w->now);
        }
        /* select() overwrites its sets: hand it copies. */
        d->rd_out = d->rd;
        d->wr_out = d->wr;
        int n = select(d->maxfd + 1, &d->rd_out, &d->wr_out, NULL, tvp);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        w->now = worker_clock();
        if (n > 0 && dispatch(w, d, n))
            worker_check_stop(w);
        w->stats.loops++;
    }
    return 0;
}

static void select_wake(struct worker *w)
{
    struct drv_select *d = w->drv_state;
    uint64_t one = 1;
    /* Thread-safe and async-signal-safe (a single write(2)): the
     * per-client models call this from a signal handler.  Fails only when
     * the counter is saturated, i.e. a wake is pending anyway. */
    (void)!write(d->evfd, &one, sizeof(one));
}

const struct driver_ops driver_select = {
    .name = "select",
    .edge = 0,
    .init = select_init,
    .fini = select_fini,
    .add = select_add,
    .del = select_del,
    .interest = select_interest,
    .run = select_run,
    .wake = select_wake,
};
