/* xfer: whole-file downloads and uploads.  See xfer.h. */
#include "xfer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netio.h"
#include "progress.h"

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return status;
}

static int pass_on(struct ftpc *c, int status, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s", ftpc_error(c));
    return status;
}

/* The ftpc status for a local errno. */
static int local_kind(int e)
{
    if (e == ENOENT || e == ENOTDIR)
        return FTPC_ENOTFOUND;
    if (e == EACCES || e == EPERM || e == EROFS)
        return FTPC_EPERM;
    return FTPC_ELOCAL;
}

/* Connection-level failures end the command whatever it was doing. */
static int fatal(int status)
{
    return status == FTPC_ECONNECT || status == FTPC_ETIMEOUT ||
           status == FTPC_EINTR || status == FTPC_EUSAGE;
}

const char *xfer_basename(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash != NULL ? slash + 1 : path;
}

static void report(const char *name, const char *verb, unsigned long long offset,
                   unsigned long long moved, double secs)
{
    char rate[24];

    progress_human(rate, sizeof(rate), secs > 0 ? (unsigned long long)((double)moved / secs) : moved);
    if (offset > 0)
        printf("%s: resumed at byte %llu, %llu bytes %s in %.1f s (%s/s)\n",
               name, offset, moved, verb, secs, rate);
    else
        printf("%s: %llu bytes %s in %.1f s (%s/s)\n", name, moved, verb, secs, rate);
    fflush(stdout);
}

static int get_stdout(struct ftpc *c, const char *remote, unsigned long long size,
                      const struct xfer_opts *o, char *err, size_t errlen)
{
    struct progress p;
    unsigned long long got = 0, announced;
    int r;

    progress_begin(&p, xfer_basename(remote), 0, size, o->progress);
    r = ftpc_retr(c, remote, STDOUT_FILENO, 0, size, progress_update, &p, &got,
                  &announced);
    progress_end(&p);
    if (r != FTPC_OK)
        return pass_on(c, r, err, errlen);
    if (size == FTPC_SIZE_UNKNOWN)
        size = announced;
    if (size != FTPC_SIZE_UNKNOWN && got != size)
        return fail(err, errlen, FTPC_EXFER, "%s: received %llu bytes, the server said %llu",
                    remote, got, size);
    return FTPC_OK;
}

int xfer_get(struct ftpc *c, const char *remote, const char *local,
             const struct xfer_opts *o, char *err, size_t errlen)
{
    const char *base = xfer_basename(remote);
    char target[PATH_MAX], part[PATH_MAX];
    unsigned long long size = FTPC_SIZE_UNKNOWN, offset = 0, got = 0, announced;
    unsigned long long expect, final;
    struct progress p;
    struct stat st;
    double t0;
    int r, fd, flags = O_WRONLY | O_CREAT | O_CLOEXEC;

    if (*base == '\0')
        return fail(err, errlen, FTPC_EUSAGE, "%s: names a directory, not a file", remote);

    /* SIZE first: it tells "not found" before any local file is touched,
     * and gives the size to check the result against. */
    if (ftpc_features(c) & FTPF_SIZE) {
        r = ftpc_size(c, remote, &size);
        if (r == FTPC_ENOTFOUND || r == FTPC_EPERM || fatal(r))
            return pass_on(c, r, err, errlen);
        if (r != FTPC_OK)
            size = FTPC_SIZE_UNKNOWN;
    }
    if (local != NULL && strcmp(local, "-") == 0)
        return get_stdout(c, remote, size, o, err, errlen);

    if (local == NULL)
        r = snprintf(target, sizeof(target), "%s", base);
    else if (stat(local, &st) == 0 && S_ISDIR(st.st_mode))
        r = snprintf(target, sizeof(target), "%s/%s", local, base);
    else
        r = snprintf(target, sizeof(target), "%s", local);
    if (r < 0 || (size_t)r >= sizeof(target) ||
        (size_t)snprintf(part, sizeof(part), "%s.part", target) >= sizeof(part))
        return fail(err, errlen, FTPC_EUSAGE, "%s: local name too long", target);

    if (o->resume) {
        if (stat(part, &st) == 0) {
            offset = (unsigned long long)st.st_size;
        } else if (stat(target, &st) == 0 && S_ISREG(st.st_mode)) {
            /* A partial file under the final name, left by another
             * program: continue it under the .part name. */
            if (size != FTPC_SIZE_UNKNOWN && (unsigned long long)st.st_size == size) {
                if (o->report)
                    printf("%s: already complete (%llu bytes)\n", target, size);
                return FTPC_OK;
            }
            if (size != FTPC_SIZE_UNKNOWN && (unsigned long long)st.st_size > size)
                return fail(err, errlen, FTPC_EXFER,
                            "%s: the local file (%llu bytes) is larger than the remote one (%llu); not resuming",
                            target, (unsigned long long)st.st_size, size);
            if (rename(target, part) < 0)
                return fail(err, errlen, local_kind(errno), "%s: %s", target, strerror(errno));
            offset = (unsigned long long)st.st_size;
        }
        if (size != FTPC_SIZE_UNKNOWN && offset > size)
            return fail(err, errlen, FTPC_EXFER,
                        "%s: the partial file (%llu bytes) is larger than the remote one (%llu); remove it to start again",
                        part, offset, size);
    } else {
        flags |= O_TRUNC;
    }
    fd = open(part, flags, 0666);
    if (fd < 0)
        return fail(err, errlen, local_kind(errno), "%s: %s", part, strerror(errno));
    if (lseek(fd, (off_t)offset, SEEK_SET) < 0) {
        r = fail(err, errlen, FTPC_ELOCAL, "%s: %s", part, strerror(errno));
        goto fail_fd;
    }

    t0 = net_now();
    progress_begin(&p, base, offset, size, o->progress);
    if (size != FTPC_SIZE_UNKNOWN && offset == size) {
        r = FTPC_OK;                 /* only the rename was missing */
        announced = FTPC_SIZE_UNKNOWN;
    } else {
        r = ftpc_retr(c, remote, fd, offset, size, progress_update, &p, &got, &announced);
    }
    progress_end(&p);
    if (r != FTPC_OK) {
        if (offset + got == 0) {
            close(fd);
            unlink(part);
            return pass_on(c, r, err, errlen);
        }
        snprintf(err, errlen, "%s; %llu bytes kept in %s (resume with get -c, or ferry -c get)",
                 ftpc_error(c), offset + got, part);
        goto fail_fd;
    }
    /* Complete on disk before it gets its real name. */
    if (fsync(fd) < 0 || fstat(fd, &st) < 0) {
        r = fail(err, errlen, FTPC_ELOCAL, "%s: %s", part, strerror(errno));
        goto fail_fd;
    }
    if (close(fd) < 0)
        return fail(err, errlen, FTPC_ELOCAL, "%s: %s", part, strerror(errno));
    final = (unsigned long long)st.st_size;
    expect = size != FTPC_SIZE_UNKNOWN ? size : (offset == 0 ? announced : FTPC_SIZE_UNKNOWN);
    if (expect != FTPC_SIZE_UNKNOWN && final != expect)
        return fail(err, errlen, FTPC_EXFER,
                    "%s: %llu bytes on disk, the server said %llu; kept in %s",
                    remote, final, expect, part);
    if (rename(part, target) < 0)
        return fail(err, errlen, local_kind(errno), "%s: %s", target, strerror(errno));
    if (o->report)
        report(target, "received", offset, got, net_now() - t0);
    return FTPC_OK;

fail_fd:
    close(fd);
    return r;
}

int xfer_put(struct ftpc *c, const char *local, const char *remote,
             const struct xfer_opts *o, char *err, size_t errlen)
{
    const char *base = xfer_basename(local);
    char target[PATH_MAX];
    unsigned long long lsize = FTPC_SIZE_UNKNOWN, offset = 0, sent = 0, rsize;
    struct progress p;
    struct stat st;
    int fd, r, from_stdin = strcmp(local, "-") == 0;
    double t0;

    if (from_stdin) {
        if (remote == NULL || *remote == '\0' || remote[strlen(remote) - 1] == '/')
            return fail(err, errlen, FTPC_EUSAGE, "uploading standard input needs a remote name");
        fd = STDIN_FILENO;
    } else {
        fd = open(local, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return fail(err, errlen, local_kind(errno), "%s: %s", local, strerror(errno));
        if (fstat(fd, &st) < 0) {
            r = fail(err, errlen, FTPC_ELOCAL, "%s: %s", local, strerror(errno));
            goto out;
        }
        if (!S_ISREG(st.st_mode)) {
            r = fail(err, errlen, FTPC_EUSAGE, "%s: not a regular file", local);
            goto out;
        }
        lsize = (unsigned long long)st.st_size;
    }
    if (remote == NULL || *remote == '\0')
        r = snprintf(target, sizeof(target), "%s", base);
    else if (remote[strlen(remote) - 1] == '/')
        r = snprintf(target, sizeof(target), "%s%s", remote, base);
    else
        r = snprintf(target, sizeof(target), "%s", remote);
    if (r < 0 || (size_t)r >= sizeof(target)) {
        r = fail(err, errlen, FTPC_EUSAGE, "%s: remote name too long", remote);
        goto out;
    }

    if (o->resume && !from_stdin) {
        if (!(ftpc_features(c) & FTPF_SIZE)) {
            r = fail(err, errlen, FTPC_EPROTO,
                     "%s: cannot resume: the server does not tell sizes (no SIZE in FEAT)",
                     target);
            goto out;
        }
        r = ftpc_size(c, target, &rsize);
        if (r == FTPC_OK) {
            if (rsize == lsize) {
                if (o->report)
                    printf("%s: already complete (%llu bytes)\n", target, lsize);
                goto out;
            }
            if (rsize > lsize) {
                r = fail(err, errlen, FTPC_EXFER,
                         "%s: the remote file (%llu bytes) is larger than the local one (%llu); not resuming",
                         target, rsize, lsize);
                goto out;
            }
            offset = rsize;
            if (lseek(fd, (off_t)offset, SEEK_SET) < 0) {
                r = fail(err, errlen, FTPC_ELOCAL, "%s: %s", local, strerror(errno));
                goto out;
            }
        } else if (r != FTPC_ENOTFOUND) {
            r = pass_on(c, r, err, errlen);
            goto out;
        }
    }

    t0 = net_now();
    progress_begin(&p, base, offset, lsize, o->progress);
    r = ftpc_stor(c, target, fd, offset > 0, offset, lsize, progress_update, &p, &sent);
    progress_end(&p);
    if (r != FTPC_OK) {
        r = pass_on(c, r, err, errlen);
        goto out;
    }
    if (lsize != FTPC_SIZE_UNKNOWN && offset + sent != lsize) {
        r = fail(err, errlen, FTPC_EXFER, "%s: sent %llu bytes of %llu (did the file change?)",
                 local, offset + sent, lsize);
        goto out;
    }
    /* The server's view is the one that counts. */
    if (ftpc_features(c) & FTPF_SIZE) {
        r = ftpc_size(c, target, &rsize);
        if (fatal(r)) {
            r = pass_on(c, r, err, errlen);
            goto out;
        }
        if (r == FTPC_OK && rsize != offset + sent) {
            r = fail(err, errlen, FTPC_EXFER, "%s: the server has %llu bytes, %llu were sent",
                     target, rsize, offset + sent);
            goto out;
        }
        r = FTPC_OK;
    }
    if (o->report)
        report(target, "sent", offset, sent, net_now() - t0);
out:
    if (!from_stdin)
        close(fd);
    return r;
}
