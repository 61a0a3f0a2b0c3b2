/* bench: the load generator's core.
 *
 * One worker per thread, each with its own libev loop and its own slice of
 * the simulated clients.  A client is a non-blocking FTP session: a state
 * machine fed by its control connection's replies, its data connection's
 * bytes and one timer.  The worker decides *when* a client starts a
 * request (closed loop: as soon as it is free; open loop: at the times a
 * fixed-rate schedule says) and keeps the counts; client.c decides *how*.
 *
 * Threads share only `struct shared`: read-only after start apart from the
 * fields marked atomic, which are accessed with __atomic builtins.
 */
#ifndef FERRY_BENCH_BENCH_H
#define FERRY_BENCH_BENCH_H

#include <ev.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "ferry/ftpproto.h"
#include "opts.h"
#include "stats.h"

#define RXBUF_SIZE      (256 * 1024) /* one recv(), and one pattern compare */
#define CTRL_BUF        2048         /* buffered reply bytes: the longest line */
#define CTRL_OUT        1280         /* one command line */
#define NAME_MAX_LEN    1024         /* longest path in a command */
#define LINE_BUF        1024         /* a listing line, when entries are counted */
#define RECONNECT_DELAY 0.1          /* s between a failed session and the next */
#define DATA_TURNS      16           /* recv/send calls per wake-up, at most */
#define RAMP_TICK       0.005        /* s between ramp steps */

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct shared {
    const struct bench_opts *o;
    struct sockaddr_storage addr;  /* control address */
    socklen_t addrlen;
    int       loopback4;           /* addr is in 127.0.0.0/8 */
    int       spread;              /* atomic: bind sources over 127.0.0.2-254 */
    uint64_t  t0;                  /* monotonic ns: the start */
    uint64_t  t_ramp_end;          /* the last ramp connection opens here */
    uint64_t  t_start;             /* ramp and warm-up over; --rate starts here */
    uint64_t  t_measure;           /* successes count from here ... */
    uint64_t  t_deadline;          /* ... to here; 0: no deadline */
    uint64_t  started;             /* atomic: requests taken from --requests */
    int       stop;                /* atomic: a signal asked to stop */
    const uint8_t *pattern;        /* PERIOD + RXBUF_SIZE pattern bytes, or NULL */
    pthread_t main_thread;
    unsigned  nthreads;
};

enum cstate {
    C_OFF,      /* no connection (not yet, or waiting to reconnect) */
    C_CONNECT,  /* control connection in progress */
    C_BANNER, C_USER, C_PASS, C_TYPE,
    C_READY,    /* logged in, no request */
    C_NOOP, C_SIZE, C_PASV,
    C_XFER,     /* RETR, STOR, LIST or MLSD sent */
    C_QUIT,     /* churn: QUIT sent */
    C_HOLD,     /* idle: logged in and held */
    C_PROBE,    /* idle: the final NOOP */
    C_DONE,     /* out of the run */
};

struct worker;

struct client {
    struct worker *w;
    unsigned  id;              /* run-wide */
    enum cstate st;
    int       fd, dfd;         /* control and data sockets, or -1 */
    unsigned  gen;             /* bumped whenever the control connection closes */
    ev_io     cio, dio;
    ev_timer  tmo;             /* request/connect timeout, or reconnect delay */
    double    tmo_len, last_act;
    int       backoff;         /* tmo is the reconnect delay */
    int       cio_write;       /* cio also waits for writability */
    int       logged;          /* counted in live.conns */
    int       bound;           /* control bound to a spread source address */
    struct sockaddr_storage local;  /* control's local address */
    socklen_t locallen;

    struct ftp_reply_parser rp;
    size_t    rlen, wlen, woff;
    char      rbuf[CTRL_BUF];
    char      wbuf[CTRL_OUT];

    /* the request in progress */
    int       in_req;
    enum op   op;              /* OP_CHURN runs a get inside its cycle */
    uint64_t  t_req;           /* start, or scheduled start (open loop) */
    size_t    file, next_file;
    uint64_t  expect;          /* size a get expects */
    uint64_t  moved;           /* bytes received or sent */
    int       got_prelim, got_final, data_up, data_eof, data_bad;
    uint64_t  entries;         /* listing entries counted */
    char     *lbuf;            /* partial listing line (LINE_BUF) */
    size_t    llen;
    uint64_t  seq;             /* put: upload counter */
    uint32_t  rng;             /* mixed: xorshift state */

    struct client *free_next, *free_prev;  /* open loop: free list */
    int       in_free;
};

enum { PH_RUN, PH_PROBE, PH_DONE };

struct worker {
    struct shared  *sh;
    unsigned        idx;
    pthread_t       thread;
    struct ev_loop *loop;
    struct client  *clients;
    unsigned        nclients, first_id;
    unsigned        ramped;      /* clients started by the ramp so far */
    unsigned        ndone;       /* clients in C_DONE */
    unsigned        inflight;    /* requests in progress */
    unsigned        probing;     /* idle: NOOPs awaiting their reply */
    unsigned        settled;     /* idle: logged in, or failed to */
    unsigned        holding;     /* idle: sessions held (C_HOLD or C_PROBE) */
    uint64_t        hold_from;   /* idle: when the hold began (ns) */
    double          hold_s;      /* idle: how long it lasted */
    unsigned        spread_next;
    int             phase;
    ev_timer        ramp_timer, tick, deadline;
    /* open loop: request k is due at sched(k); a timerfd wakes the loop
     * with nanosecond precision (libev's epoll timers have 1 ms) */
    int             tfd;
    ev_io           rate_io;
    uint64_t        next_k;
    int             sched_over;
    struct client  *free_list;
    uint8_t        *rx;          /* RXBUF_SIZE, shared by the thread's clients */
    int64_t        *sizes;       /* SIZE answers per file, -1 unknown */
    struct stats    st;
    struct live     live;
    double          cpu_s, run_s; /* this thread's CPU time and lifetime */
    int             finished;    /* atomic */
};

/* worker.c, for client.c */
void worker_client_ready(struct client *c);   /* may start a request */
void worker_ok(struct client *c, uint64_t t_done);
void worker_error(struct worker *w, enum err_kind k);
int  worker_take(struct worker *w);           /* one request from the budget */
int  worker_may_continue(struct worker *w);
void worker_check_end(struct worker *w);
void worker_idle_settled(struct worker *w);   /* one login ended, either way */
void worker_unlist(struct client *c);          /* off the free list */
int  worker_spread(const struct worker *w);
void worker_set_spread(struct worker *w);

/* client.c, for worker.c */
void client_init(struct client *c, struct worker *w, unsigned id);
void client_connect(struct client *c);        /* open and log in */
void client_begin(struct client *c, uint64_t t_start);
void client_probe(struct client *c);          /* idle: the final NOOP */
void client_finish(struct client *c);         /* close, out of the run */
void client_close(struct client *c);          /* close, no accounting */
void client_free(struct client *c);

void *worker_main(void *arg);

#endif
