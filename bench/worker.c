/* worker: one thread's event loop, its clients, and when they work.
 *
 * - The ramp opens the thread's clients at --ramp/threads per second, so
 *   the server's listen backlog is not what the run measures.
 * - Closed loop: a client starts its next request as soon as the last one
 *   ends.  Open loop (--rate): request k of this thread is due at
 *   t_start + (k * threads + idx) / rate, so the threads interleave into
 *   one evenly spaced schedule; a due request goes to a free client, or
 *   waits for one, and its latency counts from the due time, so a server
 *   that stalls is charged for the requests it kept waiting (no
 *   coordinated omission).
 * - The run ends at the deadline, when the --requests budget is spent and
 *   nothing is in flight, when every client is out, or on a signal.
 * - Idle has a time line of its own: the hold starts once every one of the
 *   thread's sessions has logged in or failed to (each login is bounded by
 *   the timeouts), so a server that is slow to accept is measured by how
 *   many it accepts, not cut short; it lasts --duration and ends with a
 *   probe: one NOOP per held session.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>

static const struct bench_opts *wopts(const struct worker *w)
{
    return w->sh->o;
}

int worker_spread(const struct worker *w)
{
    return __atomic_load_n(&w->sh->spread, __ATOMIC_RELAXED);
}

void worker_set_spread(struct worker *w)
{
    __atomic_store_n(&w->sh->spread, 1, __ATOMIC_RELAXED);
}

static int budget_spent(const struct worker *w)
{
    const struct bench_opts *o = wopts(w);
    return o->requests &&
           __atomic_load_n(&w->sh->started, __ATOMIC_RELAXED) >= o->requests;
}

int worker_take(struct worker *w)
{
    const struct bench_opts *o = wopts(w);
    if (w->phase != PH_RUN)
        return 0;
    /* past the deadline, before its timer has run: start nothing more */
    if (w->sh->t_deadline && now_ns() >= w->sh->t_deadline)
        return 0;
    if (!o->requests)
        return 1;
    return __atomic_fetch_add(&w->sh->started, 1, __ATOMIC_RELAXED) < o->requests;
}

int worker_may_continue(struct worker *w)
{
    return w->phase == PH_RUN && !budget_spent(w);
}

void worker_error(struct worker *w, enum err_kind k)
{
    w->st.err[k]++;
    LIVE_ADD(w->live.errors, 1);
}

void worker_ok(struct client *c, uint64_t t_done)
{
    struct worker *w = c->w;
    const struct shared *sh = w->sh;
    uint64_t lat = t_done > c->t_req ? t_done - c->t_req : 0;

    w->st.ok_all++;
    LIVE_ADD(w->live.done, 1);
    /* idle measures logins, which all happen during the ramp */
    if (c->op != OP_LOGIN) {
        if (t_done < sh->t_measure)
            return;  /* warm-up */
        if (sh->t_deadline && t_done > sh->t_deadline) {
            /* ended between the deadline and the moment the loop noticed
             * it: as much in flight at the deadline as the ones cut off */
            w->st.abandoned++;
            return;
        }
    }
    w->st.ok[c->op]++;
    if (c->op != OP_NOOP && c->op != OP_LOGIN)
        w->st.bytes += c->moved;
    hist_record(w->st.hist, lat);
}

/* ---- the open-loop schedule ---- */

static uint64_t sched_at(const struct worker *w, uint64_t k)
{
    const struct shared *sh = w->sh;
    double interval = 1e9 / wopts(w)->rate;
    return sh->t_start +
           (uint64_t)(((double)k * sh->nthreads + w->idx) * interval);
}

static void rate_arm(struct worker *w, uint64_t t)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = (time_t)(t / 1000000000u);
    its.it_value.tv_nsec = (long)(t % 1000000000u);
    (void)timerfd_settime(w->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void free_push(struct client *c)
{
    struct worker *w = c->w;
    if (c->in_free)
        return;
    c->free_prev = NULL;
    c->free_next = w->free_list;
    if (w->free_list)
        w->free_list->free_prev = c;
    w->free_list = c;
    c->in_free = 1;
}

void worker_unlist(struct client *c)
{
    struct worker *w = c->w;
    if (!c->in_free)
        return;
    if (c->free_prev)
        c->free_prev->free_next = c->free_next;
    else
        w->free_list = c->free_next;
    if (c->free_next)
        c->free_next->free_prev = c->free_prev;
    c->free_next = c->free_prev = NULL;
    c->in_free = 0;
}

/* Start every request that is due and has a free client; then sleep until
 * the next one is due (or until a client frees up). */
static void dispatch(struct worker *w)
{
    const struct shared *sh = w->sh;
    if (w->phase != PH_RUN || w->sched_over)
        return;
    uint64_t now = now_ns();
    for (;;) {
        uint64_t t = sched_at(w, w->next_k);
        if (sh->t_deadline && t >= sh->t_deadline) {
            w->sched_over = 1;
            return;
        }
        if (t > now) {
            rate_arm(w, t);
            return;
        }
        if (!w->free_list)
            return;
        if (!worker_take(w)) {
            w->sched_over = 1;
            worker_check_end(w);
            return;
        }
        struct client *c = w->free_list;
        worker_unlist(c);
        w->next_k++;
        client_begin(c, t);
        if (w->phase != PH_RUN)
            return;
    }
}

static void rate_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct worker *w = io->data;
    uint64_t expirations;
    (void)loop;
    (void)revents;
    if (read(w->tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
        return;
    dispatch(w);
}

/* ---- start and end ---- */

void worker_client_ready(struct client *c)
{
    struct worker *w = c->w;
    if (w->phase != PH_RUN) {
        client_finish(c);
        worker_check_end(w);
        return;
    }
    if (wopts(w)->rate > 0) {
        free_push(c);
        dispatch(w);
        if (w->phase == PH_RUN && budget_spent(w))
            worker_check_end(w);
        return;
    }
    if (worker_take(w)) {
        client_begin(c, now_ns());
        return;
    }
    client_finish(c);
    worker_check_end(w);
}

static void worker_stop(struct worker *w)
{
    const struct bench_opts *o = wopts(w);
    const struct shared *sh = w->sh;
    if (w->phase == PH_DONE)
        return;

    if (o->rate > 0 && !budget_spent(w)) {
        /* requests that were due but never started: the server (or the
         * number of clients) could not keep up with --rate */
        uint64_t t = now_ns();
        if (sh->t_deadline && t > sh->t_deadline)
            t = sh->t_deadline;
        double iv = 1e9 / o->rate;
        if (t > sh->t_start) {
            /* k was due before t when k * threads + idx < slots */
            double slots = (double)(t - sh->t_start) / iv - w->idx;
            if (slots > 0) {
                uint64_t due = (uint64_t)ceil(slots / sh->nthreads);
                if (due > w->next_k)
                    w->st.unsent += due - w->next_k;
            }
        }
    }

    w->phase = PH_DONE;
    ev_timer_stop(w->loop, &w->ramp_timer);
    ev_timer_stop(w->loop, &w->tick);
    ev_timer_stop(w->loop, &w->deadline);
    if (w->tfd >= 0)
        ev_io_stop(w->loop, &w->rate_io);
    for (unsigned i = 0; i < w->nclients; i++) {
        struct client *c = &w->clients[i];
        if (c->in_req)
            w->st.abandoned++;
        client_close(c);
    }
    w->inflight = 0;
    ev_break(w->loop, EVBREAK_ALL);
}

void worker_check_end(struct worker *w)
{
    if (w->phase == PH_DONE)
        return;
    if (w->phase == PH_PROBE) {
        if (w->probing == 0)
            worker_stop(w);
        return;
    }
    if (w->ramped == w->nclients && w->ndone == w->nclients) {
        worker_stop(w);
        return;
    }
    if (budget_spent(w) && w->inflight == 0)
        worker_stop(w);
}

/* Idle: the hold is over.  Every held session gets one NOOP; a session
 * still logging in by now did not make it. */
static void worker_probe(struct worker *w)
{
    w->phase = PH_PROBE;
    ev_timer_stop(w->loop, &w->ramp_timer);
    w->probing++;  /* a guard: no probe failing at once may end the loop */
    for (unsigned i = 0; i < w->nclients && w->phase == PH_PROBE; i++) {
        struct client *c = &w->clients[i];
        if (c->st == C_HOLD) {
            client_probe(c);
        } else if (c->st != C_DONE) {
            if (c->st != C_OFF)
                worker_error(w, ERR_TIMEOUT);
            client_finish(c);
        }
    }
    if (w->phase == PH_PROBE) {
        w->probing--;
        worker_check_end(w);
    }
}

static void ramp_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    const struct bench_opts *o = wopts(w);
    (void)revents;

    unsigned due = w->nclients;
    if (o->ramp > 0) {
        double per_thread = o->ramp / w->sh->nthreads;
        double d = (double)(now_ns() - w->sh->t0) / 1e9 * per_thread + 1.0;
        if (d < due)
            due = (unsigned)d;
    }
    while (w->ramped < due && w->phase == PH_RUN) {
        struct client *c = &w->clients[w->ramped++];
        if (o->workload == WL_CHURN)
            worker_client_ready(c);  /* for churn a request is a session */
        else
            client_connect(c);
    }
    if (w->ramped == w->nclients || w->phase != PH_RUN)
        ev_timer_stop(loop, t);
}

static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    (void)loop;
    (void)revents;
    if (__atomic_load_n(&w->sh->stop, __ATOMIC_RELAXED))
        worker_stop(w);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    (void)revents;
    if (wopts(w)->workload != WL_IDLE) {
        /* libev's timers run on its cached loop time; the deadline is on
         * the clock the requests are timed with, so never end early */
        uint64_t now = now_ns();
        if (now < w->sh->t_deadline) {
            ev_timer_set(t, (double)(w->sh->t_deadline - now) / 1e9, 0.);
            ev_timer_start(loop, t);
            return;
        }
    }
    if (wopts(w)->workload == WL_IDLE && w->phase == PH_RUN) {
        w->hold_s = (double)(now_ns() - w->hold_from) / 1e9;
        worker_probe(w);
    } else {
        worker_stop(w);
    }
}

void worker_idle_settled(struct worker *w)
{
    w->settled++;
    if (w->settled < w->nclients || w->phase != PH_RUN)
        return;
    w->hold_from = now_ns();
    if (w->holding == 0) {
        worker_probe(w);  /* nobody to hold: nothing to wait for */
        return;
    }
    ev_timer_init(&w->deadline, deadline_cb, wopts(w)->duration, 0.);
    w->deadline.data = w;
    ev_timer_start(w->loop, &w->deadline);
}

void *worker_main(void *arg)
{
    struct worker *w = arg;
    const struct shared *sh = w->sh;
    const struct bench_opts *o = sh->o;
    struct rusage ru0, ru1;
    uint64_t born = now_ns();

    getrusage(RUSAGE_THREAD, &ru0);
    w->tfd = -1;
    w->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV | EVFLAG_NOSIGMASK);
    if (!w->loop)
        w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV | EVFLAG_NOSIGMASK);
    if (!w->loop) {
        fprintf(stderr, "ferry-bench: thread %u: no event loop\n", w->idx);
        w->st.err[ERR_CONNECT_OTHER] += w->nclients;
        goto out;
    }
    if (o->rate > 0) {
        w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (w->tfd < 0) {
            fprintf(stderr, "ferry-bench: thread %u: timerfd: %s\n", w->idx, strerror(errno));
            w->st.err[ERR_CONNECT_OTHER] += w->nclients;
            goto out_loop;
        }
        ev_io_init(&w->rate_io, rate_cb, w->tfd, EV_READ);
        w->rate_io.data = w;
        ev_io_start(w->loop, &w->rate_io);
        rate_arm(w, sched_at(w, 0));
    }

    w->phase = PH_RUN;
    ev_now_update(w->loop);  /* timers count from the loop's idea of now */
    ev_timer_init(&w->ramp_timer, ramp_cb, 0., RAMP_TICK);
    w->ramp_timer.data = w;
    ev_timer_start(w->loop, &w->ramp_timer);
    ev_timer_init(&w->tick, tick_cb, 0.1, 0.1);
    w->tick.data = w;
    ev_timer_start(w->loop, &w->tick);
    if (sh->t_deadline) {
        uint64_t now = now_ns();
        double left = sh->t_deadline > now ? (double)(sh->t_deadline - now) / 1e9 : 0.;
        ev_timer_init(&w->deadline, deadline_cb, left, 0.);
        w->deadline.data = w;
        ev_timer_start(w->loop, &w->deadline);
    }

    ev_run(w->loop, 0);
    worker_stop(w);  /* when the loop ran out of watchers on its own */

    if (w->tfd >= 0)
        close(w->tfd);
out_loop:
    ev_loop_destroy(w->loop);
    w->loop = NULL;
out:
    getrusage(RUSAGE_THREAD, &ru1);
    w->cpu_s = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
               (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
               (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
               (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    w->run_s = (double)(now_ns() - born) / 1e9;
    __atomic_store_n(&w->finished, 1, __ATOMIC_RELEASE);
    pthread_kill(sh->main_thread, SIGUSR1);
    return NULL;
}
