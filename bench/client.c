/* client: one simulated FTP session, a non-blocking state machine.
 *
 * Control connection:  connect, 220 banner, USER, PASS, TYPE I, then the
 * requests the worker hands it.  Replies are framed and parsed by the
 * shared ftpproto parser.  A data transfer is EPSV/PASV, a data connection
 * to the control connection's peer, then RETR/STOR/LIST/MLSD; it ends when
 * both the final reply and (for downloads) the data connection's end have
 * arrived, in whichever order.
 *
 * Errors: a request whose command got a clean final error reply (550 for a
 * missing file, say) fails alone and the session goes on; anything that
 * leaves the control connection in doubt (a reset, a timeout, a failure
 * mid-transfer with a reply still owed) closes the session, and it
 * reconnects after RECONNECT_DELAY.
 *
 * Re-entrancy: an outcome (success or failure) can close this session, open
 * a new one, or stop the whole worker, all from inside a callback.  Every
 * such call is therefore the last thing its caller does, and the reply loop
 * compares `gen` after each reply to notice that its connection is gone.
 */
#include "bench.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netutil.h"
#include "ferry/pattern.h"

static void ctrl_cb(struct ev_loop *loop, ev_io *io, int revents);
static void data_cb(struct ev_loop *loop, ev_io *io, int revents);
static void tmo_cb(struct ev_loop *loop, ev_timer *t, int revents);
static void client_fail(struct client *c, enum err_kind kind, int conn_level);

static const struct bench_opts *opts(const struct client *c)
{
    return c->w->sh->o;
}

void client_init(struct client *c, struct worker *w, unsigned id)
{
    memset(c, 0, sizeof *c);
    c->w = w;
    c->id = id;
    c->fd = c->dfd = -1;
    c->st = C_OFF;
    c->rng = id * 2654435761u + 0x9e3779b9u;
    if (c->rng == 0)
        c->rng = 1;
    size_t nfiles = opts(c)->files.n;
    c->next_file = nfiles ? id % nfiles : 0;
    ev_init(&c->cio, ctrl_cb);
    ev_init(&c->dio, data_cb);
    ev_init(&c->tmo, tmo_cb);
    c->cio.data = c->dio.data = c->tmo.data = c;
}

void client_free(struct client *c)
{
    free(c->lbuf);
    c->lbuf = NULL;
}

/* ---- timers ---- */

/* Libev's "be smart about timeouts": the timer is not moved on every
 * byte; activity only stamps last_act, and the timer, when it fires, sleeps
 * again for whatever is left. */
static void timer_arm(struct client *c, double secs)
{
    struct ev_loop *loop = c->w->loop;
    c->tmo_len = secs;
    c->last_act = ev_now(loop);
    c->backoff = 0;
    ev_timer_stop(loop, &c->tmo);
    ev_timer_set(&c->tmo, secs, 0.);
    ev_timer_start(loop, &c->tmo);
}

static void timer_stop(struct client *c)
{
    ev_timer_stop(c->w->loop, &c->tmo);
    c->backoff = 0;
}

/* ---- closing ---- */

static void close_data(struct client *c)
{
    if (c->dfd < 0)
        return;
    ev_io_stop(c->w->loop, &c->dio);
    close(c->dfd);
    c->dfd = -1;
}

static void close_conn(struct client *c)
{
    struct worker *w = c->w;
    /* The control connection first: a server that sees the data
     * connection end while the session lives must take an upload as
     * complete (stream mode has no other end marker), so closing the
     * data side first would store a request cut off here as a short
     * file. */
    if (c->fd >= 0) {
        ev_io_stop(w->loop, &c->cio);
        close(c->fd);
        c->fd = -1;
    }
    close_data(c);
    if (c->logged) {
        c->logged = 0;
        LIVE_SUB(w->live.conns, 1);
    }
    c->gen++;
    c->rlen = c->wlen = c->woff = 0;
    c->cio_write = 0;
    ftp_reply_init(&c->rp);
}

void client_close(struct client *c)
{
    worker_unlist(c);
    timer_stop(c);
    close_conn(c);
    c->in_req = 0;
}

void client_finish(struct client *c)
{
    client_close(c);
    if (c->st != C_DONE) {
        c->st = C_DONE;
        c->w->ndone++;
    }
}

/* ---- control output ---- */

static void want_write(struct client *c, int on)
{
    if (c->cio_write == on)
        return;
    struct ev_loop *loop = c->w->loop;
    ev_io_stop(loop, &c->cio);
    ev_io_set(&c->cio, c->fd, EV_READ | (on ? EV_WRITE : 0));
    ev_io_start(loop, &c->cio);
    c->cio_write = on;
}

/* 0, or -1 when the session failed (the caller returns at once). */
static int flush_out(struct client *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                want_write(c, 1);
                return 0;
            }
            client_fail(c, ERR_RESET, 1);
            return -1;
        }
        c->woff += (size_t)n;
    }
    c->woff = c->wlen = 0;
    want_write(c, 0);
    return 0;
}

static int send_cmd(struct client *c, const char *verb, const char *arg)
{
    int n = ftp_format_cmd(c->wbuf + c->wlen, sizeof c->wbuf - c->wlen, verb, arg);
    if (n < 0) {
        /* names are checked for length and CR/LF at start-up, so this is
         * a command that cannot be sent: fail the request, not the run */
        client_fail(c, ERR_BAD_REPLY, 1);
        return -1;
    }
    c->wlen += (size_t)n;
    return flush_out(c);
}

/* ---- connecting ---- */

static enum err_kind connect_kind(int e)
{
    if (e == ECONNREFUSED)
        return ERR_CONNECT_REFUSED;
    if (e == ETIMEDOUT)
        return ERR_CONNECT_TIMEOUT;
    return ERR_CONNECT_OTHER;
}

void client_connect(struct client *c)
{
    struct worker *w = c->w;
    struct shared *sh = w->sh;
    struct sockaddr_storage src;
    socklen_t srclen = 0;
    int spread = sh->loopback4 && worker_spread(w);

    close_conn(c);
    c->st = C_CONNECT;
    if (!c->in_req)
        c->t_req = now_ns();  /* login latency, for idle */
    if (spread)
        net_spread_addr(w->spread_next++, &src, &srclen);

    int inprogress;
    int fd = net_connect((const struct sockaddr *)&sh->addr, sh->addrlen,
                         spread ? (const struct sockaddr *)&src : NULL, srclen,
                         1, &inprogress);
    w->st.connects++;
    if (fd < 0) {
        if (fd == -EADDRNOTAVAIL && sh->loopback4 && !spread) {
            /* the ephemeral ports towards this address are used up: from
             * now on every new connection takes its own source address */
            worker_set_spread(w);
            client_connect(c);
            return;
        }
        client_fail(c, connect_kind(-fd), 1);
        return;
    }
    c->fd = fd;
    c->bound = spread;
    ev_io_set(&c->cio, fd, EV_WRITE);
    ev_io_start(w->loop, &c->cio);
    c->cio_write = 1;
    timer_arm(c, opts(c)->connect_timeout);
}

static void ctrl_connected(struct client *c)
{
    int r = net_connect_result(c->fd);
    if (r < 0) {
        if (r == -EADDRNOTAVAIL && c->w->sh->loopback4 && !c->bound)
            worker_set_spread(c->w);
        client_fail(c, connect_kind(-r), 1);
        return;
    }
    c->locallen = sizeof c->local;
    if (getsockname(c->fd, (struct sockaddr *)&c->local, &c->locallen) < 0)
        c->locallen = 0;
    want_write(c, 0);
    c->st = C_BANNER;
    timer_arm(c, opts(c)->timeout);
}

/* ---- requests ---- */

static enum op draw_op(struct client *c)
{
    const struct bench_opts *o = opts(c);
    switch (o->workload) {
    case WL_NOOP:  return OP_NOOP;
    case WL_GET:   return OP_GET;
    case WL_PUT:   return OP_PUT;
    case WL_LIST:  return OP_LIST;
    case WL_CHURN: return OP_CHURN;
    case WL_IDLE:  return OP_LOGIN;
    case WL_MIXED: break;
    }
    uint32_t x = c->rng;      /* xorshift32 */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c->rng = x;
    unsigned total = o->mix[MIX_GET] + o->mix[MIX_LIST] + o->mix[MIX_PUT];
    unsigned r = x % total;
    if (r < o->mix[MIX_GET])
        return OP_GET;
    if (r < o->mix[MIX_GET] + o->mix[MIX_LIST])
        return OP_LIST;
    return OP_PUT;
}

static void send_pasv(struct client *c)
{
    c->st = C_PASV;
    send_cmd(c, opts(c)->epsv ? "EPSV" : "PASV", NULL);
}

static void start_get(struct client *c)
{
    const struct bench_opts *o = opts(c);
    c->file = c->next_file;
    c->next_file = (c->next_file + 1) % o->files.n;
    if (o->size_set) {
        c->expect = o->size;
    } else if (c->w->sizes[c->file] >= 0) {
        c->expect = (uint64_t)c->w->sizes[c->file];
    } else {
        c->st = C_SIZE;
        send_cmd(c, "SIZE", o->files.names[c->file]);
        return;
    }
    send_pasv(c);
}

/* The logged-in part of a request. */
static void start_op(struct client *c)
{
    timer_arm(c, opts(c)->timeout);
    switch (c->op) {
    case OP_NOOP:
        c->st = C_NOOP;
        send_cmd(c, "NOOP", NULL);
        return;
    case OP_GET:
    case OP_CHURN:
        start_get(c);
        return;
    case OP_PUT:
    case OP_LIST:
        send_pasv(c);
        return;
    case OP_LOGIN:
    case OP_COUNT:
        break;
    }
}

void client_begin(struct client *c, uint64_t t_start)
{
    c->in_req = 1;
    c->w->inflight++;
    c->t_req = t_start;
    c->op = draw_op(c);
    c->moved = 0;
    if (c->op == OP_CHURN) {
        client_connect(c);  /* the whole session is the request */
        return;
    }
    start_op(c);
}

static void request_ok(struct client *c)
{
    struct worker *w = c->w;
    worker_ok(c, now_ns());
    c->in_req = 0;
    w->inflight--;
    close_data(c);
    if (c->op == OP_CHURN) {
        timer_stop(c);
        close_conn(c);
        c->st = C_OFF;
    } else {
        timer_stop(c);
        c->st = C_READY;
    }
    worker_client_ready(c);
}

static void after_backoff(struct client *c)
{
    if (opts(c)->workload == WL_CHURN) {
        worker_client_ready(c);
    } else if (worker_may_continue(c->w)) {
        client_connect(c);
    } else {
        client_finish(c);
        worker_check_end(c->w);
    }
}

/* Count an error and move the session on (see the top of the file). */
static void client_fail(struct client *c, enum err_kind kind, int conn_level)
{
    struct worker *w = c->w;
    const struct bench_opts *o = opts(c);
    int was_req = c->in_req;
    enum cstate st = c->st;

    if (!was_req)
        conn_level = 1;  /* outside a request only the session can fail */
    worker_unlist(c);
    worker_error(w, kind);
    if (st == C_PROBE)
        w->probing--;
    if (st == C_HOLD) {
        w->st.idle_dropped++;
        w->holding--;
    }
    if (c->in_req) {
        c->in_req = 0;
        w->inflight--;
    } else if (o->requests && o->workload != WL_IDLE) {
        /* a failure outside a request still costs one, so that a server
         * that refuses everything cannot keep a --requests run going */
        (void)worker_take(w);
    }
    close_data(c);
    timer_stop(c);

    if (o->workload == WL_IDLE) {
        client_finish(c);  /* idle counts sessions: no second chance */
        if (st != C_HOLD && st != C_PROBE) {
            worker_idle_settled(w);  /* a login that failed */
            return;
        }
    } else if (conn_level || c->op == OP_CHURN) {
        close_conn(c);
        c->st = C_OFF;
        if (!worker_may_continue(w)) {
            client_finish(c);
        } else if (conn_level) {
            /* wait before the next attempt: a refusing server would
             * otherwise be hammered in a tight loop */
            c->backoff = 1;
            ev_timer_set(&c->tmo, RECONNECT_DELAY, 0.);
            ev_timer_start(w->loop, &c->tmo);
        } else {
            worker_client_ready(c);  /* churn: the next cycle */
            return;
        }
    } else {
        c->st = C_READY;
        worker_client_ready(c);
        return;
    }
    worker_check_end(w);
}

/* ---- transfers ---- */

static int use_pattern_check(const struct client *c)
{
    return opts(c)->verify && (c->op == OP_GET || c->op == OP_CHURN);
}

static int counts_entries(const struct client *c)
{
    return c->op == OP_LIST && opts(c)->expect_entries >= 0;
}

static void count_line(struct client *c, const char *line, size_t len)
{
    struct ftp_entry e;
    int r = opts(c)->mlsd ? ftp_parse_mlsx(line, len, &e) : ftp_parse_list(line, len, &e);
    if (r == 0 && e.type != FTP_ENT_CDIR && e.type != FTP_ENT_PDIR)
        c->entries++;
}

/* Split listing bytes into lines; a line longer than LINE_BUF is counted
 * from its first LINE_BUF bytes. */
static void count_entries(struct client *c, const char *p, size_t n)
{
    if (!c->lbuf) {
        c->lbuf = malloc(LINE_BUF);
        if (!c->lbuf) {
            c->data_bad = 1;
            return;
        }
    }
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        size_t room = LINE_BUF - c->llen;
        memcpy(c->lbuf + c->llen, p, take < room ? take : room);
        c->llen += take < room ? take : room;
        if (!nl)
            return;
        count_line(c, c->lbuf, c->llen);
        c->llen = 0;
        p = nl + 1;
        n -= take + 1;
    }
}

static void maybe_complete(struct client *c)
{
    const struct bench_opts *o = opts(c);
    if (!c->got_final)
        return;
    if (c->op == OP_PUT) {
        if (!c->data_eof || c->moved != o->size) {
            client_fail(c, ERR_SHORT_TRANSFER, 0);  /* the server ended early */
            return;
        }
    } else {
        if (!c->data_eof)
            return;  /* 226 came first; the last bytes are still on their way */
        if (c->op == OP_LIST) {
            if (c->llen)
                count_line(c, c->lbuf, c->llen);
            c->llen = 0;
            if (counts_entries(c) && (c->data_bad || c->entries != (uint64_t)o->expect_entries)) {
                client_fail(c, ERR_VERIFY, 0);
                return;
            }
        } else if (c->moved != c->expect) {
            client_fail(c, ERR_SHORT_TRANSFER, 0);
            return;
        } else if (c->data_bad) {
            client_fail(c, ERR_VERIFY, 0);
            return;
        }
    }
    if (c->op == OP_CHURN) {
        c->st = C_QUIT;
        send_cmd(c, "QUIT", NULL);
        return;
    }
    request_ok(c);
}

static void data_read(struct client *c)
{
    struct worker *w = c->w;
    int check = use_pattern_check(c);
    int lines = counts_entries(c);
    /* nobody looks at the bytes: let the kernel drop them uncopied */
    int flags = (check || lines) ? 0 : MSG_TRUNC;

    for (int turn = 0; turn < DATA_TURNS; turn++) {
        ssize_t n = recv(c->dfd, w->rx, RXBUF_SIZE, flags);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            client_fail(c, ERR_RESET, 1);
            return;
        }
        if (n == 0) {
            close_data(c);
            c->data_eof = 1;
            maybe_complete(c);
            return;
        }
        if (check && !c->data_bad &&
            memcmp(w->rx, w->sh->pattern + c->moved % FERRY_PATTERN_PERIOD, (size_t)n) != 0)
            c->data_bad = 1;
        if (lines)
            count_entries(c, (const char *)w->rx, (size_t)n);
        c->moved += (uint64_t)n;
        LIVE_ADD(w->live.bytes, (uint64_t)n);
    }
}

static void data_write(struct client *c)
{
    struct worker *w = c->w;
    uint64_t size = opts(c)->size;

    for (int turn = 0; turn < DATA_TURNS && c->moved < size; turn++) {
        uint64_t left = size - c->moved;
        size_t n = left < RXBUF_SIZE ? (size_t)left : RXBUF_SIZE;
        ssize_t r = send(c->dfd, w->sh->pattern + c->moved % FERRY_PATTERN_PERIOD,
                         n, MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            client_fail(c, ERR_RESET, 1);
            return;
        }
        c->moved += (uint64_t)r;
        LIVE_ADD(w->live.bytes, (uint64_t)r);
    }
    if (c->moved < size)
        return;  /* more next time the socket is writable */
    /* the data connection's end is the end of the upload */
    close_data(c);
    c->data_eof = 1;
    maybe_complete(c);
}

static void data_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct client *c = io->data;
    (void)revents;
    c->last_act = ev_now(loop);
    if (!c->data_up) {
        int r = net_connect_result(c->dfd);
        if (r < 0) {
            client_fail(c, connect_kind(-r), 1);
            return;
        }
        c->data_up = 1;
        ev_io_stop(loop, &c->dio);
        if (c->op != OP_PUT) {
            ev_io_set(&c->dio, c->dfd, EV_READ);
            ev_io_start(loop, &c->dio);
        } else if (c->got_prelim) {
            ev_io_set(&c->dio, c->dfd, EV_WRITE);
            ev_io_start(loop, &c->dio);
        }
        /* else: the upload starts when the 150 arrives */
        return;
    }
    if (c->op == OP_PUT)
        data_write(c);
    else
        data_read(c);
}

static void open_data(struct client *c, unsigned port, const unsigned char ip4[4])
{
    struct worker *w = c->w;
    const struct bench_opts *o = opts(c);
    struct sockaddr_storage dst = w->sh->addr;
    struct sockaddr_storage src;
    socklen_t srclen = 0;
    char name[NAME_MAX_LEN + 128];
    const char *verb, *arg;

    net_set_port(&dst, port);
    if (ip4 && o->pasv_use_address && dst.ss_family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&dst;
        memcpy(&sin->sin_addr.s_addr, ip4, 4);
    }
    /* From the control connection's own address: servers check that the
     * data connection comes from the same client (vsftpd's
     * pasv_promiscuous=NO), and a spread source must stay spread. */
    if ((c->bound || worker_spread(w)) && c->locallen) {
        src = c->local;
        srclen = c->locallen;
        net_set_port(&src, 0);
    }
    int inprogress;
    int fd = net_connect((const struct sockaddr *)&dst, w->sh->addrlen,
                         srclen ? (const struct sockaddr *)&src : NULL, srclen,
                         0, &inprogress);
    if (fd < 0) {
        if (fd == -EADDRNOTAVAIL && w->sh->loopback4)
            worker_set_spread(w);
        client_fail(c, connect_kind(-fd), 1);
        return;
    }
    c->dfd = fd;
    c->data_up = 0;
    c->got_prelim = c->got_final = c->data_eof = c->data_bad = 0;
    c->moved = 0;
    c->entries = 0;
    c->llen = 0;
    ev_io_set(&c->dio, fd, EV_WRITE);
    ev_io_start(w->loop, &c->dio);

    switch (c->op) {
    case OP_PUT:
        verb = "STOR";
        snprintf(name, sizeof name, "%s%s%s-%ld-%u-%llu", o->put_dir,
                 (*o->put_dir && o->put_dir[strlen(o->put_dir) - 1] != '/') ? "/" : "",
                 o->put_prefix, (long)getpid(), c->id, (unsigned long long)c->seq++);
        arg = name;
        break;
    case OP_LIST:
        verb = o->mlsd ? "MLSD" : "LIST";
        arg = *o->path ? o->path : NULL;
        break;
    default:
        verb = "RETR";
        arg = o->files.names[c->file];
        break;
    }
    c->st = C_XFER;
    send_cmd(c, verb, arg);
}

/* ---- replies ---- */

static void logged_in(struct client *c)
{
    struct worker *w = c->w;
    c->logged = 1;
    w->st.logins++;
    LIVE_ADD(w->live.conns, 1);
    if (c->in_req && c->op == OP_CHURN) {
        start_op(c);
        return;
    }
    timer_stop(c);
    if (opts(c)->workload == WL_IDLE) {
        c->op = OP_LOGIN;
        w->st.idle_accepted++;
        worker_ok(c, now_ns());
        if (w->phase != PH_RUN) {
            /* logged in after the hold ended: too late to count as kept */
            client_finish(c);
            worker_check_end(w);
            return;
        }
        c->st = C_HOLD;
        w->holding++;
        worker_idle_settled(w);
        return;
    }
    c->st = C_READY;
    worker_client_ready(c);
}

static void on_reply(struct client *c, int code, const char *text, size_t len)
{
    const struct bench_opts *o = opts(c);

    switch (c->st) {
    case C_BANNER:
        if (code == 220) {
            c->st = C_USER;
            send_cmd(c, "USER", o->user);
        } else if (!FTP_PRELIM(code)) {  /* 120: wait for the 220 */
            client_fail(c, ERR_BAD_REPLY, 1);
        }
        return;
    case C_USER:
        if (code == 331) {
            c->st = C_PASS;
            send_cmd(c, "PASS", o->pass);
        } else if (code == 230) {
            c->st = C_TYPE;
            send_cmd(c, "TYPE", "I");
        } else {
            client_fail(c, ERR_BAD_REPLY, 1);
        }
        return;
    case C_PASS:
        if (code == 230 || code == 202) {
            c->st = C_TYPE;
            send_cmd(c, "TYPE", "I");
        } else {
            client_fail(c, ERR_BAD_REPLY, 1);
        }
        return;
    case C_TYPE:
        if (FTP_COMPLETE(code))
            logged_in(c);
        else
            client_fail(c, ERR_BAD_REPLY, 1);
        return;
    case C_NOOP:
        if (FTP_COMPLETE(code))
            request_ok(c);
        else
            client_fail(c, ERR_BAD_REPLY, code == 421);
        return;
    case C_SIZE: {
        unsigned long long size;
        if (code != 213 || ftp_parse_size(text, len, &size) < 0 || size > INT64_MAX) {
            client_fail(c, ERR_BAD_REPLY, code == 421);
            return;
        }
        c->w->sizes[c->file] = (int64_t)size;
        c->expect = size;
        send_pasv(c);
        return;
    }
    case C_PASV: {
        unsigned port;
        unsigned char ip[4];
        if (code == 229 && ftp_parse_229(text, len, &port) == 0 && port > 0 && port < 65536)
            open_data(c, port, NULL);
        else if (code == 227 && ftp_parse_227(text, len, ip, &port) == 0 && port > 0 && port < 65536)
            open_data(c, port, ip);
        else
            client_fail(c, ERR_BAD_REPLY, code == 421 || FTP_COMPLETE(code));
        return;
    }
    case C_XFER:
        if (FTP_PRELIM(code)) {
            c->got_prelim = 1;
            if (c->op == OP_PUT && c->data_up && c->dfd >= 0 &&
                !ev_is_active(&c->dio)) {
                ev_io_set(&c->dio, c->dfd, EV_WRITE);
                ev_io_start(c->w->loop, &c->dio);
            }
        } else if (FTP_COMPLETE(code)) {
            c->got_final = 1;
            maybe_complete(c);
        } else {
            /* a final error: nothing more is owed on the control
             * connection, so only the request fails */
            client_fail(c, ERR_BAD_REPLY, code == 421);
        }
        return;
    case C_QUIT:
        if (FTP_COMPLETE(code))
            request_ok(c);
        else
            client_fail(c, ERR_BAD_REPLY, 1);
        return;
    case C_PROBE:
        if (FTP_COMPLETE(code)) {
            struct worker *w = c->w;
            w->st.idle_kept++;
            w->probing--;
            w->holding--;
            client_finish(c);
            worker_check_end(w);
        } else {
            client_fail(c, ERR_BAD_REPLY, 1);
        }
        return;
    case C_OFF: case C_CONNECT: case C_READY: case C_HOLD: case C_DONE:
        break;
    }
    /* a reply nobody asked for: 421 is the server closing the session */
    client_fail(c, code == 421 ? ERR_RESET : ERR_BAD_REPLY, 1);
}

static void ctrl_read(struct client *c)
{
    if (c->rlen == sizeof c->rbuf) {
        client_fail(c, ERR_BAD_REPLY, 1);  /* a line longer than we keep */
        return;
    }
    ssize_t n = recv(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        client_fail(c, ERR_RESET, 1);
        return;
    }
    if (n == 0) {
        client_fail(c, ERR_RESET, 1);  /* closed without a 221 or 421 first */
        return;
    }
    c->rlen += (size_t)n;

    size_t off = 0;
    while (off < c->rlen) {
        size_t used = 0, tl = 0;
        int code = 0;
        const char *text = NULL;
        int r = ftp_reply_feed(&c->rp, c->rbuf + off, c->rlen - off, sizeof c->rbuf,
                               &used, &code, &text, &tl);
        if (r == FTPR_ERROR) {
            client_fail(c, ERR_BAD_REPLY, 1);
            return;
        }
        off += used;
        if (r == FTPR_NEED)
            break;
        unsigned gen = c->gen;
        on_reply(c, code, text, tl);
        if (c->gen != gen)
            return;  /* the connection closed under us; its buffer is gone */
    }
    if (off) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
}

static void ctrl_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct client *c = io->data;
    c->last_act = ev_now(loop);
    if (c->st == C_CONNECT) {
        ctrl_connected(c);
        return;
    }
    if (revents & EV_WRITE) {
        unsigned gen = c->gen;
        if (flush_out(c) < 0 || c->gen != gen)
            return;
    }
    if (revents & EV_READ)
        ctrl_read(c);
}

static void tmo_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct client *c = t->data;
    (void)revents;
    if (c->backoff) {
        c->backoff = 0;
        after_backoff(c);
        return;
    }
    double left = c->last_act + c->tmo_len - ev_now(loop);
    if (left > 1e-3) {
        ev_timer_set(&c->tmo, left, 0.);
        ev_timer_start(loop, &c->tmo);
        return;
    }
    int connecting = c->st == C_CONNECT || (c->dfd >= 0 && !c->data_up);
    client_fail(c, connecting ? ERR_CONNECT_TIMEOUT : ERR_TIMEOUT, 1);
}

void client_probe(struct client *c)
{
    c->st = C_PROBE;
    c->w->probing++;
    timer_arm(c, opts(c)->timeout);
    send_cmd(c, "NOOP", NULL);
}
