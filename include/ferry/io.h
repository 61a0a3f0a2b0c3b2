/* io: every recv/send/sendfile/accept ferry does on a socket.
 *
 * One convention, as in libuv and lwan: a result >= 0 is a byte count (0
 * from io_recv is the peer's orderly close), IO_AGAIN means "would block"
 * and clears nothing by itself, any other negative value is -errno.
 * EINTR is retried here, so callers never see it.  send uses MSG_NOSIGNAL
 * so a vanished peer is EPIPE, never SIGPIPE. */
#ifndef FERRY_IO_H
#define FERRY_IO_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#define IO_AGAIN (-11000)   /* distinct from every -errno */

ssize_t io_recv(int fd, void *buf, size_t len);
ssize_t io_send(int fd, const void *buf, size_t len);
/* sendfile(2) of up to len bytes from in at *off, advancing *off. */
ssize_t io_sendfile(int out, int in, off_t *off, size_t len);
/* accept4(SOCK_NONBLOCK|SOCK_CLOEXEC); fd, IO_AGAIN or -errno. */
int io_accept(int lfd, struct sockaddr_storage *peer, socklen_t *peerlen);
/* write(2) all of buf to a file; 0 or -errno (-ENOSPC ...). */
int io_write_all(int fd, const void *buf, size_t len);

/* Socket set-up helpers. */
int io_set_nonblock(int fd);
/* Options every control/data socket gets: TCP_NODELAY on control
 * connections (replies are small and latency-bound), SO_OOBINLINE so the
 * urgent byte of an ABOR (ftplib sends it with MSG_OOB) stays in the
 * stream, SO_KEEPALIVE. */
int io_tune_control(int fd);
/* Data sockets: TCP_NODELAY, and a bound on the unsent bytes the kernel
 * queues (TCP_NOTSENT_LOWAT), so a client that stops reading pins little
 * of the host's TCP memory. */
int io_tune_data(int fd);
/* SO_LINGER 0: the close() that follows sends RST and drops what is still
 * queued, instead of FIN after it. */
int io_reset_on_close(int fd);

/* "ip:port" / "[ip6]:port" text of an address; returns out. */
const char *io_addr_str(const struct sockaddr_storage *ss, char *out, size_t outlen);
/* Same host?  (Compares the IP only; v4-mapped v6 equals v4.) */
int io_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

#endif
