/* A stand-in service for the socket-activation test: takes its listeners
 * with sdlisten exactly as ferryd does, reports READY and STATUS with
 * notify, answers one connection on each passed socket with a line that
 * describes the socket, then reports STOPPING and exits.  Run by
 * systemd-socket-activate, which passes the sockets as systemd does. */
#include "ferry/notify.h"
#include "ferry/sdlisten.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    struct sdlisten_fd fds[4];
    char err[256];
    int n, i;

    /* Take the sockets first: nothing may be opened before, fds 3.. are
     * the manager's. */
    n = sdlisten_take(fds, 4, err, sizeof(err));
    if (n <= 0) {
        fprintf(stderr, "probe: %s\n", n < 0 ? err : "no sockets passed");
        return 1;
    }
    if (notify_init() != 1) {
        fprintf(stderr, "probe: no NOTIFY_SOCKET\n");
        return 1;
    }
    if (notify_status("serving %d sockets", n) != 1 || notify_ready() != 1) {
        fprintf(stderr, "probe: notify failed\n");
        return 1;
    }
    for (i = 0; i < n; i++) {
        struct pollfd p = { .fd = fds[i].fd, .events = POLLIN };
        char line[128];
        int c, len;

        /* Non-blocking, as sdlisten left it: wait for the client (the
         * test connects within seconds; 20 s bounds a broken run). */
        if (poll(&p, 1, 20000) != 1) {
            fprintf(stderr, "probe: no connection\n");
            return 1;
        }
        c = accept4(fds[i].fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            fprintf(stderr, "probe: accept: %s\n", strerror(errno));
            return 1;
        }
        len = snprintf(line, sizeof(line), "fd=%d name=%s family=%s nonblock=%d cloexec=%d\n",
                       fds[i].fd, fds[i].name, fds[i].family == AF_INET6 ? "inet6" : "inet",
                       (fcntl(fds[i].fd, F_GETFL) & O_NONBLOCK) != 0,
                       (fcntl(fds[i].fd, F_GETFD) & FD_CLOEXEC) != 0);
        if (write(c, line, (size_t)len) != len)
            return 1;
        close(c);
    }
    notify_stopping();
    return 0;
}
