/* sdlisten: socket activation, through libsystemd when ferry is built
 * with it (-Dsystemd), by reading the variables itself otherwise.  See
 * include/ferry/sdlisten.h. */
#include "ferry/sdlisten.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef FERRY_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

static int check_socket(struct sdlisten_fd *s, char *err, size_t errlen)
{
    int val, flags;
    socklen_t len;

    if (fcntl(s->fd, F_GETFD) < 0) {
        snprintf(err, errlen, "passed descriptor %d: %s", s->fd, strerror(errno));
        return -1;
    }
    len = sizeof(val);
    if (getsockopt(s->fd, SOL_SOCKET, SO_TYPE, &val, &len) < 0) {
        snprintf(err, errlen, "passed descriptor %d: %s", s->fd, strerror(errno));
        return -1;
    }
    if (val != SOCK_STREAM) {
        snprintf(err, errlen, "passed descriptor %d is not a stream socket", s->fd);
        return -1;
    }
    len = sizeof(val);
    if (getsockopt(s->fd, SOL_SOCKET, SO_ACCEPTCONN, &val, &len) < 0 || !val) {
        snprintf(err, errlen, "passed descriptor %d is not listening", s->fd);
        return -1;
    }
    len = sizeof(val);
    if (getsockopt(s->fd, SOL_SOCKET, SO_DOMAIN, &val, &len) < 0) {
        snprintf(err, errlen, "passed descriptor %d: %s", s->fd, strerror(errno));
        return -1;
    }
    if (val != AF_INET && val != AF_INET6) {
        snprintf(err, errlen, "passed descriptor %d is not an IPv4 or IPv6 socket "
                 "(FTP data connections need an IP address)", s->fd);
        return -1;
    }
    s->family = val;
    s->addrlen = sizeof(s->addr);
    if (getsockname(s->fd, (struct sockaddr *)&s->addr, &s->addrlen) < 0) {
        snprintf(err, errlen, "passed descriptor %d: getsockname: %s", s->fd,
                 strerror(errno));
        return -1;
    }
    /* The manager may hand over blocking, inheritable descriptors;
     * an edge-triggered loop needs neither. */
    flags = fcntl(s->fd, F_GETFL);
    if (flags < 0 || fcntl(s->fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
        fcntl(s->fd, F_SETFD, FD_CLOEXEC) < 0) {
        snprintf(err, errlen, "passed descriptor %d: fcntl: %s", s->fd, strerror(errno));
        return -1;
    }
    return 0;
}

#ifdef FERRY_HAVE_LIBSYSTEMD
/* libsystemd's reading of the variables (LISTEN_PID checked, names split,
 * FD_CLOEXEC set); the sockets are then validated as below. */
static int take(struct sdlisten_fd *out, int max, char *err, size_t errlen)
{
    char **names = NULL;
    int n, i, r = 0;

    n = sd_listen_fds_with_names(0, &names);
    if (n < 0) {
        snprintf(err, errlen, "bad LISTEN_PID, LISTEN_FDS or LISTEN_FDNAMES: %s",
                 strerror(-n));
        return -1;
    }
    if (n > max) {
        snprintf(err, errlen, "%d sockets passed, at most %d supported", n, max < 0 ? 0 : max);
        r = -1;
        goto out;
    }
    for (i = 0; i < n; i++) {
        struct sdlisten_fd *s = &out[i];
        const char *name = names && names[i] && *names[i] ? names[i] : "unknown";

        memset(s, 0, sizeof(*s));
        s->fd = SD_LISTEN_FDS_START + i;
        snprintf(s->name, sizeof(s->name), "%s", name);
        if (check_socket(s, err, errlen) < 0) {
            r = -1;
            goto out;
        }
    }
    r = n;
out:
    for (i = 0; names && names[i]; i++)
        free(names[i]);
    free(names);
    return r;
}
#else
/* A decimal number with no sign, no junk and no overflow. */
static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

/* The number of colon-separated names in the list. */
static unsigned long count_names(const char *names)
{
    unsigned long n = 1;

    for (; *names; names++)
        n += *names == ':';
    return n;
}

/* Copy the first colon-separated name of p into out ("unknown" when it
 * is empty); returns where the next name starts. */
static const char *copy_name(const char *p, char *out, size_t outlen)
{
    size_t n = strcspn(p, ":");
    size_t c = n < outlen - 1 ? n : outlen - 1;

    if (n == 0) {
        snprintf(out, outlen, "unknown");
    } else {
        memcpy(out, p, c);
        out[c] = '\0';
    }
    return p[n] == ':' ? p + n + 1 : p + n;
}

static int take(struct sdlisten_fd *out, int max, char *err, size_t errlen)
{
    const char *spid = getenv("LISTEN_PID");
    const char *sfds = getenv("LISTEN_FDS");
    const char *names = getenv("LISTEN_FDNAMES");
    unsigned long pid, n, i;

    if (!sfds)
        return 0;
    /* Without LISTEN_PID we cannot know the sockets are ours: systemd
     * always sets it, and so does libsystemd's check. */
    if (!spid)
        return 0;
    if (parse_ulong(spid, ULONG_MAX, &pid) < 0) {
        snprintf(err, errlen, "bad LISTEN_PID '%s'", spid);
        return -1;
    }
    if (pid != (unsigned long)getpid())
        return 0;
    if (parse_ulong(sfds, (unsigned long)(INT_MAX - SD_LISTEN_FDS_START), &n) < 0) {
        snprintf(err, errlen, "bad LISTEN_FDS '%s'", sfds);
        return -1;
    }
    if (n > (unsigned long)(max > 0 ? max : 0)) {
        snprintf(err, errlen, "%lu sockets passed, at most %d supported", n, max);
        return -1;
    }
    if (names && n > 0 && count_names(names) != n) {
        snprintf(err, errlen, "LISTEN_FDNAMES has %lu names for %lu sockets",
                 count_names(names), n);
        return -1;
    }
    for (i = 0; i < n; i++) {
        struct sdlisten_fd *s = &out[i];

        memset(s, 0, sizeof(*s));
        s->fd = SD_LISTEN_FDS_START + (int)i;
        if (names)
            names = copy_name(names, s->name, sizeof(s->name));
        else
            snprintf(s->name, sizeof(s->name), "unknown");
        if (check_socket(s, err, errlen) < 0)
            return -1;
    }
    return (int)n;
}
#endif

int sdlisten_take(struct sdlisten_fd *out, int max, char *err, size_t errlen)
{
    int r = take(out, max, err, errlen);

    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return r;
}
