/* netio: sockets with a timeout on every wait.  See netio.h. */
#include "netio.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double net_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait until fd is ready for events, at most timeout_ms in all.  A signal
 * restarts the wait with the time left, so the total stays bounded. */
static int wait_fd(int fd, short events, int timeout_ms, net_cancel_t *cancel)
{
    double deadline = net_now() + timeout_ms / 1000.0;

    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = events };
        double left = deadline - net_now();
        int r;

        if (cancel != NULL && *cancel)
            return -ECANCELED;
        if (left <= 0)
            return -ETIMEDOUT;
        r = poll(&pfd, 1, (int)(left * 1000.0) + 1);
        if (r > 0)
            return 0;        /* ready, or an error the next call reports */
        if (r == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

static int connect_addr(const struct sockaddr *sa, socklen_t salen,
                        int timeout_ms, net_cancel_t *cancel)
{
    int fd, r, soerr = 0, one = 1;
    socklen_t sl = sizeof(soerr);

    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* Commands are small writes that wait for a reply: Nagle only delays
     * them. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, sa, salen) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        r = -errno;
        goto fail;
    }
    r = wait_fd(fd, POLLOUT, timeout_ms, cancel);
    if (r < 0)
        goto fail;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) {
        r = -errno;
        goto fail;
    }
    if (soerr != 0) {
        r = -soerr;
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return r;
}

int net_connect_host(const char *host, unsigned port, int timeout_ms,
                     net_cancel_t *cancel, int *errnum, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL, *ai;
    char portstr[8];
    int g, fd = -ECONNREFUSED;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%u", port);
    /* getaddrinfo has no timeout of its own; the resolver's (resolv.conf
     * "timeout" and "attempts") bounds it. */
    g = getaddrinfo(host, portstr, &hints, &res);
    if (g != 0) {
        *errnum = EHOSTUNREACH;
        snprintf(err, errlen, "cannot resolve %s: %s", host,
                 g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = connect_addr(ai->ai_addr, ai->ai_addrlen, timeout_ms, cancel);
        if (fd >= 0 || fd == -ECANCELED)
            break;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        *errnum = -fd;
        snprintf(err, errlen, "connect to %s port %u: %s", host, port,
                 fd == -ETIMEDOUT ? "timed out" : strerror(-fd));
        return -1;
    }
    return fd;
}

int net_connect_port(const struct sockaddr_storage *sa, socklen_t salen,
                     unsigned port, int timeout_ms, net_cancel_t *cancel)
{
    struct sockaddr_storage to;

    memcpy(&to, sa, salen);
    if (to.ss_family == AF_INET)
        ((struct sockaddr_in *)&to)->sin_port = htons((unsigned short)port);
    else if (to.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&to)->sin6_port = htons((unsigned short)port);
    else
        return -EAFNOSUPPORT;
    return connect_addr((struct sockaddr *)&to, salen, timeout_ms, cancel);
}

int net_peer(int fd, struct sockaddr_storage *sa, socklen_t *salen)
{
    *salen = sizeof(*sa);
    if (getpeername(fd, (struct sockaddr *)sa, salen) < 0)
        return -errno;
    return 0;
}

int net_send_all(int fd, const void *buf, size_t len, int timeout_ms,
                 net_cancel_t *cancel)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            int r = wait_fd(fd, POLLOUT, timeout_ms, cancel);

            if (r < 0)
                return r;
            continue;
        }
        return n < 0 ? -errno : -EPIPE;
    }
    return 0;
}

ssize_t net_recv(int fd, void *buf, size_t len, int timeout_ms,
                 net_cancel_t *cancel)
{
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);
        int r;

        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        r = wait_fd(fd, POLLIN, timeout_ms, cancel);
        if (r < 0)
            return r;
    }
}

int net_readable(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int r = poll(&pfd, 1, 0);

    if (r < 0)
        return errno == EINTR ? 0 : -errno;
    return r > 0;
}

int net_shutdown_write(int fd)
{
    return shutdown(fd, SHUT_WR) < 0 ? -errno : 0;
}

void net_close_abort(int fd)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };

    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

int net_sleep_ms(long ms, net_cancel_t *cancel)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

    if (cancel != NULL && *cancel)
        return -ECANCELED;
    /* nanosleep leaves the time still to sleep in ts when a signal
     * interrupts it. */
    while (nanosleep(&ts, &ts) < 0) {
        if (errno != EINTR)
            return -errno;
        if (cancel != NULL && *cancel)
            return -ECANCELED;
    }
    return 0;
}
