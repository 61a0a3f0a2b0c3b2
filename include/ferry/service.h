/* service: what makes ferryd a system service, as one set of calls that
 * main() and every model runner make the same way.
 *
 * main() sets the service up around the model:
 *
 *       config_load(...)                  defaults, --config file, argv
 *       service_check(&cfg, ...)          with --check-config: report, exit
 *       server_init(&srv, &cfg)           the root
 *       service_init(&srv, argc, argv)    notify_init, sdlisten_take (fds
 *                                        3.. are the manager's, so nothing
 *                                        opened before can take them)
 *       service_open(&srv, model, ...)    listeners (passed or bound),
 *                                        users file, xferlog, metrics socket
 *       privdrop(...)                     (service_privdrop)
 *       service_start(&srv, model)        signals blocked; auth pool and
 *                                        metrics thread
 *       model->run(&srv, model)
 *       service_fini(&srv)
 *
 * A model runner (driver_run_workers for the event-loop models,
 * perclient_run for thread/fork/iterative) makes these calls, from its
 * main thread, which takes the signals:
 *
 *   listeners:   n = service_listeners(srv, i, fds, CONFIG_MAX_LISTEN)
 *                   the listening sockets of worker i (0 for a runner with
 *                   one acceptor); ownership passes to the caller.  With
 *                   socket activation every worker gets its own duplicate
 *                   of the passed sockets; otherwise each worker of an
 *                   event-loop model has its own SO_REUSEPORT set, bound
 *                   before privileges were dropped.  -1 on failure (logged).
 *   workers:     service_watch(srv, w)   each event-loop worker, before it
 *                   runs: the watchdog waits for all of them to turn, and
 *                   a reload wakes them so that they take the new config
 *                   at once.  Per-client runners watch none (their own
 *                   loop turning is what the watchdog then checks).
 *   serving:     service_ready(srv)      once the workers run: READY=1
 *   every loop:  t = service_tick(srv)   at least every t seconds (t <= 1):
 *                   STATUS= with clients and transfers, WATCHDOG=1
 *   SIGHUP:      service_reload(srv)     RELOADING=1, re-read the config
 *                   and the users file, reopen the xferlog, READY=1
 *   SIGTERM:     service_stopping(srv)   STOPPING=1, on the first one
 *   the end:     service_unwatch(srv)    before the workers are freed
 *
 * The fork model's runner also calls, in each child right after fork(),
 * service_forked(srv), and for every pid it reaps, service_reaped(): the
 * metrics server of that model is a process (the parent creates no
 * thread), and it is the service's to reap.
 */
#ifndef FERRY_SERVICE_H
#define FERRY_SERVICE_H

#include <stddef.h>
#include <sys/types.h>

#include "ferry/config.h"
#include "ferry/driver.h"
#include "ferry/worker.h"

/* Validate everything a start would need without starting: the config,
 * the root folder, the users file, the listen and metrics addresses, the
 * xferlog's folder, the user and group to switch to.  0, or -1 with err. */
int service_check(const struct ferry_config *cfg, char *err, size_t errlen);

/* After server_init, before any thread starts: read the service
 * manager's environment (NOTIFY_SOCKET, LISTEN_FDS...).  argv is kept
 * for reloads, which parse it again on top of the re-read config file.
 * 0, or -1 with err (a broken hand-over of sockets is fatal). */
int service_init(struct server *srv, int argc, char **argv, char *err, size_t errlen);

/* After server_init, before privileges are dropped: the listening
 * sockets, the users file, the failed-login table, the xferlog and the
 * metrics socket.  0, or -1 with err. */
int service_open(struct server *srv, const struct model *m, char *err, size_t errlen);

/* Switch user (and chroot) as configured.  0, or -1 with err. */
int service_privdrop(struct server *srv, char *err, size_t errlen);

/* Block the stop and reload signals in this thread (every thread started
 * later inherits the mask; the runner takes them synchronously), then
 * start the threads: the auth pool (event-loop models) and the metrics
 * thread.  0, or -1 with err. */
int service_start(struct server *srv, const struct model *m, char *err, size_t errlen);

void service_fini(struct server *srv);

/* How many event-loop workers the model runs. */
int service_nworkers(const struct model *m, const struct ferry_config *cfg);

/* The runner's calls; see above. */
int service_listeners(struct server *srv, int worker, int *fds, int max);
void service_watch(struct server *srv, struct worker *w);
void service_unwatch(struct server *srv);
void service_ready(struct server *srv);
double service_tick(struct server *srv);
void service_reload(struct server *srv);
void service_stopping(struct server *srv);
/* Fork model: in a child, close what belongs to the parent's service. */
void service_forked(struct server *srv);
/* Fork model: pid was reaped with status; 1 if it was the service's own
 * (the metrics process, whose unexpected end is logged, and which a later
 * service_tick() forks again), 0 if not. */
int service_reaped(struct server *srv, pid_t pid, int status);

#endif
