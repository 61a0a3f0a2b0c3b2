/* listener: parsing listen specs and opening listening sockets. */
#include "ferry/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

int listener_parse(const char *spec, struct sockaddr_storage *ss,
                   socklen_t *len, char *err, size_t errlen)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon, *h = spec;
    size_t hlen;
    char *end;
    unsigned long port;

    memset(ss, 0, sizeof(*ss));
    if (spec[0] == '[') {
        const char *rb = strchr(spec, ']');
        if (!rb || rb[1] != ':') {
            snprintf(err, errlen, "bad listen address '%s': want [IPv6]:PORT", spec);
            return -1;
        }
        h = spec + 1;
        hlen = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon) {
            snprintf(err, errlen, "bad listen address '%s': want ADDR:PORT", spec);
            return -1;
        }
        hlen = (size_t)(colon - spec);
    }
    if (hlen >= sizeof(host)) {
        snprintf(err, errlen, "bad listen address '%s'", spec);
        return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno || port > 65535) {
        snprintf(err, errlen, "bad port in listen address '%s'", spec);
        return -1;
    }
    if (spec[0] == '[') {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
            snprintf(err, errlen, "bad IPv6 address in '%s'", spec);
            return -1;
        }
        *len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (host[0] == '\0' || strcmp(host, "*") == 0)
            s4->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
            snprintf(err, errlen, "bad IPv4 address in '%s'", spec);
            return -1;
        }
        *len = sizeof(*s4);
    }
    return 0;
}

int listener_open(const struct sockaddr_storage *ss, socklen_t len,
                  int backlog, int reuseport)
{
    int one = 1, fd, e;

    fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto fail;
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
    if (ss->ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        goto fail;
    if (bind(fd, (const struct sockaddr *)ss, len) < 0)
        goto fail;
    if (listen(fd, backlog) < 0)
        goto fail;
    return fd;
fail:
    e = errno;
    close(fd);
    return -e;
}

static void set_port(struct sockaddr_storage *ss, unsigned port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

static unsigned get_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* The kernel's ephemeral range, read once; the default if unreadable. */
static void ephemeral_range(unsigned *lo, unsigned *hi)
{
    static unsigned cached_lo, cached_hi;
    if (!cached_lo) {
        unsigned a = 32768, b = 60999;
        FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
        if (f) {
            if (fscanf(f, "%u %u", &a, &b) != 2 || a < 1024 || b < a || b > 65535) {
                a = 32768;
                b = 60999;
            }
            fclose(f);
        }
        cached_hi = b;
        cached_lo = a;   /* benign race: every thread computes the same */
    }
    *lo = cached_lo;
    *hi = cached_hi;
}

static unsigned random_u32(void)
{
    unsigned r;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (unsigned)rand();
    return r;
}

int listener_open_passive(const struct sockaddr_storage *local,
                          unsigned lo, unsigned hi, unsigned *port)
{
    struct sockaddr_storage ss = *local;
    socklen_t len = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                            : sizeof(struct sockaddr_in6);
    int fd, given = lo != 0 && hi >= lo;
    unsigned span, start;

    /* Pick the port ourselves rather than bind to port 0: every finished
     * download leaves its data port in TIME_WAIT on our side (the server
     * closes first, that is how the client learns the file ended), and the
     * kernel's search for a free port 0 then walks those by the thousand
     * -- milliseconds per bind under load.  A random port with
     * SO_REUSEADDR may be bound over TIME_WAIT, so a few tries find one;
     * vsftpd does the same. */
    if (!given)
        ephemeral_range(&lo, &hi);
    span = hi - lo + 1;
    start = random_u32();
    for (unsigned i = 0; i < (given ? span : 64u); i++) {
        unsigned p = lo + (given ? start + i : random_u32()) % span;
        set_port(&ss, p);
        fd = listener_open(&ss, len, 1, 0);
        if (fd >= 0) {
            *port = p;
            return fd;
        }
        if (fd != -EADDRINUSE && fd != -EACCES)
            return fd;
    }
    if (given)
        return -EADDRINUSE;
    /* A crowded range: let the kernel search. */
    set_port(&ss, 0);
    fd = listener_open(&ss, len, 1, 0);
    if (fd < 0)
        return fd;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    *port = get_port(&ss);
    return fd;
}
