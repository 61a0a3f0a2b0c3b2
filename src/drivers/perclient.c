/* perclient: the per-client models -- thread, fork and iterative.
 *
 * All three are one acceptor and one kind of worker.  The acceptor runs in
 * the main thread: it owns the listeners, polls them together with a
 * signalfd, admits each client through server_admit() (--max-clients,
 * --max-per-ip; 421 for a refusal) and hands it over.  The worker is a
 * one-session worker (w->solo, no listeners) run by the model's event
 * driver: the FTP session is the same non-blocking state machine every
 * model runs, and its timeouts work the same way.  The models differ only
 * in where that worker runs:
 *
 *   thread     a joinable thread per client; a finished thread queues
 *              itself and pokes an eventfd, and the acceptor joins it, so
 *              no thread outlives its client.
 *   fork       a child process per client.  The parent never registers a
 *              client fd anywhere (it has no event loop at all, only
 *              poll()), closes its copy right after fork(), creates no
 *              thread (jemalloc and threads do not mix with fork), counts
 *              live children for the limits and reaps them on SIGCHLD,
 *              logging each exit status.  The child builds its own loop
 *              after the fork, so it never shares an epoll set.
 *   iterative  the worker runs inline in the main thread; the next client
 *              waits in the listen backlog until this one leaves.
 *
 * Around them, the runner's part of the service contract (service.h):
 * listeners from service_listeners() (bound at start-up or passed by
 * systemd), READY once serving, service_tick() from the acceptor's loop
 * -- or, while an iterative session runs inline, from a tick of its
 * worker -- for STATUS= and the watchdog, HUP reloads, STOPPING on TERM.
 *
 * Signals.  The acceptor blocks TERM, INT, HUP (and CHLD) and reads them
 * from a signalfd.  A worker that runs in the thread that must see the
 * signal -- the iterative main thread, a fork child -- cannot poll that
 * signalfd (a driver watches only the worker's conns), so there TERM and
 * INT are unblocked around the session with a handler that sets
 * srv->stopping and calls the driver's wake(), which the drivers make
 * async-signal-safe (an eventfd or ev_async write).  Handlers live in
 * process-wide statics because a signal carries no user pointer.
 */
#include "ferry/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/io.h"
#include "ferry/log.h"
#include "ferry/service.h"
#include "ferry/session.h"
#include "ferry/worker.h"

enum pc_kind { PC_THREAD, PC_FORK, PC_ITERATIVE };

/* Clients taken per listener per wake-up (thread and fork), so that
 * signals and finished clients are looked at between bursts. */
#define PC_ACCEPT_BUDGET    64
/* Out of descriptors with the spare already spent: stop polling the
 * listeners this long (or until a client leaves) instead of spinning. */
#define PC_PAUSE            0.1
/* Fork: a child gets this long past the drain timeout to close on its
 * own (it enforces the drain timeout itself) before SIGKILL. */
#define PC_KILL_GRACE       1.0
/* Fork: after SIGKILL, how long to wait for the last children to be
 * reaped before leaving them to init. */
#define PC_REAP_LIMIT       5.0
/* Thread stacks: the deepest frames hold a few path buffers (about
 * 16 KiB); glibc's default reserves 8 MiB per thread. */
#define PC_THREAD_STACK     (256u * 1024)

static const char MSG_BUSY[] = "421 Too many users, try again later.\r\n";
static const char MSG_PER_IP[] = "421 Too many connections from your address.\r\n";
static const char MSG_NO_RES[] = "421 Server out of resources, try again later.\r\n";

/* ---- live children (fork): pid -> client -------------------------------
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), kept at most half full.  The parent releases a child's
 * per-address count when it reaps it, so it must know the child's peer. */

struct child {
    pid_t    pid;                    /* 0: free slot */
    int      id;                     /* worker id the child logs with */
    struct sockaddr_storage peer;
};

struct child_map {
    struct child *slot;
    size_t cap, n;                   /* cap: 0 or a power of two */
};

static size_t child_hash(pid_t pid, size_t cap)
{
    return ((uint32_t)pid * 2654435761u) & (cap - 1);
}

static void child_insert(struct child_map *m, const struct child *c)
{
    size_t i = child_hash(c->pid, m->cap);
    while (m->slot[i].pid != 0)
        i = (i + 1) & (m->cap - 1);
    m->slot[i] = *c;
    m->n++;
}

/* Room for one more child.  0 or -ENOMEM; called before fork() so that
 * a child is never running untracked. */
static int child_reserve(struct child_map *m)
{
    if ((m->n + 1) * 2 <= m->cap)
        return 0;
    size_t ncap = m->cap ? m->cap * 2 : 64;
    struct child *old = m->slot, *nslot = calloc(ncap, sizeof(*nslot));
    size_t ocap = m->cap;
    if (!nslot)
        return -ENOMEM;
    m->slot = nslot;
    m->cap = ncap;
    m->n = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].pid != 0)
            child_insert(m, &old[i]);
    free(old);
    return 0;
}

/* Remove pid, copying its entry to out.  0, or -1 when unknown. */
static int child_take(struct child_map *m, pid_t pid, struct child *out)
{
    if (m->cap == 0)
        return -1;
    size_t mask = m->cap - 1, i = child_hash(pid, m->cap);
    while (m->slot[i].pid != pid) {
        if (m->slot[i].pid == 0)
            return -1;
        i = (i + 1) & mask;
    }
    *out = m->slot[i];
    /* Shift later members of the probe run back into the hole, so that
     * a lookup never stops early at it. */
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        if (m->slot[j].pid == 0)
            break;
        size_t home = child_hash(m->slot[j].pid, m->cap);
        /* Move j into the hole i unless its home lies cyclically in
         * (i, j], where it is still reachable. */
        int reachable = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!reachable) {
            m->slot[i] = m->slot[j];
            i = j;
        }
    }
    m->slot[i].pid = 0;
    m->n--;
    return 0;
}

static void child_kill_all(struct child_map *m, int sig)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slot[i].pid != 0)
            (void)kill(m->slot[i].pid, sig);
}

/* ---- client threads ----------------------------------------------------- */

struct perclient;

struct pc_thread {
    struct perclient *pc;
    pthread_t         tid;
    struct pc_thread *prev, *next;   /* live list; then the done list */
    int               wakeable;      /* worker running: wake() allowed (lock) */
    int               id;
    int               fd;            /* handed to the session */
    socklen_t         plen;
    struct sockaddr_storage peer;
    struct worker     w;
};

/* ---- the acceptor ------------------------------------------------------- */

struct perclient {
    struct server    *srv;
    const struct model *m;
    enum pc_kind      kind;
    int               lfd[CONFIG_MAX_LISTEN];   /* -1 once closed */
    int               nlisten;
    int               sigfd;
    int               reserve_fd;   /* spare fd for EMFILE, -1 if spent */
    int               notify_fd;    /* thread: eventfd a finished thread pokes */
    int               stopping;     /* TERM/INT seen: listeners closed */
    double            paused_until; /* listeners not polled before this */
    unsigned          next_id;
    int               rr;           /* iterative: listener to look at first */
    /* thread */
    pthread_mutex_t   lock;         /* guards live, done, wakeable */
    pthread_attr_t    attr;
    struct pc_thread *live, *done;
    unsigned          nthreads;     /* created and not yet joined (main only) */
    /* fork */
    struct child_map  kids;
    double            kill_at;      /* drain: SIGKILL the rest at this time */
    double            give_up_at;   /* after SIGKILL: stop waiting */
};

/* ---- signals ------------------------------------------------------------
 * Handler state, for the two places a handler runs: the iterative main
 * thread (where a second signal exits at once) and a fork child (where a
 * repeated TERM is expected -- systemd signals the whole cgroup and the
 * parent forwards one more -- and changes nothing). */

enum sig_mode { SIG_CHILD, SIG_ITERATIVE };

static struct {
    struct server          *srv;
    struct worker *volatile w;        /* worker to wake, or NULL */
    volatile sig_atomic_t   stops;    /* TERM/INT seen */
    volatile sig_atomic_t   last;     /* the last of them */
    volatile sig_atomic_t   logged;   /* the handler wrote event=stopping */
    int                     mode;     /* enum sig_mode */
    char                    stop_body[2][96];   /* [0] TERM, [1] INT */
    char                    exit_body[2][64];
} sigst;

static const char *sig_name(int sig)
{
    return sig == SIGTERM ? "TERM" : sig == SIGINT ? "INT" : sig == SIGHUP ? "HUP" : "other";
}

static size_t put_uint(char *p, unsigned long v, int width)
{
    char tmp[24];
    size_t n = 0, k = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || n < (size_t)width);
    while (n)
        p[k++] = tmp[--n];
    return k;
}

/* A log line from a signal handler: log_msg() formats the time with
 * gmtime_r(), which takes glibc's tz lock, so a handler that interrupted
 * a log_msg() would deadlock.  Same format, integer arithmetic only
 * (civil-from-days, H. Hinnant), one write(2). */
static void sig_log(int level, const char *body)
{
    static const char *const names[] = { "debug", "info", "warn", "error" };
    char line[192];
    struct timespec ts;
    size_t n = 0;

    if (level < log_get_level())
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long days = ts.tv_sec / 86400, sod = ts.tv_sec % 86400;
    long long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1, mo = mp < 10 ? mp + 3 : mp - 9;
    long long y = (long long)yoe + era * 400 + (mo <= 2);

    n += put_uint(line + n, (unsigned long)y, 4);
    line[n++] = '-';
    n += put_uint(line + n, mo, 2);
    line[n++] = '-';
    n += put_uint(line + n, d, 2);
    line[n++] = 'T';
    n += put_uint(line + n, (unsigned long)(sod / 3600), 2);
    line[n++] = ':';
    n += put_uint(line + n, (unsigned long)(sod / 60 % 60), 2);
    line[n++] = ':';
    n += put_uint(line + n, (unsigned long)(sod % 60), 2);
    line[n++] = '.';
    n += put_uint(line + n, (unsigned long)(ts.tv_nsec / 1000000), 3);
    line[n++] = 'Z';
    line[n++] = ' ';
    for (const char *s = names[level]; *s; s++)
        line[n++] = *s;
    line[n++] = ' ';
    for (const char *s = body; *s && n < sizeof(line) - 1; s++)
        line[n++] = *s;
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, n);
}

static void on_stop_signal(int sig)
{
    int saved = errno, i = sig == SIGTERM ? 0 : 1;

    if (sigst.mode == SIG_ITERATIVE) {
        if (sigst.stops++ > 0) {
            /* Uploads in flight are O_TMPFILE files (or hidden names
             * cleaned at start-up): nothing partial is left behind. */
            sig_log(LOG_WARN, sigst.exit_body[i]);
            _exit(1);
        }
        sigst.last = sig;
        sig_log(LOG_INFO, sigst.stop_body[i]);
        sigst.logged = 1;
    }
    atomic_store(&sigst.srv->stopping, 1);
    struct worker *w = sigst.w;
    if (w)
        w->drv->wake(w);
    errno = saved;
}

/* The drain timeout of the config in force (a reload may change it). */
static double drain_timeout(struct server *srv)
{
    const struct ferry_config *cur = server_config_get(srv);
    double t = cur->drain_timeout;
    server_config_put(srv, cur);
    return t;
}

/* Called with TERM/INT blocked (or before any handler is installed):
 * the handler reads these strings. */
static void sig_setup(struct server *srv, int mode)
{
    double dt = drain_timeout(srv);
    sigst.srv = srv;
    sigst.mode = mode;
    for (int i = 0; i < 2; i++) {
        const char *name = i == 0 ? "TERM" : "INT";
        snprintf(sigst.stop_body[i], sizeof(sigst.stop_body[i]),
                 "event=stopping signal=%s drain_timeout=%g", name, dt);
        snprintf(sigst.exit_body[i], sizeof(sigst.exit_body[i]),
                 "event=exit-now signal=%s", name);
    }
}

/* Install the TERM/INT handler (the signals stay blocked until the
 * caller opens the mask around a session). */
static int sig_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;
    /* Neither interrupts the other: the handler's counting is not atomic. */
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGINT);
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
        return -errno;
    return 0;
}

static void stop_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
}

/* ---- small helpers ------------------------------------------------------ */

static int open_reserve(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void refuse(int fd, const char *msg)
{
    /* Best effort: the socket is fresh, so its send buffer has room. */
    (void)io_send(fd, msg, strlen(msg));
    close(fd);
}

static int next_id(struct perclient *pc)
{
    pc->next_id = (pc->next_id + 1) & INT_MAX;
    if (pc->next_id == 0)
        pc->next_id = 1;
    return (int)pc->next_id;
}

static void close_listeners(struct perclient *pc)
{
    for (int i = 0; i < pc->nlisten; i++) {
        if (pc->lfd[i] >= 0)
            close(pc->lfd[i]);
        pc->lfd[i] = -1;
    }
}

/* A descriptor came free (a client left): take the spare back and poll
 * the listeners again if they were paused for want of one. */
static void fd_freed(struct perclient *pc)
{
    if (pc->reserve_fd < 0)
        pc->reserve_fd = open_reserve();
    if (pc->reserve_fd >= 0)
        pc->paused_until = 0;
}

/* Take one client off lfd.  Returns the fd; IO_AGAIN when the queue is
 * empty or accepting must pause; another negative value when a client was
 * lost or refused on the way (the caller goes on with the next). */
static int take_client(struct perclient *pc, int lfd, struct sockaddr_storage *peer,
                       socklen_t *plen)
{
    char addr[64];
    int fd = io_accept(lfd, peer, plen);

    if (fd >= 0 || fd == IO_AGAIN)
        return fd;
    if (fd == -ECONNABORTED || fd == -EPERM || fd == -EPROTO)
        return fd;   /* concerns one client only */
    if ((fd == -EMFILE || fd == -ENFILE) && pc->reserve_fd >= 0) {
        /* Free the spare, take the client off the queue and tell it,
         * take the spare back (libuv's emfile trick). */
        close(pc->reserve_fd);
        pc->reserve_fd = -1;
        fd = io_accept(lfd, peer, plen);
        if (fd >= 0) {
            log_warn("event=refused peer=%s reason=no-free-fd",
                     io_addr_str(peer, addr, sizeof(addr)));
            refuse(fd, MSG_NO_RES);
        }
        pc->reserve_fd = open_reserve();
        return fd == IO_AGAIN ? IO_AGAIN : -EMFILE;
    }
    /* No spare, or a failure that would repeat at once (ENOBUFS,
     * ENOMEM): a level-triggered listener would spin, so look away for a
     * moment. */
    log_warn("event=accept-paused error=\"%s\" pause=%g", strerror(-fd), PC_PAUSE);
    pc->paused_until = worker_clock() + PC_PAUSE;
    return IO_AGAIN;
}

static int admit(struct perclient *pc, int fd, const struct sockaddr_storage *peer)
{
    const char *reason;
    char addr[64];
    if (server_admit(pc->srv, peer, &reason) == 0)
        return 0;
    log_warn("event=refused peer=%s reason=%s", io_addr_str(peer, addr, sizeof(addr)),
             reason);
    refuse(fd, strcmp(reason, "max-per-ip") == 0 ? MSG_PER_IP : MSG_BUSY);
    return -1;
}

/* ---- the one-session worker ---------------------------------------------- */

static int solo_init(struct worker *w, struct server *srv, const struct model *m, int id)
{
    int r = worker_init(w, id, srv, m->drv, NULL, 0);
    if (r < 0)
        return r;
    /* After worker_init, which clears the struct: done when the session
     * leaves. */
    w->solo = 1;
    return 0;
}

/* Serve the client on fd until it leaves.  The session owns fd (and the
 * admission, released when it ends) from here on. */
static int solo_serve(struct worker *w, int fd, const struct sockaddr_storage *peer,
                      socklen_t plen)
{
    int r = 0;
    if (!session_new(w, fd, peer, plen))
        server_release(w->srv, peer);
    /* A stop that came before this worker could be woken: drain now
     * (an idle session says 421 and leaves at once). */
    if (atomic_load(&w->srv->stopping))
        worker_check_stop(w);
    if (!worker_done(w)) {
        r = worker_run(w);
        if (r < 0)
            log_error("event=worker-failed worker=%d error=%s", w->id, strerror(-r));
    }
    return r;
}

/* ---- thread ------------------------------------------------------------- */

/* Runs the worker thread_spawn() set up. */
static void *client_thread(void *arg)
{
    struct pc_thread *t = arg;
    struct perclient *pc = t->pc;
    uint64_t one = 1;

    pthread_mutex_lock(&pc->lock);
    t->wakeable = 1;
    pthread_mutex_unlock(&pc->lock);
    (void)solo_serve(&t->w, t->fd, &t->peer, t->plen);
    pthread_mutex_lock(&pc->lock);
    t->wakeable = 0;
    pthread_mutex_unlock(&pc->lock);
    worker_fini(&t->w);
    pthread_mutex_lock(&pc->lock);
    if (t->prev)
        t->prev->next = t->next;
    else
        pc->live = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = NULL;
    t->next = pc->done;
    pc->done = t;
    pthread_mutex_unlock(&pc->lock);
    /* The acceptor joins us; an eventfd write cannot fail short of a
     * counter overflow, which the reader's reset prevents. */
    (void)!write(pc->notify_fd, &one, sizeof(one));
    return NULL;
}

static int thread_spawn(struct perclient *pc, int fd, const struct sockaddr_storage *peer,
                        socklen_t plen)
{
    struct pc_thread *t = calloc(1, sizeof(*t));
    int r;
    if (!t)
        return -ENOMEM;
    t->pc = pc;
    t->id = next_id(pc);
    t->fd = fd;
    t->plen = plen;
    memcpy(&t->peer, peer, sizeof(t->peer));
    /* The worker's descriptors (its driver's epoll set or eventfd) are
     * taken here in the acceptor, not in the new thread: then one thread
     * takes every descriptor the accept path needs, and no client thread
     * can take the number the EMFILE spare has just given back between
     * the acceptor's close and open -- which would leave the acceptor
     * without a spare and the queued clients unanswered until a session
     * ends.  A failure (out of descriptors or memory) costs this client
     * a 421 (hand_over), never the server. */
    r = solo_init(&t->w, pc->srv, pc->m, t->id);
    if (r < 0) {
        free(t);
        return r;
    }
    pthread_mutex_lock(&pc->lock);
    t->next = pc->live;
    if (pc->live)
        pc->live->prev = t;
    pc->live = t;
    pthread_mutex_unlock(&pc->lock);
    r = pthread_create(&t->tid, &pc->attr, client_thread, t);
    if (r != 0) {
        pthread_mutex_lock(&pc->lock);
        if (t->next)
            t->next->prev = NULL;
        pc->live = t->next;
        pthread_mutex_unlock(&pc->lock);
        worker_fini(&t->w);
        free(t);
        return -r;
    }
    pc->nthreads++;
    return 0;
}

/* Join the threads that finished. */
static void thread_reap(struct perclient *pc)
{
    uint64_t n;
    struct pc_thread *t, *next;
    (void)!read(pc->notify_fd, &n, sizeof(n));
    pthread_mutex_lock(&pc->lock);
    t = pc->done;
    pc->done = NULL;
    pthread_mutex_unlock(&pc->lock);
    for (; t; t = next) {
        next = t->next;
        pthread_join(t->tid, NULL);
        free(t);
        pc->nthreads--;
        fd_freed(pc);
    }
}

/* Wake every running worker: it then looks at the stop flag and takes
 * the newest config (worker_check_stop). */
static void thread_wake_all(struct perclient *pc)
{
    pthread_mutex_lock(&pc->lock);
    for (struct pc_thread *t = pc->live; t; t = t->next)
        if (t->wakeable)
            t->w.drv->wake(&t->w);
    pthread_mutex_unlock(&pc->lock);
}

/* ---- fork --------------------------------------------------------------- */

static void child_main(struct perclient *pc, int id, int fd,
                       const struct sockaddr_storage *peer, socklen_t plen)
    __attribute__((noreturn));

static void child_main(struct perclient *pc, int id, int fd,
                       const struct sockaddr_storage *peer, socklen_t plen)
{
    struct worker w;
    sigset_t set;
    int r;

    /* Nothing of the acceptor stays open here. */
    close_listeners(pc);
    close(pc->sigfd);
    if (pc->reserve_fd >= 0)
        close(pc->reserve_fd);
    free(pc->kids.slot);
    pc->kids.slot = NULL;
    service_forked(pc->srv);

    /* TERM/INT drain this child; HUP means nothing to it; CHLD back to
     * the default (it forks nothing).  The handler is in place before
     * the mask opens, so a TERM the parent sent early is not lost. */
    sig_setup(pc->srv, SIG_CHILD);
    signal(SIGHUP, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    if (sig_install() < 0) {
        refuse(fd, MSG_NO_RES);
        _exit(1);
    }
    r = solo_init(&w, pc->srv, pc->m, id);
    if (r < 0) {
        char addr[64];
        log_warn("event=refused worker=%d peer=%s reason=worker-init error=\"%s\"", id,
                 io_addr_str(peer, addr, sizeof(addr)), strerror(-r));
        refuse(fd, MSG_NO_RES);
        _exit(1);
    }
    sigst.w = &w;
    sigemptyset(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);

    r = solo_serve(&w, fd, peer, plen);

    stop_set(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigst.w = NULL;
    worker_fini(&w);
    /* _exit: no atexit handlers or stdio buffers inherited from the
     * parent run twice. */
    _exit(r < 0 ? 1 : 0);
}

static int fork_spawn(struct perclient *pc, int fd, const struct sockaddr_storage *peer,
                      socklen_t plen)
{
    struct child c;
    pid_t pid;

    if (child_reserve(&pc->kids) < 0)
        return -ENOMEM;
    c.id = next_id(pc);
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0)
        child_main(pc, c.id, fd, peer, plen);
    /* The parent keeps no client descriptor. */
    close(fd);
    /* The child took the current session id from its copy; move ours on
     * so that the next child gets the next one. */
    atomic_fetch_add(&pc->srv->next_session_id, 1);
    atomic_fetch_add(&pc->srv->nsessions_total, 1);
    c.pid = pid;
    memcpy(&c.peer, peer, sizeof(c.peer));
    child_insert(&pc->kids, &c);
    log_debug("event=child-start pid=%d worker=%d", (int)pid, c.id);
    return 0;
}

static void log_child_exit(pid_t pid, int status, const struct child *c)
{
    char addr[64] = "-";
    int id = c ? c->id : -1;
    if (c)
        io_addr_str(&c->peer, addr, sizeof(addr));
    if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        if (code == 0)
            log_info("event=child-exit pid=%d worker=%d peer=%s status=0", (int)pid, id, addr);
        else
            log_warn("event=child-exit pid=%d worker=%d peer=%s status=%d", (int)pid, id,
                     addr, code);
    } else if (WIFSIGNALED(status)) {
        const char *name = sigabbrev_np(WTERMSIG(status));
        log_warn("event=child-exit pid=%d worker=%d peer=%s status=signal signal=%s core=%s",
                 (int)pid, id, addr, name ? name : "?", WCOREDUMP(status) ? "yes" : "no");
    }
}

/* Reap every child that has ended (SIGCHLDs coalesce, so loop). */
static void fork_reap(struct perclient *pc)
{
    for (;;) {
        struct child c;
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            break;
        if (child_take(&pc->kids, pid, &c) == 0) {
            server_release(pc->srv, &c.peer);
            log_child_exit(pid, status, &c);
        } else if (!service_reaped(pc->srv, pid, status)) {
            log_child_exit(pid, status, NULL);
        }
        fd_freed(pc);
    }
}

/* ---- the acceptor loop ---------------------------------------------------- */

static void begin_stop(struct perclient *pc, int sig, int logged)
{
    double dt = drain_timeout(pc->srv);
    if (pc->stopping)
        return;
    pc->stopping = 1;
    atomic_store(&pc->srv->stopping, 1);
    if (!logged)
        log_info("event=stopping signal=%s drain_timeout=%g", sig_name(sig), dt);
    service_stopping(pc->srv);
    /* Stop accepting: new clients are refused by the kernel, the ones
     * still in the backlog are reset. */
    close_listeners(pc);
    switch (pc->kind) {
    case PC_THREAD:
        thread_wake_all(pc);
        break;
    case PC_FORK:
        log_info("event=drain children=%zu", pc->kids.n);
        child_kill_all(&pc->kids, SIGTERM);
        pc->kill_at = worker_clock() + dt + PC_KILL_GRACE;
        break;
    case PC_ITERATIVE:
        break;
    }
}

static void exit_now(struct perclient *pc, int sig) __attribute__((noreturn));
static void exit_now(struct perclient *pc, int sig)
{
    log_warn("event=exit-now signal=%s", sig_name(sig));
    if (pc->kind == PC_FORK)
        child_kill_all(&pc->kids, SIGKILL);   /* init reaps them */
    _exit(1);
}

/* SIGHUP: re-read the config (service.h).  New clients get it in all
 * three models; running thread-model clients take it at once, as the
 * event-loop workers do.  A fork child keeps the settings it was forked
 * with, and the iterative model takes HUP between clients only. */
static void reload(struct perclient *pc)
{
    service_reload(pc->srv);
    if (pc->kind == PC_THREAD)
        thread_wake_all(pc);
    if (pc->kind == PC_ITERATIVE)
        sig_setup(pc->srv, SIG_ITERATIVE);
}

static void read_signals(struct perclient *pc)
{
    struct signalfd_siginfo si;
    int chld = 0;
    /* Standard signals coalesce: at most a few are pending. */
    while (read(pc->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGTERM || sig == SIGINT) {
            if (sigst.stops++ > 0)
                exit_now(pc, sig);
            sigst.last = sig;
            begin_stop(pc, sig, 0);
        } else if (sig == SIGHUP) {
            reload(pc);
        } else if (sig == SIGCHLD) {
            chld = 1;
        }
    }
    if (chld && pc->kind == PC_FORK)
        fork_reap(pc);
}

/* Iterative: the acceptor's loop does not turn while a session runs
 * inline, so the session's worker keeps the service manager informed
 * (status, watchdog) with a tick of its own. */
struct service_ticker {
    struct worker_tick t;            /* first: the callback gets &t */
    struct worker     *w;
    struct server     *srv;
};

static void service_ticker_fire(struct worker_tick *t)
{
    struct service_ticker *st = (struct service_ticker *)t;
    worker_tick_arm(st->w, &st->t, service_tick(st->srv));
}

/* Iterative: serve one client inline, TERM/INT open to the handler. */
static void serve_inline(struct perclient *pc, int fd, const struct sockaddr_storage *peer,
                         socklen_t plen)
{
    struct service_ticker st;
    struct worker w;
    sigset_t set;
    int r = solo_init(&w, pc->srv, pc->m, 0);

    if (r < 0) {
        char addr[64];
        log_warn("event=refused worker=0 peer=%s reason=worker-init error=\"%s\"",
                 io_addr_str(peer, addr, sizeof(addr)), strerror(-r));
        refuse(fd, MSG_NO_RES);
        server_release(pc->srv, peer);
        return;
    }
    memset(&st, 0, sizeof(st));
    st.t.fn = service_ticker_fire;
    st.w = &w;
    st.srv = pc->srv;
    worker_tick_arm(&w, &st.t, service_tick(pc->srv));
    stop_set(&set);
    sigst.w = &w;
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    (void)solo_serve(&w, fd, peer, plen);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    sigst.w = NULL;
    worker_tick_disarm(&st.t);
    worker_fini(&w);
    /* The handler saw a signal during the session: it has drained;
     * now stop for good. */
    if (sigst.stops > 0)
        begin_stop(pc, sigst.last, sigst.logged);
}

/* Hand one accepted client to the model.  Thread and fork failures cost
 * the client a 421, never the server. */
static void hand_over(struct perclient *pc, int fd, const struct sockaddr_storage *peer,
                      socklen_t plen)
{
    char addr[64];
    int r;

    if (admit(pc, fd, peer) < 0)
        return;
    if (pc->kind == PC_ITERATIVE) {
        serve_inline(pc, fd, peer, plen);
        return;
    }
    r = pc->kind == PC_THREAD ? thread_spawn(pc, fd, peer, plen)
                              : fork_spawn(pc, fd, peer, plen);
    if (r < 0) {
        /* Out of descriptors is what a flood does: a warning, as for a
         * refusal at accept. */
        if (r == -EMFILE || r == -ENFILE)
            log_warn("event=refused peer=%s reason=no-free-fd",
                     io_addr_str(peer, addr, sizeof(addr)));
        else
            log_error("event=refused peer=%s reason=%s-failed error=\"%s\"",
                      io_addr_str(peer, addr, sizeof(addr)),
                      pc->kind == PC_THREAD ? "thread" : "fork", strerror(-r));
        refuse(fd, MSG_NO_RES);
        server_release(pc->srv, peer);
    }
}

static void accept_from(struct perclient *pc, int lfd)
{
    /* Every attempt counts, refusals included: a flood of clients that
     * are refused for want of descriptors must not hold the loop. */
    int budget = pc->kind == PC_ITERATIVE ? 1 : PC_ACCEPT_BUDGET;
    for (; budget > 0 && !pc->stopping && pc->paused_until == 0; budget--) {
        struct sockaddr_storage peer;
        socklen_t plen;
        int fd = take_client(pc, lfd, &peer, &plen);
        if (fd == IO_AGAIN)
            return;
        if (fd >= 0)
            hand_over(pc, fd, &peer, plen);
    }
}

static int finished(struct perclient *pc)
{
    if (!pc->stopping)
        return 0;
    switch (pc->kind) {
    case PC_THREAD:
        return pc->nthreads == 0;
    case PC_FORK:
        if (pc->kids.n == 0)
            return 1;
        if (pc->give_up_at > 0 && worker_clock() >= pc->give_up_at) {
            log_error("event=children-left count=%zu", pc->kids.n);
            return 1;
        }
        return 0;
    case PC_ITERATIVE:
        return 1;
    }
    return 1;
}

/* Fork drain: SIGKILL the children still there at the deadline. */
static void fork_deadline(struct perclient *pc, double now)
{
    if (pc->kind != PC_FORK || !pc->stopping || pc->give_up_at > 0 || now < pc->kill_at)
        return;
    if (pc->kids.n)
        log_warn("event=drain-timeout children=%zu", pc->kids.n);
    child_kill_all(&pc->kids, SIGKILL);
    pc->give_up_at = now + PC_REAP_LIMIT;
}

static int ms_until(double when, double now)
{
    double ms = (when - now) * 1000.0 + 1.0;   /* round up: never wake early */
    return ms <= 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}

static void run_loop(struct perclient *pc)
{
    while (!finished(pc)) {
        struct pollfd p[CONFIG_MAX_LISTEN + 2];
        int n = 0, nl = 0, timeout = -1, r;
        double now = worker_clock();

        fork_deadline(pc, now);
        if (pc->paused_until > 0 && now >= pc->paused_until)
            pc->paused_until = 0;
        if (!pc->stopping && pc->paused_until == 0) {
            /* Iterative: start with a different listener each time, so
             * one busy address cannot starve another. */
            for (int i = 0; i < pc->nlisten; i++) {
                int k = (pc->rr + i) % pc->nlisten;
                p[n].fd = pc->lfd[k];
                p[n].events = POLLIN;
                p[n].revents = 0;
                n++;
            }
            nl = n;
        } else if (pc->paused_until > 0) {
            timeout = ms_until(pc->paused_until, now);
        }
        if (pc->kind == PC_FORK && pc->stopping) {
            int t = ms_until(pc->give_up_at > 0 ? pc->give_up_at : pc->kill_at, now);
            timeout = timeout < 0 || t < timeout ? t : timeout;
        }
        /* Status and watchdog for the service manager: this loop turning
         * is what the watchdog vouches for. */
        int tick = ms_until(now + service_tick(pc->srv), now);
        timeout = timeout < 0 || tick < timeout ? tick : timeout;
        p[n].fd = pc->sigfd;
        p[n].events = POLLIN;
        p[n].revents = 0;
        n++;
        if (pc->notify_fd >= 0) {
            p[n].fd = pc->notify_fd;
            p[n].events = POLLIN;
            p[n].revents = 0;
            n++;
        }

        r = poll(p, (nfds_t)n, timeout);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            /* ENOMEM: nothing to do but wait a little and try again. */
            log_error("event=poll-failed error=\"%s\"", strerror(errno));
            struct timespec ts = { 0, 100 * 1000 * 1000 };
            nanosleep(&ts, NULL);
            continue;
        }
        if (p[nl].revents)
            read_signals(pc);
        if (pc->notify_fd >= 0 && p[nl + 1].revents)
            thread_reap(pc);
        for (int i = 0; i < nl && !pc->stopping; i++) {
            if (p[i].revents) {
                if (pc->kind == PC_ITERATIVE)
                    pc->rr = (pc->rr + 1) % pc->nlisten;
                accept_from(pc, p[i].fd);
                if (pc->kind == PC_ITERATIVE)
                    break;   /* look at signals before the next client */
            }
        }
    }
}

/* ---- set-up --------------------------------------------------------------- */

int perclient_run(struct server *srv, const struct model *m)
{
    const struct ferry_config *cfg = srv->cfg;
    struct perclient pc;
    sigset_t set;
    int status = 1, attr_ok = 0;

    memset(&pc, 0, sizeof(pc));
    pc.srv = srv;
    pc.m = m;
    pc.kind = strcmp(m->name, "thread") == 0 ? PC_THREAD
            : strcmp(m->name, "fork") == 0   ? PC_FORK
                                             : PC_ITERATIVE;
    pc.sigfd = pc.notify_fd = pc.reserve_fd = -1;
    for (int i = 0; i < CONFIG_MAX_LISTEN; i++)
        pc.lfd[i] = -1;
    pthread_mutex_init(&pc.lock, NULL);

    /* Block before anything else exists, so that client threads inherit
     * the mask and the signals reach the signalfd only. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (pc.kind == PC_FORK)
        sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pc.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (pc.sigfd < 0) {
        log_error("event=signalfd-failed error=\"%s\"", strerror(errno));
        goto out;
    }
    sig_setup(srv, SIG_ITERATIVE);
    if (pc.kind == PC_ITERATIVE && sig_install() < 0) {
        log_error("event=sigaction-failed error=\"%s\"", strerror(errno));
        goto out;
    }
    if (pc.kind == PC_THREAD) {
        pc.notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (pc.notify_fd < 0) {
            log_error("event=eventfd-failed error=\"%s\"", strerror(errno));
            goto out;
        }
        if (pthread_attr_init(&pc.attr) != 0)
            goto out;
        attr_ok = 1;
        pthread_attr_setdetachstate(&pc.attr, PTHREAD_CREATE_JOINABLE);
        (void)pthread_attr_setstacksize(&pc.attr, PC_THREAD_STACK);
    }
    /* Bound before privileges were dropped, or passed by the service
     * manager. */
    pc.nlisten = service_listeners(srv, 0, pc.lfd, CONFIG_MAX_LISTEN);
    if (pc.nlisten < 0) {
        pc.nlisten = 0;
        goto out;
    }
    /* The spare descriptor that lets an EMFILE accept refuse the client
     * instead of spinning. */
    pc.reserve_fd = open_reserve();

    log_info("event=ready model=%s max_clients=%u max_per_ip=%u root=%s write=%s",
             m->name, cfg->max_clients, cfg->max_per_ip, cfg->root,
             cfg->write ? "yes" : "no");
    service_ready(srv);
    run_loop(&pc);
    status = 0;

out:
    service_unwatch(srv);
    close_listeners(&pc);
    /* Normally every thread is joined by now; after a set-up failure none
     * was started. */
    if (pc.reserve_fd >= 0)
        close(pc.reserve_fd);
    if (pc.notify_fd >= 0)
        close(pc.notify_fd);
    if (pc.sigfd >= 0)
        close(pc.sigfd);
    if (attr_ok)
        pthread_attr_destroy(&pc.attr);
    pthread_mutex_destroy(&pc.lock);
    free(pc.kids.slot);
    log_info("event=stopped status=%d", status);
    return status;
}
