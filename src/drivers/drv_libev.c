/* drv_libev: the default model -- a libev loop over ferry's own
 * edge-triggered epoll set.
 *
 * libev's epoll backend is level-triggered: every socket with unread input
 * or free send space would be reported on every iteration.  So the
 * sockets live in an epoll set of ferry's own, registered once with
 * EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET, and libev watches only that epoll
 * descriptor (one ev_io).  Its callback drains the set with
 * epoll_wait(..., 0).  libev still brings what it is good at: the
 * timer for the timeout lists, an ev_async to wake the loop for a stop,
 * and the prepare/idle pair that keeps the loop from blocking while
 * connections wait on the ready list.
 *
 * Traps handled here:
 * - epoll reports readiness of the *file description*; an fd closed and
 *   reused within one epoll_wait batch would get its predecessor's event.
 *   Each event carries (fd, generation) and worker_lookup() drops stale
 *   ones.
 * - EPOLL_CTL_DEL before close: a descriptor shared with a child (fork
 *   model) stays in the set after close, since epoll tracks descriptions.
 * - Edge triggering reports a direction once: the worker keeps readable /
 *   writable until EAGAIN and a budget-limited connection goes on the
 *   ready list, which the prepare watcher runs before libev blocks.
 */
#include <errno.h>
#include <ev.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ferry/driver.h"
#include "ferry/worker.h"

#define EVENTS_PER_WAIT 256

struct drv_libev {
    struct ev_loop *loop;
    int             epfd;
    ev_io           epw;       /* the epoll descriptor */
    ev_timer        timer;     /* next timeout deadline */
    ev_prepare      prepare;   /* run the ready list, re-arm the timer */
    ev_idle         idle;      /* keeps the loop from blocking */
    ev_async        wake;
    struct epoll_event events[EVENTS_PER_WAIT];
};

static inline uint64_t pack(int fd, uint32_t gen)
{
    return (uint64_t)(uint32_t)fd | ((uint64_t)gen << 32);
}

static void rearm(struct worker *w, struct drv_libev *d)
{
    w->now = worker_clock();
    double next = worker_expire(w);
    ev_timer_stop(d->loop, &d->timer);
    if (next >= 0) {
        double after = next - w->now;
        ev_timer_set(&d->timer, after > 0 ? after : 0, 0.);
        ev_timer_start(d->loop, &d->timer);
    }
}

static void finish_if_done(struct worker *w, struct drv_libev *d)
{
    if (worker_done(w))
        ev_break(d->loop, EVBREAK_ALL);
}

static void epoll_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct worker *w = ev_userdata(loop);
    struct drv_libev *d = w->drv_state;
    int n;
    (void)io;
    (void)revents;

    w->now = worker_clock();
    /* Drain the set: a full batch means more may be waiting. */
    do {
        n = epoll_wait(d->epfd, d->events, EVENTS_PER_WAIT, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < n; i++) {
            uint64_t u = d->events[i].data.u64;
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
    } while (n == EVENTS_PER_WAIT);
    w->stats.loops++;
    finish_if_done(w, d);
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = ev_userdata(loop);
    (void)t;
    (void)revents;
    rearm(w, w->drv_state);
    finish_if_done(w, w->drv_state);
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
    struct worker *w = ev_userdata(loop);
    struct drv_libev *d = w->drv_state;
    (void)p;
    (void)revents;

    w->now = worker_clock();
    if (worker_run_ready(w)) {
        /* Still work queued: an active idle watcher makes libev poll
         * without blocking, and prepare runs the list again next time. */
        if (!ev_is_active(&d->idle))
            ev_idle_start(loop, &d->idle);
    } else if (ev_is_active(&d->idle)) {
        ev_idle_stop(loop, &d->idle);
    }
    rearm(w, d);
    finish_if_done(w, d);
}

static void idle_cb(struct ev_loop *loop, ev_idle *i, int revents)
{
    (void)loop;
    (void)i;
    (void)revents;
}

static void wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
    struct worker *w = ev_userdata(loop);
    (void)a;
    (void)revents;
    w->now = worker_clock();
    worker_check_stop(w);
    rearm(w, w->drv_state);
    finish_if_done(w, w->drv_state);
}

static int libev_init(struct worker *w)
{
    struct drv_libev *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (d->epfd < 0) {
        int e = errno;
        free(d);
        return -e;
    }
    /* EVFLAG_NOSIGMASK: the loop never touches the signal mask; main()
     * owns signals.  EVBACKEND_EPOLL where available, whatever else
     * otherwise -- libev watches a single descriptor here. */
    d->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (!d->loop) {
        close(d->epfd);
        free(d);
        return -ENOMEM;
    }
    ev_set_userdata(d->loop, w);
    ev_io_init(&d->epw, epoll_cb, d->epfd, EV_READ);
    ev_io_start(d->loop, &d->epw);
    ev_timer_init(&d->timer, timer_cb, 0., 0.);
    ev_prepare_init(&d->prepare, prepare_cb);
    ev_prepare_start(d->loop, &d->prepare);
    ev_idle_init(&d->idle, idle_cb);
    ev_async_init(&d->wake, wake_cb);
    ev_async_start(d->loop, &d->wake);
    w->drv_state = d;
    return 0;
}

static void libev_fini(struct worker *w)
{
    struct drv_libev *d = w->drv_state;
    if (!d)
        return;
    ev_loop_destroy(d->loop);
    close(d->epfd);
    free(d);
    w->drv_state = NULL;
}

static int libev_add(struct worker *w, struct conn *c)
{
    struct drv_libev *d = w->drv_state;
    struct epoll_event ev = { 0 };
    ev.events = EPOLLET | EPOLLIN | EPOLLRDHUP;
    if (c->kind != CONN_LISTEN && c->kind != CONN_PASV)
        ev.events |= EPOLLOUT;
    ev.data.u64 = pack(c->fd, c->gen);
    if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        return -errno;
    return 0;
}

static void libev_del(struct worker *w, struct conn *c)
{
    struct drv_libev *d = w->drv_state;
    /* Cannot fail for a registered fd; nothing to do if it did. */
    (void)epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
}

static void libev_interest(struct worker *w, struct conn *c)
{
    /* Edge-triggered: registered once for everything. */
    (void)w;
    (void)c;
}

static int libev_run(struct worker *w)
{
    struct drv_libev *d = w->drv_state;
    w->now = worker_clock();
    worker_check_stop(w);
    if (!worker_done(w))
        ev_run(d->loop, 0);
    return 0;
}

static void libev_wake(struct worker *w)
{
    struct drv_libev *d = w->drv_state;
    ev_async_send(d->loop, &d->wake);
}

const struct driver_ops driver_libev = {
    .name = "libev",
    .edge = 1,
    .init = libev_init,
    .fini = libev_fini,
    .add = libev_add,
    .del = libev_del,
    .interest = libev_interest,
    .run = libev_run,
    .wake = libev_wake,
};
