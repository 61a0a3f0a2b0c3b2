/* netutil: the socket system calls ferry-bench makes, in one place.
 * Functions return 0 (or an fd) on success and a negative errno on
 * failure; none of them logs. */
#ifndef FERRY_BENCH_NETUTIL_H
#define FERRY_BENCH_NETUTIL_H

#include <stddef.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* Numeric or named host and a port -> address (the first getaddrinfo
 * gives).  0, or -1 with err set. */
int net_resolve(const char *host, unsigned port, struct sockaddr_storage *ss,
                socklen_t *len, char *err, size_t errlen);

/* Raise RLIMIT_NOFILE: the soft limit to the hard limit, and when that is
 * below `want` and the process may, the hard limit too (up to the
 * kernel's fs.nr_open).  *got is the soft limit in force afterwards.
 * Never fails: a limit that cannot be raised is simply reported. */
void net_raise_nofile(rlim_t want, rlim_t *got);

/* A non-blocking TCP socket connecting to dst.  With src, it is bound to
 * src's address first (IP_BIND_ADDRESS_NO_PORT, so the port is still
 * picked at connect time from the whole 4-tuple space).  *inprogress says
 * whether the caller must wait for writability and then ask
 * net_connect_result.  Returns the fd or -errno (the socket closed). */
int net_connect(const struct sockaddr *dst, socklen_t dstlen,
                const struct sockaddr *src, socklen_t srclen,
                int nodelay, int *inprogress);

/* After writability: 0 when connected, else -errno of the failure. */
int net_connect_result(int fd);

/* 1 when ss is an IPv4 address in 127.0.0.0/8. */
int net_is_loopback4(const struct sockaddr_storage *ss);

/* The i-th source address of the loopback spread: 127.0.0.2 .. .254. */
#define NET_SPREAD_COUNT 253u
void net_spread_addr(unsigned i, struct sockaddr_storage *ss, socklen_t *len);

/* ss with its port replaced. */
void net_set_port(struct sockaddr_storage *ss, unsigned port);

/* "127.0.0.1:21" or "[::1]:21" into buf. */
void net_format(const struct sockaddr_storage *ss, char *buf, size_t len);

#endif
