/* listing: LIST, NLST and MLSD output.  See include/ferry/listing.h.
 *
 * Times.  ferry lists every time in UTC, in LIST as well as in MLSD (where
 * RFC 3659 demands it): a server's local zone means nothing to a client
 * elsewhere, and one zone for both formats keeps them comparable.  Month
 * names come from a table, never from strftime("%b"), whose output follows
 * the locale.
 *
 * Symlinks.  An entry that is a symlink is shown as what it points to
 * (type and size of the target), provided the target resolves beneath the
 * root: the link is opened by its virtual path through vfs_openat(), with
 * the same kernel checks as a RETR of it, so a listing shows exactly the
 * links a client can follow.  Dangling links, links that leave the root
 * and links to anything but files and folders in MLSD are skipped: a
 * listing never shows anything of what lies outside.
 *
 * Streaming.  listing_fill() reads entries one at a time with readdir and
 * stops as soon as the output holds `want` bytes, so a folder of a million
 * entries costs one readdir buffer and one output chunk, never the whole
 * listing in memory.
 */
#include "ferry/listing.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ls(1)'s rule, as vsftpd applies it: older than about six months (or in
 * the future) shows the year instead of the time of day. */
#define SIX_MONTHS ((time_t)182 * 24 * 60 * 60)

/* One output line: facts or ls columns (well under 256 bytes) + name. */
#define LINE_MAX_LEN (NAME_MAX + 256)

static const char months[12][4] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* A name that can be sent on a line of its own. */
static int name_ok(const char *name)
{
    return name != NULL && name[0] != '\0' && strpbrk(name, "\r\n") == NULL;
}

static int is_tmpname(const char *name)
{
    return strncmp(name, VFS_TMP_PREFIX, sizeof VFS_TMP_PREFIX - 1) == 0;
}

/* UTC broken-down time; times gmtime cannot represent (or that would not
 * fit four year digits) show as the epoch. */
static void utc(time_t t, struct tm *tm)
{
    if (gmtime_r(&t, tm) == NULL || tm->tm_year + 1900 < 0 ||
        tm->tm_year + 1900 > 9999) {
        time_t zero = 0;

        gmtime_r(&zero, tm);
    }
}

static char perm_char(mode_t m, mode_t bit, char c)
{
    return (m & bit) ? c : '-';
}

/* "drwxr-xr-x": type, then rwx for user, group and others, with setuid,
 * setgid and sticky shown as s/S/t/T in the execute columns. */
static void mode_string(char s[11], mode_t m)
{
    switch (m & S_IFMT) {
    case S_IFDIR:  s[0] = 'd'; break;
    case S_IFLNK:  s[0] = 'l'; break;
    case S_IFCHR:  s[0] = 'c'; break;
    case S_IFBLK:  s[0] = 'b'; break;
    case S_IFIFO:  s[0] = 'p'; break;
    case S_IFSOCK: s[0] = 's'; break;
    default:       s[0] = '-'; break;
    }
    s[1] = perm_char(m, S_IRUSR, 'r');
    s[2] = perm_char(m, S_IWUSR, 'w');
    s[3] = (m & S_ISUID) ? ((m & S_IXUSR) ? 's' : 'S')
                         : perm_char(m, S_IXUSR, 'x');
    s[4] = perm_char(m, S_IRGRP, 'r');
    s[5] = perm_char(m, S_IWGRP, 'w');
    s[6] = (m & S_ISGID) ? ((m & S_IXGRP) ? 's' : 'S')
                         : perm_char(m, S_IXGRP, 'x');
    s[7] = perm_char(m, S_IROTH, 'r');
    s[8] = perm_char(m, S_IWOTH, 'w');
    s[9] = (m & S_ISVTX) ? ((m & S_IXOTH) ? 't' : 'T')
                         : perm_char(m, S_IXOTH, 'x');
    s[10] = '\0';
}

static int finish(int n, size_t outlen)
{
    return n < 0 || (size_t)n >= outlen ? -1 : n;
}

int listing_format_ls(char *out, size_t outlen, const char *name,
                      const struct stat *st, time_t now)
{
    char mode[11], date[32];
    struct tm tm;
    unsigned int nlink;
    int n;

    if (!name_ok(name))
        return -1;
    mode_string(mode, st->st_mode);
    utc(st->st_mtime, &tm);
    if (st->st_mtime > now || st->st_mtime < now - SIX_MONTHS)
        n = snprintf(date, sizeof date, "%s %02d  %d",
                     months[tm.tm_mon], tm.tm_mday, tm.tm_year + 1900);
    else
        n = snprintf(date, sizeof date, "%s %02d %02d:%02d",
                     months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min);
    if (n < 0 || (size_t)n >= sizeof date)
        return -1;
    nlink = st->st_nlink > UINT_MAX ? UINT_MAX : (unsigned int)st->st_nlink;
    /* vsftpd's columns; owner and group are always "ftp". */
    n = snprintf(out, outlen, "%s %4u %-8s %-8s %8llu %s %s\r\n",
                 mode, nlink, "ftp", "ftp",
                 (unsigned long long)st->st_size, date, name);
    return finish(n, outlen);
}

int listing_format_mlsx(char *out, size_t outlen, const char *name,
                        const struct stat *st, const char *type, int writable)
{
    char size[32] = "";
    const char *perm;
    struct tm tm;
    int n;

    if (!name_ok(name) || type == NULL)
        return -1;
    /* RFC 3659 7.5.5.  Files: r RETR; a APPE, d DELE, f RNFR, w STOR.
     * Folders: e CWD, l LIST; c STOR/APPE in it, d RMD, f RNFR, m MKD,
     * p delete entries.  The current and parent folder get no d or f: a
     * perm fact that leaves out an allowed command is harmless, one that
     * offers RMD of the root is not. */
    if (strcmp(type, "file") == 0) {
        perm = writable ? "radfw" : "r";
        n = snprintf(size, sizeof size, "size=%llu;",
                     (unsigned long long)st->st_size);
        if (n < 0 || (size_t)n >= sizeof size)
            return -1;
    } else if (strcmp(type, "dir") == 0) {
        perm = writable ? "elcdfmp" : "el";
    } else if (strcmp(type, "cdir") == 0 || strcmp(type, "pdir") == 0) {
        perm = writable ? "elcmp" : "el";
    } else {
        return -1;
    }
    utc(st->st_mtime, &tm);
    n = snprintf(out, outlen,
                 "type=%s;%smodify=%04d%02d%02d%02d%02d%02d;perm=%s;"
                 "unique=%llxU%llx; %s\r\n",
                 type, size, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, perm,
                 (unsigned long long)st->st_dev,
                 (unsigned long long)st->st_ino, name);
    return finish(n, outlen);
}

int listing_open(struct listing *l, const struct vfs *v, const char *vpath,
                 int fmt, int all, int writable)
{
    const char *base;
    struct stat st;
    int fd, r;

    memset(l, 0, sizeof *l);
    l->dir = NULL;
    if (fmt != LISTING_LS && fmt != LISTING_NLST && fmt != LISTING_MLSD)
        return -EINVAL;
    l->fmt = fmt;
    l->all = all;
    l->writable = writable;
    l->now = time(NULL);

    r = vfs_stat(v, vpath, &st);
    if (r < 0)
        return r;

    if (S_ISDIR(st.st_mode)) {
        l->vfs = v;
        l->vdir = strdup(vpath);
        if (l->vdir == NULL)
            return -ENOMEM;
        fd = vfs_open_dir(v, vpath);
        if (fd < 0) {
            listing_close(l);
            return fd;
        }
        if (fmt == LISTING_MLSD) {
            /* The customary first MLSD line: the folder itself. */
            if (fstat(fd, &l->st) < 0) {
                r = -errno;
                close(fd);
                listing_close(l);
                return r;
            }
            strcpy(l->name, ".");
            l->single = 1;
        }
        l->dir = fdopendir(fd);
        if (l->dir == NULL) {
            r = -errno;
            close(fd);
            listing_close(l);
            return r;
        }
        return 0;
    }

    /* RFC 3659: MLSD names a folder; a file is for MLST. */
    if (fmt == LISTING_MLSD)
        return -ENOTDIR;
    base = vfs_basename(vpath);
    if (is_tmpname(base))
        return -ENOENT;
    if (strlen(base) > NAME_MAX)
        return -ENAMETOOLONG;
    strcpy(l->name, base);
    l->st = st;
    l->single = 1;
    return 0;
}

/* MLSD's type fact for st, or NULL for what MLSD does not list. */
static const char *mlsx_type(const struct stat *st)
{
    if (S_ISREG(st->st_mode))
        return "file";
    if (S_ISDIR(st->st_mode))
        return "dir";
    return NULL;
}

/* Append the line for one entry; an entry that cannot be framed (or, in
 * MLSD, has no type) is skipped. */
static int emit(struct listing *l, struct buf *out, const char *name,
                const struct stat *st, const char *type)
{
    char line[LINE_MAX_LEN];
    int n;

    switch (l->fmt) {
    case LISTING_LS:
        n = listing_format_ls(line, sizeof line, name, st, l->now);
        break;
    case LISTING_NLST:
        n = name_ok(name) ? snprintf(line, sizeof line, "%s\r\n", name) : -1;
        n = finish(n, sizeof line);
        break;
    default:
        n = type != NULL ? listing_format_mlsx(line, sizeof line, name, st,
                                               type, l->writable)
                         : -1;
        break;
    }
    if (n < 0)
        return 0;
    return buf_append(out, line, (size_t)n) < 0 ? -ENOMEM : 0;
}

/* Decide whether a folder entry is listed and fill *st with what is shown
 * for it: 1 to list, 0 to skip. */
static int entry_stat(struct listing *l, const struct dirent *de,
                      struct stat *st)
{
    const char *name = de->d_name;
    int fd, r;

    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    if (!name_ok(name) || is_tmpname(name))
        return 0;
    if (name[0] == '.' && !l->all && l->fmt != LISTING_MLSD)
        return 0;
    /* NLST shows no stat, so only possible symlinks need a look. */
    if (l->fmt == LISTING_NLST && de->d_type != DT_LNK &&
        de->d_type != DT_UNKNOWN)
        return 1;
    if (fstatat(dirfd(l->dir), name, st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;    /* removed since readdir saw it */
    if (S_ISLNK(st->st_mode)) {
        /* Resolve beneath the root with the kernel's checks. */
        char path[VFS_PATH_MAX];
        int n = snprintf(path, sizeof path, "%s/%s",
                         strcmp(l->vdir, "/") == 0 ? "" : l->vdir, name);
        if (n < 0 || (size_t)n >= sizeof path)
            return 0;
        fd = vfs_openat(l->vfs, path, O_PATH, 0);
        if (fd < 0)
            return 0;
        r = fstat(fd, st);
        close(fd);
        if (r < 0)
            return 0;
    }
    return 1;
}

int listing_fill(struct listing *l, struct buf *out, size_t want)
{
    struct dirent *de;
    struct stat st;
    int r;

    if (l->single) {
        if (buf_used(out) >= want)
            return 1;
        r = emit(l, out, l->name, &l->st,
                 l->dir != NULL ? "cdir" : mlsx_type(&l->st));
        if (r < 0)
            return r;
        l->single = 0;
    }
    while (l->dir != NULL) {
        if (buf_used(out) >= want)
            return 1;
        errno = 0;
        de = readdir(l->dir);
        if (de == NULL) {
            if (errno != 0)
                return -errno;
            closedir(l->dir);
            l->dir = NULL;
            break;
        }
        memset(&st, 0, sizeof st);
        if (!entry_stat(l, de, &st))
            continue;
        r = emit(l, out, de->d_name, &st, mlsx_type(&st));
        if (r < 0)
            return r;
    }
    return 0;
}

void listing_close(struct listing *l)
{
    if (l->dir != NULL)
        closedir(l->dir);
    l->dir = NULL;
    l->single = 0;
    free(l->vdir);
    l->vdir = NULL;
}
