/* io: the socket system calls, one convention (see io.h). */
#include "ferry/io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

static ssize_t io_result(ssize_t n)
{
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return IO_AGAIN;
    return -errno;
}

ssize_t io_recv(int fd, void *buf, size_t len)
{
    ssize_t n;
    do
        n = recv(fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    return io_result(n);
}

ssize_t io_send(int fd, const void *buf, size_t len)
{
    ssize_t n;
    do
        n = send(fd, buf, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return io_result(n);
}

ssize_t io_sendfile(int out, int in, off_t *off, size_t len)
{
    ssize_t n;
    do
        n = sendfile(out, in, off, len);
    while (n < 0 && errno == EINTR);
    return io_result(n);
}

int io_accept(int lfd, struct sockaddr_storage *peer, socklen_t *peerlen)
{
    int fd;
    *peerlen = sizeof(*peer);
    do
        fd = accept4(lfd, (struct sockaddr *)peer, peerlen,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return (int)io_result(-1);
    return fd;
}

int io_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -ENOSPC;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int io_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

int io_tune_control(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0)
        return -errno;
    return 0;
}

/* Unsent bytes a data socket may hold.  The kernel grows a send buffer
 * towards tcp_wmem's maximum (4 MiB by default) whether or not the peer
 * reads, so a client that never reads its download pins megabytes of the
 * host's TCP memory, and a thousand of them exhaust tcp_mem: every
 * connection on the host stalls.  TCP_NOTSENT_LOWAT bounds only the part
 * not yet sent; what is in flight still grows with the path, unlike a
 * fixed SO_SNDBUF. */
#define IO_DATA_NOTSENT_LOWAT (256 * 1024)

int io_tune_data(int fd)
{
    int one = 1, lowat = IO_DATA_NOTSENT_LOWAT;
    /* Listings and the last piece of a file must not wait for Nagle. */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat)) < 0)
        return -errno;
    return 0;
}

int io_reset_on_close(int fd)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
        return -errno;
    return 0;
}

const char *io_addr_str(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(out, outlen, "%s:%u", ip, ntohs(s4->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(out, outlen, "[%s]:%u", ip, ntohs(s6->sin6_port));
    } else {
        snprintf(out, outlen, "?");
    }
    return out;
}

/* The IPv4 address of a v4 or v4-mapped v6 address, for comparing. */
static int v4_of(const struct sockaddr_storage *ss, struct in_addr *a)
{
    if (ss->ss_family == AF_INET) {
        *a = ((const struct sockaddr_in *)ss)->sin_addr;
        return 1;
    }
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            memcpy(a, &a6->s6_addr[12], 4);
            return 1;
        }
    }
    return 0;
}

int io_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    struct in_addr a4, b4;
    int av4 = v4_of(a, &a4), bv4 = v4_of(b, &b4);
    if (av4 || bv4)
        return av4 && bv4 && a4.s_addr == b4.s_addr;
    if (a->ss_family == AF_INET6 && b->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr,
                      sizeof(struct in6_addr)) == 0;
    return 0;
}
