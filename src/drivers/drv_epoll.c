/* drv_epoll: a raw edge-triggered epoll loop, no libev.
 *
 * The same epoll set as the libev model (each socket registered once with
 * EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET), but the loop is ferry's own: the
 * timeout of epoll_wait is the worker's next deadline, and an eventfd in
 * the set wakes it for a stop.  Measuring this against `libev` shows what
 * libev itself costs.
 *
 * Traps handled here (libev's ev_epoll.c lists the same ones):
 * - Readiness belongs to the open file description, not the number: an
 *   fd closed and reused while a batch is being handled would receive its
 *   predecessor's event.  Each event carries (fd, generation) and
 *   worker_lookup() drops the stale ones.
 * - EPOLL_CTL_DEL before close (del is called before the caller closes):
 *   a description still open elsewhere (a child of the fork model, a dup)
 *   would otherwise keep reporting into this set.
 * - Edge triggering reports a direction once.  The worker keeps
 *   readable/writable until EAGAIN, and a connection that ran out of
 *   budget sits on the ready list; the loop does not block while that
 *   list is not empty.
 * - epoll_wait takes milliseconds: the wait is rounded up, so the loop
 *   never wakes just before a deadline and spins until it passes.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ferry/driver.h"
#include "ferry/worker.h"

#define EVENTS_PER_WAIT 256

/* The wake-up eventfd's event: fd -1 is never registered, so no
 * connection's (fd, gen) can look like this. */
#define WAKE_TOKEN UINT64_MAX

struct drv_epoll {
    int epfd;
    int evfd;
    struct epoll_event events[EVENTS_PER_WAIT];
};

static inline uint64_t pack(int fd, uint32_t gen)
{
    return (uint64_t)(uint32_t)fd | ((uint64_t)gen << 32);
}

/* Milliseconds from now until the deadline next (-1: none), rounded up. */
static int wait_ms(double next, double now)
{
    if (next < 0)
        return -1;
    double ms = (next - now) * 1e3;
    if (ms <= 0)
        return 0;
    if (ms >= (double)INT_MAX)
        return INT_MAX;
    int r = (int)ms;      /* truncates; round up without libm's ceil */
    return r < ms ? r + 1 : r;
}

static int epoll_init(struct worker *w)
{
    struct drv_epoll *d = calloc(1, sizeof(*d));
    struct epoll_event ev = { 0 };
    int r;

    if (!d)
        return -ENOMEM;
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (d->epfd < 0) {
        r = -errno;
        goto fail_free;
    }
    d->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (d->evfd < 0) {
        r = -errno;
        goto fail_epfd;
    }
    /* Level-triggered: a wake that arrives while one is being handled
     * is seen on the next wait. */
    ev.events = EPOLLIN;
    ev.data.u64 = WAKE_TOKEN;
    if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->evfd, &ev) < 0) {
        r = -errno;
        goto fail_evfd;
    }
    w->drv_state = d;
    return 0;

fail_evfd:
    close(d->evfd);
fail_epfd:
    close(d->epfd);
fail_free:
    free(d);
    return r;
}

static void epoll_fini(struct worker *w)
{
    struct drv_epoll *d = w->drv_state;
    if (!d)
        return;
    close(d->evfd);
    close(d->epfd);
    free(d);
    w->drv_state = NULL;
}

static int epoll_add(struct worker *w, struct conn *c)
{
    struct drv_epoll *d = w->drv_state;
    struct epoll_event ev = { 0 };

    /* Listening sockets are never writable; everything else is watched
     * for both directions from the start, so interest never changes. */
    ev.events = EPOLLET | EPOLLIN | EPOLLRDHUP;
    if (c->kind != CONN_LISTEN && c->kind != CONN_PASV)
        ev.events |= EPOLLOUT;
    ev.data.u64 = pack(c->fd, c->gen);
    if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        return -errno;
    return 0;
}

static void epoll_del(struct worker *w, struct conn *c)
{
    struct drv_epoll *d = w->drv_state;
    /* Cannot fail for a registered fd; nothing to do if it did. */
    (void)epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
}

static void epoll_interest(struct worker *w, struct conn *c)
{
    /* Edge-triggered: registered once for everything. */
    (void)w;
    (void)c;
}

static void drain_wake(struct drv_epoll *d)
{
    uint64_t v;
    /* EAGAIN only: another thread's wake was already consumed. */
    (void)!read(d->evfd, &v, sizeof(v));
}

/* Hand one batch to the worker.  Returns 1 when it held a wake-up. */
static int dispatch(struct worker *w, struct drv_epoll *d, int n)
{
    int woke = 0;
    for (int i = 0; i < n; i++) {
        uint64_t u = d->events[i].data.u64;
        if (u == WAKE_TOKEN) {
            drain_wake(d);
            woke = 1;
            continue;
        }
        /* Any earlier handler of this batch may have closed this fd, or
         * closed it and accepted a new client on the same number. */
        struct conn *c = worker_lookup(w, (int)(uint32_t)u, (uint32_t)(u >> 32));
        if (!c)
            continue;
        uint32_t e = d->events[i].events;
        int ev = 0;
        if (e & EPOLLIN)
            ev |= WEV_READ;
        if (e & EPOLLOUT)
            ev |= WEV_WRITE;
        if (e & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
            ev |= WEV_HUP;
        worker_event(w, c, ev);
    }
    return woke;
}

static int epoll_run(struct worker *w)
{
    struct drv_epoll *d = w->drv_state;

    w->now = worker_clock();
    worker_check_stop(w);
    while (!worker_done(w)) {
        int busy = worker_run_ready(w);
        w->now = worker_clock();
        double next = worker_expire(w);
        if (worker_done(w))
            break;
        /* Timeouts may have queued more; either way, do not block. */
        int timeout = busy || w->nready ? 0 : wait_ms(next, w->now);
        int n = epoll_wait(d->epfd, d->events, EVENTS_PER_WAIT, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        w->now = worker_clock();
        if (dispatch(w, d, n))
            worker_check_stop(w);
        w->stats.loops++;
    }
    return 0;
}

static void epoll_wake(struct worker *w)
{
    struct drv_epoll *d = w->drv_state;
    uint64_t one = 1;
    /* Thread-safe and async-signal-safe (a single write(2)): the
     * per-client models call this from a signal handler.  Fails only when
     * the counter is saturated, i.e. a wake is pending anyway. */
    (void)!write(d->evfd, &one, sizeof(one));
}

const struct driver_ops driver_epoll = {
    .name = "epoll",
    .edge = 1,
    .init = epoll_init,
    .fini = epoll_fini,
    .add = epoll_add,
    .del = epoll_del,
    .interest = epoll_interest,
    .run = epoll_run,
    .wake = epoll_wake,
};
