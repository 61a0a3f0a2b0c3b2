/* ftpc: a blocking FTP client connection.  See ferry/ftpc.h.
 *
 * Sockets come from netio (bounded waits); replies, passive-mode answers
 * and listings are parsed by ftpproto.  This file holds the protocol's
 * conversation: which command, which reply is expected, and what a
 * refusal means to the user.
 */
#include "ferry/ftpc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netio.h"

#define CTRL_BUF  8192    /* longest reply line we accept, CRLF included */
#define BLOCK_MAX 8192    /* a whole reply kept for FEAT and quote */
#define TEXT_MAX  1024
#define DATA_BUF  65536
#define ABORT_WAIT_MS 5000

struct ftpc {
    struct ftpc_config cfg;
    int       fd;                    /* control connection, -1 when none */
    struct sockaddr_storage peer;    /* where data connections go */
    socklen_t peerlen;
    unsigned  feat;
    int       epsv_refused;          /* learnt once, then PASV straight away */
    int       aborting;              /* ignore cancel while cleaning up */
    int       code;                  /* the last reply */
    struct ftp_reply_parser rp;
    size_t    inlen;
    size_t    blocklen;
    char      in[CTRL_BUF];
    char      block[BLOCK_MAX];      /* the last reply, every line */
    char      text[TEXT_MAX];        /* its last line's text */
    char      err[1024];
    char      data[DATA_BUF];
};

/* What a command does, so that a 550 can be told apart: refusing to read
 * something usually means it is not there, refusing to write means no
 * permission. */
enum op { OP_OTHER, OP_LOGIN, OP_READ, OP_WRITE, OP_REMOVE };

static volatile sig_atomic_t *cancel_of(const struct ftpc *c)
{
    return c->aborting ? NULL : c->cfg.cancel;
}

/* How long to wait for a reply: cleaning up after Ctrl-C (ABOR, QUIT)
 * must not keep the user waiting the full timeout. */
static int wait_ms(const struct ftpc *c)
{
    if (c->aborting && c->cfg.timeout_ms > ABORT_WAIT_MS)
        return ABORT_WAIT_MS;
    return c->cfg.timeout_ms;
}

__attribute__((format(printf, 3, 4)))
static int fail(struct ftpc *c, int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    return status;
}

struct ftpc *ftpc_new(const struct ftpc_config *cfg)
{
    struct ftpc *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->cfg = *cfg;
    if (c->cfg.timeout_ms <= 0)
        c->cfg.timeout_ms = 30000;
    c->fd = -1;
    return c;
}

void ftpc_disconnect(struct ftpc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->inlen = 0;
    ftp_reply_init(&c->rp);
}

int ftpc_connected(const struct ftpc *c)
{
    return c->fd >= 0;
}

static int read_reply(struct ftpc *c);

void ftpc_check_idle(struct ftpc *c)
{
    int r;

    if (c->fd < 0 || (r = net_readable(c->fd)) == 0)
        return;
    /* Nothing is due from an idle server but a farewell: read it (a 421
     * drops the connection in read_reply), and drop the connection after
     * anything else too, since the dialogue is out of step. */
    if (r < 0 || read_reply(c) != FTPC_OK || c->fd >= 0)
        ftpc_disconnect(c);
}

const char *ftpc_error(const struct ftpc *c)
{
    return c->err;
}

unsigned ftpc_features(const struct ftpc *c)
{
    return c->feat;
}

/* ------------------------------------------------------------------ */
/* The control connection                                               */

static void trace_reply(const struct ftpc *c)
{
    size_t pos = 0;

    while (pos < c->blocklen) {
        const char *l = c->block + pos;
        const char *nl = memchr(l, '\n', c->blocklen - pos);
        size_t n = nl != NULL ? (size_t)(nl - l) : c->blocklen - pos;

        pos += n + 1;
        if (n > 0 && l[n - 1] == '\r')
            n--;
        fprintf(stderr, "<- %.*s\n", (int)n, l);
    }
}

static int net_status(struct ftpc *c, long r, const char *what)
{
    if (r == -ECANCELED)
        return fail(c, FTPC_EINTR, "interrupted");
    if (r == -ETIMEDOUT)
        return fail(c, FTPC_ETIMEOUT, "%s: no answer from the server in %d s",
                    what, c->cfg.timeout_ms / 1000);
    return fail(c, FTPC_ECONNECT, "%s: connection lost (%s)", what, strerror((int)-r));
}

/* Read one whole reply into code/text/block. */
static int read_reply(struct ftpc *c)
{
    c->blocklen = 0;
    if (c->fd < 0)
        return fail(c, FTPC_ECONNECT, "not connected");
    for (;;) {
        size_t consumed = 0, keep, tl = 0;
        const char *t = NULL;
        int code = 0, r;
        ssize_t n;

        r = ftp_reply_feed(&c->rp, c->in, c->inlen, sizeof(c->in), &consumed,
                           &code, &t, &tl);
        if (r == FTPR_ERROR) {
            ftpc_disconnect(c);
            return fail(c, FTPC_EPROTO, "the server sent something that is not an FTP reply");
        }
        keep = consumed < sizeof(c->block) - c->blocklen ? consumed
                                                         : sizeof(c->block) - c->blocklen;
        memcpy(c->block + c->blocklen, c->in, keep);
        c->blocklen += keep;
        if (r == FTPR_DONE) {
            if (tl >= sizeof(c->text))
                tl = sizeof(c->text) - 1;
            memcpy(c->text, t, tl);
            c->text[tl] = '\0';
            c->code = code;
        }
        memmove(c->in, c->in + consumed, c->inlen - consumed);
        c->inlen -= consumed;
        if (r == FTPR_DONE) {
            if (c->cfg.trace)
                trace_reply(c);
            if (code == 421)            /* the server is closing */
                ftpc_disconnect(c);
            return FTPC_OK;
        }
        n = net_recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen,
                     wait_ms(c), cancel_of(c));
        if (n <= 0) {
            ftpc_disconnect(c);
            if (n == 0)
                return fail(c, FTPC_ECONNECT, "the server closed the connection");
            return net_status(c, n, "waiting for a reply");
        }
        c->inlen += (size_t)n;
    }
}

static int send_cmd(struct ftpc *c, const char *verb, const char *arg)
{
    char line[CTRL_BUF];
    int n, r;

    n = ftp_format_cmd(line, sizeof(line), verb, arg);
    if (n < 0)
        return fail(c, FTPC_EUSAGE, "%s: contains a line break or is too long",
                    arg != NULL ? arg : verb);
    if (c->fd < 0)
        return fail(c, FTPC_ECONNECT, "not connected");
    if (c->cfg.trace) {
        if (strcmp(verb, "PASS") == 0)
            fprintf(stderr, "-> PASS ****\n");
        else
            fprintf(stderr, "-> %.*s\n", n - 2, line);
    }
    r = net_send_all(c->fd, line, (size_t)n, wait_ms(c), cancel_of(c));
    if (r < 0) {
        ftpc_disconnect(c);
        return net_status(c, r, verb);
    }
    return FTPC_OK;
}

static int cmd(struct ftpc *c, const char *verb, const char *arg)
{
    int r = send_cmd(c, verb, arg);

    return r != FTPC_OK ? r : read_reply(c);
}

static int text_has(const char *text, const char *const *words)
{
    for (; *words != NULL; words++)
        if (strcasestr(text, *words) != NULL)
            return 1;
    return 0;
}

/* The kind of failure a refusal means.  Servers word their 550s freely,
 * so the text is a hint first and the kind of operation decides the
 * rest. */
static int reply_kind(const struct ftpc *c, enum op op)
{
    static const char *const perm[] = {
        "permission", "denied", "not allowed", "forbidden", "read-only",
        "read only", "not permitted", NULL,
    };
    static const char *const missing[] = {
        "no such", "not found", "not exist", "n't exist", "nonexistent", NULL,
    };
    int code = c->code;

    if (code == 421)
        return FTPC_ECONNECT;
    if (op == OP_LOGIN && (code == 530 || code == 332 || code == 532))
        return FTPC_ELOGIN;
    if (code == 530 || code == 532 || code == 553)
        return FTPC_EPERM;
    if (code == 425 || code == 426 || code == 451 || code == 452 || code == 552)
        return FTPC_EXFER;
    if (code == 550 || code == 450) {
        if (text_has(c->text, perm))
            return FTPC_EPERM;
        if (text_has(c->text, missing))
            return FTPC_ENOTFOUND;
        if (op == OP_WRITE)
            return FTPC_EPERM;
        if (op == OP_READ || op == OP_REMOVE)
            return FTPC_ENOTFOUND;
    }
    return FTPC_EPROTO;
}

static int fail_reply(struct ftpc *c, enum op op, const char *what)
{
    static const char *const words[] = {
        [FTPC_EPROTO] = "refused",
        [FTPC_ECONNECT] = "the server is closing the connection",
        [FTPC_ELOGIN] = "login refused",
        [FTPC_ENOTFOUND] = "no such file or directory",
        [FTPC_EPERM] = "permission denied",
        [FTPC_EXFER] = "transfer failed",
    };
    int kind = reply_kind(c, op);

    return fail(c, kind, "%s: %s (%d %s)", what, words[kind], c->code, c->text);
}

/* A command that must be answered 2xx. */
static int simple(struct ftpc *c, const char *verb, const char *arg, enum op op)
{
    int r = cmd(c, verb, arg);

    if (r != FTPC_OK)
        return r;
    if (!FTP_COMPLETE(c->code))
        return fail_reply(c, op, arg != NULL ? arg : verb);
    return FTPC_OK;
}

/* ------------------------------------------------------------------ */
/* Session                                                              */

int ftpc_connect(struct ftpc *c, const char *host, unsigned port)
{
    int errnum = 0, tries, r;

    ftpc_disconnect(c);
    c->feat = 0;
    c->epsv_refused = 0;
    c->fd = net_connect_host(host, port, c->cfg.timeout_ms, c->cfg.cancel,
                             &errnum, c->err, sizeof(c->err));
    if (c->fd < 0)
        return errnum == ECANCELED ? FTPC_EINTR : FTPC_ECONNECT;
    if (net_peer(c->fd, &c->peer, &c->peerlen) < 0) {
        ftpc_disconnect(c);
        return fail(c, FTPC_ECONNECT, "connect to %s port %u: %s", host, port,
                    strerror(errno));
    }
    /* "120 ready in nnn minutes" may come before the 220. */
    for (tries = 0; tries < 3; tries++) {
        r = read_reply(c);
        if (r != FTPC_OK) {
            if (r == FTPC_ETIMEOUT)
                r = fail(c, FTPC_ECONNECT, "%s port %u: no greeting from the server in %d s",
                         host, port, c->cfg.timeout_ms / 1000);
            return r == FTPC_EINTR ? r : FTPC_ECONNECT;
        }
        if (c->code != 120)
            break;
    }
    if (c->code != 220) {
        ftpc_disconnect(c);
        return fail(c, FTPC_ECONNECT, "%s port %u: the server refused the session (%d %s)",
                    host, port, c->code, c->text);
    }
    return FTPC_OK;
}

int ftpc_login(struct ftpc *c, const char *user, const char *pass)
{
    int anonymous, r;

    if (user == NULL || *user == '\0')
        user = "anonymous";
    anonymous = strcmp(user, "anonymous") == 0 || strcmp(user, "ftp") == 0;
    if ((pass == NULL || *pass == '\0') && anonymous)
        pass = "ferry@";             /* servers like an address-shaped one */
    if (pass == NULL)
        pass = "";

    r = cmd(c, "USER", user);
    if (r != FTPC_OK)
        return r;
    if (c->code == 331) {
        r = cmd(c, "PASS", pass);
        if (r != FTPC_OK)
            return r;
    }
    if (c->code == 332)
        return fail(c, FTPC_ELOGIN, "%s: the server wants an account (ACCT), which ferry does not send",
                    user);
    if (c->code != 230 && c->code != 202)
        return fail_reply(c, OP_LOGIN, user);

    r = cmd(c, "FEAT", NULL);
    if (r != FTPC_OK)
        return r;
    c->feat = c->code == 211 ? ftp_parse_feat(c->block, c->blocklen) : 0;
    if (c->feat & FTPF_UTF8) {
        /* Some servers only speak UTF-8 paths once asked to. */
        r = cmd(c, "OPTS", "UTF8 ON");
        if (r != FTPC_OK)
            return r;
    }
    return simple(c, "TYPE", "I", OP_OTHER);
}

void ftpc_free(struct ftpc *c)
{
    if (c == NULL)
        return;
    if (c->fd >= 0) {
        c->aborting = 1;     /* say goodbye even after a Ctrl-C */
        if (send_cmd(c, "QUIT", NULL) == FTPC_OK)
            (void)read_reply(c);
        ftpc_disconnect(c);
    }
    free(c);
}

/* ------------------------------------------------------------------ */
/* Simple commands                                                      */

int ftpc_pwd(struct ftpc *c, char *out, size_t outsz)
{
    int r = cmd(c, "PWD", NULL);

    if (r != FTPC_OK)
        return r;
    if (c->code != 257)
        return fail_reply(c, OP_OTHER, "PWD");
    if (ftp_parse_257(c->text, strlen(c->text), out, outsz) < 0)
        return fail(c, FTPC_EPROTO, "PWD: cannot read the directory in \"%d %s\"",
                    c->code, c->text);
    return FTPC_OK;
}

int ftpc_cwd(struct ftpc *c, const char *path)
{
    return simple(c, "CWD", path, OP_READ);
}

int ftpc_mkdir(struct ftpc *c, const char *path)
{
    return simple(c, "MKD", path, OP_WRITE);
}

int ftpc_rmdir(struct ftpc *c, const char *path)
{
    return simple(c, "RMD", path, OP_REMOVE);
}

int ftpc_delete(struct ftpc *c, const char *path)
{
    return simple(c, "DELE", path, OP_REMOVE);
}

int ftpc_rename(struct ftpc *c, const char *from, const char *to)
{
    int r = cmd(c, "RNFR", from);

    if (r != FTPC_OK)
        return r;
    if (c->code != 350)
        return fail_reply(c, OP_REMOVE, from);
    return simple(c, "RNTO", to, OP_WRITE);
}

int ftpc_size(struct ftpc *c, const char *path, unsigned long long *size)
{
    int r = cmd(c, "SIZE", path);

    if (r != FTPC_OK)
        return r;
    if (c->code == 500 || c->code == 502)
        return fail(c, FTPC_EPROTO, "%s: the server does not tell sizes (%d %s)",
                    path, c->code, c->text);
    if (c->code != 213)
        return fail_reply(c, OP_READ, path);
    if (ftp_parse_size(c->text, strlen(c->text), size) < 0)
        return fail(c, FTPC_EPROTO, "%s: cannot read the size in \"%d %s\"", path,
                    c->code, c->text);
    return FTPC_OK;
}

int ftpc_quote(struct ftpc *c, const char *line, int *code, char *text,
               size_t textsz)
{
    int r = cmd(c, line, NULL);
    size_t n;

    if (r != FTPC_OK)
        return r;
    *code = c->code;
    n = c->blocklen < textsz ? c->blocklen : textsz - 1;
    memcpy(text, c->block, n);
    text[n] = '\0';
    return FTPC_OK;
}

/* ------------------------------------------------------------------ */
/* Data connections                                                     */

/* Passive mode: EPSV, or PASV when the server refuses EPSV.  The data
 * connection goes to the address of the control connection, whatever
 * address a 227 names: servers behind NAT often announce a private one,
 * and a hostile server could otherwise aim the client at a third host
 * (curl skips the PASV address for the same reasons). */
static int open_data(struct ftpc *c, int *dfd)
{
    unsigned port = 0;
    unsigned char ip[4];
    int r, fd;

    if (!c->cfg.pasv_only && !c->epsv_refused) {
        r = cmd(c, "EPSV", NULL);
        if (r != FTPC_OK)
            return r;
        if (c->code == 229) {
            if (ftp_parse_229(c->text, strlen(c->text), &port) < 0)
                return fail(c, FTPC_EPROTO, "EPSV: cannot read the port in \"%d %s\"",
                            c->code, c->text);
            goto connect;
        }
        if (c->code == 421)
            return fail_reply(c, OP_OTHER, "EPSV");
        c->epsv_refused = 1;
    }
    if (c->peer.ss_family != AF_INET)
        return fail(c, FTPC_EPROTO, "the server refused EPSV, and PASV cannot work over IPv6");
    r = cmd(c, "PASV", NULL);
    if (r != FTPC_OK)
        return r;
    if (c->code != 227)
        return fail_reply(c, OP_OTHER, "PASV");
    if (ftp_parse_227(c->text, strlen(c->text), ip, &port) < 0)
        return fail(c, FTPC_EPROTO, "PASV: cannot read the address in \"%d %s\"",
                    c->code, c->text);
connect:
    fd = net_connect_port(&c->peer, c->peerlen, port, c->cfg.timeout_ms, cancel_of(c));
    if (fd < 0) {
        if (fd == -ECANCELED)
            return fail(c, FTPC_EINTR, "interrupted");
        return fail(c, FTPC_EXFER, "cannot open the data connection to port %u: %s",
                    port, fd == -ETIMEDOUT ? "timed out" : strerror(-fd));
    }
    *dfd = fd;
    return FTPC_OK;
}

/* Give up a transfer in progress: reset the data connection, tell the
 * server (ABOR) and get the control connection back in step.  How many
 * replies an ABOR brings depends on the moment: "426" then "226" while
 * the transfer runs, one "226" or "225" after it ended, and a "226" the
 * server sent for the transfer itself may still be on its way.  A NOOP
 * after the ABOR marks the end: its 200 is the last reply to read.  Keeps
 * the caller's status and message. */
static int abort_transfer(struct ftpc *c, int dfd, int status)
{
    char saved[sizeof(c->err)];
    int i, r;

    if (dfd >= 0)
        net_close_abort(dfd);
    memcpy(saved, c->err, sizeof(saved));
    c->aborting = 1;
    r = send_cmd(c, "ABOR", NULL);
    if (r == FTPC_OK)
        r = send_cmd(c, "NOOP", NULL);
    for (i = 0; r == FTPC_OK && i < 5; i++) {
        r = read_reply(c);
        if (r == FTPC_OK && c->code == 200)
            break;
    }
    if (r != FTPC_OK || i == 5)
        ftpc_disconnect(c);    /* state unknown: start afresh next time */
    c->aborting = 0;
    memcpy(c->err, saved, sizeof(saved));
    return status;
}

/* Send the transfer command and wait for its 1xx.  *done is set when the
 * server answered 2xx at once (nothing to transfer). */
static int start_transfer(struct ftpc *c, const char *verb, const char *path,
                          enum op op, int dfd, int *done)
{
    int r = cmd(c, verb, path);

    *done = 0;
    if (r != FTPC_OK) {
        close(dfd);
        return r;
    }
    if (FTP_PRELIM(c->code))
        return FTPC_OK;
    close(dfd);
    if (FTP_COMPLETE(c->code)) {
        *done = 1;
        return FTPC_OK;
    }
    return fail_reply(c, op, path != NULL ? path : verb);
}

/* Wait for the 226 that ends a transfer. */
static int finish_transfer(struct ftpc *c, enum op op, const char *what)
{
    int r = read_reply(c);

    if (r != FTPC_OK)
        return r;
    if (!FTP_COMPLETE(c->code))
        return fail_reply(c, op, what);
    return FTPC_OK;
}

static size_t chunk_size(const struct ftpc *c)
{
    unsigned long long rate = c->cfg.rate_limit;

    /* About ten steps a second when throttled, so progress stays smooth. */
    if (rate == 0 || rate / 10 >= DATA_BUF)
        return DATA_BUF;
    return rate / 10 < 512 ? 512 : (size_t)(rate / 10);
}

/* Sleep until moved bytes are due at the configured rate. */
static int throttle(struct ftpc *c, double t0, unsigned long long moved)
{
    double due, ahead;

    if (c->cfg.rate_limit == 0)
        return 0;
    due = (double)moved / (double)c->cfg.rate_limit;
    ahead = due - (net_now() - t0);
    if (ahead <= 0.001)
        return 0;
    return net_sleep_ms((long)(ahead * 1000.0), cancel_of(c));
}

/* Ctrl-C: checked once per chunk, since a socket that always has data
 * (or room) never waits, and only waits notice signals on their own. */
static int cancelled(const struct ftpc *c)
{
    volatile sig_atomic_t *flag = cancel_of(c);

    return flag != NULL && *flag;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int data_error(struct ftpc *c, long r)
{
    if (r == -ECANCELED)
        return fail(c, FTPC_EINTR, "interrupted");
    if (r == -ETIMEDOUT)
        return fail(c, FTPC_EXFER, "transfer stalled: no data for %d s",
                    c->cfg.timeout_ms / 1000);
    return fail(c, FTPC_EXFER, "data connection broken: %s", strerror((int)-r));
}

int ftpc_retr(struct ftpc *c, const char *path, int fd,
              unsigned long long offset, unsigned long long total,
              ftpc_progress_fn *progress, void *parg,
              unsigned long long *got, unsigned long long *announced)
{
    unsigned long long moved = 0, ann = FTPC_SIZE_UNKNOWN;
    size_t chunk = chunk_size(c);
    int r, dfd = -1, done;
    double t0;

    if (got != NULL)
        *got = 0;
    if (announced != NULL)
        *announced = FTPC_SIZE_UNKNOWN;
    if (offset > 0) {
        char num[24];

        snprintf(num, sizeof(num), "%llu", offset);
        r = cmd(c, "REST", num);
        if (r != FTPC_OK)
            return r;
        if (c->code != 350)
            return fail(c, FTPC_EPROTO, "%s: the server cannot resume a download (%d %s)",
                        path, c->code, c->text);
    }
    r = open_data(c, &dfd);
    if (r != FTPC_OK)
        return r;
    r = start_transfer(c, "RETR", path, OP_READ, dfd, &done);
    if (r != FTPC_OK || done)
        return r;
    if (ftp_parse_150(c->text, strlen(c->text), &ann) == 0 && announced != NULL)
        *announced = ann;
    if (total == FTPC_SIZE_UNKNOWN && offset == 0)
        total = ann;

    t0 = net_now();
    for (;;) {
        ssize_t n;

        if (cancelled(c))
            return abort_transfer(c, dfd, data_error(c, -ECANCELED));
        n = net_recv(dfd, c->data, chunk, c->cfg.timeout_ms, cancel_of(c));
        if (n == 0)
            break;
        if (n < 0)
            return abort_transfer(c, dfd, data_error(c, n));
        r = write_all(fd, c->data, (size_t)n);
        if (r < 0)
            return abort_transfer(c, dfd,
                                  fail(c, r == -EACCES ? FTPC_EPERM : FTPC_ELOCAL,
                                       "writing the local file: %s", strerror(-r)));
        moved += (unsigned long long)n;
        if (got != NULL)
            *got = moved;
        if (progress != NULL)
            progress(parg, offset + moved, total);
        r = throttle(c, t0, moved);
        if (r < 0)
            return abort_transfer(c, dfd, data_error(c, r));
    }
    close(dfd);
    return finish_transfer(c, OP_READ, path);
}

int ftpc_stor(struct ftpc *c, const char *path, int fd, int append,
              unsigned long long offset, unsigned long long total,
              ftpc_progress_fn *progress, void *parg,
              unsigned long long *sent)
{
    unsigned long long moved = 0;
    size_t chunk = chunk_size(c);
    int r, dfd = -1, done;
    double t0;

    if (sent != NULL)
        *sent = 0;
    r = open_data(c, &dfd);
    if (r != FTPC_OK)
        return r;
    r = start_transfer(c, append ? "APPE" : "STOR", path, OP_WRITE, dfd, &done);
    if (r != FTPC_OK)
        return r;
    if (done)
        return fail(c, FTPC_EPROTO, "%s: the server ended the upload before it began (%d %s)",
                    path, c->code, c->text);

    t0 = net_now();
    for (;;) {
        ssize_t n;

        if (cancelled(c))
            return abort_transfer(c, dfd, data_error(c, -ECANCELED));
        n = read(fd, c->data, chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return abort_transfer(c, dfd, fail(c, FTPC_ELOCAL, "reading the local file: %s",
                                                strerror(errno)));
        if (n == 0)
            break;
        r = net_send_all(dfd, c->data, (size_t)n, c->cfg.timeout_ms, cancel_of(c));
        if (r < 0)
            return abort_transfer(c, dfd, data_error(c, r));
        moved += (unsigned long long)n;
        if (sent != NULL)
            *sent = moved;
        if (progress != NULL)
            progress(parg, offset + moved, total);
        r = throttle(c, t0, moved);
        if (r < 0)
            return abort_transfer(c, dfd, data_error(c, r));
    }
    /* Closing the data connection is what tells the server the file is
     * complete. */
    close(dfd);
    return finish_transfer(c, OP_WRITE, path);
}

/* Hand each complete line in buf[0..len) to the parser; returns the
 * bytes consumed. */
static size_t list_lines(int mlsd, const char *buf, size_t len,
                         ftpc_entry_fn *fn, void *arg, int *stopped)
{
    size_t pos = 0;

    for (;;) {
        const char *l = buf + pos;
        const char *nl = memchr(l, '\n', len - pos);
        struct ftp_entry e;
        size_t n;
        int r;

        if (nl == NULL)
            return pos;
        n = (size_t)(nl - l);
        pos += n + 1;
        if (n > 0 && l[n - 1] == '\r')
            n--;
        if (*stopped)
            continue;
        r = mlsd ? ftp_parse_mlsx(l, n, &e) : ftp_parse_list(l, n, &e);
        if (r == 1)
            continue;
        if (r < 0) {
            memset(&e, 0, sizeof(e));
            e.type = FTP_ENT_UNKNOWN;
            e.name = l;
            e.namelen = n;
        }
        if (fn(arg, &e) != 0)
            *stopped = 1;
    }
}

int ftpc_list(struct ftpc *c, const char *path, ftpc_entry_fn *fn, void *arg)
{
    int mlsd = (c->feat & FTPF_MLST) && !c->cfg.no_mlsd;
    size_t have = 0;
    int r, dfd = -1, done, stopped = 0;

    if (path != NULL && *path == '\0')
        path = NULL;
    r = open_data(c, &dfd);
    if (r != FTPC_OK)
        return r;
    r = start_transfer(c, mlsd ? "MLSD" : "LIST", path, OP_READ, dfd, &done);
    if (r != FTPC_OK || done)
        return r;
    for (;;) {
        ssize_t n;
        size_t used;

        if (cancelled(c))
            return abort_transfer(c, dfd, data_error(c, -ECANCELED));
        if (have == sizeof(c->data))
            return abort_transfer(c, dfd, fail(c, FTPC_EPROTO,
                                               "listing line longer than %zu bytes",
                                               sizeof(c->data)));
        n = net_recv(dfd, c->data + have, sizeof(c->data) - have, c->cfg.timeout_ms,
                     cancel_of(c));
        if (n < 0)
            return abort_transfer(c, dfd, data_error(c, n));
        if (n == 0) {
            /* A last line without a line end still counts. */
            if (have > 0 && have < sizeof(c->data)) {
                c->data[have++] = '\n';
                (void)list_lines(mlsd, c->data, have, fn, arg, &stopped);
            }
            break;
        }
        have += (size_t)n;
        used = list_lines(mlsd, c->data, have, fn, arg, &stopped);
        memmove(c->data, c->data + used, have - used);
        have -= used;
    }
    close(dfd);
    return finish_transfer(c, OP_READ, path != NULL ? path : ".");
}
