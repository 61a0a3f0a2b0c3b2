/* xferlog: the classic transfer log (--xferlog FILE), one line per
 * transfer in the format wu-ftpd introduced and vsftpd, ProFTPD and
 * Pure-FTPd write, so that existing tools (xferstats, log analysers,
 * fail2ban filters) read ferry's log unchanged:
 *
 *   Wed Nov 27 09:14:35 2026 1 127.0.0.1 1234 /path b _ o a anonymous@ ftp 0 * c
 *
 *   current-time       "%a %b %e %H:%M:%S %Y" (ctime's layout), local time
 *                      or UTC as opened
 *   transfer-time      whole seconds, rounded, at least 1
 *   remote-host        the client's address (no DNS look-up)
 *   file-size          bytes transferred
 *   filename           the virtual path; spaces become '_' and control
 *                      bytes '?', so that the line splits on blanks
 *   transfer-type      a (ASCII) or b (binary)
 *   special-action     _ (ferry neither compresses nor tars)
 *   direction          o (download), i (upload), d (delete)
 *   access-mode        a (anonymous), r (real user)
 *   username           the login name; for anonymous, the password given
 *                      (by custom an e-mail address), sanitised as filename
 *   service-name       ftp
 *   auth-method        0 (none)
 *   auth-user-id       *
 *   completion-status  c (complete) or i (incomplete)
 *
 * How ferryd uses it:
 *
 *   main(), before dropping privileges (the log directory may be root's):
 *       struct xferlog *xl = NULL;
 *       if (cfg.xferlog && !(xl = xferlog_open(cfg.xferlog, 0))) -> error, exit
 *   at the end of every RETR/STOR/APPE (complete or not) and DELE:
 *       struct xferlog_entry e = { ... };
 *       xferlog_write(xl, &e);          any worker thread; NULL xl is a no-op
 *   on SIGHUP, from the main loop (not the signal handler):
 *       xferlog_reopen(xl);             logrotate moved the file away
 *   at exit: xferlog_close(xl);
 *
 * Each line goes out in one write(2) on a descriptor opened O_APPEND, so
 * lines from many threads (and from other processes on the same file)
 * never interleave.  Writers share a read lock; reopen takes the write
 * lock for the instant of the descriptor swap, so no line goes to a
 * closed or reused descriptor. */
#ifndef FERRY_XFERLOG_H
#define FERRY_XFERLOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Longest line: the fixed fields, a path cut at 4096 bytes and a user
 * name cut at 256, with room to spare. */
#define XFERLOG_LINE_MAX 4608

enum xferlog_dir { XFERLOG_OUT = 'o', XFERLOG_IN = 'i', XFERLOG_DELETE = 'd' };

struct xferlog_entry {
    time_t      end;           /* when the transfer ended (time(NULL)) */
    double      seconds;       /* how long it took */
    const char *host;          /* client address, e.g. "127.0.0.1" or "::1" */
    uint64_t    bytes;
    const char *path;          /* virtual path as the client sees it */
    int         binary;        /* TYPE I: 1; TYPE A: 0 */
    int         direction;     /* enum xferlog_dir */
    int         anonymous;     /* 1: access-mode a; 0: r */
    const char *user;          /* login name, or the anonymous password */
    int         complete;      /* 1: c; 0: i (aborted or failed) */
};

struct xferlog;

/* Format e as one line ending in '\n' into out (always NUL-terminated
 * when outlen > 0).  utc: time in UTC instead of local time.  Returns the
 * line's length; out needs XFERLOG_LINE_MAX bytes for any entry.  Pure:
 * no I/O, no allocation; localtime_r() reads the time zone. */
size_t xferlog_format(char *out, size_t outlen, const struct xferlog_entry *e, int utc);

/* Open (creating, mode 0640) path for appending.  NULL with errno on
 * failure.  utc: timestamps in UTC (as vsftpd's default) instead of the
 * local time zone (as wu-ftpd and ProFTPD). */
struct xferlog *xferlog_open(const char *path, int utc);

/* Append one line.  0, or -errno (the caller logs it once in a while; a
 * full disk must not stop transfers).  NULL x: 0, nothing written. */
int xferlog_write(struct xferlog *x, const struct xferlog_entry *e);

/* Open the path anew and switch to it.  On failure the old file stays in
 * use and -errno is returned.  NULL x: 0. */
int xferlog_reopen(struct xferlog *x);

void xferlog_close(struct xferlog *x);       /* NULL is fine */

#endif
