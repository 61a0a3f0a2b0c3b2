/* notify: tell the service manager how ferryd is doing (sd_notify(3)).
 *
 * The protocol is one datagram of "KEY=VALUE\n" lines sent to the
 * AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the
 * abstract namespace).  That is all libsystemd's sd_notify() does, so
 * ferry speaks it itself and needs no libsystemd at build or run time.
 * Without $NOTIFY_SOCKET (started by hand, or Type=simple) every call is
 * a cheap no-op that returns 0.
 *
 * How ferryd uses it:
 *
 *   main(), before any thread starts:
 *       notify_init();                    reads and unsets the variables
 *       double wd = notify_watchdog_interval();
 *   once the listeners are bound and the workers run:
 *       notify_ready();
 *       notify_status("%u clients, %u transfers", ...);   when counts change,
 *                                                        at most ~1/s
 *   when wd > 0, on a repeating timer of wd / 2 in the main loop:
 *       notify_watchdog();   only if every worker's loop has turned since
 *                            the last ping (each worker bumps a counter per
 *                            turn), so one wedged worker stops the pings
 *                            and systemd restarts the service
 *   on SIGHUP, before re-reading config and users, then after:
 *       notify_reloading();  ...reload...  notify_ready();
 *   on the first SIGTERM, when draining starts:
 *       notify_stopping();
 *
 * Every send opens, uses and closes its own socket, so all functions
 * after notify_init() are safe to call from any thread at once.  They
 * return 1 when a message went out, 0 when there is no $NOTIFY_SOCKET,
 * or a negative errno (the caller may log it; the server keeps running:
 * a manager that stopped listening is no reason to stop serving). */
#ifndef FERRY_NOTIFY_H
#define FERRY_NOTIFY_H

#include <stddef.h>

/* Longest message notify_status() formats; longer text is cut. */
#define NOTIFY_STATUS_MAX 256

/* Read $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID once, keep what
 * they say, and unset them so that children (the fork model) neither
 * inherit nor misuse them.  Not thread-safe (it edits the environment):
 * call it in main() before any thread starts.  Returns 1 when a notify
 * socket was found, 0 when none was set, -EINVAL when $NOTIFY_SOCKET is
 * set but unusable (not "/path" or "@name", or too long), and then every
 * later send returns 0 as if unset. */
int notify_init(void);

/* Whether notify_init() found a usable socket. */
int notify_enabled(void);

/* Send msg as it is: one or more "KEY=VALUE" lines, newline-separated. */
int notify_send(const char *msg);

int notify_ready(void);                   /* READY=1 */
int notify_stopping(void);                /* STOPPING=1 */
/* RELOADING=1 with MONOTONIC_USEC=<CLOCK_MONOTONIC in µs>, as systemd
 * 253's Type=notify-reload requires; older managers ignore the extra
 * field.  Send notify_ready() when the reload is over. */
int notify_reloading(void);
int notify_watchdog(void);                /* WATCHDOG=1 */
/* STATUS=<text>: the line `systemctl status` shows.  Newlines in the
 * formatted text become spaces (a newline would start a new KEY=). */
int notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval in seconds that notify_init() found: $WATCHDOG_USEC
 * when it is a positive number and $WATCHDOG_PID is unset or names this
 * process; otherwise 0 (no watchdog).  Ping at half of it. */
double notify_watchdog_interval(void);

#endif
