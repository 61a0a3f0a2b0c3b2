/* session: the FTP state machine of one client (see session.h).
 *
 * Layout of this file: the session's state; control-connection I/O;
 * the data channel (passive listener, data connection); transfers; the
 * command table and its handlers; the entry points.
 *
 * Every handler runs to completion without blocking.  Work that must wait
 * for the network -- a data connection, free send space, more upload
 * bytes -- is a state (struct xfer) that session_run() advances whenever
 * a conn of the session is ready.
 */
#include "ferry/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/authpool.h"
#include "ferry/buf.h"
#include "ferry/cmdparse.h"
#include "ferry/io.h"
#include "ferry/listener.h"
#include "ferry/listing.h"
#include "ferry/log.h"
#include "ferry/metrics.h"
#include "ferry/ratelimit.h"
#include "ferry/reply.h"
#include "ferry/synthetic.h"
#include "ferry/users.h"
#include "ferry/vfs.h"
#include "ferry/worker.h"
#include "ferry/xferlog.h"

/* Stop reading commands while this much reply text is unsent: a client
 * that pipelines without reading its replies gets TCP back-pressure
 * instead of growing our memory. */
#define OUT_HIGH        (64u * 1024)
/* Control input buffered at most (one full line plus the next read). */
#define IN_MAX          (2u * CMD_LINE_MAX)
/* Listing and ASCII-mode data staged per fill. */
#define XBUF_FILL       (32u * 1024)
/* What the xferlog keeps of an anonymous password (an e-mail address). */
#define ANON_ID_MAX     64

enum login_state { LOGIN_NONE, LOGIN_USER, LOGIN_OK };
enum xfer_kind { X_RETR, X_LIST, X_STOR };
enum xfer_state { XS_WAIT, XS_RUN };

/* A transfer in progress: allocated per transfer, so that an idle
 * session carries none of it. */
struct xfer {
    int       kind;          /* enum xfer_kind */
    int       state;         /* enum xfer_state */
    int       ascii;         /* TYPE A: convert line ends */
    int       fd;            /* RETR: the file */
    off_t     off, end;      /* RETR: next byte, size */
    unsigned long long bytes;/* moved so far */
    int       cr_pending;    /* STOR ascii: a CR ended the last chunk */
    int       list_more;     /* LIST: listing not finished */
    int       has_listing;
    int       has_upload;
    int       synthetic;     /* RETR from the shared pattern memfd */
    int       discard;       /* STOR into /discard/: read and drop */
    int       limited;       /* --rate-limit applies: rl is in use */
    struct ratelimit rl;
    double    started;
    struct listing    lst;
    struct vfs_upload up;
    char      path[VFS_PATH_MAX];
};

/* A command that arrived during a transfer and must wait for its end
 * (RFC 959 lets only ABOR, STAT and QUIT interrupt one). */
struct pending {
    char verb[CMD_VERB_MAX + 1];
    char *arg;
};

struct session {
    struct worker   *w;
    struct session  *prev, *next;   /* worker's list */
    struct tmo_node  tmo;
    struct conn      ctrl, pasv, data;
    struct buf       in, out;       /* control connection */
    struct buf       xbuf;          /* data channel staging */
    struct xfer     *x;
    struct pending  *pend;
    char            *cwd;           /* NULL: "/" */
    char            *rnfr;          /* RNFR path awaiting RNTO */
    unsigned long long rest;        /* REST offset for the next transfer */
    unsigned long long bytes_in, bytes_out;
    struct sockaddr_storage peer, local;
    /* Login.  A local user is confined to their home: `home` is a
     * directory descriptor beneath the root, and every path they name is
     * resolved beneath it by the kernel (vfs.h), so their "/" is the home
     * and neither "..", an absolute path nor a symlink leads out. */
    const struct vfs *vfs;          /* &srv->vfs, or &home */
    struct vfs       home;          /* rootfd -1 unless a local user */
    char            *user;          /* USER's name; the login name after */
    char            *anon_id;       /* anonymous: the password given */
    struct authjob  *auth;          /* password check out in the pool */
    struct worker_tick tick;        /* failed-login delay, or throttle */
    uint32_t         id;
    uint8_t          login;         /* enum login_state */
    uint8_t          anonymous;     /* logged in (or about to) as anonymous */
    uint8_t          user_rw;       /* a local user with perms rw */
    uint8_t          waiting;       /* login answer pending: commands held */
    uint8_t          fail_close;    /* the pending answer is 421 and close */
    uint8_t          throttled;     /* transfer waits for rate-limit tokens */
    uint8_t          type;          /* 'A' or 'I' */
    uint8_t          epsv_all;
    uint8_t          discarding;    /* inside an over-long line */
    uint8_t          closing;       /* close once the replies are out */
    uint8_t          ctrl_dead;     /* control connection failed: close now */
    uint8_t          drain_after;   /* server draining: close after transfer */
    uint8_t          entered;       /* inside an entry point */
};

static const char *cwd_of(const struct session *s)
{
    return s->cwd ? s->cwd : "/";
}

static char *peer_str(const struct session *s, char *out, size_t len)
{
    io_addr_str(&s->peer, out, len);
    return out;
}

/* The client's address without the port, for logs that tools such as
 * fail2ban match on, and for the xferlog. */
static char *peer_ip(const struct session *s, char *out, size_t len)
{
    const void *a = NULL;
    int af = s->peer.ss_family;
    if (af == AF_INET) {
        a = &((const struct sockaddr_in *)&s->peer)->sin_addr;
    } else if (af == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)&s->peer)->sin6_addr;
        a = a6;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            af = AF_INET;
            a = &a6->s6_addr[12];
        }
    }
    if (!a || !inet_ntop(af, a, out, (socklen_t)len))
        snprintf(out, len, "unknown");
    return out;
}

/* The settings in force for this session's worker (a reload swaps them
 * between events, never inside a handler). */
static const struct ferry_config *cfg_of(const struct session *s)
{
    return s->w->cfg;
}

/* May this login change files?  --write, and then perms rw for a local
 * user, --anon-write for anonymous: an admin who turns writes on for
 * accounts must not open the root to anyone by the same switch.  Read per
 * command, so a reload that turns either on or off applies to sessions
 * already logged in. */
static int write_ok(const struct session *s)
{
    const struct ferry_config *cfg = cfg_of(s);
    return s->login == LOGIN_OK && cfg->write &&
           (s->anonymous ? cfg->anon_write : s->user_rw);
}

/* ---- worker list hooks --------------------------------------------- */

struct session *session_next(const struct session *s) { return s->next; }
void session_set_next(struct session *s, struct session *n) { s->next = n; }
struct session *session_prev(const struct session *s) { return s->prev; }
void session_set_prev(struct session *s, struct session *p) { s->prev = p; }
struct tmo_node *session_tmo(struct session *s) { return &s->tmo; }
struct session *session_from_tmo(struct tmo_node *n)
{
    return (struct session *)((char *)n - offsetof(struct session, tmo));
}

/* ---- replies -------------------------------------------------------- */

static void closing(struct session *s)
{
    s->closing = 1;
}

/* Replies go to s->out; a failed allocation closes the session, since the
 * client would otherwise wait for an answer that never comes. */
#define REPLY(s, code, ...) do { \
        if (reply_line(&(s)->out, (code), __VA_ARGS__) < 0) closing(s); \
    } while (0)

/* The reply for a failed file operation. */
static void reply_errno(struct session *s, int err, int writing)
{
    switch (err) {
    case ENOENT:       REPLY(s, 550, "No such file or directory."); break;
    case ENOTDIR:      REPLY(s, 550, "Not a directory."); break;
    case EISDIR:       REPLY(s, 550, "Is a directory."); break;
    case EEXIST:       REPLY(s, 550, "File exists."); break;
    case ENOTEMPTY:    REPLY(s, 550, "Directory not empty."); break;
    case ENAMETOOLONG: REPLY(s, writing ? 553 : 550, "File name too long."); break;
    case ENOSPC:
    case EDQUOT:       REPLY(s, 452, "Insufficient storage space."); break;
    case EMFILE:
    case ENFILE:
    case ENOMEM:       REPLY(s, 451, "Local error: out of resources, try again later."); break;
    case EINVAL:       REPLY(s, 501, "Invalid argument."); break;
    case EBUSY:        REPLY(s, 550, "Resource busy."); break;
    case EACCES:
    case EPERM:
    case EXDEV:
    case ELOOP:
    default:           REPLY(s, writing ? 553 : 550, "Permission denied."); break;
    }
}

/* ---- timers --------------------------------------------------------- */

/* Put the session on the one timeout list its state calls for.  Called
 * after every command and every bit of transfer progress: O(1). */
static void timer_update(struct session *s)
{
    struct worker *w = s->w;
    int kind;
    if (s->login != LOGIN_OK)
        kind = TMO_LOGIN;
    else if (s->x && s->x->state == XS_WAIT)
        kind = TMO_DATA;
    else if (s->x)
        kind = TMO_STALL;
    else
        kind = TMO_IDLE;
    /* The login timeout runs from the connection, not from the last
     * command: a client must not keep a session alive by never logging
     * in.  The others restart on activity. */
    if (kind == TMO_LOGIN && s->tmo.kind == TMO_LOGIN && s->tmo.prev)
        return;
    tmo_set(&w->tmo, &s->tmo, kind, w->now);
}

/* ---- conns ---------------------------------------------------------- */

static void conn_setup(struct conn *c, struct session *s, int kind)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->kind = (uint8_t)kind;
    c->sess = s;
}

static void conn_close(struct session *s, struct conn *c)
{
    if (c->fd < 0)
        return;
    worker_conn_del(s->w, c);
    close(c->fd);
    c->fd = -1;
    c->readable = c->writable = c->hup = 0;
    c->want_read = c->want_write = 0;
}

/* ---- control connection --------------------------------------------- */

static void ctrl_flush(struct session *s)
{
    while (buf_used(&s->out) > 0 && s->ctrl.writable && !s->ctrl_dead) {
        ssize_t n = io_send(s->ctrl.fd, buf_rptr(&s->out), buf_used(&s->out));
        if (n == IO_AGAIN) {
            s->ctrl.writable = 0;
            break;
        }
        if (n < 0) {
            s->ctrl_dead = 1;
            break;
        }
        buf_consume(&s->out, (size_t)n);
    }
    buf_trim(&s->out);
}

/* Read what the control connection has, up to the buffer bound.
 * Returns 1 when bytes arrived, 0 otherwise. */
static int ctrl_read(struct session *s)
{
    size_t room = IN_MAX - buf_used(&s->in);
    char *p;
    ssize_t n;

    if (room == 0)
        return 0;
    p = buf_reserve(&s->in, room, IN_MAX);
    if (!p) {
        closing(s);
        return 0;
    }
    n = io_recv(s->ctrl.fd, p, room);
    if (n == IO_AGAIN) {
        s->ctrl.readable = 0;
        return 0;
    }
    if (n <= 0) {
        /* EOF or error: the client is gone; nothing more can be said. */
        s->ctrl.readable = 0;
        s->ctrl_dead = 1;
        return 0;
    }
    buf_commit(&s->in, (size_t)n);
    return 1;
}

/* ---- data channel --------------------------------------------------- */

static void data_close_all(struct session *s)
{
    conn_close(s, &s->data);
    conn_close(s, &s->pasv);
}

static int local_ipv4(const struct session *s, unsigned char ip[4])
{
    if (s->local.ss_family == AF_INET) {
        memcpy(ip, &((const struct sockaddr_in *)&s->local)->sin_addr, 4);
        return 0;
    }
    if (s->local.ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)&s->local)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            memcpy(ip, &a->s6_addr[12], 4);
            return 0;
        }
    }
    return -1;
}

/* Open a fresh passive listener (closing any previous data channel). */
static int pasv_open(struct session *s, unsigned *port)
{
    const struct ferry_config *cfg = cfg_of(s);
    int fd, r;

    data_close_all(s);
    fd = listener_open_passive(&s->local, cfg->pasv_lo, cfg->pasv_hi, port);
    if (fd < 0)
        return fd;
    s->pasv.fd = fd;
    /* Before the add: a level-triggered driver reads interest there. */
    s->pasv.want_read = 1;
    r = worker_conn_add(s->w, &s->pasv);
    if (r < 0) {
        close(fd);
        s->pasv.fd = -1;
        s->pasv.want_read = 0;
        return r;
    }
    return 0;
}

static void xfer_begin(struct session *s);
static void xfer_fail(struct session *s, int code, const char *text);

/* The client connected to our passive port. */
static void pasv_accept(struct session *s)
{
    char addr[64];

    while (s->pasv.fd >= 0 && s->pasv.readable) {
        struct sockaddr_storage peer;
        socklen_t plen;
        int fd = io_accept(s->pasv.fd, &peer, &plen);
        if (fd == IO_AGAIN) {
            s->pasv.readable = 0;
            return;
        }
        if (fd < 0) {
            /* These concern one connection, which the kernel dropped. */
            if (fd == -ECONNABORTED || fd == -EPROTO || fd == -EPERM)
                continue;
            /* Out of descriptors or memory: the error would repeat on
             * every try, so trying again now would spin.  Leave the
             * connection queued; the data timeout ends the wait.  The
             * listener leaves the driver meanwhile: the level-triggered
             * drivers watch a passive listener whatever its interest
             * (drv_poll.c, drv_select.c, drv_libev_lt.c), and would
             * report the queued connection again on every turn. */
            s->pasv.readable = 0;
            worker_conn_del(s->w, &s->pasv);
            log_warn("event=data-accept-failed session=%u error=\"%s\"", s->id,
                     strerror(-fd));
            return;
        }
        /* Passive-port hijacking: only the client's own host may connect
         * to the port it was given. */
        if (!io_same_host(&peer, &s->peer)) {
            log_warn("event=pasv-hijack-refused session=%u peer=%s", s->id,
                     io_addr_str(&peer, addr, sizeof(addr)));
            close(fd);
            continue;
        }
        conn_close(s, &s->pasv);
        (void)io_tune_data(fd);
        s->data.fd = fd;
        int r = worker_conn_add(s->w, &s->data);
        if (r < 0) {
            log_warn("event=data-accept-failed session=%u error=\"%s\"", s->id,
                     strerror(-r));
            close(fd);
            s->data.fd = -1;
            /* The passive listener is gone: fail now, not at the timeout. */
            if (s->x && s->x->state == XS_WAIT)
                xfer_fail(s, 425, "Can't open data connection.");
            return;
        }
        /* A fresh socket has send space; whether input waits is for
         * recv to tell. */
        s->data.writable = 1;
        s->data.readable = 1;
        if (s->x && s->x->state == XS_WAIT)
            xfer_begin(s);
        return;
    }
}

/* ---- transfers ------------------------------------------------------ */

/* The xferlog's user field: the login name, or for anonymous the
 * password given (by custom an e-mail address). */
static const char *xferlog_user(const struct session *s)
{
    if (s->anonymous)
        return s->anon_id ? s->anon_id : "anonymous";
    return s->user ? s->user : "?";
}

static void xferlog_entry(struct session *s, const char *path, int direction,
                          unsigned long long bytes, double secs, int binary, int complete)
{
    struct xferlog *xl = s->w->srv->xferlog;
    char ip[64];
    if (!xl)
        return;
    struct xferlog_entry e = {
        .end = time(NULL), .seconds = secs, .host = peer_ip(s, ip, sizeof(ip)),
        .bytes = bytes, .path = path, .binary = binary, .direction = direction,
        .anonymous = s->anonymous, .user = xferlog_user(s), .complete = complete,
    };
    int r = xferlog_write(xl, &e);
    if (r < 0)
        log_warn("event=xferlog-failed session=%u error=\"%s\"", s->id, strerror(-r));
}

/* The end of a transfer, in every log and counter that records one.
 * result: "ok", "failed" or "aborted". */
static void xfer_log(struct session *s, const char *result)
{
    struct xfer *x = s->x;
    char qpath[600], addr[64];
    static const char *const kinds[] = { "retr", "list", "stor" };
    static const enum metrics_kind mkinds[] = { METRICS_RETR, METRICS_LIST, METRICS_STOR };
    int ok = strcmp(result, "ok") == 0;
    double secs = s->w->now - x->started;

    log_info("event=transfer session=%u peer=%s kind=%s path=%s bytes=%llu secs=%.3f result=%s",
             s->id, peer_str(s, addr, sizeof(addr)), kinds[x->kind],
             log_quote(qpath, sizeof(qpath), x->path, strlen(x->path)), x->bytes,
             secs, result);
    metrics_transfer(mkinds[x->kind], ok ? METRICS_OK
                     : strcmp(result, "aborted") == 0 ? METRICS_ABORTED : METRICS_FAILED);
    /* The xferlog records files, not listings, and only transfers that
     * began moving data (a data connection that never came is no
     * transfer). */
    if (x->kind != X_LIST && x->state == XS_RUN)
        xferlog_entry(s, x->path, x->kind == X_RETR ? XFERLOG_OUT : XFERLOG_IN, x->bytes,
                      secs, !x->ascii, ok);
}

static void xfer_free(struct session *s)
{
    struct xfer *x = s->x;
    if (!x)
        return;
    atomic_fetch_sub(&s->w->srv->ntransfers, 1);
    if (s->throttled) {
        s->throttled = 0;
        worker_tick_disarm(&s->tick);
    }
    if (x->fd >= 0)
        close(x->fd);
    if (x->has_listing)
        listing_close(&x->lst);
    if (x->has_upload)
        vfs_upload_abort(&x->up);
    free(x);
    s->x = NULL;
    buf_free(&s->xbuf);
}

static void run_pending(struct session *s);

/* The transfer ended (well or not): reply, release, and let waiting
 * commands run. */
static void xfer_end(struct session *s, int code, const char *text, const char *result)
{
    xfer_log(s, result);
    /* A transfer that did not complete ends in RST, not FIN: in stream
     * mode FIN marks the end of the file, so a cut download must not look
     * whole to a client that trusts the data connection; and what is still
     * queued for a client that stopped reading is dropped now instead of
     * pinning kernel memory until the orphaned socket gives up. */
    if (strcmp(result, "ok") != 0 && s->data.fd >= 0)
        (void)io_reset_on_close(s->data.fd);
    conn_close(s, &s->data);
    conn_close(s, &s->pasv);
    xfer_free(s);
    REPLY(s, code, "%s", text);
    timer_update(s);
    if (s->drain_after) {
        REPLY(s, 421, "Server shutting down.");
        closing(s);
    }
}

static void xfer_fail(struct session *s, int code, const char *text)
{
    xfer_end(s, code, text, "failed");
}

static void xfer_done(struct session *s)
{
    struct xfer *x = s->x;
    if (x->has_upload) {
        int r = vfs_upload_commit(&x->up);
        x->has_upload = 0;
        if (r < 0) {
            char msg[128];
            snprintf(msg, sizeof(msg), "Could not store file: %s.", strerror(-r));
            xfer_fail(s, r == -ENOSPC || r == -EDQUOT ? 452 : 451, msg);
            return;
        }
    }
    xfer_end(s, 226, "Transfer complete.", "ok");
}

/* Data connection up: tell the client and start moving bytes. */
static void xfer_begin(struct session *s)
{
    struct xfer *x = s->x;
    unsigned long long rate = cfg_of(s)->rate_limit;
    x->state = XS_RUN;
    x->started = s->w->now;
    if (rate) {
        ratelimit_init(&x->rl, rate, 0, s->w->now);
        x->limited = 1;
    }
    switch (x->kind) {
    case X_RETR:
        if (x->off > 0)
            REPLY(s, 150, "Opening %s mode data connection for %s (%lld bytes, from offset %lld).",
                  x->ascii ? "ASCII" : "BINARY", vfs_basename(x->path),
                  (long long)x->end, (long long)x->off);
        else
            REPLY(s, 150, "Opening %s mode data connection for %s (%lld bytes).",
                  x->ascii ? "ASCII" : "BINARY", vfs_basename(x->path), (long long)x->end);
        break;
    case X_LIST:
        REPLY(s, 150, "Here comes the directory listing.");
        break;
    case X_STOR:
        REPLY(s, 150, "Ok to send data.");
        break;
    }
    timer_update(s);
}

/* Start a transfer command: a data channel must have been asked for. */
static int xfer_prepare(struct session *s, int kind, const char *vpath)
{
    if (s->data.fd < 0 && s->pasv.fd < 0) {
        REPLY(s, 425, "Use PASV or EPSV first.");
        return -1;
    }
    struct xfer *x = calloc(1, sizeof(*x));
    if (!x) {
        REPLY(s, 451, "Local error: out of memory.");
        return -1;
    }
    x->kind = kind;
    x->fd = -1;
    x->ascii = s->type == 'A';
    x->state = XS_WAIT;
    x->started = s->w->now;
    snprintf(x->path, sizeof(x->path), "%s", vpath);
    s->x = x;
    atomic_fetch_add(&s->w->srv->ntransfers, 1);
    return 0;
}

/* Called after a transfer command set s->x up: go if connected, else
 * wait for the client under the data timeout. */
static void xfer_go(struct session *s)
{
    if (s->data.fd >= 0)
        xfer_begin(s);
    else
        timer_update(s);
}

/* LF -> CRLF from src into b.  Returns 0 or -1 (ENOMEM). */
static int ascii_encode(struct buf *b, const char *src, size_t n)
{
    char *p = buf_reserve(b, n * 2, 0);
    size_t o = 0;
    if (!p)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '\n')
            p[o++] = '\r';
        p[o++] = src[i];
    }
    buf_commit(b, o);
    return 0;
}

/* Refill s->xbuf for a buffered send (LIST, ASCII RETR).  Returns 1 when
 * data was added, 0 at the end of the source, -errno on failure. */
static int xbuf_fill(struct session *s)
{
    struct xfer *x = s->x;
    if (x->kind == X_LIST) {
        if (!x->list_more)
            return 0;
        size_t before = buf_used(&s->xbuf);
        int r = listing_fill(&x->lst, &s->xbuf, XBUF_FILL);
        if (r < 0)
            return r;
        x->list_more = r;
        return buf_used(&s->xbuf) > before || r;
    }
    /* ASCII RETR. */
    if (x->off >= x->end)
        return 0;
    char *tmp = worker_scratch(s->w);
    if (!tmp)
        return -ENOMEM;
    size_t want = XBUF_FILL / 2;
    if ((off_t)want > x->end - x->off)
        want = (size_t)(x->end - x->off);
    ssize_t n = x->synthetic
        ? pread(synthetic_fd(), tmp, want, synthetic_offset((unsigned long long)x->off))
        : pread(x->fd, tmp, want, x->off);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -EIO;   /* the file shrank under us */
    x->off += n;
    if (ascii_encode(&s->xbuf, tmp, (size_t)n) < 0)
        return -ENOMEM;
    return 1;
}

/* --rate-limit: how much of want may move now.  0: the session is put
 * on its worker's tick list until the bucket has a quantum again, and the
 * transfer moves nothing until then (sync_interest keeps level-triggered
 * drivers from reporting the ready socket meanwhile). */
static size_t rate_allow(struct session *s, size_t want)
{
    struct xfer *x = s->x;
    double wait;
    if (!x->limited)
        return want;
    size_t n = ratelimit_avail(&x->rl, s->w->now, want, &wait);
    if (n == 0) {
        s->throttled = 1;
        worker_tick_arm(s->w, &s->tick, wait);
    }
    return n;
}

static void rate_spent(struct session *s, size_t n)
{
    if (s->x->limited)
        ratelimit_spend(&s->x->rl, n);
}

/* Move download bytes.  Returns 1 if the budget ran out with the data
 * connection still writable. */
static int xfer_send(struct session *s)
{
    struct xfer *x = s->x;
    size_t budget = WORKER_SEND_BUDGET;

    if (x->kind == X_RETR && !x->ascii) {
        while (x->off < x->end && s->data.writable) {
            if (budget == 0)
                return 1;
            size_t chunk = (size_t)(x->end - x->off);
            if (chunk > budget)
                chunk = budget;
            if ((chunk = rate_allow(s, chunk)) == 0)
                return 0;
            ssize_t n;
            if (x->synthetic) {
                /* From the shared pattern: the chunk starts at off % period
                 * and the memfd holds one chunk past the period. */
                off_t foff = synthetic_offset((unsigned long long)x->off);
                if (chunk > SYNTHETIC_CHUNK)
                    chunk = SYNTHETIC_CHUNK;
                n = io_sendfile(s->data.fd, synthetic_fd(), &foff, chunk);
                if (n > 0)
                    x->off += n;
            } else {
                n = io_sendfile(s->data.fd, x->fd, &x->off, chunk);
            }
            if (n == IO_AGAIN) {
                s->data.writable = 0;
                break;
            }
            if (n < 0) {
                xfer_fail(s, 426, "Connection closed; transfer aborted.");
                return 0;
            }
            if (n == 0) {
                xfer_fail(s, 451, "File changed during transfer.");
                return 0;
            }
            rate_spent(s, (size_t)n);
            metrics_bytes_out((uint64_t)n);
            x->bytes += (unsigned long long)n;
            s->bytes_out += (unsigned long long)n;
            budget -= (size_t)n;
            timer_update(s);
        }
        if (x->off >= x->end)
            xfer_done(s);
        return 0;
    }

    /* Buffered: listings and ASCII mode. */
    while (s->data.writable) {
        if (buf_used(&s->xbuf) == 0) {
            int r = xbuf_fill(s);
            if (r < 0) {
                xfer_fail(s, 451, r == -EIO ? "File changed during transfer."
                                            : "Local error reading data.");
                return 0;
            }
            if (r == 0 && buf_used(&s->xbuf) == 0) {
                xfer_done(s);
                return 0;
            }
            continue;
        }
        if (budget == 0)
            return 1;
        size_t len = buf_used(&s->xbuf);
        if (len > budget)
            len = budget;
        if ((len = rate_allow(s, len)) == 0)
            return 0;
        ssize_t n = io_send(s->data.fd, buf_rptr(&s->xbuf), len);
        if (n == IO_AGAIN) {
            s->data.writable = 0;
            break;
        }
        if (n < 0) {
            xfer_fail(s, 426, "Connection closed; transfer aborted.");
            return 0;
        }
        buf_consume(&s->xbuf, (size_t)n);
        rate_spent(s, (size_t)n);
        metrics_bytes_out((uint64_t)n);
        x->bytes += (unsigned long long)n;
        s->bytes_out += (unsigned long long)n;
        budget -= (size_t)n;
        timer_update(s);
    }
    return 0;
}

/* CRLF -> LF for ASCII uploads, in place; a CR at the end of a chunk is
 * held back until the next byte shows whether an LF follows. */
static size_t ascii_decode(struct xfer *x, char *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (x->cr_pending) {
            x->cr_pending = 0;
            if (p[i] != '\n')
                out[o++] = '\r';
        }
        if (p[i] == '\r') {
            x->cr_pending = 1;
            continue;
        }
        out[o++] = p[i];
    }
    return o;
}

/* Did the client itself go away?  A client that dies mid-upload closes
 * its data connection like a finished one (stream mode has no other end
 * marker); if its control connection is gone too, the upload is not
 * complete and must not be committed. */
static int ctrl_gone(struct session *s)
{
    char c;
    if (s->ctrl_dead)
        return 1;
    ssize_t n = recv(s->ctrl.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static int xfer_recv(struct session *s)
{
    struct xfer *x = s->x;
    size_t budget = WORKER_SEND_BUDGET;
    char *tmp = worker_scratch(s->w);

    if (!tmp) {
        xfer_fail(s, 451, "Local error: out of memory.");
        return 0;
    }
    while (s->data.readable) {
        if (budget == 0)
            return 1;
        size_t want = rate_allow(s, WORKER_SCRATCH_SIZE / 2);
        if (want == 0)
            return 0;
        ssize_t n = io_recv(s->data.fd, tmp, want);
        if (n == IO_AGAIN) {
            s->data.readable = 0;
            break;
        }
        if (n < 0) {
            xfer_fail(s, 426, "Connection closed; transfer aborted.");
            return 0;
        }
        if (n == 0) {
            if (x->ascii && x->cr_pending && !x->discard) {
                x->cr_pending = 0;
                if (io_write_all(x->up.fd, "\r", 1) < 0) {
                    xfer_fail(s, 452, "Insufficient storage space.");
                    return 0;
                }
            }
            if (ctrl_gone(s)) {
                xfer_fail(s, 426, "Connection closed; transfer aborted.");
                return 0;
            }
            xfer_done(s);
            return 0;
        }
        size_t len = (size_t)n;
        rate_spent(s, len);
        metrics_bytes_in((uint64_t)n);
        if (x->discard) {
            x->bytes += len;
            s->bytes_in += len;
            budget -= len < budget ? len : budget;
            timer_update(s);
            continue;
        }
        if (x->ascii)
            len = ascii_decode(x, tmp, len, tmp + WORKER_SCRATCH_SIZE / 2);
        int r = io_write_all(x->up.fd, x->ascii ? tmp + WORKER_SCRATCH_SIZE / 2 : tmp, len);
        if (r < 0) {
            xfer_fail(s, r == -ENOSPC || r == -EDQUOT || r == -EFBIG ? 452 : 451,
                      r == -ENOSPC || r == -EDQUOT ? "Insufficient storage space."
                      : "Local error writing file.");
            return 0;
        }
        x->bytes += (unsigned long long)n;
        s->bytes_in += (unsigned long long)n;
        budget -= (size_t)n;
        timer_update(s);
    }
    return 0;
}

/* Advance the running transfer; returns 1 when it stopped on its budget
 * with its connection still ready. */
static int xfer_step(struct session *s)
{
    if (!s->x || s->x->state != XS_RUN || s->data.fd < 0 || s->throttled)
        return 0;
    if (s->x->kind == X_STOR)
        return xfer_recv(s);
    return xfer_send(s);
}

/* ---- command handlers ----------------------------------------------- */

struct cmd;
typedef void (*cmd_fn)(struct session *s, const char *arg);

enum {
    C_LOGIN = 1,     /* needs a logged-in session */
    C_WRITE = 2,     /* needs --write */
    C_ARG   = 4,     /* needs an argument */
    C_XFER  = 8,     /* may run while a transfer is in progress */
};

struct cmd {
    const char *verb;
    cmd_fn      fn;
    unsigned    flags;
    const char *help;
};

/* Resolve the client's path argument against the cwd; replies on error. */
static int resolve(struct session *s, const char *arg, char *out, size_t outlen)
{
    int r = vfs_resolve(cwd_of(s), arg && *arg ? arg : ".", out, outlen);
    if (r < 0) {
        if (r == -ENAMETOOLONG)
            REPLY(s, 550, "File name too long.");
        else if (r == -EINVAL)
            REPLY(s, 501, "Invalid path.");
        else
            REPLY(s, 550, "Permission denied.");
        return -1;
    }
    return 0;
}

/* --synthetic: what a virtual path is in the load-testing folders. */
static int syn_kind(struct session *s, const char *path, unsigned long long *size, int *bad)
{
    *bad = 0;
    if (!cfg_of(s)->synthetic)
        return SYN_NONE;
    return synthetic_classify(path, size, bad);
}

/* A stat for a synthetic entry, for listings and MLST. */
static void syn_stat(struct stat *st, int dir, unsigned long long size)
{
    memset(st, 0, sizeof(*st));
    st->st_mode = dir ? (S_IFDIR | 0555) : (S_IFREG | 0444);
    st->st_nlink = 1;
    st->st_size = (off_t)size;
    st->st_mtime = 946684800;   /* 2000-01-01: constant, like the content */
    st->st_ino = size + 1;
}

/* The synthetic and discard folders cannot be changed by name. */
static int syn_refuse(struct session *s, const char *path)
{
    unsigned long long size;
    int bad;
    if (syn_kind(s, path, &size, &bad) != SYN_NONE || bad) {
        REPLY(s, 550, "Permission denied.");
        return 1;
    }
    return 0;
}

/* ---- login ----------------------------------------------------------
 *
 * Anonymous (when allowed) logs in at once.  A local account's password
 * is checked by users_authenticate(), which is slow on purpose: on an
 * event-loop worker it goes to the auth pool (authpool.h) and the session
 * holds its commands (s->waiting) until the answer is posted back; a
 * one-session worker (the per-client models) checks inline, stalling no
 * one else.  A failed login is counted per address (users.h, authfail);
 * its 530 waits for the delay the count calls for, on the session's tick,
 * never by sleeping, and once an address has failed too often the answer
 * is 421 and the connection closes. */

static void session_run(struct session *s);
static void settle(struct session *s);

static int is_anonymous(const char *user)
{
    return strcasecmp(user, "anonymous") == 0 || strcasecmp(user, "ftp") == 0;
}

/* Is name an account in the users file? */
static int is_local_user(struct session *s, const char *name)
{
    struct users *t = users_current_get(&s->w->srv->users);
    int found = t && users_find(t, name) != NULL;
    users_unref(t);
    return found;
}

static void login_ok(struct session *s, const char *home, int rw)
{
    char ip[64], qu[160], qh[600];
    if (strcmp(home, "/") != 0) {
        const struct vfs *root = &s->w->srv->vfs;
        int fd = vfs_openat(root, home, O_PATH | O_DIRECTORY, 0);
        if (fd < 0) {
            log_error("event=login-failed peer=%s session=%u user=%s reason=home-unavailable "
                      "home=%s error=\"%s\"", peer_ip(s, ip, sizeof(ip)), s->id,
                      log_quote(qu, sizeof(qu), s->user, strlen(s->user)),
                      log_quote(qh, sizeof(qh), home, strlen(home)), strerror(-fd));
            s->login = LOGIN_NONE;
            REPLY(s, 530, "Login incorrect: home folder unavailable.");
            return;
        }
        s->home.rootfd = fd;
        s->home.has_openat2 = root->has_openat2;
        s->vfs = &s->home;
    }
    s->login = LOGIN_OK;
    s->user_rw = (uint8_t)rw;
    free(s->cwd);
    s->cwd = NULL;
    log_info("event=login session=%u worker=%d peer=%s user=%s home=%s perms=%s", s->id, s->w->id,
             peer_str(s, ip, sizeof(ip)), log_quote(qu, sizeof(qu), s->user, strlen(s->user)),
             log_quote(qh, sizeof(qh), home, strlen(home)), rw ? "rw" : "r");
    REPLY(s, 230, "Login successful.");
}

/* The answer to a failed login, once its delay has passed. */
static void login_fail_reply(struct session *s)
{
    s->waiting = 0;
    s->login = LOGIN_NONE;
    if (s->fail_close) {
        REPLY(s, 421, "Too many failed logins, closing control connection.");
        closing(s);
    } else {
        REPLY(s, 530, "Login incorrect.");
    }
}

static void login_failed(struct session *s)
{
    struct authfail_verdict v = { 1, 0, 0 };
    char ip[64], qu[160];

    metrics_login_failed();
    if (s->w->srv->authfail)
        authfail_failed(s->w->srv->authfail, (const struct sockaddr *)&s->peer,
                        worker_clock(), &v);
    /* The address first, as fail2ban's filters expect. */
    log_warn("event=login-failed peer=%s session=%u user=%s failures=%u delay=%g%s",
             peer_ip(s, ip, sizeof(ip)), s->id,
             log_quote(qu, sizeof(qu), s->user, strlen(s->user)), v.failures, v.delay,
             v.close ? " action=close" : "");
    s->fail_close = (uint8_t)v.close;
    if (v.delay > 0) {
        s->waiting = 1;
        worker_tick_arm(s->w, &s->tick, v.delay);
        return;
    }
    login_fail_reply(s);
}

/* The answer of a password check (1 ok, 0 wrong, -errno). */
static void login_checked(struct session *s, int result, const char *home, int rw)
{
    s->waiting = 0;
    if (result == 1) {
        login_ok(s, home, rw);
    } else if (result == 0) {
        login_failed(s);
    } else {
        log_error("event=login-error session=%u error=\"%s\"", s->id, strerror(-result));
        s->login = LOGIN_NONE;
        REPLY(s, 421, "Local error, try again later.");
        closing(s);
    }
}

/* Posted back by the auth pool, on the worker's thread. */
static void auth_done(struct worker *w, struct worker_msg *m)
{
    struct authjob *j = (struct authjob *)(void *)((char *)m - offsetof(struct authjob, msg));
    struct session *s = j->sess;

    w->inflight--;
    if (s) {
        s->auth = NULL;
        login_checked(s, j->result, j->home, j->write);
        session_run(s);
        settle(s);
    }
    authjob_free(j);
}

/* The session's tick: a failed login's delay is over, or a throttled
 * transfer may move again. */
static void session_tick(struct worker_tick *t)
{
    struct session *s = (struct session *)(void *)((char *)t - offsetof(struct session, tick));
    if (s->waiting && !s->auth)
        login_fail_reply(s);
    s->throttled = 0;
    session_run(s);
    settle(s);
}

static void cmd_user(struct session *s, const char *arg)
{
    char ip[64];
    if (s->login == LOGIN_OK) {
        /* Re-login as anonymous is harmless; switching is not offered. */
        if (is_anonymous(arg) && s->anonymous)
            REPLY(s, 230, "Already logged in.");
        else
            REPLY(s, 530, "Can't change to another user.");
        return;
    }
    free(s->user);
    /* Longer than any account name: kept cut, for the logs only. */
    s->user = strndup(arg, USERS_NAME_MAX + 1);
    if (!s->user) {
        s->login = LOGIN_NONE;
        REPLY(s, 451, "Local error: out of memory.");
        return;
    }
    s->anonymous = 0;
    if (is_anonymous(arg) && !is_local_user(s, arg)) {
        if (!cfg_of(s)->anonymous) {
            /* Not a guess at a password: refused at once, not counted. */
            log_info("event=login-refused peer=%s session=%u reason=anonymous-disabled",
                     peer_ip(s, ip, sizeof(ip)), s->id);
            s->login = LOGIN_NONE;
            REPLY(s, 530, "This server does not allow anonymous logins.");
            return;
        }
        s->anonymous = 1;
        s->login = LOGIN_USER;
        REPLY(s, 331, "Anonymous login ok, send any password.");
        return;
    }
    /* The same answer for every name, so that names cannot be probed. */
    s->login = LOGIN_USER;
    REPLY(s, 331, "Please specify the password.");
}

/* Keep what the xferlog shows for an anonymous login: the password (by
 * custom an e-mail address), cut, with anything odd replaced. */
static void keep_anon_id(struct session *s, const char *pass)
{
    size_t n = strnlen(pass, ANON_ID_MAX);
    free(s->anon_id);
    s->anon_id = malloc(n + 1);
    if (!s->anon_id)
        return;
    for (size_t i = 0; i < n; i++)
        s->anon_id[i] = pass[i] > ' ' && pass[i] < 127 ? pass[i] : '_';
    s->anon_id[n] = '\0';
}

static void cmd_pass(struct session *s, const char *arg)
{
    char ip[64], qu[160];
    if (s->login == LOGIN_OK) {
        REPLY(s, 230, "Already logged in.");
        return;
    }
    if (s->login != LOGIN_USER) {
        log_warn("event=login-failed peer=%s session=%u reason=no-user",
                 peer_ip(s, ip, sizeof(ip)), s->id);
        REPLY(s, 530, "Login incorrect.");
        return;
    }
    if (s->anonymous) {
        keep_anon_id(s, arg);
        s->login = LOGIN_OK;
        s->user_rw = 0;
        log_info("event=login session=%u worker=%d peer=%s user=anonymous", s->id, s->w->id,
                 peer_str(s, ip, sizeof(ip)));
        REPLY(s, 230, "Login successful.");
        return;
    }
    /* An address over the limit is not even checked. */
    if (s->w->srv->authfail) {
        struct authfail_verdict v;
        authfail_check(s->w->srv->authfail, (const struct sockaddr *)&s->peer,
                       worker_clock(), &v);
        if (v.close) {
            log_warn("event=login-refused peer=%s session=%u user=%s reason=too-many-failures "
                     "failures=%u", peer_ip(s, ip, sizeof(ip)), s->id,
                     log_quote(qu, sizeof(qu), s->user, strlen(s->user)), v.failures);
            REPLY(s, 421, "Too many failed logins, closing control connection.");
            closing(s);
            return;
        }
    }
    struct authjob *j = authjob_new(s->user, arg);
    if (!j) {
        REPLY(s, 421, "Local error, try again later.");
        closing(s);
        return;
    }
    if (s->w->srv->authpool && !s->w->solo) {
        j->msg.fn = auth_done;
        j->w = s->w;
        j->sess = s;
        s->auth = j;
        s->waiting = 1;
        s->w->inflight++;
        authpool_submit(s->w->srv->authpool, j);
        return;
    }
    authjob_run(j, &s->w->srv->users);
    login_checked(s, j->result, j->home, j->write);
    authjob_free(j);
}

static void cmd_quit(struct session *s, const char *arg)
{
    (void)arg;
    if (s->x)
        xfer_fail(s, 426, "Connection closed; transfer aborted.");
    REPLY(s, 221, "Goodbye.");
    closing(s);
}

static void cmd_noop(struct session *s, const char *arg)
{
    (void)arg;
    REPLY(s, 200, "NOOP ok.");
}

static void cmd_syst(struct session *s, const char *arg)
{
    (void)arg;
    REPLY(s, 215, "UNIX Type: L8");
}

static void cmd_feat(struct session *s, const char *arg)
{
    (void)arg;
    if (reply_first(&s->out, 211, "Features:") < 0 ||
        reply_inner(&s->out, "EPSV") < 0 ||
        reply_inner(&s->out, "MDTM") < 0 ||
        reply_inner(&s->out, "MLST type*;size*;modify*;perm*;unique*;") < 0 ||
        reply_inner(&s->out, "PASV") < 0 ||
        reply_inner(&s->out, "REST STREAM") < 0 ||
        reply_inner(&s->out, "SIZE") < 0 ||
        reply_inner(&s->out, "TVFS") < 0 ||
        reply_inner(&s->out, "UTF8") < 0 ||
        reply_line(&s->out, 211, "End") < 0)
        closing(s);
}

static void cmd_opts(struct session *s, const char *arg)
{
    int u = cmdparse_opts_utf8(arg);
    if (u >= 0) {
        /* Names are passed through as bytes; UTF-8 is what every client
         * sends, so "on" is the only mode there is. */
        REPLY(s, 200, u ? "Always in UTF8 mode." : "UTF8 mode cannot be turned off.");
        return;
    }
    if (strncasecmp(arg, "MLST", 4) == 0 && (arg[4] == ' ' || arg[4] == '\0')) {
        REPLY(s, 200, "MLST OPTS type;size;modify;perm;unique;");
        return;
    }
    REPLY(s, 501, "Option not understood.");
}

static const struct cmd commands[];

static void cmd_help(struct session *s, const char *arg)
{
    (void)arg;
    char line[128];
    size_t o = 0;
    if (reply_first(&s->out, 214, "The following commands are recognized.") < 0) {
        closing(s);
        return;
    }
    for (const struct cmd *c = commands; c->verb; c++) {
        o += (size_t)snprintf(line + o, sizeof(line) - o, "%-5s", c->verb);
        if (o > 60 || !c[1].verb) {
            if (reply_inner(&s->out, "%s", line) < 0) {
                closing(s);
                return;
            }
            o = 0;
        }
    }
    REPLY(s, 214, "Help OK.");
}

static void cmd_type(struct session *s, const char *arg)
{
    int t = cmdparse_type(arg);
    if (t == 'A') {
        s->type = 'A';
        REPLY(s, 200, "Switching to ASCII mode.");
    } else if (t == 'I') {
        s->type = 'I';
        REPLY(s, 200, "Switching to Binary mode.");
    } else {
        REPLY(s, 504, "Unsupported TYPE.");
    }
}

static void cmd_mode(struct session *s, const char *arg)
{
    if (strcasecmp(arg, "S") == 0)
        REPLY(s, 200, "Mode set to S.");
    else
        REPLY(s, 504, "Only stream mode is supported.");
}

static void cmd_stru(struct session *s, const char *arg)
{
    if (strcasecmp(arg, "F") == 0)
        REPLY(s, 200, "Structure set to F.");
    else
        REPLY(s, 504, "Only file structure is supported.");
}

static void cmd_pwd(struct session *s, const char *arg)
{
    char q[VFS_PATH_MAX * 2];
    (void)arg;
    REPLY(s, 257, "\"%s\" is the current directory.", reply_quote_path(q, sizeof(q), cwd_of(s)));
}

static void cmd_cwd(struct session *s, const char *arg)
{
    char path[VFS_PATH_MAX];
    struct stat st;
    int r;

    unsigned long long size;
    int bad, kind;

    if (resolve(s, arg, path, sizeof(path)) < 0)
        return;
    kind = syn_kind(s, path, &size, &bad);
    if (kind == SYN_DIR || kind == SYN_DISCARD_DIR) {
        st.st_mode = S_IFDIR;
    } else if (kind != SYN_NONE || bad) {
        REPLY(s, 550, kind == SYN_NONE ? "No such file or directory." : "Not a directory.");
        return;
    } else if ((r = vfs_stat(s->vfs, path, &st)) < 0) {
        reply_errno(s, -r, 0);
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        REPLY(s, 550, "Not a directory.");
        return;
    }
    char *copy = NULL;
    if (strcmp(path, "/") != 0 && !(copy = strdup(path))) {
        REPLY(s, 451, "Local error: out of memory.");
        return;
    }
    free(s->cwd);
    s->cwd = copy;
    REPLY(s, 250, "Directory successfully changed.");
}

static void cmd_cdup(struct session *s, const char *arg)
{
    (void)arg;
    cmd_cwd(s, "..");
}

static void cmd_pasv(struct session *s, const char *arg)
{
    const struct ferry_config *cfg = cfg_of(s);
    unsigned char ip[4];
    unsigned port;
    int r;
    (void)arg;

    if (s->epsv_all) {
        REPLY(s, 503, "PASV not allowed after EPSV ALL.");
        return;
    }
    if (cfg->pasv_address) {
        if (inet_pton(AF_INET, cfg->pasv_address, ip) != 1) {
            REPLY(s, 425, "Bad passive address configured.");
            return;
        }
    } else if (local_ipv4(s, ip) < 0) {
        REPLY(s, 425, "PASV needs IPv4; use EPSV.");
        return;
    }
    r = pasv_open(s, &port);
    if (r < 0) {
        log_warn("event=pasv-failed session=%u error=\"%s\"", s->id, strerror(-r));
        REPLY(s, 425, "Can't open passive connection.");
        return;
    }
    REPLY(s, 227, "Entering Passive Mode (%u,%u,%u,%u,%u,%u).", ip[0], ip[1], ip[2], ip[3],
          port >> 8, port & 255);
}

static void cmd_epsv(struct session *s, const char *arg)
{
    int a = cmdparse_epsv(arg);
    unsigned port;
    int r;

    if (a == 'A') {
        s->epsv_all = 1;
        REPLY(s, 200, "EPSV ALL ok.");
        return;
    }
    if (a < 0) {
        REPLY(s, 501, "Bad EPSV argument.");
        return;
    }
    int mine = s->local.ss_family == AF_INET6 &&
               !IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&s->local)->sin6_addr) ? 2 : 1;
    if (a != 0 && a != mine) {
        REPLY(s, 522, "Network protocol not supported, use (%d).", mine);
        return;
    }
    r = pasv_open(s, &port);
    if (r < 0) {
        log_warn("event=pasv-failed session=%u error=\"%s\"", s->id, strerror(-r));
        REPLY(s, 425, "Can't open passive connection.");
        return;
    }
    REPLY(s, 229, "Entering Extended Passive Mode (|||%u|).", port);
}

static void cmd_port(struct session *s, const char *arg)
{
    (void)arg;
    /* Active mode lets a client aim the server at any host (the FTP
     * bounce attack); ferry serves passive mode only. */
    REPLY(s, 502, "Active mode is not supported; use PASV or EPSV.");
}

static void cmd_rest(struct session *s, const char *arg)
{
    unsigned long long off;
    if (cmdparse_offset(arg, &off) < 0) {
        REPLY(s, 501, "Bad restart offset.");
        return;
    }
    s->rest = off;
    REPLY(s, 350, "Restart position accepted (%llu).", off);
}

static void cmd_retr(struct session *s, const char *arg)
{
    char path[VFS_PATH_MAX];
    struct stat st;
    unsigned long long rest = s->rest;
    int fd;

    unsigned long long size;
    int bad, kind;

    s->rest = 0;
    if (resolve(s, arg, path, sizeof(path)) < 0)
        return;
    kind = syn_kind(s, path, &size, &bad);
    if (kind == SYN_FILE) {
        if (rest > size) {
            REPLY(s, 554, "Restart offset beyond the end of the file.");
            return;
        }
        if (xfer_prepare(s, X_RETR, path) < 0)
            return;
        s->x->synthetic = 1;
        s->x->off = (off_t)rest;
        s->x->end = (off_t)size;
        xfer_go(s);
        return;
    }
    if (kind != SYN_NONE || bad) {
        REPLY(s, 550, bad ? "No such file or directory." : "Permission denied.");
        return;
    }
    fd = vfs_open_file(s->vfs, path, &st);
    if (fd < 0) {
        reply_errno(s, -fd, 0);
        return;
    }
    if (rest > (unsigned long long)st.st_size) {
        close(fd);
        REPLY(s, 554, "Restart offset beyond the end of the file.");
        return;
    }
    if (xfer_prepare(s, X_RETR, path) < 0) {
        close(fd);
        return;
    }
    s->x->fd = fd;
    s->x->off = (off_t)rest;
    s->x->end = st.st_size;
    xfer_go(s);
}

/* Listings of the synthetic folders: a few example sizes (any size can be
 * asked for by name), the one file asked for, and an empty /discard/. */
static void list_synthetic(struct session *s, const char *path, int fmt, int kind,
                           unsigned long long size, int bad)
{
    static const char *const examples[] = { "4K", "64K", "1M", "16M", "1G", "10G" };
    char line[512];
    struct stat st;
    int n;

    if (bad || kind == SYN_DISCARD_FILE) {
        REPLY(s, 550, "No such file or directory.");
        return;
    }
    if (xfer_prepare(s, X_LIST, path) < 0)
        return;
    for (size_t i = 0; kind == SYN_DIR && i < sizeof(examples) / sizeof(examples[0]); i++) {
        unsigned long long sz;
        (void)synthetic_parse_size(examples[i], &sz);
        syn_stat(&st, 0, sz);
        n = fmt == LISTING_MLSD ? listing_format_mlsx(line, sizeof(line), examples[i], &st, "file", 0)
          : fmt == LISTING_NLST ? snprintf(line, sizeof(line), "%s\r\n", examples[i])
          : listing_format_ls(line, sizeof(line), examples[i], &st, s->w->now > 0 ? time(NULL) : 0);
        if (n > 0 && buf_append(&s->xbuf, line, (size_t)n) < 0)
            closing(s);
    }
    if (kind == SYN_FILE) {
        syn_stat(&st, 0, size);
        n = fmt == LISTING_MLSD ? -1
          : fmt == LISTING_NLST ? snprintf(line, sizeof(line), "%s\r\n", vfs_basename(path))
          : listing_format_ls(line, sizeof(line), vfs_basename(path), &st, time(NULL));
        if (fmt == LISTING_MLSD) {
            xfer_free(s);
            REPLY(s, 501, "Not a directory.");
            return;
        }
        if (n > 0 && buf_append(&s->xbuf, line, (size_t)n) < 0)
            closing(s);
    }
    xfer_go(s);
}

static void list_common(struct session *s, const char *arg, int fmt)
{
    char path[VFS_PATH_MAX];
    int all = 0, r;
    const char *p = arg ? arg : "";

    s->rest = 0;
    if (fmt != LISTING_MLSD)
        p = cmdparse_list_arg(p, &all);
    if (resolve(s, p, path, sizeof(path)) < 0)
        return;
    if (s->data.fd < 0 && s->pasv.fd < 0) {
        REPLY(s, 425, "Use PASV or EPSV first.");
        return;
    }
    unsigned long long size;
    int bad, kind = syn_kind(s, path, &size, &bad);
    if (kind != SYN_NONE || bad) {
        list_synthetic(s, path, fmt, kind, size, bad);
        return;
    }
    if (xfer_prepare(s, X_LIST, path) < 0)
        return;
    r = listing_open(&s->x->lst, s->vfs, path, fmt, all, write_ok(s));
    if (r < 0) {
        xfer_free(s);
        if (fmt == LISTING_MLSD && r == -ENOTDIR)
            REPLY(s, 501, "Not a directory.");
        else
            reply_errno(s, -r, 0);
        return;
    }
    s->x->has_listing = 1;
    s->x->list_more = 1;
    xfer_go(s);
}

static void cmd_list(struct session *s, const char *arg) { list_common(s, arg, LISTING_LS); }
static void cmd_nlst(struct session *s, const char *arg) { list_common(s, arg, LISTING_NLST); }
static void cmd_mlsd(struct session *s, const char *arg) { list_common(s, arg, LISTING_MLSD); }

/* stat a virtual path, synthetic folders included. */
static int stat_path(struct session *s, const char *path, struct stat *st)
{
    unsigned long long size = 0;
    int bad, kind = syn_kind(s, path, &size, &bad);
    if (bad || kind == SYN_DISCARD_FILE)
        return -ENOENT;
    if (kind != SYN_NONE) {
        syn_stat(st, kind != SYN_FILE, size);
        return 0;
    }
    return vfs_stat(s->vfs, path, st);
}

static void cmd_mlst(struct session *s, const char *arg)
{
    char path[VFS_PATH_MAX], line[VFS_PATH_MAX + 256];
    struct stat st;
    int r;

    if (resolve(s, arg, path, sizeof(path)) < 0)
        return;
    if ((r = stat_path(s, path, &st)) < 0) {
        reply_errno(s, -r, 0);
        return;
    }
    r = listing_format_mlsx(line, sizeof(line), path, &st,
                            S_ISDIR(st.st_mode) ? "dir" : "file", write_ok(s));
    if (r < 2) {
        REPLY(s, 550, "File name too long.");
        return;
    }
    line[r - 2] = '\0';   /* reply_inner adds its own CRLF */
    if (reply_first(&s->out, 250, "Listing %s", path) < 0 ||
        reply_inner(&s->out, "%s", line) < 0 ||
        reply_line(&s->out, 250, "End") < 0)
        closing(s);
}

static void cmd_size(struct session *s, const char *arg)
{
    char path[VFS_PATH_MAX];
    struct stat st;
    int r;
    if (resolve(s, arg, path, sizeof(path)) < 0)
        return;
    if ((r = stat_path(s, path, &st)) < 0) {
        reply_errno(s, -r, 0);
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        REPLY(s, 550, "Could not get file size.");
        return;
    }
    REPLY(s, 213, "%lld", (long long)st.st_size);
}

static void cmd_mdtm(struct session *s, const char *arg)
{
    char path[VFS_PATH_MAX];
    struct stat st;
    struct tm tm;
    int r;
    if (resolve(s, arg, path, sizeof(path)) < 0)
        return;
    if ((r = stat_path(s, path, &st)) < 0) {
        reply_errno(s, -r, 0);
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        REPLY(s, 550, "Could not get file modification time.");
        return;
    }
    gmtime_r(&st.st_mtime, &tm);
    REPLY(s, 213, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
          tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void store_common(struct session *s, const char *arg, int append)
{
    char path[VFS_PATH_MAX];
    unsigned long long rest = s->rest;
    enum vfs_upload_mode mode = VFS_UP_CREATE;
    int r;

    s->rest = 0;
    if (resolve(s, arg, path, sizeof(path)) < 0)
        return;
    if (s->data.fd < 0 && s->pasv.fd < 0) {
        REPLY(s, 425, "Use PASV or EPSV first.");
        return;
    }
    if (append)
        mode = VFS_UP_APPEND;
    else if (rest > 0)
        mode = VFS_UP_RESUME;
    unsigned long long size;
    int bad, kind = syn_kind(s, path, &size, &bad);
    if (kind == SYN_DISCARD_FILE) {
        if (xfer_prepare(s, X_STOR, path) < 0)
            return;
        s->x->discard = 1;
        xfer_go(s);
        return;
    }
    if (kind != SYN_NONE || bad) {
        REPLY(s, 550, "Permission denied.");
        return;
    }
    if (!write_ok(s)) {
        REPLY(s, 550, cfg_of(s)->write ? "Permission denied."
                                       : "Permission denied: the server is read-only.");
        return;
    }
    if (xfer_prepare(s, X_STOR, path) < 0)
        return;
    r = vfs_upload_begin(s->vfs, path, mode, rest, &s->x->up);
    if (r < 0) {
        xfer_free(s);
        reply_errno(s, -r, 1);
        return;
    }
    s->x->has_upload = 1;
    xfer_go(s);
}

static void cmd_stor(struct session *s, const char *arg) { store_common(s, arg, 0); }
static void cmd_appe(struct session *s, const char *arg) { store_common(s, arg, 1); }

static void cmd_dele(struct session *s, const char *arg)
{
    char path[VFS_PATH_MAX];
    if (resolve(s, arg, path, sizeof(path)) < 0 || syn_refuse(s, path))
        return;
    int r = vfs_unlink(s->vfs, path);
    if (r < 0) {
        reply_errno(s, -r, 1);
        return;
    }
    xferlog_entry(s, path, XFERLOG_DELETE, 0, 0, 1, 1);
    REPLY(s, 250, "Delete operation successful.");
}

static void cmd_mkd(struct session *s, const char *arg)
{
    char path[VFS_PATH_MAX], q[VFS_PATH_MAX * 2];
    if (resolve(s, arg, path, sizeof(path)) < 0 || syn_refuse(s, path))
        return;
    int r = vfs_mkdir(s->vfs, path, 0755);
    if (r < 0)
        reply_errno(s, -r, 1);
    else
        REPLY(s, 257, "\"%s\" created.", reply_quote_path(q, sizeof(q), path));
}

static void cmd_rmd(struct session *s, const char *arg)
{
    char path[VFS_PATH_MAX];
    if (resolve(s, arg, path, sizeof(path)) < 0 || syn_refuse(s, path))
        return;
    int r = vfs_rmdir(s->vfs, path);
    if (r < 0)
        reply_errno(s, -r, 1);
    else
        REPLY(s, 250, "Remove directory operation successful.");
}

static void cmd_rnfr(struct session *s, const char *arg)
{
    char path[VFS_PATH_MAX];
    struct stat st;
    free(s->rnfr);
    s->rnfr = NULL;
    if (resolve(s, arg, path, sizeof(path)) < 0 || syn_refuse(s, path))
        return;
    int r = vfs_stat(s->vfs, path, &st);
    if (r < 0) {
        reply_errno(s, -r, 0);
        return;
    }
    if (!(s->rnfr = strdup(path))) {
        REPLY(s, 451, "Local error: out of memory.");
        return;
    }
    REPLY(s, 350, "Ready for RNTO.");
}

static void cmd_rnto(struct session *s, const char *arg)
{
    char path[VFS_PATH_MAX];
    char *from = s->rnfr;
    s->rnfr = NULL;
    if (!from) {
        REPLY(s, 503, "RNFR required first.");
        return;
    }
    if (resolve(s, arg, path, sizeof(path)) == 0 && !syn_refuse(s, path)) {
        int r = vfs_rename(s->vfs, from, path);
        if (r < 0)
            reply_errno(s, -r, 1);
        else
            REPLY(s, 250, "Rename successful.");
    }
    free(from);
}

static void cmd_abor(struct session *s, const char *arg)
{
    (void)arg;
    if (s->x) {
        /* RFC 959: 426 for the aborted transfer, then 226 for ABOR. */
        xfer_end(s, 426, "Connection closed; transfer aborted.", "aborted");
        REPLY(s, 226, "ABOR successful.");
        return;
    }
    data_close_all(s);
    REPLY(s, 225, "No transfer to abort.");
}

static void cmd_stat(struct session *s, const char *arg)
{
    char addr[64];
    if (s->x) {
        REPLY(s, 213, "Status: %llu bytes transferred.", s->x->bytes);
        return;
    }
    if (arg && *arg) {
        /* STAT PATH: a listing over the control connection, bounded so a
         * huge folder cannot balloon the reply buffer. */
        char path[VFS_PATH_MAX];
        struct listing lst;
        struct buf b = BUF_INIT;
        int all = 0, r;
        const char *p = cmdparse_list_arg(arg, &all);
        if (s->login != LOGIN_OK) {
            REPLY(s, 530, "Please login with USER and PASS.");
            return;
        }
        if (resolve(s, p, path, sizeof(path)) < 0)
            return;
        r = listing_open(&lst, s->vfs, path, LISTING_LS, all, write_ok(s));
        if (r < 0) {
            reply_errno(s, -r, 0);
            return;
        }
        r = listing_fill(&lst, &b, 64 * 1024);
        listing_close(&lst);
        if (r < 0 || reply_first(&s->out, 213, "Status of %s:", path) < 0) {
            buf_free(&b);
            closing(s);
            return;
        }
        /* Listing lines end in CRLF already; each goes out as an inner
         * line (with the leading space that keeps it from looking like a
         * final reply line). */
        char *line = buf_rptr(&b), *end = line + buf_used(&b);
        while (line < end) {
            char *nl = memchr(line, '\n', (size_t)(end - line));
            size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
            if (len && line[len - 1] == '\r')
                len--;
            if (reply_inner(&s->out, "%.*s", (int)len, line) < 0)
                closing(s);
            line += (nl ? (size_t)(nl - line) + 1 : len);
        }
        buf_free(&b);
        REPLY(s, 213, "End of status.");
        return;
    }
    if (reply_first(&s->out, 211, "FTP server status:") < 0 ||
        reply_inner(&s->out, "Connected to %s", peer_str(s, addr, sizeof(addr))) < 0 ||
        reply_inner(&s->out, "Logged in as %s", s->login != LOGIN_OK ? "nobody"
                    : s->anonymous ? "anonymous" : s->user) < 0 ||
        reply_inner(&s->out, "TYPE: %s", s->type == 'A' ? "ASCII" : "BINARY") < 0 ||
        reply_inner(&s->out, "Session bytes: in %llu, out %llu", s->bytes_in, s->bytes_out) < 0 ||
        /* The version only to those who logged in: before that, a
         * scanner would learn which releases to try its exploits on. */
        (s->login == LOGIN_OK && reply_inner(&s->out, "ferry %s", FERRY_VERSION) < 0) ||
        reply_line(&s->out, 211, "End of status.") < 0)
        closing(s);
}

static void cmd_allo(struct session *s, const char *arg)
{
    (void)arg;
    REPLY(s, 202, "ALLO command ignored.");
}

static void cmd_not_impl(struct session *s, const char *arg)
{
    (void)arg;
    REPLY(s, 502, "Command not implemented.");
}

/* The command table: name, handler, flags.  Dispatch is a linear scan of
 * ~40 short strings, cheaper than the reply it leads to. */
static const struct cmd commands[] = {
    { "USER", cmd_user, C_ARG, NULL },
    { "PASS", cmd_pass, 0, NULL },
    { "QUIT", cmd_quit, C_XFER, NULL },
    { "NOOP", cmd_noop, 0, NULL },
    { "SYST", cmd_syst, 0, NULL },
    { "FEAT", cmd_feat, 0, NULL },
    { "OPTS", cmd_opts, C_ARG, NULL },
    { "HELP", cmd_help, 0, NULL },
    { "STAT", cmd_stat, C_XFER, NULL },
    { "TYPE", cmd_type, C_LOGIN | C_ARG, NULL },
    { "MODE", cmd_mode, C_LOGIN | C_ARG, NULL },
    { "STRU", cmd_stru, C_LOGIN | C_ARG, NULL },
    { "PWD",  cmd_pwd,  C_LOGIN, NULL },
    { "XPWD", cmd_pwd,  C_LOGIN, NULL },
    { "CWD",  cmd_cwd,  C_LOGIN | C_ARG, NULL },
    { "XCWD", cmd_cwd,  C_LOGIN | C_ARG, NULL },
    { "CDUP", cmd_cdup, C_LOGIN, NULL },
    { "XCUP", cmd_cdup, C_LOGIN, NULL },
    { "PASV", cmd_pasv, C_LOGIN, NULL },
    { "EPSV", cmd_epsv, C_LOGIN, NULL },
    { "PORT", cmd_port, C_LOGIN, NULL },
    { "EPRT", cmd_port, C_LOGIN, NULL },
    { "LIST", cmd_list, C_LOGIN, NULL },
    { "NLST", cmd_nlst, C_LOGIN, NULL },
    { "MLSD", cmd_mlsd, C_LOGIN, NULL },
    { "MLST", cmd_mlst, C_LOGIN, NULL },
    { "SIZE", cmd_size, C_LOGIN | C_ARG, NULL },
    { "MDTM", cmd_mdtm, C_LOGIN | C_ARG, NULL },
    { "REST", cmd_rest, C_LOGIN | C_ARG, NULL },
    { "RETR", cmd_retr, C_LOGIN | C_ARG, NULL },
    { "ABOR", cmd_abor, C_XFER, NULL },
    { "ALLO", cmd_allo, C_LOGIN, NULL },
    /* STOR/APPE check --write themselves: /discard/ takes uploads on a
     * read-only server. */
    { "STOR", cmd_stor, C_LOGIN | C_ARG, NULL },
    { "APPE", cmd_appe, C_LOGIN | C_ARG, NULL },
    { "DELE", cmd_dele, C_LOGIN | C_WRITE | C_ARG, NULL },
    { "MKD",  cmd_mkd,  C_LOGIN | C_WRITE | C_ARG, NULL },
    { "XMKD", cmd_mkd,  C_LOGIN | C_WRITE | C_ARG, NULL },
    { "RMD",  cmd_rmd,  C_LOGIN | C_WRITE | C_ARG, NULL },
    { "XRMD", cmd_rmd,  C_LOGIN | C_WRITE | C_ARG, NULL },
    { "RNFR", cmd_rnfr, C_LOGIN | C_WRITE | C_ARG, NULL },
    { "RNTO", cmd_rnto, C_LOGIN | C_WRITE | C_ARG, NULL },
    { "SITE", cmd_not_impl, C_LOGIN, NULL },
    { "ACCT", cmd_not_impl, 0, NULL },
    { "SMNT", cmd_not_impl, C_LOGIN, NULL },
    { "REIN", cmd_not_impl, 0, NULL },
    { NULL, NULL, 0, NULL },
};

static const struct cmd *cmd_find(const char *verb)
{
    for (const struct cmd *c = commands; c->verb; c++)
        if (strcmp(c->verb, verb) == 0)
            return c;
    return NULL;
}

static void execute_cmd(struct session *s, const struct cmd *c, const char *verb,
                        const char *arg);

/* Run one command, timed from its arrival to its reply for the
 * metrics' latency histogram. */
static void execute(struct session *s, const struct cmd *c, const char *verb, const char *arg)
{
    double t0 = worker_clock();
    execute_cmd(s, c, verb, arg);
    double dt = worker_clock() - t0;
    metrics_command(dt > 0 ? (uint64_t)(dt * 1e9) : 0);
}

static void execute_cmd(struct session *s, const struct cmd *c, const char *verb,
                        const char *arg)
{
    char qv[64], qa[256];

    log_debug("event=command session=%u verb=%s arg=%s", s->id,
              log_quote(qv, sizeof(qv), verb, strlen(verb)),
              strcmp(verb, "PASS") == 0 ? "***"
              : log_quote(qa, sizeof(qa), arg ? arg : "", arg ? strlen(arg) : 0));
    if (!c) {
        REPLY(s, 500, "Unknown command.");
        return;
    }
    if ((c->flags & C_LOGIN) && s->login != LOGIN_OK) {
        REPLY(s, 530, "Please login with USER and PASS.");
        return;
    }
    if ((c->flags & C_WRITE) && !write_ok(s)) {
        REPLY(s, 550, cfg_of(s)->write ? "Permission denied."
                                       : "Permission denied: the server is read-only.");
        return;
    }
    if ((c->flags & C_ARG) && (!arg || !*arg)) {
        REPLY(s, 501, "%s needs an argument.", c->verb);
        return;
    }
    /* A rename pair must be adjacent. */
    if (s->rnfr && c->fn != cmd_rnto) {
        free(s->rnfr);
        s->rnfr = NULL;
    }
    c->fn(s, arg ? arg : "");
}

/* Run the command held back during the transfer that just ended. */
static void run_pending(struct session *s)
{
    struct pending *p = s->pend;
    if (!p || s->x || s->closing)
        return;
    s->pend = NULL;
    execute(s, cmd_find(p->verb), p->verb, p->arg);
    free(p->arg);
    free(p);
}

/* Parse and run buffered commands.  Returns 1 if anything was consumed. */
static int process_input(struct session *s)
{
    int progress = 0;

    while (!s->closing && !s->ctrl_dead && buf_used(&s->in) > 0) {
        struct cmdline cl;
        size_t consumed = 0;
        int r;

        if (s->pend || s->waiting || buf_used(&s->out) >= OUT_HIGH)
            break;
        if (s->discarding) {
            int done = 0;
            size_t n = cmdparse_skip_line(buf_rptr(&s->in), buf_used(&s->in), &done);
            buf_consume(&s->in, n);
            progress = 1;
            if (done)
                s->discarding = 0;
            continue;
        }
        r = cmdparse_line(buf_rptr(&s->in), buf_used(&s->in), &cl, &consumed);
        if (r == CMDP_NEED)
            break;
        progress = 1;
        if (r == CMDP_TOOLONG) {
            buf_consume(&s->in, consumed);
            s->discarding = 1;
            REPLY(s, 500, "Command line too long.");
            continue;
        }
        if (r == CMDP_BAD) {
            buf_consume(&s->in, consumed);
            REPLY(s, 500, "Syntax error, command unrecognized.");
            continue;
        }
        const struct cmd *c = cmd_find(cl.verb);
        if (s->x && !(c && (c->flags & C_XFER))) {
            /* Hold it until the transfer ends. */
            struct pending *p = calloc(1, sizeof(*p));
            if (!p || (cl.arg && !(p->arg = strdup(cl.arg)))) {
                free(p);
                closing(s);
                break;
            }
            memcpy(p->verb, cl.verb, sizeof(p->verb));
            s->pend = p;
            buf_consume(&s->in, consumed);
            break;
        }
        /* cl.arg points into s->in: consume only after the handler. */
        execute(s, c, cl.verb, cl.arg);
        buf_consume(&s->in, consumed);
        timer_update(s);
    }
    buf_trim(&s->in);
    return progress;
}

/* ---- the loop of one session ---------------------------------------- */

/* Keep the level-triggered drivers' interest in step with the state. */
static void sync_interest(struct session *s)
{
    struct worker *w = s->w;
    int want_cmds = !s->closing && !s->pend && !s->waiting && buf_used(&s->out) < OUT_HIGH;
    /* Read interest exactly when session_run() would read: wanting input
     * that is then left unread makes a level-triggered driver spin. */
    worker_conn_interest(w, &s->ctrl, want_cmds, buf_used(&s->out) > 0);
    if (s->pasv.fd >= 0)
        worker_conn_interest(w, &s->pasv, 1, 0);
    if (s->data.fd >= 0) {
        int run = s->x && s->x->state == XS_RUN && !s->throttled;
        worker_conn_interest(w, &s->data, run && s->x->kind == X_STOR,
                             run && s->x->kind != X_STOR);
    }
}

static void session_run(struct session *s)
{
    int reads = WORKER_READ_BUDGET, more_data = 0;

    for (;;) {
        int progress = 0;
        if (s->ctrl_dead)
            break;
        ctrl_flush(s);
        if (s->pasv.fd >= 0 && s->pasv.readable)
            pasv_accept(s);
        if (!more_data && s->x && s->x->state == XS_RUN) {
            unsigned long long before = s->x->bytes;
            more_data = xfer_step(s);
            progress |= !s->x || s->x->bytes != before;
        }
        if (!s->x && s->pend) {
            run_pending(s);
            progress = 1;
        }
        progress |= process_input(s);
        if (s->closing)
            break;
        /* Read more commands only when the ones buffered are done (or
         * held), the replies are flowing, and the budget allows. */
        if (s->ctrl.readable && !s->pend && !s->waiting && buf_used(&s->out) < OUT_HIGH) {
            if (reads == 0) {
                worker_defer(s->w, &s->ctrl);
                break;
            }
            reads--;
            progress |= ctrl_read(s);
        }
        if (!progress)
            break;
    }
    ctrl_flush(s);
    if (more_data && s->data.fd >= 0)
        worker_defer(s->w, &s->data);
    if (!s->ctrl_dead)
        sync_interest(s);
}

/* ---- life cycle ------------------------------------------------------ */

static void session_destroy(struct session *s)
{
    struct worker *w = s->w;
    char addr[64];

    if (s->x) {
        xfer_log(s, "aborted");
        if (s->data.fd >= 0)
            (void)io_reset_on_close(s->data.fd);  /* see xfer_end */
    }
    xfer_free(s);
    data_close_all(s);
    conn_close(s, &s->ctrl);
    tmo_clear(&s->tmo);
    worker_tick_disarm(&s->tick);
    /* A password check still out: its answer finds no session. */
    if (s->auth)
        s->auth->sess = NULL;
    if (s->home.rootfd >= 0)
        vfs_close(&s->home);
    metrics_session_closed();
    worker_session_unlink(w, s);
    server_release(w->srv, &s->peer);
    log_info("event=disconnect session=%u worker=%d peer=%s bytes_in=%llu bytes_out=%llu",
             s->id, w->id, peer_str(s, addr, sizeof(addr)), s->bytes_in, s->bytes_out);
    buf_free(&s->in);
    buf_free(&s->out);
    buf_free(&s->xbuf);
    if (s->pend) {
        free(s->pend->arg);
        free(s->pend);
    }
    free(s->cwd);
    free(s->rnfr);
    free(s->user);
    free(s->anon_id);
    free(s);
}

/* End of every entry point: close the session if it is done.  A closing
 * session whose last replies are still queued waits for send space (the
 * idle timeout bounds the wait). */
static void settle(struct session *s)
{
    if (s->ctrl_dead || (s->closing && buf_used(&s->out) == 0)) {
        session_destroy(s);
        return;
    }
    if (s->closing) {
        /* Only the last replies matter now. */
        xfer_free(s);
        data_close_all(s);
        worker_conn_interest(s->w, &s->ctrl, 0, 1);
        tmo_set(&s->w->tmo, &s->tmo, TMO_IDLE, s->w->now);
    }
}

struct session *session_new(struct worker *w, int fd,
                            const struct sockaddr_storage *peer, socklen_t peerlen)
{
    struct session *s = calloc(1, sizeof(*s));
    char addr[64];
    socklen_t llen = sizeof(s->local);

    if (!s) {
        close(fd);
        return NULL;
    }
    s->w = w;
    s->id = atomic_fetch_add(&w->srv->next_session_id, 1);
    s->type = 'A';   /* RFC 959's default; clients switch to I */
    s->vfs = &w->srv->vfs;
    s->home.rootfd = -1;
    s->tick.fn = session_tick;
    memcpy(&s->peer, peer, peerlen < sizeof(s->peer) ? peerlen : sizeof(s->peer));
    if (getsockname(fd, (struct sockaddr *)&s->local, &llen) < 0) {
        close(fd);
        free(s);
        return NULL;
    }
    conn_setup(&s->ctrl, s, CONN_CTRL);
    conn_setup(&s->pasv, s, CONN_PASV);
    conn_setup(&s->data, s, CONN_DATA);
    tmo_node_init(&s->tmo);
    (void)io_tune_control(fd);
    s->ctrl.fd = fd;
    int r = worker_conn_add(w, &s->ctrl);
    if (r < 0) {
        /* The driver cannot watch this descriptor (select(): fd at or
         * above FD_SETSIZE; epoll: out of watches or memory).  The
         * client hears why, the server goes on. */
        static const char msg[] = "421 Server out of resources, try again later.\r\n";
        log_warn("event=refused worker=%d peer=%s fd=%d reason=%s error=\"%s\"", w->id,
                 peer_str(s, addr, sizeof(addr)), fd,
                 r == -EMFILE || r == -ENFILE || r == -ENOSPC ? "fd-limit" : "register-failed",
                 strerror(-r));
        (void)io_send(fd, msg, sizeof(msg) - 1);
        close(fd);
        free(s);
        return NULL;
    }
    worker_session_link(w, s);
    atomic_fetch_add(&w->srv->nsessions_total, 1);
    metrics_session_opened();
    log_info("event=connect session=%u worker=%d peer=%s", s->id, w->id,
             peer_str(s, addr, sizeof(addr)));
    s->ctrl.writable = 1;
    tmo_set(&w->tmo, &s->tmo, TMO_LOGIN, w->now);
    REPLY(s, 220, "ferry FTP server ready.");
    session_run(s);
    settle(s);
    return s;
}

void session_event(struct session *s, struct conn *c)
{
    (void)c;
    session_run(s);
    settle(s);
}

void session_timeout(struct session *s)
{
    char addr[64];
    int kind = s->tmo.kind;

    switch (kind) {
    case TMO_DATA:
        if (s->x && s->x->state == XS_WAIT) {
            xfer_fail(s, 425, "Failed to establish data connection: timed out.");
            break;
        }
        timer_update(s);
        break;
    case TMO_STALL:
        if (s->x) {
            xfer_fail(s, 426, "Transfer timed out.");
            break;
        }
        timer_update(s);
        break;
    default:
        log_info("event=timeout session=%u peer=%s kind=%s", s->id,
                 peer_str(s, addr, sizeof(addr)), kind == TMO_LOGIN ? "login" : "idle");
        if (s->closing) {
            /* Replies never drained: the client stopped reading. */
            s->ctrl_dead = 1;
            break;
        }
        REPLY(s, 421, kind == TMO_LOGIN ? "Login timeout, closing control connection."
                                        : "Timeout, closing control connection.");
        closing(s);
        break;
    }
    session_run(s);
    settle(s);
}

void session_drain(struct session *s, int force)
{
    if (force) {
        s->ctrl_dead = 1;
    } else if (s->x) {
        s->drain_after = 1;
        return;
    } else {
        REPLY(s, 421, "Server shutting down.");
        closing(s);
        ctrl_flush(s);
    }
    settle(s);
}
