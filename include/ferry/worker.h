/* worker: one event loop's share of the server.
 *
 * A worker owns a connection table keyed by file descriptor, the timeout
 * lists of its sessions, a ready list and a scratch buffer.  Its driver
 * (driver.h) tells it which descriptors are ready; the worker looks the
 * connection up, records the readiness and hands it to the session (or
 * accepts, for a listener).  Nothing here knows which driver runs it.
 *
 * Legend for struct members, as in libev's ev.h:
 *   [drv]  written by the driver only     [w]  by the worker only
 *   [s]    by the session                 [ro] fixed after creation
 */
#ifndef FERRY_WORKER_H
#define FERRY_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ferry/config.h"
#include "ferry/timeouts.h"
#include "ferry/vfs.h"

struct session;
struct worker;
struct driver_ops;

enum conn_kind { CONN_LISTEN, CONN_CTRL, CONN_PASV, CONN_DATA };

/* One socket the server owns.  Under edge triggering the kernel reports a
 * direction once; `readable`/`writable` remember it until I/O returns
 * IO_AGAIN (the only thing that clears them), as nginx's `ready` flags do.
 * Level-triggered drivers set them from each poll result the same way. */
struct conn {
    int       fd;                /* [ro] -1 when not open */
    uint32_t  gen;               /* [w]  registration generation, see worker_lookup() */
    uint8_t   kind;              /* [ro] enum conn_kind */
    uint8_t   readable : 1,      /* [drv/s] */
              writable : 1,      /* [drv/s] */
              hup : 1,           /* [drv] peer hung up or error */
              want_read : 1,     /* [s]  interest, for level-triggered drivers */
              want_write : 1,    /* [s] */
              queued : 1,        /* [w]  on the ready list */
              in_table : 1;      /* [w] */
    struct session *sess;        /* [ro] owner; NULL for listeners */
    struct conn *ready_next;     /* [w] */
    void     *drv;               /* [drv] driver's per-connection data */
};

/* Process-wide state shared by all workers (read-only after start-up,
 * apart from the atomics and the per-address table behind its lock). */
struct server {
    const struct ferry_config *cfg;   /* [ro] */
    struct vfs      vfs;              /* [ro] */
    atomic_uint     nclients;         /* control connections open */
    atomic_ulong    nsessions_total;
    atomic_uint     next_session_id;
    pthread_mutex_t ip_lock;          /* guards ip_* below */
    struct ip_count *ip_table;        /* open addressing, per-address counts */
    size_t          ip_cap;
    atomic_int      stopping;         /* SIGTERM/SIGINT seen */
};

struct worker_stats {
    unsigned long accepted, refused, stale_events, deferred, loops;
};

struct worker {
    int               id;             /* [ro] */
    struct server    *srv;            /* [ro] */
    const struct driver_ops *drv;     /* [ro] */
    void             *drv_state;      /* [drv] */
    struct conn     **table;          /* [w] fd -> conn, grows on demand */
    int               table_size;     /* [w] */
    uint32_t          next_gen;       /* [w] */
    struct conn      *ready_head, *ready_tail; /* [w] */
    unsigned          nready;         /* [w] conns on the ready list */
    struct tmo_lists  tmo;            /* [w] */
    struct conn      *listeners;      /* [ro] array of nlisteners */
    int               nlisteners;
    int               reserve_fd;     /* spare fd for EMFILE, -1 if spent */
    char             *scratch;        /* [w] I/O buffer, lazily allocated */
    size_t            scratch_size;
    unsigned          nsessions;      /* [w] sessions this worker owns */
    struct session   *sessions;       /* [w] list, for drain */
    double            now;            /* [drv] monotonic seconds, refreshed per iteration */
    double            drain_deadline; /* [w] 0 when not draining */
    int               stopping;       /* [w] listeners closed, draining */
    int               solo;           /* [ro] one-session worker (per-client
                                         models): done when its session
                                         leaves */
    struct worker_stats stats;
};

/* Budgets per turn, so that one fast client cannot starve the others
 * (libuv reads 32 times at most per wake-up; 1 MiB of sendfile is a few
 * hundred microseconds on loopback). */
#define WORKER_READ_BUDGET      32
#define WORKER_SEND_BUDGET      (1u << 20)
#define WORKER_ACCEPT_BUDGET    64
#define WORKER_SCRATCH_SIZE     (64u * 1024)

/* Server-wide set-up: opens the root.  0 or -errno. */
int server_init(struct server *srv, const struct ferry_config *cfg);
void server_fini(struct server *srv);
/* Per-address admission: 0 and counted, or -1 when over --max-per-ip or
 * --max-clients (reason set to a static string). */
int server_admit(struct server *srv, const struct sockaddr_storage *peer,
                 const char **reason);
void server_release(struct server *srv, const struct sockaddr_storage *peer);

/* Worker life cycle.  listen_fds are this worker's listening sockets
 * (ownership passes to the worker). */
int worker_init(struct worker *w, int id, struct server *srv,
                const struct driver_ops *drv, const int *listen_fds, int nlisten);
void worker_fini(struct worker *w);
/* Run the driver until the worker stopped and its last session left. */
int worker_run(struct worker *w);
/* Thread-safe: ask the worker to drain and stop. */
void worker_request_stop(struct worker *w);

/* Connection table.  worker_conn_add registers c (assigning a new gen)
 * with the table and the driver; worker_conn_del undoes both and takes c
 * off the ready list; the caller then closes the fd. */
int worker_conn_add(struct worker *w, struct conn *c);
void worker_conn_del(struct worker *w, struct conn *c);
/* The connection registered for fd under generation gen, or NULL when
 * the event is stale (fd closed, or closed and reused, since the event
 * was queued).  Drivers that carry (fd, gen) in their events call this. */
struct conn *worker_lookup(struct worker *w, int fd, uint32_t gen);
/* Interest changed (level-triggered drivers watch want_read/want_write). */
void worker_conn_interest(struct worker *w, struct conn *c, int rd, int wr);
/* c used up its budget while still ready: revisit it before blocking,
 * because an edge-triggered kernel will not report it again. */
void worker_defer(struct worker *w, struct conn *c);

/* Called by drivers. */
/* A readiness event for c: EV bits below; records them and runs the owner. */
#define WEV_READ  1
#define WEV_WRITE 2
#define WEV_HUP   4
void worker_event(struct worker *w, struct conn *c, int ev);
/* Run the ready list once (conns deferred during this pass wait for the
 * next).  Returns non-zero when the list is still not empty, so the
 * driver must poll without blocking. */
int worker_run_ready(struct worker *w);
/* Fire due timeouts; returns the next deadline (monotonic seconds) or -1. */
double worker_expire(struct worker *w);
/* Monotonic clock, seconds. */
double worker_clock(void);
/* True once the worker has stopped and holds no session: the driver's
 * loop returns. */
int worker_done(const struct worker *w);
/* Handle a pending stop request (called by the driver after a wake). */
void worker_check_stop(struct worker *w);

/* Scratch buffer (WORKER_SCRATCH_SIZE bytes), for reads that are consumed
 * at once; never held across events. */
char *worker_scratch(struct worker *w);

/* Sessions register here for drain and accounting. */
void worker_session_link(struct worker *w, struct session *s);
void worker_session_unlink(struct worker *w, struct session *s);

#endif
