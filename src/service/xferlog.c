/* xferlog: the wu-ftpd transfer log format.  See include/ferry/xferlog.h. */
#include "ferry/xferlog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PATH_CUT 4096
#define USER_CUT 256
#define HOST_CUT 64

struct xferlog {
    pthread_rwlock_t lock;     /* read: writing a line; write: swapping fd */
    int fd;
    int utc;
    char *path;
};

/* Copy at most cut bytes of s, made safe for a blank-separated line. */
static size_t put_field(char *out, size_t room, const char *s, size_t cut)
{
    size_t n = 0;

    if (!s || !*s)
        s = "-";
    for (; *s && n < cut && n < room; s++, n++) {
        unsigned char c = (unsigned char)*s;
        out[n] = c == ' ' ? '_' : (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    return n;
}

size_t xferlog_format(char *out, size_t outlen, const struct xferlog_entry *e, int utc)
{
    /* Fixed English names: strftime's %a and %b would follow the locale,
     * and readers of this format expect ctime's. */
    static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    char buf[XFERLOG_LINE_MAX];
    struct tm tm;
    size_t n;
    long secs;

    if ((utc ? gmtime_r(&e->end, &tm) : localtime_r(&e->end, &tm)) == NULL)
        memset(&tm, 0, sizeof(tm));
    secs = e->seconds >= 1.5 && e->seconds < 1e12 ? (long)(e->seconds + 0.5) : 1;
    /* Every piece is bounded (date ~40, host 64, size 20, path 4096,
     * user 256, fixed ~30), so buf never fills and snprintf's return is
     * what it wrote. */
    n = (size_t)snprintf(buf, sizeof(buf), "%s %s %2d %02d:%02d:%02d %d %ld ",
                         days[(unsigned)tm.tm_wday % 7], months[(unsigned)tm.tm_mon % 12],
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         tm.tm_year + 1900, secs);
    n += put_field(buf + n, HOST_CUT, e->host, HOST_CUT);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, " %llu ", (unsigned long long)e->bytes);
    n += put_field(buf + n, PATH_CUT, e->path, PATH_CUT);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, " %c _ %c %c ",
                          e->binary ? 'b' : 'a',
                          e->direction == XFERLOG_IN ? 'i' :
                          e->direction == XFERLOG_DELETE ? 'd' : 'o',
                          e->anonymous ? 'a' : 'r');
    n += put_field(buf + n, USER_CUT, e->user, USER_CUT);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, " ftp 0 * %c\n",
                          e->complete ? 'c' : 'i');
    if (outlen > 0) {
        size_t c = n < outlen - 1 ? n : outlen - 1;
        memcpy(out, buf, c);
        out[c] = '\0';
    }
    return n;
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

struct xferlog *xferlog_open(const char *path, int utc)
{
    struct xferlog *x = calloc(1, sizeof(*x));
    int e;

    if (!x)
        return NULL;
    x->path = strdup(path);
    if (!x->path) {
        e = ENOMEM;
        goto fail_x;
    }
    x->fd = open_log(path);
    if (x->fd < 0) {
        e = errno;
        goto fail_path;
    }
    e = pthread_rwlock_init(&x->lock, NULL);
    if (e)
        goto fail_fd;
    x->utc = utc;
    return x;

fail_fd:
    close(x->fd);
fail_path:
    free(x->path);
fail_x:
    free(x);
    errno = e;
    return NULL;
}

int xferlog_write(struct xferlog *x, const struct xferlog_entry *e)
{
    char line[XFERLOG_LINE_MAX];
    size_t n;
    ssize_t w;
    int r = 0;

    if (!x)
        return 0;
    n = xferlog_format(line, sizeof(line), e, x->utc);
    pthread_rwlock_rdlock(&x->lock);
    /* One write per line: O_APPEND makes each land whole at the end.  No
     * retry loop for short writes: on a regular file a short write means
     * the disk is full, and a second write would split the line. */
    do {
        w = write(x->fd, line, n);
    } while (w < 0 && errno == EINTR);
    if (w < 0)
        r = -errno;
    else if ((size_t)w != n)
        r = -ENOSPC;
    pthread_rwlock_unlock(&x->lock);
    return r;
}

int xferlog_reopen(struct xferlog *x)
{
    int fd, old;

    if (!x)
        return 0;
    fd = open_log(x->path);
    if (fd < 0)
        return -errno;
    pthread_rwlock_wrlock(&x->lock);
    old = x->fd;
    x->fd = fd;
    pthread_rwlock_unlock(&x->lock);
    close(old);
    return 0;
}

void xferlog_close(struct xferlog *x)
{
    if (!x)
        return;
    close(x->fd);
    pthread_rwlock_destroy(&x->lock);
    free(x->path);
    free(x);
}
