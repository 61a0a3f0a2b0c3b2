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
#include "ferry/users.h"
#include "ferry/vfs.h"

struct session;
struct worker;
struct driver_ops;
struct authfail;
struct xferlog;
struct authpool;
struct service;
struct cfg_snap;

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
 * apart from the atomics, the tables behind their locks and the config
 * snapshot, which a reload replaces).
 *
 * Settings: `cfg` is the configuration ferryd started with and never
 * changes; the settings that a reload may change are read from the
 * worker's own snapshot (worker.cfg), which the worker swaps for the
 * newest between events, so that no handler ever sees a config change
 * under its feet and an old snapshot is freed once no worker holds it. */
#define SERVER_SPARES 4
struct server {
    const struct ferry_config *cfg;   /* [ro] the start-up configuration */
    struct vfs      vfs;              /* [ro] */
    atomic_uint     nclients;         /* control connections open */
    atomic_ulong    nsessions_total;
    atomic_uint     next_session_id;
    atomic_uint     ntransfers;       /* transfers in progress */
    pthread_mutex_t ip_lock;          /* guards ip_* below */
    struct ip_count *ip_table;        /* open addressing, per-address counts */
    size_t          ip_cap;
    size_t          ip_used;          /* slots in use, tombstones included */
    atomic_int      stopping;         /* SIGTERM/SIGINT seen */
    /* Spare descriptors for refusing clients when the process is out of
     * descriptors (see accept_clients), one per worker with listeners up
     * to SERVER_SPARES.  A pool rather than one per worker: the workers
     * share one descriptor table, so the slot a worker frees to accept
     * with may be taken by another thread first; a worker that lost its
     * spare that way still refuses with one of the others'.  Workers
     * accept under the read lock and spend a spare under the write lock,
     * so that no accept takes the slot a spare just freed. */
    pthread_rwlock_t spare_lock;      /* guards spare_* */
    int             spare_fd[SERVER_SPARES];
    int             spare_have, spare_want, spare_workers;
    /* Limits of the snapshot in force, for admission (any thread). */
    atomic_uint     max_clients, max_per_ip;
    /* Config snapshots (server_config_*). */
    pthread_mutex_t cfg_lock;         /* guards cfg_cur and the counts */
    struct cfg_snap *cfg_cur;         /* newest; NULL before server_init */
    atomic_uint     cfg_gen;          /* bumped by each publish */
    /* Accounts and logs, set up by the service layer (service.h); each
     * NULL when not in use. */
    struct users_current users;       /* local accounts; users.t NULL: none */
    struct authfail *authfail;        /* failed logins per address */
    struct xferlog  *xferlog;         /* --xferlog */
    struct authpool *authpool;        /* password checks off the loops;
                                         NULL: checked inline */
    struct service  *svc;             /* service.c's own state */
};

struct worker_stats {
    unsigned long accepted, refused, stale_events, deferred, loops;
};

/* A message to a worker from another thread (worker_post): fn runs on
 * the worker's own thread, after a wake, and then owns m. */
struct worker_msg {
    struct worker_msg *next;
    void (*fn)(struct worker *w, struct worker_msg *m);
};

/* A coarse timer for variable delays (a bandwidth-limited transfer
 * waiting for tokens, the reply to a failed login).  Timers with a
 * constant period need no heap (timeouts.h): an armed tick is looked at
 * every WORKER_TICK seconds, at the tail of one list in order of the next
 * look, and fires at the first look at or after `due`.  Arming, disarming
 * and each look are O(1); a delay costs delay / WORKER_TICK looks. */
#define WORKER_TICK (1.0 / 16)
struct worker_tick {
    struct worker_tick *prev, *next;   /* [w] NULL when not armed */
    double  look;                      /* [w] next look */
    double  due;                       /* [w] fire at the first look after */
    void  (*fn)(struct worker_tick *t);/* [ro] set by the owner */
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
    int               accept_paused;  /* [w] out of descriptors and of
                                         spares: listeners unwatched */
    struct worker_tick accept_retry;  /* [w] armed while accept_paused */
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
    /* Settings in force for this worker's sessions: a snapshot that
     * worker_adopt_config() swaps for the newest between events. */
    const struct ferry_config *cfg;   /* [w] */
    unsigned          cfg_gen;        /* [w] generation of cfg */
    struct worker_tick ticks;         /* [w] sentinel of the tick list */
    unsigned          inflight;       /* [w] posts expected back (password
                                         checks): not done before they came */
    pthread_mutex_t   mbox_lock;      /* guards mbox_* */
    struct worker_msg *mbox_head, *mbox_tail;
    atomic_int        mbox_pending;   /* mbox not empty: a cheap look */
    atomic_ulong      turns;          /* loop turns, for the watchdog */
};

/* Budgets per turn, so that one fast client cannot starve the others
 * (libuv reads 32 times at most per wake-up; 1 MiB of sendfile is a few
 * hundred microseconds on loopback). */
#define WORKER_READ_BUDGET      32
#define WORKER_SEND_BUDGET      (1u << 20)
#define WORKER_ACCEPT_BUDGET    64
#define WORKER_SCRATCH_SIZE     (64u * 1024)

/* Server-wide set-up: opens the root and publishes cfg as the first
 * snapshot.  0 or -errno. */
int server_init(struct server *srv, const struct ferry_config *cfg);
void server_fini(struct server *srv);

/* Config snapshots.  publish copies *cfg into a new snapshot that owns
 * arena (may be NULL; freed with the snapshot) and makes it the newest;
 * workers adopt it at their next wake.  get returns the newest with a
 * reference (srv->cfg before server_init), put drops one.  0 or -ENOMEM
 * (then arena is not taken). */
int server_config_publish(struct server *srv, const struct ferry_config *cfg,
                          struct conffile_arena *arena);
const struct ferry_config *server_config_get(struct server *srv);
void server_config_put(struct server *srv, const struct ferry_config *cfg);
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
 * driver must poll without blocking.  Drivers call it once per loop turn:
 * it also counts the turn (watchdog, metrics) and looks at the mailbox. */
int worker_run_ready(struct worker *w);
/* Fire due timeouts; returns the next deadline (monotonic seconds) or -1. */
double worker_expire(struct worker *w);
/* Monotonic clock, seconds. */
double worker_clock(void);
/* True once the worker has stopped and holds no session and no password
 * check is out for it: the driver's loop returns. */
int worker_done(const struct worker *w);
/* Handle what other threads asked for (called by the driver after a
 * wake): the stop request, messages (worker_post), a newer config. */
void worker_check_stop(struct worker *w);

/* Thread-safe: queue m for w and wake it.  m->fn runs on w's thread. */
void worker_post(struct worker *w, struct worker_msg *m);
/* Take the newest config snapshot if this worker's is older: timeouts of
 * sessions already waiting are shortened, never lengthened, to the new
 * durations.  Called by worker_check_stop(); exposed for tests. */
void worker_adopt_config(struct worker *w);

/* Ticks (struct worker_tick): fire t->fn about delay seconds from now
 * (never earlier, at most WORKER_TICK later).  Re-arming moves it. */
void worker_tick_arm(struct worker *w, struct worker_tick *t, double delay);
void worker_tick_disarm(struct worker_tick *t);

/* Scratch buffer (WORKER_SCRATCH_SIZE bytes), for reads that are consumed
 * at once; never held across events. */
char *worker_scratch(struct worker *w);

/* Sessions register here for drain and accounting. */
void worker_session_link(struct worker *w, struct session *s);
void worker_session_unlink(struct worker *w, struct session *s);

#endif
