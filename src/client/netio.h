/* netio: the client's only socket system calls.
 *
 * Blocking in behaviour, non-blocking underneath: every socket is
 * O_NONBLOCK and every wait goes through poll() with a timeout, so no call
 * here can hang longer than the timeout it is given.  A signal interrupts
 * a wait; the wait resumes unless *cancel is set, in which case the call
 * returns -ECANCELED (the user pressed Ctrl-C).
 *
 * Results follow one convention: >= 0 on success, -errno on failure, with
 * -ETIMEDOUT when the timeout expired.
 */
#ifndef FERRY_CLIENT_NETIO_H
#define FERRY_CLIENT_NETIO_H

#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef volatile sig_atomic_t net_cancel_t;

/* Resolve host (a name, an IPv4 or an IPv6 literal) and connect to the
 * first address that answers, each attempt bounded by timeout_ms.  Returns
 * the socket, or -1 with a message in err ("connect to h port p: ...");
 * *errnum gets the errno-style cause (ETIMEDOUT, ECONNREFUSED, ECANCELED,
 * or EHOSTUNREACH for a name that does not resolve). */
int net_connect_host(const char *host, unsigned port, int timeout_ms,
                     net_cancel_t *cancel, int *errnum, char *err, size_t errlen);

/* Connect to sa with its port replaced by port.  Socket or -errno. */
int net_connect_port(const struct sockaddr_storage *sa, socklen_t salen,
                     unsigned port, int timeout_ms, net_cancel_t *cancel);

/* The peer address of a connected socket.  0 or -errno. */
int net_peer(int fd, struct sockaddr_storage *sa, socklen_t *salen);

/* Send all of buf.  0 or -errno (-EPIPE when the peer went away). */
int net_send_all(int fd, const void *buf, size_t len, int timeout_ms,
                 net_cancel_t *cancel);

/* Receive up to len bytes: the count, 0 at end of stream, or -errno. */
ssize_t net_recv(int fd, void *buf, size_t len, int timeout_ms,
                 net_cancel_t *cancel);

/* Whether fd has something to read (or has been closed by the peer)
 * right now, without waiting: 1, 0, or -errno. */
int net_readable(int fd);

/* Half-close the sending side (end of an upload).  0 or -errno. */
int net_shutdown_write(int fd);

/* Close a data connection with a reset rather than the orderly end of
 * stream: for an upload, the end of stream means "the file is complete",
 * which a cancelled upload is not. */
void net_close_abort(int fd);

/* Sleep for ms milliseconds (rate limiting); -ECANCELED when cancelled. */
int net_sleep_ms(long ms, net_cancel_t *cancel);

/* Monotonic clock in seconds. */
double net_now(void);

#endif
