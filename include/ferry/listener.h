/* listener: turning "ADDR:PORT" into listening sockets. */
#ifndef FERRY_LISTENER_H
#define FERRY_LISTENER_H

#include <stddef.h>
#include <sys/socket.h>

/* Parse "127.0.0.1:2121", "[::1]:2121", "*:21", "[::]:21", ":2121".
 * 0 or -1 (err filled). */
int listener_parse(const char *spec, struct sockaddr_storage *ss,
                   socklen_t *len, char *err, size_t errlen);
/* A non-blocking, close-on-exec listening socket (SO_REUSEADDR, and
 * SO_REUSEPORT when reuseport != 0; IPV6_V6ONLY on v6 sockets so that
 * "[::]" and "0.0.0.0" can both be given).  fd or -errno. */
int listener_open(const struct sockaddr_storage *ss, socklen_t len,
                  int backlog, int reuseport);
/* A passive-mode data listener bound to the control connection's local
 * address, on a port in [lo, hi] (0,0: any), backlog 1.  fd or -errno
 * (-EADDRINUSE when the whole range is taken). */
int listener_open_passive(const struct sockaddr_storage *local,
                          unsigned lo, unsigned hi, unsigned *port);

#endif
