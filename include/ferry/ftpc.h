/* ftpc: a blocking FTP client connection, the engine of the `ferry`
 * program.
 *
 * One control connection, passive data connections (EPSV first, PASV when
 * the server refuses EPSV), binary transfers.  Every network wait is
 * bounded by the configured timeout; nothing here can hang.  All wire
 * parsing is ftpproto's.
 *
 * Results: every int-returning call gives FTPC_OK (0) or one of the
 * enum ftpc_status kinds below, and leaves a one-line message for the user
 * in ftpc_error().  The kinds are also ferry's exit statuses.
 */
#ifndef FERRY_FTPC_H
#define FERRY_FTPC_H

#include <signal.h>
#include <stddef.h>

#include "ferry/ftpproto.h"

enum ftpc_status {
    FTPC_OK        = 0,
    FTPC_EPROTO    = 1,   /* the server refused or misunderstood otherwise */
    FTPC_EUSAGE    = 2,   /* bad arguments (ferry's own usage errors) */
    FTPC_ECONNECT  = 3,   /* cannot connect, or the connection was lost */
    FTPC_ELOGIN    = 4,   /* login refused */
    FTPC_ENOTFOUND = 5,   /* no such remote or local file or directory */
    FTPC_EPERM     = 6,   /* permission denied, remote or local */
    FTPC_EXFER     = 7,   /* transfer broken: data connection failed or
                             stalled, incomplete, or sizes disagree */
    FTPC_ETIMEOUT  = 8,   /* the server stopped answering commands */
    FTPC_ELOCAL    = 9,   /* local I/O error (disk full, ...) */
    FTPC_EINTR     = 130, /* interrupted by the user (Ctrl-C) */
};

/* A size the server did not tell. */
#define FTPC_SIZE_UNKNOWN (~0ULL)

struct ftpc_config {
    int timeout_ms;        /* each connect, send and receive; 0: 30 s */
    int trace;             /* copy the control dialogue to stderr
                              ("-> CMD", "<- reply"), passwords masked */
    int pasv_only;         /* never try EPSV */
    int no_mlsd;           /* list with LIST even when MLSD is offered */
    unsigned long long rate_limit;   /* transfer bytes per second; 0: none */
    /* Set to non-zero (from a SIGINT handler) to stop the transfer or
     * wait in progress: the call returns FTPC_EINTR.  May be NULL. */
    volatile sig_atomic_t *cancel;
};

struct ftpc;

/* Called during transfers with the bytes moved so far (offset included)
 * and the expected total (FTPC_SIZE_UNKNOWN when unknown). */
typedef void ftpc_progress_fn(void *arg, unsigned long long done,
                              unsigned long long total);
/* Called once per listing entry; return non-zero to stop early. */
typedef int ftpc_entry_fn(void *arg, const struct ftp_entry *e);

/* Lifetime.  ftpc_new copies cfg and returns NULL only when out of memory.
 * ftpc_free says QUIT (politely, bounded by the timeout) if still
 * connected. */
struct ftpc *ftpc_new(const struct ftpc_config *cfg);
void ftpc_free(struct ftpc *c);

/* Connect and read the greeting; then log in (USER/PASS), learn the
 * server's features (FEAT) and switch to binary (TYPE I).  An empty user
 * logs in as "anonymous". */
int ftpc_connect(struct ftpc *c, const char *host, unsigned port);
int ftpc_login(struct ftpc *c, const char *user, const char *pass);
/* Drop the connection without a word (after a broken transfer or when
 * the control connection is in an unknown state). */
void ftpc_disconnect(struct ftpc *c);
int ftpc_connected(const struct ftpc *c);
/* Notice, without waiting, a connection the server closed while the
 * client was idle (its "421 Timeout" or just the end of the stream): the
 * connection is then dropped and ftpc_connected() says so, so that the
 * caller can log in again before its next command. */
void ftpc_check_idle(struct ftpc *c);

const char *ftpc_error(const struct ftpc *c);
unsigned ftpc_features(const struct ftpc *c);   /* FTPF_* bits */

/* Commands. */
int ftpc_pwd(struct ftpc *c, char *out, size_t outsz);
int ftpc_cwd(struct ftpc *c, const char *path);
int ftpc_mkdir(struct ftpc *c, const char *path);
int ftpc_rmdir(struct ftpc *c, const char *path);
int ftpc_delete(struct ftpc *c, const char *path);
int ftpc_rename(struct ftpc *c, const char *from, const char *to);
/* SIZE; FTPC_EPROTO when the server has no SIZE. */
int ftpc_size(struct ftpc *c, const char *path, unsigned long long *size);
/* Send a raw command line; *code and text (NUL-terminated, the whole
 * reply) tell what the server said.  FTPC_OK whatever the code. */
int ftpc_quote(struct ftpc *c, const char *line, int *code, char *text,
               size_t textsz);

/* List path (NULL or "" for the current directory) with MLSD when the
 * server offers MLST, else LIST, parsed with ftpproto.  A LIST line that
 * does not parse is passed on as an FTP_ENT_UNKNOWN entry named by the
 * whole line. */
int ftpc_list(struct ftpc *c, const char *path, ftpc_entry_fn *fn, void *arg);

/* Download path into fd (written from its current position) starting at
 * offset (REST).  total is the expected size for the progress callback,
 * FTPC_SIZE_UNKNOWN if not known (then the size the server announces in
 * its 150 reply, "(N bytes)", is used when offset is 0).  *got counts the
 * bytes written; *announced is that announced size or FTPC_SIZE_UNKNOWN.
 * Either pointer may be NULL. */
int ftpc_retr(struct ftpc *c, const char *path, int fd,
              unsigned long long offset, unsigned long long total,
              ftpc_progress_fn *progress, void *parg,
              unsigned long long *got, unsigned long long *announced);

/* Upload fd (read from its current position) as path: STOR, or APPE when
 * append is set (resuming an upload).  total is the expected byte count
 * for the progress callback, offset the bytes already on the server.
 * *sent counts the bytes sent. */
int ftpc_stor(struct ftpc *c, const char *path, int fd, int append,
              unsigned long long offset, unsigned long long total,
              ftpc_progress_fn *progress, void *parg,
              unsigned long long *sent);

#endif
