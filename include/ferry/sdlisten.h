/* sdlisten: take the listening sockets a service manager passed
 * (socket activation, sd_listen_fds_with_names(3)).
 *
 * The protocol: the manager binds the sockets, puts them at descriptors
 * 3, 4, ... and sets LISTEN_PID (the pid they are meant for),
 * LISTEN_FDS (how many) and optionally LISTEN_FDNAMES (colon-separated
 * names from FileDescriptorName=).  systemd and systemd-socket-activate
 * both do this.  Built with libsystemd (-Dsystemd=auto finds it), ferry
 * reads them with sd_listen_fds_with_names(3); without it, with a reader
 * of its own that follows the same rules.  Either way every socket is
 * then validated here.
 *
 * How ferryd uses it, in main() before any thread starts and before it
 * opens any other descriptor (fds 3.. belong to the manager's sockets):
 *
 *       struct sdlisten_fd fds[CONFIG_MAX_LISTEN];
 *       int n = sdlisten_take(fds, CONFIG_MAX_LISTEN, err, sizeof(err));
 *       n < 0:  print err, exit non-zero (a broken hand-over is fatal:
 *               systemd would otherwise restart us into the same error)
 *       n == 0: not socket-activated; bind the --listen addresses
 *       n > 0:  serve fds[0..n-1] instead of binding --listen (the
 *               addresses in the config are ignored, and logged as such)
 *
 * With --workers N the workers cannot each bind an SO_REUSEPORT twin of
 * a socket the manager bound: they share the passed descriptors (in epoll,
 * registered with EPOLLEXCLUSIVE so one connection wakes one worker). */
#ifndef FERRY_SDLISTEN_H
#define FERRY_SDLISTEN_H

#include <stddef.h>
#include <sys/socket.h>

#define SD_LISTEN_FDS_START 3
#define SDLISTEN_NAME_MAX   64      /* FileDescriptorName= allows 255; cut */

struct sdlisten_fd {
    int fd;                         /* SD_LISTEN_FDS_START + index */
    int family;                     /* AF_INET or AF_INET6 */
    char name[SDLISTEN_NAME_MAX];   /* from LISTEN_FDNAMES, "unknown" if none */
    struct sockaddr_storage addr;   /* the local address, for logs and PASV */
    socklen_t addrlen;
};

/* Validate and take the passed sockets: each must be a listening
 * (SO_ACCEPTCONN) stream (SO_TYPE) socket of family AF_INET or AF_INET6
 * (FTP's data channel needs an IP address).  Each is set O_NONBLOCK and
 * FD_CLOEXEC.  LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are unset
 * afterwards in every case, so nothing started later mistakes them for
 * its own.  Not thread-safe (it edits the environment).
 *
 * Returns the number of sockets (0 when LISTEN_FDS is unset or LISTEN_PID
 * names another process), or -1 with a message in err: a malformed
 * variable, more than max sockets, a name count that does not match, or a
 * descriptor that is not a listening TCP socket. */
int sdlisten_take(struct sdlisten_fd *out, int max, char *err, size_t errlen);

#endif
