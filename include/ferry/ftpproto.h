/* ftpproto: the client side of FTP's wire format, shared by the `ferry`
 * client and `ferry-bench`.  Pure functions of bytes: no I/O, no
 * allocation, so the blocking client and the non-blocking load generator
 * use the very same parsing (and the fuzzers can drive it).
 */
#ifndef FERRY_FTPPROTO_H
#define FERRY_FTPPROTO_H

#include <stddef.h>

/* Incremental reply parser.  RFC 959 replies are "NNN text" or a
 * multi-line "NNN-text" ... "NNN text" block (inner lines may be anything,
 * including lines that start with other digits). */
struct ftp_reply_parser {
    int    code;      /* code of the reply being parsed, 0 before the first line */
    int    multiline; /* inside a NNN- block */
};

enum { FTPR_DONE = 1, FTPR_NEED = 0, FTPR_ERROR = -1 };

/* Feed buf[0..len).  Consumes whole lines only (*consumed bytes).
 * FTPR_DONE: a complete reply was consumed; *code is set, and text/textlen
 * (if non-NULL) point at the text of the *last* line (after "NNN "),
 * without CRLF, inside buf.  The parser is reset for the next reply.
 * FTPR_NEED: feed more (the unconsumed tail must be kept and fed again).
 * FTPR_ERROR: not an FTP reply (bad code), or a line longer than maxline. */
void ftp_reply_init(struct ftp_reply_parser *p);
int ftp_reply_feed(struct ftp_reply_parser *p, const char *buf, size_t len,
                   size_t maxline, size_t *consumed, int *code,
                   const char **text, size_t *textlen);

/* "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)" text -> address, port.
 * "229 Entering Extended Passive Mode (|||port|)" text -> port.  0 or -1. */
int ftp_parse_227(const char *text, size_t len, unsigned char ip[4],
                  unsigned *port);
int ftp_parse_229(const char *text, size_t len, unsigned *port);

/* ftp://[user[:pass]@]host[:port][/path] (or without the scheme).  IPv6
 * hosts in brackets.  Percent-escapes in user, pass and path decoded.
 * Out strings are NUL-terminated within their sizes; port defaults to 21;
 * user and pass empty when absent.  0 or -1 (malformed or too long). */
struct ftp_url {
    char     user[256];
    char     pass[256];
    char     host[256];
    unsigned port;
    char     path[4096];
};
int ftp_parse_url(const char *s, struct ftp_url *u);

/* ---- Additions: everything below builds on the contract above. ---- */

/* Reply parser, details: a line ends at LF (CRLF or a bare LF).  maxline
 * counts the terminator; 0 means no limit.  On FTPR_NEED *consumed may be
 * non-zero: the inner lines of a multi-line reply are consumed as they
 * arrive (the parser remembers the code), so a caller that wants the whole
 * block (FEAT, STAT) keeps those bytes itself. */

/* URLs, details: the '/' after host[:port] only separates (RFC 1738), so
 * "ftp://h/pub/f" gives path "pub/f", relative to the login directory, and
 * "ftp://h//etc/f" or "ftp://h/%2Fetc/f" give "/etc/f".  Another scheme
 * than ftp://, a port outside 1..65535, a host with characters no host
 * name has, and a decoded NUL, CR or LF anywhere are refused. */

/* Reply classes (RFC 959 4.2): first digit of the code. */
#define FTP_PRELIM(code)   ((code) >= 100 && (code) < 200)
#define FTP_COMPLETE(code) ((code) >= 200 && (code) < 300)
#define FTP_INTERIM(code)  ((code) >= 300 && (code) < 400)
#define FTP_TRANSIENT(code) ((code) >= 400 && (code) < 500)
#define FTP_PERMANENT(code) ((code) >= 500 && (code) < 600)

/* "VERB ARG\r\n" (or "VERB\r\n" when arg is NULL) into out, NUL-terminated.
 * Returns the length without the NUL, or -1 when it does not fit or when
 * verb or arg holds CR, LF (either would smuggle a second command onto the
 * control connection). */
int ftp_format_cmd(char *out, size_t outsz, const char *verb, const char *arg);

/* "257 "/a ""quoted"" dir" created" text -> the path, with RFC 959's
 * doubled quotes undone, NUL-terminated in out.  0 or -1. */
int ftp_parse_257(const char *text, size_t len, char *out, size_t outsz);

/* "213 12345" text (the reply to SIZE) -> 12345.  0 or -1. */
int ftp_parse_size(const char *text, size_t len, unsigned long long *size);

/* "150 Opening BINARY mode data connection for f (12345 bytes)." text ->
 * 12345, the size many servers announce before a RETR.  0, or -1 when the
 * text holds no "(N bytes)". */
int ftp_parse_150(const char *text, size_t len, unsigned long long *size);

/* FEAT (RFC 2389): pass the whole reply block, every line with its CRLF.
 * Returns the FTPF_* bits of the features the client cares about. */
enum {
    FTPF_EPSV = 1 << 0,   /* EPSV (RFC 2428) */
    FTPF_EPRT = 1 << 1,
    FTPF_MLST = 1 << 2,   /* MLST/MLSD (RFC 3659) */
    FTPF_SIZE = 1 << 3,
    FTPF_MDTM = 1 << 4,
    FTPF_REST = 1 << 5,   /* REST STREAM: restartable transfers */
    FTPF_UTF8 = 1 << 6,
    FTPF_TVFS = 1 << 7,
};
unsigned ftp_parse_feat(const char *block, size_t len);

/* One directory entry, from an MLSD line or a LIST line.  name (and
 * target) point into the caller's line; they are not NUL-terminated. */
enum ftp_entry_type {
    FTP_ENT_UNKNOWN = 0,
    FTP_ENT_FILE,
    FTP_ENT_DIR,
    FTP_ENT_LINK,
    FTP_ENT_CDIR,      /* MLSD "type=cdir": the listed directory itself */
    FTP_ENT_PDIR,      /* MLSD "type=pdir": its parent */
};
struct ftp_entry {
    const char *name;
    size_t      namelen;
    const char *target;      /* LIST "name -> target" of a symlink, or NULL */
    size_t      targetlen;
    int         type;        /* enum ftp_entry_type */
    int         has_size;
    unsigned long long size;
    /* "YYYY-MM-DD HH:MM" (UTC) from MLSD's modify fact; from LIST the
     * server's own text, e.g. "Nov 27 09:16" or "Nov 27  2023"; "" when
     * unknown. */
    char        mtime[20];
};

/* Parse one data-connection line (a trailing CR/LF is ignored).
 * 0: *e is an entry.  1: the line is not an entry ("total 12", blank).
 * -1: not a line this parser understands. */
int ftp_parse_mlsx(const char *line, size_t len, struct ftp_entry *e);
/* LIST: the Unix "ls -l" layout (vsftpd, proftpd, pure-ftpd, ferryd) and
 * the DOS/IIS layout "MM-DD-YY  HH:MMAM  <DIR>|size  name". */
int ftp_parse_list(const char *line, size_t len, struct ftp_entry *e);

#endif
