/* session: one FTP client, as a non-blocking state machine.
 *
 * A session owns up to three sockets (the control connection, a passive
 * data listener, a data connection), all registered with its worker.  It
 * never blocks and never sleeps: it reads and writes until IO_AGAIN or a
 * per-turn budget, and framing comes from CRLF on the control connection
 * and from the close of the data connection.
 *
 * Re-entrancy: a session is freed only at the end of session_event(),
 * session_timeout() or session_drain() -- the three entry points -- never
 * from inside a command handler, which only marks it closing.  Callers must
 * not touch the session or any of its conns after an entry point returns
 * (the worker does not).
 */
#ifndef FERRY_SESSION_H
#define FERRY_SESSION_H

#include <sys/socket.h>

struct worker;
struct session;
struct conn;

/* Adopt an accepted control connection: sends the 220 banner.  On failure
 * (ENOMEM) the fd is closed and NULL returned. */
struct session *session_new(struct worker *w, int fd,
                            const struct sockaddr_storage *peer, socklen_t peerlen);
/* Readiness on one of the session's conns (flags already recorded). */
void session_event(struct session *s, struct conn *c);
/* The session's timer expired (worker's timeout lists). */
void session_timeout(struct session *s);
/* Server is draining: an idle session says 421 and closes; one with a
 * transfer in flight closes after it.  force: close now, discarding any
 * upload. */
void session_drain(struct session *s, int force);

/* For the worker's lists. */
struct session *session_next(const struct session *s);
void session_set_next(struct session *s, struct session *next);
struct session *session_prev(const struct session *s);
void session_set_prev(struct session *s, struct session *prev);
/* The timeout node embedded in a session, and back. */
struct tmo_node *session_tmo(struct session *s);
struct session *session_from_tmo(struct tmo_node *n);

#endif
