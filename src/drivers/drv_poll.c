/* drv_poll: a level-triggered loop over poll().
 *
 * The pollfd array holds the wake-up eventfd in slot 0 and every
 * registered connection after it, kept in step with the worker's
 * connection table: add appends, del moves the last entry into the hole,
 * so both are O(1); each conn remembers its slot in conn->drv.  The kernel
 * scans the whole array on every call, which is what this model is there
 * to show.
 *
 * Level-triggered: a connection is polled for what its session wants
 * (want_read / want_write, changed through `interest`).  A connection that
 * wants nothing gets a negative fd, which poll() skips -- otherwise a
 * hung-up peer would report POLLHUP on every call and spin the loop.
 *
 * This driver also runs the one-session workers of the per-client models
 * (thread, fork, iterative): a pollfd array of two to four entries.
 *
 * Events are not handed to the worker while the array is walked: a
 * handler may add or remove connections (moving entries about) or close
 * an fd and reuse its number.  The ready entries are copied out as
 * (fd, generation) first and looked up through the table, so a stale one
 * is dropped, exactly as with epoll.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ferry/driver.h"
#include "ferry/worker.h"

#define WAKE_SLOT 0

struct fired {
    int      fd;
    uint32_t gen;
    short    revents;
};

struct drv_poll {
    struct pollfd *pfds;     /* [0] the eventfd, then one per conn */
    struct conn  **conns;    /* conns[i] owns pfds[i]; conns[0] unused */
    struct fired  *fired;    /* ready entries of one poll() */
    int            n, cap;
    int            evfd;
};

static inline int slot_of(const struct conn *c)
{
    return (int)(uintptr_t)c->drv;
}

static inline void set_slot(struct conn *c, int i)
{
    c->drv = (void *)(uintptr_t)i;
}

/* Milliseconds from now until the deadline next (-1: none), rounded up so
 * that the loop never wakes just before it and spins. */
static int wait_ms(double next, double now)
{
    if (next < 0)
        return -1;
    double ms = (next - now) * 1e3;
    if (ms <= 0)
        return 0;
    if (ms >= (double)INT_MAX)
        return INT_MAX;
    int r = (int)ms;
    return r < ms ? r + 1 : r;
}

/* What c waits for.  A passive data listener wants its client for as long
 * as it is open (the session sets its want_read after registering it). */
static short poll_events(const struct conn *c)
{
    short ev = 0;
    if (c->want_read || c->kind == CONN_PASV)
        ev |= POLLIN;
    if (c->want_write)
        ev |= POLLOUT;
    return ev;
}

static void set_pollfd(struct pollfd *p, const struct conn *c)
{
    p->events = poll_events(c);
    p->fd = p->events ? c->fd : -1;
    p->revents = 0;
}

static int grow(struct drv_poll *d)
{
    int ncap = d->cap ? d->cap * 2 : 16;
    struct pollfd *p;
    struct conn **cs;
    struct fired *f;

    if (d->cap > INT_MAX / 2)
        return -ENOMEM;
    p = realloc(d->pfds, (size_t)ncap * sizeof(*p));
    if (!p)
        return -ENOMEM;
    d->pfds = p;
    cs = realloc(d->conns, (size_t)ncap * sizeof(*cs));
    if (!cs)
        return -ENOMEM;
    d->conns = cs;
    f = realloc(d->fired, (size_t)ncap * sizeof(*f));
    if (!f)
        return -ENOMEM;
    d->fired = f;
    d->cap = ncap;
    return 0;
}

static void poll_fini(struct worker *w)
{
    struct drv_poll *d = w->drv_state;
    if (!d)
        return;
    if (d->evfd >= 0)
        close(d->evfd);
    free(d->pfds);
    free(d->conns);
    free(d->fired);
    free(d);
    w->drv_state = NULL;
}

static int poll_init(struct worker *w)
{
    struct drv_poll *d = calloc(1, sizeof(*d));
    int r;

    if (!d)
        return -ENOMEM;
    d->evfd = -1;
    w->drv_state = d;
    r = grow(d);
    if (r < 0)
        goto fail;
    d->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (d->evfd < 0) {
        r = -errno;
        goto fail;
    }
    d->pfds[WAKE_SLOT] = (struct pollfd){ .fd = d->evfd, .events = POLLIN };
    d->conns[WAKE_SLOT] = NULL;
    d->n = 1;
    return 0;

fail:
    poll_fini(w);
    return r;
}

static int poll_add(struct worker *w, struct conn *c)
{
    struct drv_poll *d = w->drv_state;
    if (d->n == d->cap) {
        int r = grow(d);
        if (r < 0)
            return r;
    }
    int i = d->n++;
    d->conns[i] = c;
    set_pollfd(&d->pfds[i], c);
    set_slot(c, i);
    return 0;
}

static void poll_del(struct worker *w, struct conn *c)
{
    struct drv_poll *d = w->drv_state;
    int i = slot_of(c), last = d->n - 1;

    if (i <= WAKE_SLOT || i > last || d->conns[i] != c)
        return;   /* not ours: nothing to undo */
    if (i != last) {
        d->pfds[i] = d->pfds[last];
        d->conns[i] = d->conns[last];
        set_slot(d->conns[i], i);
    }
    d->n--;
    c->drv = NULL;
}

static void poll_interest(struct worker *w, struct conn *c)
{
    struct drv_poll *d = w->drv_state;
    int i = slot_of(c);
    if (i > WAKE_SLOT && i < d->n && d->conns[i] == c)
        set_pollfd(&d->pfds[i], c);
}

static void drain_wake(struct drv_poll *d)
{
    uint64_t v;
    /* EAGAIN only: another thread's wake was already consumed. */
    (void)!read(d->evfd, &v, sizeof(v));
}

/* Copy out the ready entries of the last poll(), then hand them to the
 * worker.  Returns 1 when the wake-up fired. */
static int dispatch(struct worker *w, struct drv_poll *d, int nready)
{
    int woke = 0, k = 0;

    for (int i = 0; i < d->n && nready > 0; i++) {
        short re = d->pfds[i].revents;
        if (!re)
            continue;
        nready--;
        if (i == WAKE_SLOT) {
            drain_wake(d);
            woke = 1;
            continue;
        }
        d->fired[k].fd = d->conns[i]->fd;
        d->fired[k].gen = d->conns[i]->gen;
        d->fired[k].revents = re;
        k++;
    }
    for (int j = 0; j < k; j++) {
        struct conn *c = worker_lookup(w, d->fired[j].fd, d->fired[j].gen);
        if (!c)
            continue;
        short re = d->fired[j].revents;
        int ev = 0;
        if (re & POLLIN)
            ev |= WEV_READ;
        if (re & POLLOUT)
            ev |= WEV_WRITE;
        if (re & (POLLERR | POLLHUP | POLLNVAL))
            ev |= WEV_HUP;
        worker_event(w, c, ev);
    }
    return woke;
}

static int poll_run(struct worker *w)
{
    struct drv_poll *d = w->drv_state;

    w->now = worker_clock();
    worker_check_stop(w);
    while (!worker_done(w)) {
        int busy = worker_run_ready(w);
        w->now = worker_clock();
        double next = worker_expire(w);
        if (worker_done(w))
            break;
        int timeout = busy || w->nready ? 0 : wait_ms(next, w->now);
        int n = poll(d->pfds, (nfds_t)d->n, timeout);
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

static void poll_wake(struct worker *w)
{
    struct drv_poll *d = w->drv_state;
    uint64_t one = 1;
    /* Thread-safe and async-signal-safe (a single write(2)): the
     * per-client models call this from a signal handler.  Fails only when
     * the counter is saturated, i.e. a wake is pending anyway. */
    (void)!write(d->evfd, &one, sizeof(one));
}

const struct driver_ops driver_poll = {
    .name = "poll",
    .edge = 0,
    .init = poll_init,
    .fini = poll_fini,
    .add = poll_add,
    .del = poll_del,
    .interest = poll_interest,
    .run = poll_run,
    .wake = poll_wake,
};
