/* log: one line per event, key=value, to stderr (journald takes it).
 *
 *   2026-11-27T09:14:35.123Z info event=login session=12 worker=0 peer=127.0.0.1:5555 user=anonymous
 *
 * Helpers report, callers log: only the session, the worker and main()
 * call these; lower layers return error codes.  Every value that came from
 * a client is written with log_quote() semantics (%q-like): no control
 * byte, quote or space reaches the log raw, so a client cannot forge a
 * line (fail2ban and xferlog readers parse these). */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(int level);
int log_get_level(void);
/* "debug" | "info" | "warn" | "error" -> level, or -1. */
int log_level_parse(const char *name);

/* Writes one line; the message is key=value pairs formatted by the caller.
 * Thread-safe: each line goes out in one write(2). */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) do { if (log_get_level() <= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)  do { if (log_get_level() <= LOG_INFO)  log_msg(LOG_INFO,  __VA_ARGS__); } while (0)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Quote untrusted text for a log value: printable ASCII other than '"',
 * '\\' and ' ' is copied, everything else is \xHH-escaped, the whole in
 * double quotes when anything was escaped or it is empty.  Always
 * NUL-terminates; truncates with "..." when out is too small.  Returns
 * out, so it can be used inline in a log_msg() argument list. */
const char *log_quote(char *out, size_t outlen, const char *s, size_t len);

#endif
