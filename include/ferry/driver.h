/* driver: how a worker waits for readiness -- the concurrency model.
 *
 * The whole surface of a model, in the manner of redis's ae.h: a handful
 * of functions, one file per model (drv_*.c).  The session code never
 * knows which one runs it.
 *
 * Event drivers (libev, epoll, poll, select, libev-lt) run a worker with
 * many sessions.  Edge-triggered ones register a connection once for
 * in/out/hang-up and ignore interest changes; level-triggered ones watch
 * conn->want_read / want_write, updated through `interest`.
 *
 * Per-client models (iterative, thread, fork) are built from the same
 * parts: an acceptor that hands each client to a one-session worker run
 * by an event driver (see driver_run_model()). */
#ifndef FERRY_DRIVER_H
#define FERRY_DRIVER_H

struct worker;
struct conn;
struct server;

struct driver_ops {
    const char *name;
    int   edge;      /* 1: edge-triggered (interest ignored) */
    /* Create the loop state for w.  0 or -errno. */
    int  (*init)(struct worker *w);
    void (*fini)(struct worker *w);
    /* Start watching c->fd.  0 or -errno. */
    int  (*add)(struct worker *w, struct conn *c);
    /* Stop watching c->fd (called before it is closed). */
    void (*del)(struct worker *w, struct conn *c);
    /* c->want_read / want_write changed. */
    void (*interest)(struct worker *w, struct conn *c);
    /* Loop until worker_done(w).  0 or -errno. */
    int  (*run)(struct worker *w);
    /* Thread-safe and async-signal-safe (the per-client models call it
     * from a signal handler): make run() return from its wait and look at
     * the worker's stop request. */
    void (*wake)(struct worker *w);
};

/* The event drivers, one file each. */
extern const struct driver_ops driver_libev;     /* drv_libev.c: libev over an ET epoll set */
extern const struct driver_ops driver_libev_lt;  /* drv_libev_lt.c: plain libev ev_io, LT */
extern const struct driver_ops driver_epoll;     /* drv_epoll.c: raw ET epoll loop */
extern const struct driver_ops driver_poll;      /* drv_poll.c */
extern const struct driver_ops driver_select;    /* drv_select.c */

/* A model: the name users pick with --model, the event driver it runs
 * its workers with, and how the server is put together around it. */
struct model {
    const char *name;
    const struct driver_ops *drv;
    /* Event-loop models: driver_run_workers.  Per-client models:
     * perclient_run (thread, fork, iterative). */
    int (*run)(struct server *srv, const struct model *m);
    int multi_worker;   /* --workers N applies */
    int forks;          /* sessions run in child processes: what they share
                         * with the parent (counters, failed logins) must
                         * live in shared memory */
};

/* The model named name, or NULL. */
const struct model *model_find(const char *name);
/* Space-separated list of model names, for --help. */
const char *model_names(void);

/* Run the whole server with the model cfg->model: open the listeners,
 * start the workers, wait for SIGTERM/SIGINT, drain, stop.  Returns the
 * process exit status. */
int driver_run_model(struct server *srv);

/* Event-loop models: N workers, each a thread with its own listeners. */
int driver_run_workers(struct server *srv, const struct model *m);
/* Per-client models (perclient.c): an acceptor hands each client to a
 * one-session worker (w->solo) in a thread, a child process, or inline. */
int perclient_run(struct server *srv, const struct model *m);

#endif
