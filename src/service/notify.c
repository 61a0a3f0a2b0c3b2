/* notify: sd_notify(3) without libsystemd.  See include/ferry/notify.h.
 *
 * Written here rather than linked from libsystemd because the protocol is
 * one sendto() of a text datagram; a library would add a run-time
 * dependency (and a build option) for a dozen lines. */
#include "ferry/notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Filled once by notify_init() before threads exist, read-only after. */
static struct {
    struct sockaddr_un addr;
    socklen_t addrlen;            /* 0: no notify socket */
    double watchdog;              /* seconds, 0 = none */
} st;

/* "/path" or "@abstract" -> st.addr.  The abstract name has no NUL
 * terminator: its length is carried by addrlen, as the kernel wants. */
static int parse_socket(const char *s)
{
    size_t n = strlen(s);

    if (n < 2 || (s[0] != '/' && s[0] != '@'))
        return -EINVAL;
    if (n >= sizeof(st.addr.sun_path))
        return -EINVAL;
    memset(&st.addr, 0, sizeof(st.addr));
    st.addr.sun_family = AF_UNIX;
    memcpy(st.addr.sun_path, s, n);
    if (s[0] == '@') {
        st.addr.sun_path[0] = '\0';
        st.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        st.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

/* $WATCHDOG_USEC, honoured only when $WATCHDOG_PID is absent or ours:
 * the variables may have been meant for a parent that exec'd us. */
static double parse_watchdog(const char *usec, const char *pid)
{
    char *end;
    unsigned long long u, p;

    if (!usec || !*usec)
        return 0;
    if (pid && *pid) {
        errno = 0;
        p = strtoull(pid, &end, 10);
        if (errno || *end || pid[0] == '-' || p != (unsigned long long)getpid())
            return 0;
    }
    errno = 0;
    u = strtoull(usec, &end, 10);
    if (errno || *end || usec[0] == '-' || u == 0)
        return 0;
    return (double)u / 1e6;
}

int notify_init(void)
{
    const char *s = getenv("NOTIFY_SOCKET");
    int r = 0;

    st.addrlen = 0;
    st.watchdog = parse_watchdog(getenv("WATCHDOG_USEC"), getenv("WATCHDOG_PID"));
    if (s && *s) {
        r = parse_socket(s);
        if (r == 0)
            r = 1;
        else
            st.addrlen = 0;
    }
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    return r;
}

int notify_enabled(void)
{
    return st.addrlen != 0;
}

double notify_watchdog_interval(void)
{
    return st.watchdog;
}

int notify_send(const char *msg)
{
    size_t len = strlen(msg);
    ssize_t n;
    int fd, r;

    if (st.addrlen == 0)
        return 0;
    /* A fresh socket per message: no shared state between threads, and
     * nothing to re-create if the manager restarts its listener. */
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    do {
        /* MSG_DONTWAIT: a manager whose queue is full must cost a lost
         * status line, never a blocked signal-handling thread. */
        n = sendto(fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT,
                   (const struct sockaddr *)&st.addr, st.addrlen);
    } while (n < 0 && errno == EINTR);
    r = n < 0 ? -errno : (size_t)n == len ? 1 : -EMSGSIZE;
    close(fd);
    return r;
}

int notify_ready(void)
{
    return notify_send("READY=1");
}

int notify_stopping(void)
{
    return notify_send("STOPPING=1");
}

int notify_watchdog(void)
{
    return notify_send("WATCHDOG=1");
}

int notify_reloading(void)
{
    struct timespec ts;
    char msg[64];

    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        return -errno;
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL +
             (unsigned long long)ts.tv_nsec / 1000ULL);
    return notify_send(msg);
}

int notify_status(const char *fmt, ...)
{
    char msg[sizeof("STATUS=") + NOTIFY_STATUS_MAX];
    va_list ap;
    char *p;

    if (st.addrlen == 0)
        return 0;
    memcpy(msg, "STATUS=", 7);
    va_start(ap, fmt);
    vsnprintf(msg + 7, sizeof(msg) - 7, fmt, ap);
    va_end(ap);
    for (p = msg + 7; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return notify_send(msg);
}
