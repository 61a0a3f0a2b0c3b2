/* netutil: ferry-bench's socket system calls. */
#include "netutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

int net_resolve(const char *host, unsigned port, struct sockaddr_storage *ss,
                socklen_t *len, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char portstr[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(portstr, sizeof portstr, "%u", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
        return -1;
    }
    if (res->ai_addrlen > sizeof *ss) {
        freeaddrinfo(res);
        snprintf(err, errlen, "%s: address too long", host);
        return -1;
    }
    memset(ss, 0, sizeof *ss);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

void net_raise_nofile(rlim_t want, rlim_t *got)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        *got = 0;
        return;
    }
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
        /* Only a privileged process may raise the hard limit, and only up
         * to fs.nr_open; try, and keep what we had if refused. */
        rlim_t cap = want;
        FILE *f = fopen("/proc/sys/fs/nr_open", "r");
        if (f) {
            unsigned long long nr;
            if (fscanf(f, "%llu", &nr) == 1 && nr < cap)
                cap = (rlim_t)nr;
            fclose(f);
        }
        struct rlimit up = { cap, cap };
        if (cap > rl.rlim_max && setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    *got = rl.rlim_cur;
}

int net_connect(const struct sockaddr *dst, socklen_t dstlen,
                const struct sockaddr *src, socklen_t srclen,
                int nodelay, int *inprogress)
{
    int one = 1;
    int fd = socket(dst->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (nodelay)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src) {
        /* Without IP_BIND_ADDRESS_NO_PORT, bind() would reserve a port for
         * this address alone and the ports would run out per address
         * instead of per destination. */
        if (src->sa_family == AF_INET)
            (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, src, srclen) < 0)
            goto fail;
    }
    *inprogress = 0;
    if (connect(fd, dst, dstlen) < 0) {
        if (errno != EINPROGRESS)
            goto fail;
        *inprogress = 1;
    }
    return fd;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

int net_connect_result(int fd)
{
    int e = 0;
    socklen_t len = sizeof e;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
        return -errno;
    return e ? -e : 0;
}

int net_is_loopback4(const struct sockaddr_storage *ss)
{
    if (ss->ss_family != AF_INET)
        return 0;
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
    return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
}

void net_spread_addr(unsigned i, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    memset(ss, 0, sizeof *ss);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(0x7f000002u + (i % NET_SPREAD_COUNT));
    sin->sin_port = 0;
    *len = sizeof *sin;
}

void net_set_port(struct sockaddr_storage *ss, unsigned port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

void net_format(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
        port = ntohs(sin->sin_port);
        snprintf(buf, len, "%s:%u", host, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
        port = ntohs(sin6->sin6_port);
        snprintf(buf, len, "[%s]:%u", host, port);
    } else {
        snprintf(buf, len, "?");
    }
}
