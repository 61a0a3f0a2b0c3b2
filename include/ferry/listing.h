/* listing: directory listings in the formats FTP clients parse.
 *
 * LIST: the `ls -l` line format that curl, lftp, wget, ftplib and GUI
 * clients parse: "-rw-r--r--    1 ftp      ftp          1234 Nov 27 09:14 name"
 * with English month names, "%b %d %H:%M" for files modified within the
 * last six months and "%b %d  %Y" for older ones (or in the future), and
 * 64-bit sizes.  Owner and group are shown as "ftp" so that no local
 * account names leak.
 * NLST: bare names, one per line.
 * MLSD/MLST: RFC 3659 facts "type=file;size=N;modify=YYYYMMDDHHMMSS;
 * perm=...;unique=...; name" (facts, one space, name), modify in UTC.
 *
 * Names holding CR or LF are never emitted (they would break the framing
 * of every client); VFS_TMP_PREFIX temporaries are hidden; dot files are
 * shown only with "LIST -a" (MLSD always shows them, as RFC 3659 asks).
 * Every line ends in CRLF.
 */
#ifndef FERRY_LISTING_H
#define FERRY_LISTING_H

#include <dirent.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include "ferry/buf.h"
#include "ferry/vfs.h"

enum listing_fmt { LISTING_LS, LISTING_NLST, LISTING_MLSD };

/* Pure line formatters; each writes one CRLF-terminated line into out and
 * returns its length, or -1 when it does not fit (out is then undefined).
 * now is the reference time for the six-month rule. */
int listing_format_ls(char *out, size_t outlen, const char *name,
                      const struct stat *st, time_t now);
/* type: "file", "dir", "cdir", "pdir"; writable: the session may write,
 * which adds the write permissions to the perm fact.  The line starts with
 * the facts (no leading space: MLST's reply adds it). */
int listing_format_mlsx(char *out, size_t outlen, const char *name,
                        const struct stat *st, const char *type, int writable);

/* An open listing of one directory (or of one file, when LIST names a
 * file: then it yields that one entry). */
struct listing {
    DIR   *dir;         /* NULL when listing a single file or done */
    int    fmt;         /* enum listing_fmt */
    int    all;         /* show dot files (LIST -a) */
    int    writable;
    time_t now;
    int    single;      /* one entry, in st/name below, not yet emitted */
    const struct vfs *vfs;  /* the root, to resolve symlinks beneath it */
    char  *vdir;        /* virtual path of the listed folder (malloc'd) */
    struct stat st;
    char   name[NAME_MAX + 1];
};

/* Open vpath for listing.  0 or -errno (-ENOENT, -EACCES, -EXDEV ...). */
int listing_open(struct listing *l, const struct vfs *v, const char *vpath,
                 int fmt, int all, int writable);
/* Append lines to out until it holds at least `want` unread bytes or the
 * listing ends.  Returns 1 when more entries remain, 0 when the listing is
 * complete, -errno on failure (ENOMEM). */
int listing_fill(struct listing *l, struct buf *out, size_t want);
void listing_close(struct listing *l);

#endif
