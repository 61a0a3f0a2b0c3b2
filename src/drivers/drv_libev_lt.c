/* drv_libev_lt: plain libev, one level-triggered ev_io per connection.
 *
 * The way most libev programs are written, kept so that the benchmark can
 * show what the default model's edge-triggered set buys: here every
 * socket is a watcher of its own in libev's (level-triggered) backend,
 * and every interest change is a watcher stop/modify/start that libev
 * turns into an epoll_ctl on its next iteration.
 *
 * A watcher waits for what the session wants: EV_READ while want_read,
 * EV_WRITE only while want_write (output pending) -- a write watcher left
 * on would fire on every iteration, since a socket with send space is
 * always writable.  A connection that wants nothing has its watcher
 * stopped.  Passive data listeners always wait for their client.
 *
 * libev supplies the rest as in the default model: an ev_timer for the
 * worker's next deadline, an ev_async for the stop, and an ev_prepare +
 * ev_idle pair that runs the ready list and keeps the loop from blocking
 * while connections wait on it.
 *
 * Time: the worker's clock is worker_clock() (CLOCK_MONOTONIC), as for
 * every driver; ev_now() is wall-clock time and is never mixed into
 * w->now.  The timer is relative, so only its length crosses over.
 *
 * Stale events: ev_io_stop() takes a pending event off libev's queue, so
 * a watcher stopped (and freed) by an earlier callback of the same
 * iteration never fires; the (fd, generation) each watcher carries is
 * still checked against the table, as the other drivers do.
 */
#include <errno.h>
#include <ev.h>
#include <stdint.h>
#include <stdlib.h>

#include "ferry/driver.h"
#include "ferry/worker.h"

/* Per connection, in conn->drv: 56 bytes on x86-64, where the default
 * model needs nothing. */
struct lt_io {
    ev_io    io;       /* first: the callback receives &io */
    int      fd;
    uint32_t gen;
};

struct drv_libev_lt {
    struct ev_loop *loop;
    ev_timer        timer;     /* next timeout deadline */
    ev_prepare      prepare;   /* run the ready list, re-arm the timer */
    ev_idle         idle;      /* keeps the loop from blocking */
    ev_async        wake;
};

static int lt_events(const struct conn *c)
{
    int ev = 0;
    if (c->want_read || c->kind == CONN_PASV)
        ev |= EV_READ;
    if (c->want_write)
        ev |= EV_WRITE;
    return ev;
}

/* Fire due timeouts and set the timer for the next deadline. */
static void rearm(struct worker *w, struct drv_libev_lt *d)
{
    /* The timer starts from libev's idea of now; bring it up to date so
     * that time spent in callbacks does not make it fire early. */
    ev_now_update(d->loop);
    w->now = worker_clock();
    double next = worker_expire(w);
    ev_timer_stop(d->loop, &d->timer);
    if (next >= 0) {
        double after = next - w->now;
        ev_timer_set(&d->timer, after > 0 ? after : 0, 0.);
        ev_timer_start(d->loop, &d->timer);
    }
}

/* After any callback: keep the loop from blocking while work is queued,
 * and leave it once the worker is done. */
static void settle(struct worker *w, struct drv_libev_lt *d)
{
    if (worker_done(w)) {
        ev_break(d->loop, EVBREAK_ALL);
        return;
    }
    if (w->nready) {
        if (!ev_is_active(&d->idle))
            ev_idle_start(d->loop, &d->idle);
    } else if (ev_is_active(&d->idle)) {
        ev_idle_stop(d->loop, &d->idle);
    }
}

static void io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct worker *w = ev_userdata(loop);
    struct lt_io *x = (struct lt_io *)io;
    struct conn *c = worker_lookup(w, x->fd, x->gen);
    int ev = 0;

    if (!c)
        return;
    if (revents & EV_READ)
        ev |= WEV_READ;
    if (revents & EV_WRITE)
        ev |= WEV_WRITE;
    if (revents & EV_ERROR)
        ev |= WEV_HUP;
    w->now = worker_clock();
    worker_event(w, c, ev);
    /* x may be freed now (the session closed c). */
    if (worker_done(w))
        ev_break(loop, EVBREAK_ALL);
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = ev_userdata(loop);
    (void)t;
    (void)revents;
    rearm(w, w->drv_state);
    settle(w, w->drv_state);
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
    struct worker *w = ev_userdata(loop);
    struct drv_libev_lt *d = w->drv_state;
    (void)p;
    (void)revents;

    w->now = worker_clock();
    (void)worker_run_ready(w);
    w->stats.loops++;
    /* Expiry may queue more; settle looks at the list afterwards. */
    rearm(w, d);
    settle(w, d);
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
    settle(w, w->drv_state);
}

static int lt_init(struct worker *w)
{
    struct drv_libev_lt *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    /* EVFLAG_NOSIGMASK: the loop never touches the signal mask; main()
     * owns signals.  EVFLAG_AUTO: epoll on Linux, level-triggered. */
    d->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (!d->loop) {
        free(d);
        return -ENOMEM;
    }
    ev_set_userdata(d->loop, w);
    ev_timer_init(&d->timer, timer_cb, 0., 0.);
    ev_prepare_init(&d->prepare, prepare_cb);
    ev_prepare_start(d->loop, &d->prepare);
    ev_idle_init(&d->idle, idle_cb);
    ev_async_init(&d->wake, wake_cb);
    ev_async_start(d->loop, &d->wake);
    w->drv_state = d;
    return 0;
}

static void lt_fini(struct worker *w)
{
    struct drv_libev_lt *d = w->drv_state;
    if (!d)
        return;
    ev_loop_destroy(d->loop);
    free(d);
    w->drv_state = NULL;
}

static int lt_add(struct worker *w, struct conn *c)
{
    struct drv_libev_lt *d = w->drv_state;
    struct lt_io *x = malloc(sizeof(*x));
    if (!x)
        return -ENOMEM;
    int ev = lt_events(c);
    /* ev_io_init marks the fd as (possibly) new to libev, which makes it
     * re-register the descriptor even when a predecessor with the same
     * number and mask was just stopped. */
    ev_io_init(&x->io, io_cb, c->fd, ev);
    x->fd = c->fd;
    x->gen = c->gen;
    if (ev)
        ev_io_start(d->loop, &x->io);
    c->drv = x;
    return 0;
}

static void lt_del(struct worker *w, struct conn *c)
{
    struct drv_libev_lt *d = w->drv_state;
    struct lt_io *x = c->drv;
    if (!x)
        return;
    /* Also drops an event already queued for this watcher. */
    ev_io_stop(d->loop, &x->io);
    free(x);
    c->drv = NULL;
}

static void lt_interest(struct worker *w, struct conn *c)
{
    struct drv_libev_lt *d = w->drv_state;
    struct lt_io *x = c->drv;
    if (!x)
        return;
    int ev = lt_events(c);
    if (ev_is_active(&x->io)) {
        if ((x->io.events & (EV_READ | EV_WRITE)) == ev)
            return;
        ev_io_stop(d->loop, &x->io);
    } else if (!ev) {
        return;
    }
    /* Same fd, new mask: ev_io_modify, unlike ev_io_set, does not make
     * libev treat the fd as a new file and re-register it regardless. */
    ev_io_modify(&x->io, ev);
    if (ev)
        ev_io_start(d->loop, &x->io);
}

static int lt_run(struct worker *w)
{
    struct drv_libev_lt *d = w->drv_state;
    w->now = worker_clock();
    worker_check_stop(w);
    if (!worker_done(w))
        ev_run(d->loop, 0);
    return 0;
}

static void lt_wake(struct worker *w)
{
    struct drv_libev_lt *d = w->drv_state;
    /* Thread-safe and async-signal-safe, as libev documents it. */
    ev_async_send(d->loop, &d->wake);
}

const struct driver_ops driver_libev_lt = {
    .name = "libev-lt",
    .edge = 0,
    .init = lt_init,
    .fini = lt_fini,
    .add = lt_add,
    .del = lt_del,
    .interest = lt_interest,
    .run = lt_run,
    .wake = lt_wake,
};
