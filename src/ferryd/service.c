/* service: start-up, readiness, status, watchdog, reload and stop, the
 * same for every model.  See include/ferry/service.h. */
#include "ferry/service.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/authpool.h"
#include "ferry/conffile.h"
#include "ferry/io.h"
#include "ferry/listener.h"
#include "ferry/log.h"
#include "ferry/metrics.h"
#include "ferry/notify.h"
#include "ferry/privdrop.h"
#include "ferry/sdlisten.h"
#include "ferry/users.h"
#include "ferry/xferlog.h"

/* STATUS= is looked at this often and sent when it changed. */
#define STATUS_EVERY      2.0
/* The runner's loop is asked back at least this often. */
#define TICK_MAX          1.0
/* Addresses the failed-login table keeps (users.h). */
#define AUTHFAIL_CAPACITY 65536
/* The auth pool: enough threads to keep checks flowing on a busy
 * machine, few enough that guessing cannot take every CPU. */
#define AUTHPOOL_MAX      4
/* Metrics clients served at once, and how long each may take to send
 * its request or to take the response. */
#define METRICS_CLIENTS   8
#define METRICS_TIMEOUT   5.0
#define METRICS_RESTART_MAX 60.0      /* seconds: the longest wait before a restart */

struct mclient {
    int    fd;                       /* -1: free */
    size_t len;
    double deadline;
    char   req[METRICS_HTTP_REQUEST_MAX];
};

struct service {
    int    argc;
    char **argv;
    const struct model *m;
    /* Listeners: passed by the service manager (sd), or bound here,
     * nsets sets of nl descriptors (-1 once handed out). */
    struct sdlisten_fd sd[CONFIG_MAX_LISTEN];
    int    nsd;
    int   *lfds;
    int    nl, nsets;
    /* Metrics thread (or, for the fork model, process). */
    int    mfd, mstop;
    pthread_t mtid;
    int    mthread;
    pid_t  mpid;                     /* > 0: the metrics process */
    double mstarted;                 /* when it was forked */
    double mrestart_at;              /* > 0: fork it again then */
    double mbackoff;                 /* seconds before the next restart */
    struct mclient *mcl;
    char  *mresp;
    /* Watched workers (the runner's main thread only). */
    struct worker **watch;
    unsigned long *seen;             /* their turns at the last ping */
    int    nwatch, capwatch;
    /* Notify. */
    double wd;                       /* watchdog interval, 0: none */
    double next_wd, next_status;
    char   status[NOTIFY_STATUS_MAX];
};

/* ---- --check-config ----------------------------------------------------- */

static int check_addr(const char *what, const char *spec, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char e[256];
    if (listener_parse(spec, &ss, &len, e, sizeof(e)) < 0) {
        snprintf(err, errlen, "%s '%s': %s", what, spec, e);
        return -1;
    }
    return 0;
}

/* Can the xferlog be appended to (or created)? */
static int check_xferlog(const char *path, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (access(path, F_OK) == 0) {
        if (access(path, W_OK) < 0)
            goto fail;
        return 0;
    }
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    if (access(dir, W_OK | X_OK) == 0)
        return 0;
fail:
    snprintf(err, errlen, "xferlog '%s': %s", path, strerror(errno));
    return -1;
}

int service_check(const struct ferry_config *cfg, char *err, size_t errlen)
{
    struct stat st;
    char e[512];

    if (config_validate(cfg, err, errlen) < 0)
        return -1;
    if (stat(cfg->root, &st) < 0) {
        if (errno != ENOENT || !cfg->create_root) {
            snprintf(err, errlen, "root '%s': %s", cfg->root, strerror(errno));
            return -1;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "root '%s': %s", cfg->root, strerror(ENOTDIR));
        return -1;
    }
    for (int i = 0; i < cfg->nlisten; i++)
        if (check_addr("listen", cfg->listen[i], err, errlen) < 0)
            return -1;
    if (cfg->metrics && check_addr("metrics", cfg->metrics, err, errlen) < 0)
        return -1;
    if (cfg->users) {
        struct users *t;
        if (users_load(cfg->users, &t, e, sizeof(e)) < 0) {
            snprintf(err, errlen, "%s", e);
            return -1;
        }
        users_unref(t);
    }
    if (cfg->xferlog && check_xferlog(cfg->xferlog, err, errlen) < 0)
        return -1;
    if (cfg->user || cfg->group) {
        struct privdrop_opts o = { cfg->user, cfg->group, NULL, cfg->allow_root };
        uid_t uid;
        gid_t gid;
        if (privdrop_resolve(&o, &uid, &gid, e, sizeof(e)) < 0) {
            snprintf(err, errlen, "%s", e);
            return -1;
        }
        if (uid == 0 && !cfg->allow_root) {
            snprintf(err, errlen, "user '%s' is root (set allow-root to accept that)",
                     cfg->user);
            return -1;
        }
    }
    return 0;
}

/* ---- set-up ---------------------------------------------------------------- */

int service_nworkers(const struct model *m, const struct ferry_config *cfg)
{
    if (!m->multi_worker)
        return 1;
    if (cfg->workers > 0)
        return cfg->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int service_init(struct server *srv, int argc, char **argv, char *err, size_t errlen)
{
    struct service *svc = calloc(1, sizeof(*svc));
    int r;

    if (!svc) {
        snprintf(err, errlen, "%s", strerror(ENOMEM));
        return -1;
    }
    svc->argc = argc;
    svc->argv = argv;
    svc->mfd = svc->mstop = -1;
    r = notify_init();
    if (r < 0)
        log_warn("event=notify-socket-unusable error=\"%s\"", strerror(-r));
    svc->wd = notify_watchdog_interval();
    svc->nsd = sdlisten_take(svc->sd, CONFIG_MAX_LISTEN, err, errlen);
    if (svc->nsd < 0) {
        free(svc);
        return -1;
    }
    srv->svc = svc;
    return 0;
}

/* One set of listening sockets, one per --listen.  0, or -1 with err
 * (fds closed). */
static int open_set(const struct ferry_config *cfg, int reuseport, int *fds, int log,
                    char *err, size_t errlen)
{
    for (int i = 0; i < cfg->nlisten; i++)
        fds[i] = -1;
    for (int i = 0; i < cfg->nlisten; i++) {
        struct sockaddr_storage ss;
        socklen_t len;
        char e[256];
        if (listener_parse(cfg->listen[i], &ss, &len, e, sizeof(e)) < 0) {
            snprintf(err, errlen, "listen '%s': %s", cfg->listen[i], e);
            goto fail;
        }
        fds[i] = listener_open(&ss, len, (int)cfg->backlog, reuseport);
        if (fds[i] < 0) {
            snprintf(err, errlen, "listen %s: %s", cfg->listen[i], strerror(-fds[i]));
            fds[i] = -1;
            goto fail;
        }
        if (log)
            log_info("event=listening listen=%s", cfg->listen[i]);
    }
    return 0;
fail:
    for (int i = 0; i < cfg->nlisten; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return -1;
}

static int open_listeners(struct server *srv, char *err, size_t errlen)
{
    struct service *svc = srv->svc;
    const struct ferry_config *cfg = srv->cfg;

    svc->lfds = malloc((size_t)svc->nsets * (size_t)svc->nl * sizeof(int));
    if (!svc->lfds) {
        snprintf(err, errlen, "%s", strerror(ENOMEM));
        return -1;
    }
    for (int k = 0; k < svc->nsets; k++) {
        if (open_set(cfg, svc->nsets > 1, svc->lfds + k * svc->nl, k == 0, err, errlen) < 0) {
            for (int j = 0; j < k * svc->nl; j++)
                close(svc->lfds[j]);
            free(svc->lfds);
            svc->lfds = NULL;
            return -1;
        }
    }
    return 0;
}

static int open_metrics(struct server *srv, char *err, size_t errlen)
{
    struct service *svc = srv->svc;
    struct sockaddr_storage ss;
    socklen_t len;
    char e[256];

    if (listener_parse(srv->cfg->metrics, &ss, &len, e, sizeof(e)) < 0) {
        snprintf(err, errlen, "metrics '%s': %s", srv->cfg->metrics, e);
        return -1;
    }
    svc->mfd = listener_open(&ss, len, 64, 0);
    if (svc->mfd < 0) {
        snprintf(err, errlen, "metrics %s: %s", srv->cfg->metrics, strerror(-svc->mfd));
        svc->mfd = -1;
        return -1;
    }
    log_info("event=metrics-listening listen=%s", srv->cfg->metrics);
    return 0;
}

static struct authfail *new_authfail(const struct ferry_config *cfg, const struct model *m)
{
    struct authfail_policy p = AUTHFAIL_POLICY_DEFAULT;
    p.base_delay = cfg->login_fail_delay;
    p.max_delay = cfg->login_fail_delay * 16;
    p.max_failures = cfg->login_failures;
    return m->forks ? authfail_new_shared(AUTHFAIL_CAPACITY, &p)
                    : authfail_new(AUTHFAIL_CAPACITY, &p);
}

int service_open(struct server *srv, const struct model *m, char *err, size_t errlen)
{
    struct service *svc = srv->svc;
    const struct ferry_config *cfg = srv->cfg;
    char e[512];

    svc->m = m;
    svc->nl = cfg->nlisten;
    svc->nsets = service_nworkers(m, cfg);
    if (svc->nsd > 0) {
        char addr[64];
        for (int i = 0; i < svc->nsd; i++)
            log_info("event=listening fd=%d name=%s listen=%s source=socket-activation",
                     svc->sd[i].fd, svc->sd[i].name,
                     io_addr_str(&svc->sd[i].addr, addr, sizeof(addr)));
        log_info("event=listen-ignored reason=socket-activation count=%d", cfg->nlisten);
    } else if (open_listeners(srv, err, errlen) < 0) {
        /* Bound now, while privileged ports can still be bound: one set
         * per event-loop worker, one for a per-client acceptor. */
        return -1;
    }
    if (cfg->users) {
        struct users *t;
        if (users_load(cfg->users, &t, e, sizeof(e)) < 0) {
            snprintf(err, errlen, "%s", e);
            return -1;
        }
        users_current_set(&srv->users, t);
        log_info("event=users-loaded file=%s accounts=%u", cfg->users, users_count(t));
    }
    srv->authfail = new_authfail(cfg, m);
    if (!srv->authfail) {
        snprintf(err, errlen, "failed-login table: %s", strerror(errno));
        return -1;
    }
    /* Fork model: the children count into what the parent renders. */
    if (m->forks && cfg->metrics && metrics_share() < 0) {
        snprintf(err, errlen, "shared metrics: %s", strerror(errno));
        return -1;
    }
    if (cfg->xferlog && !(srv->xferlog = xferlog_open(cfg->xferlog, 0))) {
        snprintf(err, errlen, "xferlog '%s': %s", cfg->xferlog, strerror(errno));
        return -1;
    }
    if (cfg->metrics && open_metrics(srv, err, errlen) < 0)
        return -1;
    return 0;
}

int service_privdrop(struct server *srv, char *err, size_t errlen)
{
    const struct ferry_config *cfg = srv->cfg;
    struct privdrop_opts o = { cfg->user, cfg->group, cfg->chroot ? cfg->root : NULL,
                               cfg->allow_root };

    /* Root with no user to drop to is refused inside privdrop() unless
     * allow-root says so: a server that parses hostile bytes must not
     * keep uid 0 by accident. */
    if (!cfg->user && !cfg->chroot && geteuid() == 0 && cfg->allow_root)
        log_warn("event=running-as-root reason=allow-root");
    if (privdrop(&o, err, errlen) < 0)
        return -1;
    if (cfg->user || cfg->chroot)
        log_info("event=privileges-dropped uid=%lu gid=%lu chroot=%s",
                 (unsigned long)geteuid(), (unsigned long)getegid(),
                 cfg->chroot ? cfg->root : "no");
    return 0;
}

/* ---- metrics thread --------------------------------------------------------
 * A thread of its own with poll(): it serves every model the same way,
 * a scrape never takes a turn from a loop that serves FTP, and it holds
 * no lock of the server's (the counters are atomics).  Clients are
 * non-blocking while they send their request, bounded in size and time;
 * the response goes out with a bounded blocking send. */

static void mclient_close(struct mclient *c)
{
    close(c->fd);
    c->fd = -1;
    c->len = 0;
}

static void metrics_respond(struct service *svc, struct mclient *c)
{
    ssize_t n = io_recv(c->fd, c->req + c->len, sizeof(c->req) - c->len);
    if (n == IO_AGAIN)
        return;
    if (n <= 0) {
        mclient_close(c);
        return;
    }
    c->len += (size_t)n;
    n = metrics_http_respond(c->req, c->len, svc->mresp,
                             METRICS_RENDER_MAX + METRICS_HTTP_HEADER_MAX);
    if (n == 0)
        return;
    if (n > 0) {
        struct timeval tv = { 2, 0 };
        int fl = fcntl(c->fd, F_GETFL);
        if (fl >= 0 && fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK) == 0 &&
            setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0) {
            for (ssize_t off = 0; off < n;) {
                ssize_t w = send(c->fd, svc->mresp + off, (size_t)(n - off), MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0)
                    break;
                off += w;
            }
        }
    }
    mclient_close(c);
}

static void metrics_accept(struct service *svc, double now)
{
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t plen;
        int fd = io_accept(svc->mfd, &peer, &plen);
        if (fd < 0)
            return;
        struct mclient *c = NULL;
        for (int i = 0; i < METRICS_CLIENTS && !c; i++)
            if (svc->mcl[i].fd < 0)
                c = &svc->mcl[i];
        if (!c) {
            close(fd);        /* busy: the scraper retries */
            continue;
        }
        c->fd = fd;
        c->len = 0;
        c->deadline = now + METRICS_TIMEOUT;
    }
}

static void *metrics_main(void *arg)
{
    struct service *svc = arg;

    for (;;) {
        struct pollfd p[METRICS_CLIENTS + 2];
        struct mclient *who[METRICS_CLIENTS + 2];
        double now = worker_clock(), next = -1;
        int n = 0, timeout;

        p[n].fd = svc->mstop;
        p[n].events = POLLIN;
        who[n++] = NULL;
        p[n].fd = svc->mfd;
        p[n].events = POLLIN;
        who[n++] = NULL;
        for (int i = 0; i < METRICS_CLIENTS; i++) {
            struct mclient *c = &svc->mcl[i];
            if (c->fd < 0)
                continue;
            if (c->deadline <= now) {
                mclient_close(c);
                continue;
            }
            if (next < 0 || c->deadline < next)
                next = c->deadline;
            p[n].fd = c->fd;
            p[n].events = POLLIN;
            who[n++] = c;
        }
        timeout = next < 0 ? -1 : (int)((next - now) * 1000) + 1;
        if (poll(p, (nfds_t)n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents)
            break;
        now = worker_clock();
        for (int i = 2; i < n; i++)
            if (p[i].revents && who[i]->fd >= 0)
                metrics_respond(svc, who[i]);
        if (p[1].revents)
            metrics_accept(svc, now);
    }
    for (int i = 0; i < METRICS_CLIENTS; i++)
        if (svc->mcl[i].fd >= 0)
            mclient_close(&svc->mcl[i]);
    return NULL;
}

/* Fork model: the parent creates no thread (threads and fork() do not
 * mix: a child would inherit locks held by a thread it does not have),
 * so the metrics server is a process of its own, forked before any
 * client, rendering the shared counters.  It keeps only its two
 * descriptors: in particular not the FTP listeners, which must stop
 * taking clients when the parent closes them on drain. */
static void metrics_process(struct service *svc) __attribute__((noreturn));
static void metrics_process(struct service *svc)
{
    int lo = svc->mfd < svc->mstop ? svc->mfd : svc->mstop;
    int hi = svc->mfd < svc->mstop ? svc->mstop : svc->mfd;

    /* Gone with the parent, whatever way it ends. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        _exit(0);
    prctl(PR_SET_NAME, "ferryd-metrics");
    if (lo > 3)
        close_range(3, (unsigned)lo - 1, 0);
    if (hi > lo + 1)
        close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
    close_range((unsigned)hi + 1, ~0U, 0);
    metrics_main(svc);
    _exit(0);
}

/* Fork the metrics process.  0, or -1 with errno. */
static int spawn_metrics_process(struct service *svc)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        metrics_process(svc);
    svc->mpid = pid;
    svc->mstarted = worker_clock();
    log_info("event=metrics-process pid=%d", (int)pid);
    return 0;
}

static int start_metrics(struct service *svc, char *err, size_t errlen)
{
    int r;
    svc->mcl = calloc(METRICS_CLIENTS, sizeof(*svc->mcl));
    svc->mresp = malloc(METRICS_RENDER_MAX + METRICS_HTTP_HEADER_MAX);
    svc->mstop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!svc->mcl || !svc->mresp || svc->mstop < 0) {
        snprintf(err, errlen, "metrics: %s", strerror(svc->mstop < 0 ? errno : ENOMEM));
        return -1;
    }
    for (int i = 0; i < METRICS_CLIENTS; i++)
        svc->mcl[i].fd = -1;
    if (svc->m->forks) {
        if (spawn_metrics_process(svc) < 0) {
            snprintf(err, errlen, "metrics process: %s", strerror(errno));
            return -1;
        }
        return 0;
    }
    r = pthread_create(&svc->mtid, NULL, metrics_main, svc);
    if (r != 0) {
        snprintf(err, errlen, "metrics thread: %s", strerror(r));
        return -1;
    }
    svc->mthread = 1;
    return 0;
}

int service_start(struct server *srv, const struct model *m, char *err, size_t errlen)
{
    struct service *svc = srv->svc;
    sigset_t set;

    /* Every thread from here on inherits the mask: the stop and reload
     * signals reach only the runner, which waits for them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    metrics_set_workers(m->multi_worker ? (unsigned)service_nworkers(m, srv->cfg) : 0);
    if (m->multi_worker) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned n = ncpu > AUTHPOOL_MAX ? AUTHPOOL_MAX : ncpu > 0 ? (unsigned)ncpu : 1;
        srv->authpool = authpool_new(n, &srv->users);
        if (!srv->authpool) {
            snprintf(err, errlen, "auth threads: %s", strerror(errno));
            return -1;
        }
    }
    if (svc->mfd >= 0 && start_metrics(svc, err, errlen) < 0)
        return -1;
    return 0;
}

/* The metrics process shares the stop eventfd: one write ends it.  It
 * is waited for a bounded time, then killed. */
static void stop_metrics_process(struct service *svc)
{
    uint64_t one = 1;
    (void)!write(svc->mstop, &one, sizeof(one));
    for (int i = 0; i < 200; i++) {
        pid_t r = waitpid(svc->mpid, NULL, WNOHANG);
        if (r == svc->mpid || (r < 0 && errno != EINTR))
            break;
        if (i == 199) {
            kill(svc->mpid, SIGKILL);
            (void)waitpid(svc->mpid, NULL, 0);
            break;
        }
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    svc->mpid = 0;
}

int service_reaped(struct server *srv, pid_t pid, int status)
{
    struct service *svc = srv->svc;
    double now = worker_clock();
    if (!svc || svc->mpid <= 0 || pid != svc->mpid)
        return 0;
    svc->mpid = 0;
    /* It ends only when told to (service_fini, which reaps it itself):
     * anything else is worth saying, and the endpoint is brought back,
     * the counters being in shared memory.  One that keeps dying soon
     * after its start waits longer each time (1 s doubling to a minute)
     * rather than fork in a loop. */
    if (now - svc->mstarted < METRICS_RESTART_MAX)
        svc->mbackoff = svc->mbackoff < 1 ? 1 : svc->mbackoff * 2;
    else
        svc->mbackoff = 1;
    if (svc->mbackoff > METRICS_RESTART_MAX)
        svc->mbackoff = METRICS_RESTART_MAX;
    svc->mrestart_at = now + svc->mbackoff;
    if (WIFSIGNALED(status))
        log_error("event=metrics-exit pid=%d signal=%d restart_in=%.0f", (int)pid,
                  WTERMSIG(status), svc->mbackoff);
    else
        log_error("event=metrics-exit pid=%d status=%d restart_in=%.0f", (int)pid,
                  WEXITSTATUS(status), svc->mbackoff);
    return 1;
}

/* The fork model's runner: bring the metrics process back when due.
 * Returns the seconds until it is, or -1 when none is pending. */
static double metrics_restart(struct service *svc, double now)
{
    if (svc->mrestart_at <= 0 || svc->mfd < 0)
        return -1;
    if (now < svc->mrestart_at)
        return svc->mrestart_at - now;
    svc->mrestart_at = 0;
    if (spawn_metrics_process(svc) < 0) {
        log_error("event=metrics-restart-failed error=\"%s\"", strerror(errno));
        svc->mbackoff = METRICS_RESTART_MAX;
        svc->mrestart_at = now + svc->mbackoff;
        return svc->mbackoff;
    }
    return -1;
}

void service_forked(struct server *srv)
{
    struct service *svc = srv->svc;
    if (!svc)
        return;
    /* A session's process has no use for the metrics socket, and must not
     * keep it (or the metrics process's stop event) alive. */
    if (svc->mfd >= 0)
        close(svc->mfd);
    if (svc->mstop >= 0)
        close(svc->mstop);
    svc->mfd = svc->mstop = -1;
    svc->mpid = 0;
    svc->mrestart_at = 0;
}

void service_fini(struct server *srv)
{
    struct service *svc = srv->svc;
    uint64_t one = 1;

    if (!svc)
        return;
    if (svc->mthread) {
        (void)!write(svc->mstop, &one, sizeof(one));
        pthread_join(svc->mtid, NULL);
    }
    if (svc->mpid > 0)
        stop_metrics_process(svc);
    if (svc->mstop >= 0)
        close(svc->mstop);
    if (svc->mfd >= 0)
        close(svc->mfd);
    free(svc->mcl);
    free(svc->mresp);
    authpool_free(srv->authpool);
    srv->authpool = NULL;
    xferlog_close(srv->xferlog);
    srv->xferlog = NULL;
    authfail_free(srv->authfail);
    srv->authfail = NULL;
    for (int i = 0; svc->lfds && i < svc->nsets * svc->nl; i++)
        if (svc->lfds[i] >= 0)
            close(svc->lfds[i]);
    free(svc->lfds);
    for (int i = 0; i < svc->nsd; i++)
        close(svc->sd[i].fd);
    free(svc->watch);
    free(svc->seen);
    free(svc);
    srv->svc = NULL;
}

/* ---- the runner's calls ------------------------------------------------------ */

int service_listeners(struct server *srv, int worker, int *fds, int max)
{
    struct service *svc = srv->svc;
    const struct ferry_config *cfg = srv->cfg;
    char err[512];

    if (svc && svc->nsd > 0) {
        /* Every worker gets its own descriptor of the same sockets. */
        int n = svc->nsd < max ? svc->nsd : max;
        for (int i = 0; i < n; i++) {
            fds[i] = fcntl(svc->sd[i].fd, F_DUPFD_CLOEXEC, 3);
            if (fds[i] < 0) {
                log_error("event=listen-failed error=\"dup: %s\"", strerror(errno));
                while (i-- > 0)
                    close(fds[i]);
                return -1;
            }
        }
        return n;
    }
    if (cfg->nlisten > max)
        return -1;
    if (svc && svc->lfds && worker >= 0 && worker < svc->nsets &&
        svc->lfds[worker * svc->nl] >= 0) {
        for (int i = 0; i < svc->nl; i++) {
            fds[i] = svc->lfds[worker * svc->nl + i];
            svc->lfds[worker * svc->nl + i] = -1;
        }
        return svc->nl;
    }
    /* Not bound at start-up (a runner that asks twice, or a server put
     * together without service_open): bind now. */
    if (open_set(cfg, svc ? svc->nsets > 1 : worker > 0, fds, 1, err, sizeof(err)) < 0) {
        log_error("event=listen-failed error=\"%s\"", err);
        return -1;
    }
    return cfg->nlisten;
}

void service_watch(struct server *srv, struct worker *w)
{
    struct service *svc = srv->svc;
    if (!svc)
        return;
    if (svc->nwatch == svc->capwatch) {
        int cap = svc->capwatch ? svc->capwatch * 2 : 8;
        struct worker **nw = realloc(svc->watch, (size_t)cap * sizeof(*nw));
        if (!nw)
            return;
        svc->watch = nw;
        unsigned long *ns = realloc(svc->seen, (size_t)cap * sizeof(*ns));
        if (!ns)
            return;
        svc->seen = ns;
        svc->capwatch = cap;
    }
    svc->seen[svc->nwatch] = atomic_load(&w->turns);
    svc->watch[svc->nwatch++] = w;
}

void service_unwatch(struct server *srv)
{
    if (srv->svc)
        srv->svc->nwatch = 0;
}

static void send_status(struct server *srv)
{
    struct service *svc = srv->svc;
    char st[NOTIFY_STATUS_MAX];
    unsigned clients = atomic_load(&srv->nclients), xfers = atomic_load(&srv->ntransfers);

    snprintf(st, sizeof(st), "%u client%s, %u transfer%s%s", clients, clients == 1 ? "" : "s",
             xfers, xfers == 1 ? "" : "s", atomic_load(&srv->stopping) ? ", draining" : "");
    if (strcmp(st, svc->status) == 0)
        return;
    memcpy(svc->status, st, sizeof(st));
    (void)notify_status("%s", st);
}

void service_ready(struct server *srv)
{
    struct service *svc = srv->svc;
    if (!svc)
        return;
    svc->status[0] = '\0';
    send_status(srv);
    int r = notify_ready();
    if (r < 0)
        log_warn("event=notify-failed message=READY error=\"%s\"", strerror(-r));
    svc->next_status = worker_clock() + STATUS_EVERY;
    svc->next_wd = worker_clock() + svc->wd / 2;
}

/* Ping only when every watched loop turned since the last look; then
 * wake them all, so that an idle loop turns before the next look. */
static void watchdog(struct service *svc)
{
    int all = 1;
    for (int i = 0; i < svc->nwatch; i++) {
        unsigned long t = atomic_load(&svc->watch[i]->turns);
        if (t == svc->seen[i]) {
            if (all)
                log_warn("event=watchdog-skipped worker=%d reason=loop-stuck",
                         svc->watch[i]->id);
            all = 0;
        }
        svc->seen[i] = t;
    }
    if (all)
        (void)notify_watchdog();
    for (int i = 0; i < svc->nwatch; i++)
        svc->watch[i]->drv->wake(svc->watch[i]);
}

double service_tick(struct server *srv)
{
    struct service *svc = srv->svc;
    double now = worker_clock(), next;
    if (!svc)
        return TICK_MAX;
    if (now >= svc->next_status) {
        send_status(srv);
        svc->next_status = now + STATUS_EVERY;
    }
    next = svc->next_status;
    if (svc->wd > 0) {
        if (now >= svc->next_wd) {
            watchdog(svc);
            svc->next_wd = now + svc->wd / 2;
        }
        if (svc->next_wd < next)
            next = svc->next_wd;
    }
    double m = metrics_restart(svc, now);
    if (m >= 0 && now + m < next)
        next = now + m;
    next -= now;
    return next < 0 ? 0 : next > TICK_MAX ? TICK_MAX : next;
}

static int str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* Settings fixed at start-up: a reload keeps the running value and says
 * so. */
static void keep_fixed(const struct ferry_config *old, struct ferry_config *c)
{
    int listen_changed = old->nlisten != c->nlisten;
    for (int i = 0; !listen_changed && i < c->nlisten; i++)
        listen_changed = strcmp(old->listen[i], c->listen[i]) != 0;
    struct { const char *key; int changed; } k[] = {
        { "root", str_differs(old->root, c->root) },
        { "listen", listen_changed },
        { "backlog", old->backlog != c->backlog },
        { "model", str_differs(old->model, c->model) },
        { "workers", old->workers != c->workers },
        { "user", str_differs(old->user, c->user) },
        { "group", str_differs(old->group, c->group) },
        { "chroot", old->chroot != c->chroot },
        { "allow-root", old->allow_root != c->allow_root },
        { "metrics", str_differs(old->metrics, c->metrics) },
        { "xferlog", str_differs(old->xferlog, c->xferlog) },
        { "synthetic", old->synthetic != c->synthetic },
        { "max-login-failures", old->login_failures != c->login_failures },
        { "login-fail-delay", old->login_fail_delay != c->login_fail_delay },
    };
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
        if (k[i].changed)
            log_warn("event=reload-kept key=%s reason=needs-restart", k[i].key);
    c->root = old->root;
    memcpy(c->listen, old->listen, sizeof(c->listen));
    c->nlisten = old->nlisten;
    c->backlog = old->backlog;
    c->model = old->model;
    c->workers = old->workers;
    c->user = old->user;
    c->group = old->group;
    c->chroot = old->chroot;
    c->allow_root = old->allow_root;
    c->metrics = old->metrics;
    c->xferlog = old->xferlog;
    c->synthetic = old->synthetic;
    c->create_root = old->create_root;
    c->login_failures = old->login_failures;
    c->login_fail_delay = old->login_fail_delay;
    c->config = old->config;
    c->check_config = 0;
}

void service_reload(struct server *srv)
{
    struct service *svc = srv->svc;
    struct ferry_config c;
    struct conffile_arena *arena = NULL;
    struct users *t = NULL;
    char err[512];
    int r;

    if (!svc)
        return;
    (void)notify_reloading();
    log_info("event=reload signal=HUP");
    r = config_load(&c, svc->argc, svc->argv, &arena, err, sizeof(err));
    if (r == 0 && (r = config_validate(&c, err, sizeof(err))) < 0) {
        conffile_arena_free(arena);
        arena = NULL;
    }
    if (r == 0 && c.users && users_load(c.users, &t, err, sizeof(err)) < 0) {
        conffile_arena_free(arena);
        r = -1;
    }
    if (r != 0) {
        log_error("event=reload-failed error=\"%s\" action=kept-running-config", err);
        goto reopen;
    }
    keep_fixed(srv->cfg, &c);
    if (server_config_publish(srv, &c, arena) < 0) {
        log_error("event=reload-failed error=\"%s\" action=kept-running-config",
                  strerror(ENOMEM));
        users_unref(t);
        conffile_arena_free(arena);
        goto reopen;
    }
    users_current_set(&srv->users, t);
    log_set_level(c.log_level);
    /* The workers take the new settings at once, not at their next
     * client. */
    for (int i = 0; i < svc->nwatch; i++)
        svc->watch[i]->drv->wake(svc->watch[i]);
    log_info("event=reloaded users=%u write=%s anonymous=%s max_clients=%u max_per_ip=%u "
             "rate_limit=%llu idle_timeout=%g", t ? users_count(t) : 0,
             c.write ? "yes" : "no", c.anonymous ? "yes" : "no", c.max_clients, c.max_per_ip,
             c.rate_limit, c.idle_timeout);
reopen:
    /* Log rotation needs the reopen even when the config is refused. */
    if (srv->xferlog && (r = xferlog_reopen(srv->xferlog)) < 0)
        log_error("event=xferlog-reopen-failed error=\"%s\"", strerror(-r));
    (void)notify_ready();
}

void service_stopping(struct server *srv)
{
    if (!srv->svc)
        return;
    (void)notify_stopping();
    send_status(srv);
}
