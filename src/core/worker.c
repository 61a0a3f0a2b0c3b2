/* worker: connection table, ready list, timeouts and accepting -- the
 * parts of an event loop that do not depend on how it waits. */
#include "ferry/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ferry/conffile.h"
#include "ferry/driver.h"
#include "ferry/io.h"
#include "ferry/log.h"
#include "ferry/metrics.h"
#include "ferry/session.h"

/* Seconds between looks for a spare descriptor while accepting is
 * paused: a wake-up costs one open(), and a client queued meanwhile waits
 * at most this long for its 220 or 421 once descriptors are free. */
#define ACCEPT_RETRY 0.25

/* ---- server-wide state ------------------------------------------------ */

struct ip_count {
    struct in6_addr addr;   /* v4 addresses stored v4-mapped */
    unsigned count;         /* 0: free slot (tombstones are count 0 + used) */
    unsigned used;
};

static void ip_key(const struct sockaddr_storage *ss, struct in6_addr *k)
{
    memset(k, 0, sizeof(*k));
    if (ss->ss_family == AF_INET) {
        k->s6_addr[10] = k->s6_addr[11] = 0xff;
        memcpy(&k->s6_addr[12], &((const struct sockaddr_in *)ss)->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        *k = ((const struct sockaddr_in6 *)ss)->sin6_addr;
        /* A host usually gets a whole /64: count the block, as the
         * failed-login table does, or --max-per-ip is one address away
         * from useless. */
        if (!IN6_IS_ADDR_V4MAPPED(k))
            memset(&k->s6_addr[8], 0, 8);
    }
}

static size_t ip_hash(const struct in6_addr *k)
{
    /* FNV-1a: the table holds at most max-clients live keys. */
    size_t h = 1469598103934665603ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ k->s6_addr[i]) * 1099511628211ull;
    return h;
}

/* Find the slot of k, or the free slot where it would go.  The table is
 * rebuilt (dropping zero counts) before it gets full, so a probe always
 * ends. */
static struct ip_count *ip_slot(struct server *srv, const struct in6_addr *k)
{
    size_t mask = srv->ip_cap - 1, i = ip_hash(k) & mask;
    struct ip_count *tomb = NULL;
    for (;;) {
        struct ip_count *e = &srv->ip_table[i];
        if (!e->used)
            return tomb ? tomb : e;
        if (memcmp(&e->addr, k, sizeof(*k)) == 0)
            return e;
        if (e->count == 0 && !tomb)
            tomb = e;
        i = (i + 1) & mask;
    }
}

static int ip_grow(struct server *srv)
{
    size_t live = 0, ncap;
    for (size_t i = 0; i < srv->ip_cap; i++)
        live += srv->ip_table[i].count > 0;
    ncap = srv->ip_cap ? srv->ip_cap : 64;
    while (ncap < live * 4 + 64)
        ncap *= 2;
    struct ip_count *old = srv->ip_table;
    size_t ocap = srv->ip_cap;
    srv->ip_table = calloc(ncap, sizeof(*srv->ip_table));
    if (!srv->ip_table) {
        srv->ip_table = old;
        return -1;
    }
    srv->ip_cap = ncap;
    srv->ip_used = 0;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].count > 0) {
            *ip_slot(srv, &old[i].addr) = old[i];
            srv->ip_used++;
        }
    }
    free(old);
    return 0;
}

/* ---- config snapshots --------------------------------------------------- */

/* A published configuration.  The start-up one (server_init) points at
 * strings owned by main(); a reloaded one owns its config file's arena. */
struct cfg_snap {
    unsigned refs;                    /* guarded by srv->cfg_lock */
    struct ferry_config cfg;
    struct conffile_arena *arena;
};

static struct cfg_snap *snap_of(const struct ferry_config *cfg)
{
    return (struct cfg_snap *)(void *)((char *)cfg - offsetof(struct cfg_snap, cfg));
}

int server_config_publish(struct server *srv, const struct ferry_config *cfg,
                          struct conffile_arena *arena)
{
    struct cfg_snap *s = calloc(1, sizeof(*s)), *old;
    if (!s)
        return -ENOMEM;
    s->refs = 1;
    s->cfg = *cfg;
    s->arena = arena;
    pthread_mutex_lock(&srv->cfg_lock);
    old = srv->cfg_cur;
    srv->cfg_cur = s;
    pthread_mutex_unlock(&srv->cfg_lock);
    atomic_store(&srv->max_clients, cfg->max_clients);
    atomic_store(&srv->max_per_ip, cfg->max_per_ip);
    atomic_fetch_add(&srv->cfg_gen, 1);
    if (old)
        server_config_put(srv, &old->cfg);
    return 0;
}

const struct ferry_config *server_config_get(struct server *srv)
{
    const struct ferry_config *c = srv->cfg;
    pthread_mutex_lock(&srv->cfg_lock);
    if (srv->cfg_cur) {
        srv->cfg_cur->refs++;
        c = &srv->cfg_cur->cfg;
    }
    pthread_mutex_unlock(&srv->cfg_lock);
    return c;
}

void server_config_put(struct server *srv, const struct ferry_config *cfg)
{
    struct cfg_snap *s;
    int last;
    /* srv->cfg itself is main()'s and was never counted. */
    if (!cfg || cfg == srv->cfg)
        return;
    s = snap_of(cfg);
    pthread_mutex_lock(&srv->cfg_lock);
    last = --s->refs == 0;
    pthread_mutex_unlock(&srv->cfg_lock);
    if (last) {
        conffile_arena_free(s->arena);
        free(s);
    }
}

int server_init(struct server *srv, const struct ferry_config *cfg)
{
    int r;
    memset(srv, 0, sizeof(*srv));
    srv->cfg = cfg;
    atomic_init(&srv->nclients, 0);
    atomic_init(&srv->nsessions_total, 0);
    atomic_init(&srv->next_session_id, 1);
    atomic_init(&srv->ntransfers, 0);
    atomic_init(&srv->stopping, 0);
    atomic_init(&srv->cfg_gen, 0);
    pthread_mutex_init(&srv->ip_lock, NULL);
    pthread_mutex_init(&srv->cfg_lock, NULL);
    {
        /* Writers first: with readers preferred, a worker accepting
         * without pause would keep the one spending a spare waiting. */
        pthread_rwlockattr_t a;
        pthread_rwlockattr_init(&a);
        pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        pthread_rwlock_init(&srv->spare_lock, &a);
        pthread_rwlockattr_destroy(&a);
    }
    users_current_init(&srv->users, NULL);
    r = server_config_publish(srv, cfg, NULL);
    if (r == 0)
        r = vfs_open(&srv->vfs, cfg->root, cfg->create_root);
    if (r < 0)
        server_fini(srv);
    return r;
}

void server_fini(struct server *srv)
{
    vfs_close(&srv->vfs);
    free(srv->ip_table);
    srv->ip_table = NULL;
    srv->ip_cap = srv->ip_used = 0;
    if (srv->cfg_cur) {
        struct cfg_snap *s = srv->cfg_cur;
        srv->cfg_cur = NULL;
        server_config_put(srv, &s->cfg);
    }
    users_current_fini(&srv->users);
    while (srv->spare_have > 0)
        close(srv->spare_fd[--srv->spare_have]);
    pthread_rwlock_destroy(&srv->spare_lock);
    pthread_mutex_destroy(&srv->cfg_lock);
    pthread_mutex_destroy(&srv->ip_lock);
}

/* Per-address counts are kept whatever the limit, so that a reload that
 * sets --max-per-ip counts the clients already connected. */
int server_admit(struct server *srv, const struct sockaddr_storage *peer,
                 const char **reason)
{
    unsigned max_clients = atomic_load_explicit(&srv->max_clients, memory_order_relaxed);
    unsigned max_per_ip = atomic_load_explicit(&srv->max_per_ip, memory_order_relaxed);
    unsigned n = atomic_fetch_add(&srv->nclients, 1) + 1;

    if (max_clients && n > max_clients) {
        atomic_fetch_sub(&srv->nclients, 1);
        *reason = "max-clients";
        return -1;
    }

    struct in6_addr k;
    int r = 0;
    ip_key(peer, &k);
    pthread_mutex_lock(&srv->ip_lock);
    if ((srv->ip_cap == 0 || srv->ip_used * 2 >= srv->ip_cap) && ip_grow(srv) < 0) {
        r = -1;
        *reason = "out of memory";
    } else {
        struct ip_count *e = ip_slot(srv, &k);
        if (e->used && max_per_ip && e->count >= max_per_ip) {
            r = -1;
            *reason = "max-per-ip";
        } else {
            if (!e->used)
                srv->ip_used++;
            e->addr = k;
            e->used = 1;
            e->count++;
        }
    }
    pthread_mutex_unlock(&srv->ip_lock);
    if (r < 0)
        atomic_fetch_sub(&srv->nclients, 1);
    return r;
}

void server_release(struct server *srv, const struct sockaddr_storage *peer)
{
    atomic_fetch_sub(&srv->nclients, 1);
    struct in6_addr k;
    ip_key(peer, &k);
    pthread_mutex_lock(&srv->ip_lock);
    if (srv->ip_cap) {
        struct ip_count *e = ip_slot(srv, &k);
        if (e->used && e->count > 0)
            e->count--;
    }
    pthread_mutex_unlock(&srv->ip_lock);
}

/* ---- worker ---------------------------------------------------------- */

double worker_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void accept_retry_fire(struct worker_tick *t);

static int open_reserve(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Top the spare pool up to what it wants.  The number it holds.  Called
 * with spare_lock held. */
static int spares_fill(struct server *srv)
{
    while (srv->spare_have < srv->spare_want) {
        int fd = open_reserve();
        if (fd < 0)
            break;
        srv->spare_fd[srv->spare_have++] = fd;
    }
    return srv->spare_have;
}

/* A worker with listeners brings one spare to the pool (up to
 * SERVER_SPARES), and takes one away when it goes. */
static void spares_join(struct server *srv, int delta)
{
    pthread_rwlock_wrlock(&srv->spare_lock);
    srv->spare_workers += delta;
    srv->spare_want = srv->spare_workers < SERVER_SPARES ? srv->spare_workers
                                                         : SERVER_SPARES;
    while (srv->spare_have > srv->spare_want && srv->spare_have > 0)
        close(srv->spare_fd[--srv->spare_have]);
    (void)spares_fill(srv);
    pthread_rwlock_unlock(&srv->spare_lock);
}

static void tick_list_init(struct worker_tick *h)
{
    h->prev = h->next = h;
    h->look = h->due = 0;
    h->fn = NULL;
}

static void set_durations(struct worker *w)
{
    const struct ferry_config *cfg = w->cfg;
    w->tmo.duration[TMO_LOGIN] = cfg->login_timeout;
    w->tmo.duration[TMO_IDLE] = cfg->idle_timeout;
    w->tmo.duration[TMO_DATA] = cfg->data_timeout;
    w->tmo.duration[TMO_STALL] = cfg->stall_timeout;
}

int worker_init(struct worker *w, int id, struct server *srv,
                const struct driver_ops *drv, const int *listen_fds, int nlisten)
{
    int r;

    memset(w, 0, sizeof(*w));
    w->id = id;
    w->srv = srv;
    w->drv = drv;
    w->now = worker_clock();
    /* The generation first: a publish between the two is adopted later. */
    w->cfg_gen = atomic_load(&srv->cfg_gen);
    w->cfg = server_config_get(srv);
    tmo_init(&w->tmo);
    set_durations(w);
    tick_list_init(&w->ticks);
    w->accept_retry.fn = accept_retry_fire;
    pthread_mutex_init(&w->mbox_lock, NULL);
    atomic_init(&w->mbox_pending, 0);
    atomic_init(&w->turns, 0);

    if (nlisten > 0) {
        w->listeners = calloc((size_t)nlisten, sizeof(*w->listeners));
        if (!w->listeners)
            return -ENOMEM;
        w->nlisteners = nlisten;
        for (int i = 0; i < nlisten; i++) {
            w->listeners[i].fd = listen_fds[i];
            w->listeners[i].kind = CONN_LISTEN;
            w->listeners[i].want_read = 1;
        }
        /* The spare descriptor that lets an EMFILE accept loop refuse
         * the client instead of spinning (libuv's emfile trick). */
        spares_join(srv, 1);
    }
    r = drv->init(w);
    if (r < 0)
        goto fail_listeners;
    for (int i = 0; i < w->nlisteners; i++) {
        r = worker_conn_add(w, &w->listeners[i]);
        if (r < 0)
            goto fail_drv;
    }
    return 0;

fail_drv:
    for (int i = 0; i < w->nlisteners; i++)
        if (w->listeners[i].in_table)
            worker_conn_del(w, &w->listeners[i]);
    drv->fini(w);
fail_listeners:
    if (w->nlisteners > 0)
        spares_join(srv, -1);
    free(w->listeners);
    free(w->table);
    w->listeners = NULL;
    w->table = NULL;
    server_config_put(srv, w->cfg);
    w->cfg = NULL;
    pthread_mutex_destroy(&w->mbox_lock);
    return r;
}

static void close_listeners(struct worker *w)
{
    for (int i = 0; i < w->nlisteners; i++) {
        struct conn *c = &w->listeners[i];
        if (c->fd >= 0) {
            if (c->in_table)
                worker_conn_del(w, c);
            close(c->fd);
            c->fd = -1;
        }
    }
}

static void mbox_run(struct worker *w);

void worker_fini(struct worker *w)
{
    /* Sessions still here (a forced stop) are closed without a word. */
    while (w->sessions)
        session_drain(w->sessions, 1);
    /* Messages that came after the loop ended: their senders are done
     * with them (a password check of a session now gone). */
    mbox_run(w);
    close_listeners(w);
    w->drv->fini(w);
    worker_tick_disarm(&w->accept_retry);
    if (w->nlisteners > 0)
        spares_join(w->srv, -1);
    free(w->listeners);
    free(w->table);
    free(w->scratch);
    server_config_put(w->srv, w->cfg);
    pthread_mutex_destroy(&w->mbox_lock);
    memset(w, 0, sizeof(*w));
}

int worker_run(struct worker *w)
{
    return w->drv->run(w);
}

void worker_request_stop(struct worker *w)
{
    w->drv->wake(w);
}

int worker_done(const struct worker *w)
{
    return (w->stopping || w->solo) && w->nsessions == 0 && w->inflight == 0;
}

/* ---- messages from other threads ------------------------------------- */

void worker_post(struct worker *w, struct worker_msg *m)
{
    m->next = NULL;
    pthread_mutex_lock(&w->mbox_lock);
    if (w->mbox_tail)
        w->mbox_tail->next = m;
    else
        w->mbox_head = m;
    w->mbox_tail = m;
    atomic_store(&w->mbox_pending, 1);
    pthread_mutex_unlock(&w->mbox_lock);
    w->drv->wake(w);
}

static void mbox_run(struct worker *w)
{
    struct worker_msg *m, *next;
    if (!atomic_load(&w->mbox_pending))
        return;
    pthread_mutex_lock(&w->mbox_lock);
    m = w->mbox_head;
    w->mbox_head = w->mbox_tail = NULL;
    atomic_store(&w->mbox_pending, 0);
    pthread_mutex_unlock(&w->mbox_lock);
    for (; m; m = next) {
        next = m->next;
        m->fn(w, m);
    }
}

/* Shorten the timers already running on list kind to at most d from now.
 * min(deadline, c) of a sorted list is still sorted, and every later
 * append (now' + d >= now + d) goes behind it: the list stays in order. */
static void tmo_shorten(struct worker *w, int kind, double d)
{
    struct tmo_node *h = &w->tmo.head[kind], *n, *next;
    for (n = h->next; n != h; n = next) {
        next = n->next;
        if (d <= 0)
            tmo_clear(n);          /* the kind is off: no timer */
        else if (n->deadline > w->now + d)
            n->deadline = w->now + d;
    }
}

void worker_adopt_config(struct worker *w)
{
    unsigned gen = atomic_load(&w->srv->cfg_gen);
    if (gen == w->cfg_gen)
        return;
    const struct ferry_config *old = w->cfg;
    w->cfg_gen = gen;
    w->cfg = server_config_get(w->srv);
    server_config_put(w->srv, old);
    set_durations(w);
    for (int k = 0; k < TMO_NKINDS; k++)
        tmo_shorten(w, k, w->tmo.duration[k]);
}

/* What other threads asked for: messages and a newer config. */
static void worker_poll(struct worker *w)
{
    mbox_run(w);
    worker_adopt_config(w);
}

void worker_check_stop(struct worker *w)
{
    worker_poll(w);
    if (!atomic_load(&w->srv->stopping) || w->stopping)
        return;
    w->stopping = 1;
    /* w->now is the driver's clock (libev's is its own ev_now()): the
     * deadline must be on the same one as worker_expire()'s look at it. */
    w->drain_deadline = w->now + w->cfg->drain_timeout;
    close_listeners(w);
    log_info("event=drain worker=%d sessions=%u", w->id, w->nsessions);
    /* Idle sessions leave now; the ones with transfers leave after them.
     * session_drain may free s, so take the next one first. */
    for (struct session *s = w->sessions, *next; s; s = next) {
        next = session_next(s);
        session_drain(s, 0);
    }
}

/* ---- connection table ------------------------------------------------ */

static int table_fit(struct worker *w, int fd)
{
    if (fd < w->table_size)
        return 0;
    /* Grow to the next power of two above fd; the table is bounded by
     * RLIMIT_NOFILE because fds are.  Untouched pages of a large calloc
     * cost no memory, so growing in big steps is cheap. */
    size_t n = w->table_size ? (size_t)w->table_size : 64;
    while (n <= (size_t)fd)
        n *= 2;
    struct conn **t = realloc(w->table, n * sizeof(*t));
    if (!t)
        return -ENOMEM;
    memset(t + w->table_size, 0, (n - (size_t)w->table_size) * sizeof(*t));
    w->table = t;
    w->table_size = (int)n;
    return 0;
}

int worker_conn_add(struct worker *w, struct conn *c)
{
    int r = table_fit(w, c->fd);
    if (r < 0)
        return r;
    /* A fresh generation per registration: an event queued for the
     * previous owner of this fd carries the old one and is dropped. */
    c->gen = ++w->next_gen;
    if (c->gen == 0)
        c->gen = ++w->next_gen;
    w->table[c->fd] = c;
    c->in_table = 1;
    r = w->drv->add(w, c);
    if (r < 0) {
        w->table[c->fd] = NULL;
        c->in_table = 0;
        return r;
    }
    return 0;
}

static void ready_remove(struct worker *w, struct conn *c)
{
    if (!c->queued)
        return;
    struct conn **pp = &w->ready_head, *prev = NULL;
    while (*pp && *pp != c) {
        prev = *pp;
        pp = &(*pp)->ready_next;
    }
    if (*pp) {
        *pp = c->ready_next;
        if (w->ready_tail == c)
            w->ready_tail = prev;
    }
    c->ready_next = NULL;
    c->queued = 0;
    w->nready--;
}

void worker_conn_del(struct worker *w, struct conn *c)
{
    if (!c->in_table)
        return;
    w->drv->del(w, c);
    if (c->fd >= 0 && c->fd < w->table_size && w->table[c->fd] == c)
        w->table[c->fd] = NULL;
    c->in_table = 0;
    ready_remove(w, c);
    c->readable = c->writable = c->hup = 0;
}

struct conn *worker_lookup(struct worker *w, int fd, uint32_t gen)
{
    struct conn *c;
    if (fd < 0 || fd >= w->table_size)
        return NULL;
    c = w->table[fd];
    if (!c || c->gen != gen) {
        w->stats.stale_events++;
        return NULL;
    }
    return c;
}

void worker_conn_interest(struct worker *w, struct conn *c, int rd, int wr)
{
    rd = !!rd;
    wr = !!wr;
    if (c->want_read == rd && c->want_write == wr)
        return;
    c->want_read = (uint8_t)rd;
    c->want_write = (uint8_t)wr;
    if (c->in_table && !w->drv->edge)
        w->drv->interest(w, c);
}

void worker_defer(struct worker *w, struct conn *c)
{
    if (c->queued || !c->in_table)
        return;
    c->queued = 1;
    c->ready_next = NULL;
    if (w->ready_tail)
        w->ready_tail->ready_next = c;
    else
        w->ready_head = c;
    w->ready_tail = c;
    w->nready++;
    w->stats.deferred++;
}

char *worker_scratch(struct worker *w)
{
    if (!w->scratch) {
        w->scratch = malloc(WORKER_SCRATCH_SIZE);
        if (w->scratch)
            w->scratch_size = WORKER_SCRATCH_SIZE;
    }
    return w->scratch;
}

/* ---- accepting ------------------------------------------------------- */

static void refuse(int fd, const char *msg)
{
    /* Best effort: the socket is fresh, so its send buffer has room. */
    (void)io_send(fd, msg, strlen(msg));
    close(fd);
}

/* Out of descriptors and of spares: stop watching the listeners until
 * a spare can be had again. */
static void accept_pause(struct worker *w)
{
    for (int i = 0; i < w->nlisteners; i++) {
        struct conn *l = &w->listeners[i];
        l->readable = 0;
        if (l->in_table)
            worker_conn_interest(w, l, 0, 0);
    }
    w->accept_paused = 1;
    worker_tick_arm(w, &w->accept_retry, ACCEPT_RETRY);
}

/* Try to end the pause: with a spare in the pool again, watch the
 * listeners and look at their queues (under edge triggering the kernel
 * will not report the clients queued meanwhile).  1 if resumed. */
static int accept_resume(struct worker *w)
{
    struct server *srv = w->srv;
    int have;

    if (!w->accept_paused || w->stopping)
        return 0;
    pthread_rwlock_wrlock(&srv->spare_lock);
    have = spares_fill(srv);
    pthread_rwlock_unlock(&srv->spare_lock);
    if (have == 0)
        return 0;
    w->accept_paused = 0;
    worker_tick_disarm(&w->accept_retry);
    for (int i = 0; i < w->nlisteners; i++) {
        struct conn *l = &w->listeners[i];
        if (l->in_table) {
            worker_conn_interest(w, l, 1, 0);
            l->readable = 1;
            worker_defer(w, l);
        }
    }
    return 1;
}

/* The retry tick: a descriptor another worker freed (or another thread
 * of this one) is seen here, since no session of this worker ended. */
static void accept_retry_fire(struct worker_tick *t)
{
    struct worker *w = (struct worker *)(void *)((char *)t - offsetof(struct worker, accept_retry));
    if (w->accept_paused && !w->stopping && !accept_resume(w))
        worker_tick_arm(w, &w->accept_retry, ACCEPT_RETRY);
}

static void accept_clients(struct worker *w, struct conn *l)
{
    for (int budget = WORKER_ACCEPT_BUDGET; budget > 0; budget--) {
        struct sockaddr_storage peer;
        socklen_t plen;
        const char *reason;
        char addr[64];
        int fd;

        pthread_rwlock_rdlock(&w->srv->spare_lock);
        fd = io_accept(l->fd, &peer, &plen);
        pthread_rwlock_unlock(&w->srv->spare_lock);
        if (fd == IO_AGAIN) {
            l->readable = 0;
            return;
        }
        if (fd == -EMFILE || fd == -ENFILE) {
            /* Out of descriptors: free the spare, take the client off the
             * queue and tell it, then take the spare back.  Without this
             * the listener stays readable and the loop spins. */
            struct server *srv = w->srv;
            w->stats.refused++;
            /* The spend is under the pool's lock, so that two workers
             * cannot take each other's freed slot; a session's open() in
             * another thread still may (the accept then fails again, and
             * the next spare is tried). */
            pthread_rwlock_wrlock(&srv->spare_lock);
            if (srv->spare_have > 0 || spares_fill(srv) > 0) {
                close(srv->spare_fd[--srv->spare_have]);
                fd = io_accept(l->fd, &peer, &plen);
                if (fd >= 0) {
                    log_warn("event=refused worker=%d peer=%s reason=no-free-fd",
                             w->id, io_addr_str(&peer, addr, sizeof(addr)));
                    refuse(fd, "421 Server out of resources, try again later.\r\n");
                }
                (void)spares_fill(srv);
                pthread_rwlock_unlock(&srv->spare_lock);
                /* accept4 takes a descriptor before it looks at the queue,
                 * so EMFILE says nothing about waiting clients: only this
                 * second accept does.  An empty queue ends the turn, or a
                 * full table would spin here on every wake-up. */
                if (fd == IO_AGAIN) {
                    l->readable = 0;
                    return;
                }
                continue;
            }
            pthread_rwlock_unlock(&srv->spare_lock);
            /* No spare either: leave the rest queued; the listeners are
             * revisited when one of this worker's sessions ends, or by
             * the retry tick when another worker's did.  Until then a
             * level-triggered driver must stop watching them, or it
             * reports the queued clients on every turn. */
            accept_pause(w);
            return;
        }
        if (fd < 0) {
            /* ECONNABORTED and friends concern one client only. */
            if (fd == -ECONNABORTED || fd == -EPERM || fd == -EPROTO)
                continue;
            log_error("event=accept-failed worker=%d error=%s", w->id, strerror(-fd));
            l->readable = 0;
            return;
        }
        w->stats.accepted++;
        if (server_admit(w->srv, &peer, &reason) < 0) {
            w->stats.refused++;
            log_warn("event=refused worker=%d peer=%s reason=%s", w->id,
                     io_addr_str(&peer, addr, sizeof(addr)), reason);
            refuse(fd, strcmp(reason, "max-per-ip") == 0
                   ? "421 Too many connections from your address.\r\n"
                   : "421 Too many users, try again later.\r\n");
            continue;
        }
        if (!session_new(w, fd, &peer, plen))
            server_release(w->srv, &peer);
    }
    /* Budget spent with the listener still ready: come back to it after
     * the others had their turn. */
    worker_defer(w, l);
}

/* ---- events, ready list, timeouts ------------------------------------ */

static void dispatch(struct worker *w, struct conn *c)
{
    if (c->kind == CONN_LISTEN) {
        if (!w->stopping)
            accept_clients(w, c);
        return;
    }
    session_event(c->sess, c);
}

void worker_event(struct worker *w, struct conn *c, int ev)
{
    if (ev & WEV_READ)
        c->readable = 1;
    if (ev & WEV_WRITE)
        c->writable = 1;
    if (ev & WEV_HUP) {
        /* Let read/write discover EOF or the error themselves. */
        c->hup = 1;
        c->readable = 1;
        c->writable = 1;
    }
    dispatch(w, c);
}

int worker_run_ready(struct worker *w)
{
    /* Every driver runs the ready list once per loop turn: count the turn
     * (for the watchdog and the metrics), and look at the mailbox, so a
     * message is seen even by a driver that missed its wake-up. */
    /* Only this thread writes turns: no locked add needed. */
    atomic_store_explicit(&w->turns,
                          atomic_load_explicit(&w->turns, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (!w->solo)
        metrics_loop_iteration((unsigned)w->id);
    worker_poll(w);

    /* Run as many as were queued when the pass began: a conn deferred
     * again goes to the tail and waits for the next pass, so a pass always
     * ends.  Pop before dispatching: a handler may close (and free) any
     * conn, and worker_conn_del() takes a closed one off the list. */
    for (unsigned n = w->nready; n > 0 && w->ready_head; n--) {
        struct conn *c = w->ready_head;
        w->ready_head = c->ready_next;
        if (!w->ready_head)
            w->ready_tail = NULL;
        c->ready_next = NULL;
        c->queued = 0;
        w->nready--;
        dispatch(w, c);
    }
    return w->ready_head != NULL;
}

/* ---- ticks ------------------------------------------------------------ */

static void tick_unlink(struct worker_tick *t)
{
    if (t->prev) {
        t->prev->next = t->next;
        t->next->prev = t->prev;
        t->prev = t->next = NULL;
    }
}

static void tick_append(struct worker *w, struct worker_tick *t)
{
    struct worker_tick *h = &w->ticks;
    /* A constant period: the tail always holds the latest look. */
    t->look = w->now + WORKER_TICK;
    t->prev = h->prev;
    t->next = h;
    h->prev->next = t;
    h->prev = t;
}

void worker_tick_arm(struct worker *w, struct worker_tick *t, double delay)
{
    tick_unlink(t);
    t->due = w->now + (delay > 0 ? delay : 0);
    tick_append(w, t);
}

void worker_tick_disarm(struct worker_tick *t)
{
    tick_unlink(t);
}

/* Look at the ticks whose look is due: fire those past due, send the
 * others to the tail.  A re-appended tick looks again a period later, so
 * the loop ends. */
static void tick_run(struct worker *w)
{
    struct worker_tick *h = &w->ticks;
    while (h->next != h && h->next->look <= w->now) {
        struct worker_tick *t = h->next;
        tick_unlink(t);
        if (t->due <= w->now)
            t->fn(t);
        else
            tick_append(w, t);
    }
}

double worker_expire(struct worker *w)
{
    struct tmo_node *n;
    while ((n = tmo_expired(&w->tmo, w->now)) != NULL)
        session_timeout(session_from_tmo(n));
    tick_run(w);
    if (w->stopping && w->drain_deadline > 0 && w->now >= w->drain_deadline) {
        if (w->nsessions)
            log_warn("event=drain-timeout worker=%d sessions=%u", w->id, w->nsessions);
        while (w->sessions)
            session_drain(w->sessions, 1);
    }
    double next = tmo_next(&w->tmo);
    if (w->stopping && w->drain_deadline > 0 && (next < 0 || w->drain_deadline < next))
        next = w->drain_deadline;
    if (w->ticks.next != &w->ticks && (next < 0 || w->ticks.next->look < next))
        next = w->ticks.next->look;
    return next;
}

void worker_session_link(struct worker *w, struct session *s)
{
    session_set_prev(s, NULL);
    session_set_next(s, w->sessions);
    if (w->sessions)
        session_set_prev(w->sessions, s);
    w->sessions = s;
    w->nsessions++;
}

void worker_session_unlink(struct worker *w, struct session *s)
{
    struct session *p = session_prev(s), *n = session_next(s);
    if (p)
        session_set_next(p, n);
    else
        w->sessions = n;
    if (n)
        session_set_prev(n, p);
    session_set_prev(s, NULL);
    session_set_next(s, NULL);
    w->nsessions--;
    /* A descriptor came free: if accepting was paused for want of one,
     * refill the spares and revisit the listeners. */
    (void)accept_resume(w);
}
