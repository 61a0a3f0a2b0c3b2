/* stats: what a run counts, merged over threads, and the two ways it is
 * printed (text for people, one JSON object for scripts). */
#ifndef FERRY_BENCH_STATS_H
#define FERRY_BENCH_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "hist.h"
#include "opts.h"

enum err_kind {
    ERR_CONNECT_REFUSED,  /* ECONNREFUSED on the control or a data connection */
    ERR_CONNECT_TIMEOUT,  /* no connection within --connect-timeout */
    ERR_CONNECT_OTHER,    /* any other connect failure (EADDRNOTAVAIL, EMFILE...) */
    ERR_RESET,            /* reset, or closed by the server mid-session */
    ERR_BAD_REPLY,        /* an unexpected reply code, or not an FTP reply */
    ERR_SHORT_TRANSFER,   /* a transfer whose size differs from the expected */
    ERR_VERIFY,           /* bytes that differ from the pattern, or a wrong
                             listing entry count */
    ERR_TIMEOUT,          /* a request that made no progress for --timeout */
    ERR_COUNT
};

const char *err_kind_name(enum err_kind k);

/* Per thread, written by its thread only; merged after the threads end. */
struct stats {
    uint64_t ok[OP_COUNT];   /* successful requests in the measured window */
    uint64_t bytes;          /* payload bytes in the measured window */
    uint64_t ok_all;         /* successful requests, warm-up included */
    uint64_t err[ERR_COUNT]; /* every error, warm-up included */
    uint64_t abandoned;      /* requests still in flight at the deadline */
    uint64_t unsent;         /* open loop: scheduled, never started */
    uint64_t connects;       /* control connections attempted */
    uint64_t logins;         /* logins completed */
    uint64_t idle_accepted;  /* idle: sessions logged in */
    uint64_t idle_dropped;   /* idle: closed by the server while held */
    uint64_t idle_kept;      /* idle: answered NOOP at the end */
    struct hist *hist;       /* latency (ns) of the successful requests */
};

void stats_merge(struct stats *dst, const struct stats *src);
uint64_t stats_errors(const struct stats *s);
uint64_t stats_ok(const struct stats *s);

/* Progress counters a thread publishes for the once-a-second line; the
 * owning thread writes them with relaxed atomic stores, the main thread
 * reads them with relaxed atomic loads. */
struct live {
    uint64_t done, bytes, errors, conns;
};

#define LIVE_ADD(field, n) \
    __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), \
                     __ATOMIC_RELAXED)
#define LIVE_SUB(field, n) \
    __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) - (n), \
                     __ATOMIC_RELAXED)
#define LIVE_GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* Everything the final report shows. */
struct report {
    const struct bench_opts *o;
    char     target[80];     /* "127.0.0.1:2121" */
    double   elapsed;        /* seconds of the measured window */
    double   wall;           /* seconds from start to end, ramp included */
    double   ramp;           /* seconds of the ramp */
    double   warmup;         /* seconds of warm-up after it */
    double   cpu_user, cpu_sys;
    double   cpu_busiest;    /* the busiest thread's CPU share, 0..1 */
    int      interrupted;    /* stopped early by SIGINT or SIGTERM */
    uint64_t nofile;         /* RLIMIT_NOFILE in force */
    int      spread;         /* source addresses were spread */
    struct stats s;
};

void report_text(FILE *f, const struct report *r);
void report_json(FILE *f, const struct report *r);

#endif
