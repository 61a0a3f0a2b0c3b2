/* cmdparse: the FTP command-line parser, a pure function of bytes.
 *
 * Contract in the manner of picohttpparser: the caller owns the buffer, the
 * parser never allocates and never reads past buf[len-1]; outputs point into
 * the caller's buffer and are valid until the caller moves it.  The parser
 * rewrites the line in place (Telnet sequences are removed), so the caller's
 * buffer must be writable.
 *
 * Framing comes from CRLF (a bare LF is accepted too, as many clients send
 * it).  Telnet IAC sequences (IAC IP, IAC DM, IAC WILL/WONT/DO/DONT x,
 * IAC IAC) are stripped, so lftp's IP/SYNCH before ABOR and ftplib's urgent
 * ABOR parse as a plain "ABOR".
 */
#ifndef FERRY_CMDPARSE_H
#define FERRY_CMDPARSE_H

#include <stddef.h>

/* Longest command line accepted, CRLF included.  Paths are bounded by
 * PATH_MAX on the server side anyway; 4 KiB is what vsftpd and proftpd
 * accept too. */
#define CMD_LINE_MAX 4096
/* Longest verb (RFC 959 verbs are 3 or 4 letters; leave room for unknown
 * ones so that they get 500, not a parse error). */
#define CMD_VERB_MAX 15

enum cmdparse_status {
    CMDP_OK       = 1,   /* a whole line was parsed */
    CMDP_NEED     = 0,   /* no line end yet: read more */
    CMDP_TOOLONG  = -1,  /* line longer than CMD_LINE_MAX; see below */
    CMDP_BAD      = -2,  /* a line, but not a command (NUL byte, empty verb,
                            verb too long or not letters) */
};

struct cmdline {
    char   verb[CMD_VERB_MAX + 1]; /* upper-cased, NUL-terminated */
    char  *arg;      /* argument, NUL-terminated in the caller's buffer,
                        or NULL when absent; leading spaces removed,
                        trailing spaces kept (file names may end in one).
                        "VERB " alone gives "" (arglen 0), not NULL, so
                        "PASS " is an empty password */
    size_t arglen;
};

/* Parse one line from buf[0..len).  Returns the status; *consumed is set to
 * the number of bytes the caller must drop from the front of its buffer:
 *   CMDP_OK      the line, terminator included;
 *   CMDP_BAD     the line, terminator included (reply 500 and go on);
 *   CMDP_NEED    0 (keep everything, read more) -- unless len already
 *                reached CMD_LINE_MAX, in which case CMDP_TOOLONG is
 *                returned instead;
 *   CMDP_TOOLONG every byte before the line end (all of len when there
 *                is none yet), never the LF itself: the caller answers 500
 *                once and enters "discard until end of line" mode, see
 *                cmdparse_skip_line(), so a command pipelined after the
 *                long line is kept.
 */
int cmdparse_line(char *buf, size_t len, struct cmdline *out, size_t *consumed);

/* Discard mode for an over-long line: returns the number of bytes to drop
 * and sets *done when the line end was found (the terminator is dropped
 * too). */
size_t cmdparse_skip_line(const char *buf, size_t len, int *done);

/* Argument helpers (pure, for the session and the fuzzers). */

/* "TYPE A", "TYPE I", "TYPE L 8", "TYPE A N": 'A', 'I', or -1. */
int cmdparse_type(const char *arg);
/* REST argument: a decimal offset without sign; 0 or -1. */
int cmdparse_offset(const char *arg, unsigned long long *off);
/* OPTS argument: "UTF8 ON" and friends; returns 1 for UTF8 ON, 0 for
 * UTF8 OFF, -1 for anything else. */
int cmdparse_opts_utf8(const char *arg);
/* LIST/NLST argument: skips leading option words ("-a", "-l", "-la", "-A"
 * ...) that clients send; returns the path part (possibly "") and sets
 * *all when -a/-A was given. */
const char *cmdparse_list_arg(const char *arg, int *all);

/* PORT h1,h2,h3,h4,p1,p2 -> IPv4 address and port (host byte order).
 * EPRT |proto|addr|port| -> family (1 = IPv4, 2 = IPv6), text address
 * (into addr, at most addrlen bytes incl. NUL) and port.  0 or -1. */
int cmdparse_port(const char *arg, unsigned char ip[4], unsigned *port);
int cmdparse_eprt(const char *arg, int *proto, char *addr, size_t addrlen,
                  unsigned *port);
/* EPSV argument: NULL/"" -> 0, "ALL" -> 'A', "1" -> 1, "2" -> 2, else -1. */
int cmdparse_epsv(const char *arg);

#endif
