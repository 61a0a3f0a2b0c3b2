/* conffile: ferryd's config file (--config FILE).
 *
 * One setting per line, the key being the long command-line flag without
 * its dashes:
 *
 *       # /etc/ferry/ferryd.conf
 *       root = /srv/ftp
 *       listen = 0.0.0.0:21
 *       listen = [::]:21          ; a key that repeats on the command line
 *                                 ; repeats here too
 *       write = yes               ; flags without a value take yes or no
 *       pasv-ports = 50000-50100
 *
 * '#' or ';' at the start of a line begins a comment, so does ';' after a
 * blank inside a line; blank lines are skipped; blanks around keys and
 * values are dropped; "key: value" works as "key = value".  Section
 * headers ("[ferryd]") are refused: the file has one section.  A line may
 * be at most CONFFILE_LINE_MAX bytes.  A UTF-8 byte-order mark is skipped.
 *
 * The syntax is libinih's (Debian's libinih-dev, pkg-config `inih`): a
 * small, widely packaged and fuzzed parser.  Debian builds it with fixed
 * compile-time options that do not suit a strict config file as they
 * are, so ferry feeds it through its own line reader (ini_parse_stream):
 *   - the handler of the shared library gets no line number
 *     (INI_HANDLER_LINENO=0): the reader counts lines, and errors name
 *     file:line;
 *   - lines longer than its 200-byte buffer would be cut silently and the
 *     rest read as another line: the reader refuses them instead;
 *   - an indented line would continue the previous value
 *     (INI_ALLOW_MULTILINE=1), so "  root = x" after "listen = y" would
 *     set listen to "root = x": the reader strips leading blanks, so an
 *     indented line is an ordinary line;
 *   - it keeps parsing after an error (INI_STOP_ON_FIRST_ERROR=0): the
 *     reader ends the input at the first error.
 *
 * How ferryd uses it.  The config file yields (key, value, line) in file
 * order and an `apply` callback sets each through the very function that
 * sets command-line flags, so a key and its flag cannot drift apart:
 *
 *   int config_set(void *cfg, const char *key, const char *value,
 *                  char *err, size_t errlen);
 *       -- the option setter the CLI uses, by long name ("pasv-ports");
 *          value NULL for a flag given without one on the command line.
 *          Returns 0, -1 with err ("bad value '...' for pasv-ports"), or
 *          CONFFILE_UNKNOWN_KEY.
 *
 *   main():  defaults; if --config is on the command line, load the file
 *            into the config first, then apply the command line (flags
 *            override the file):
 *       struct conffile_arena *arena;
 *       if (conffile_load(path, config_set, &cfg, &arena, err, sizeof(err)) < 0)
 *           -> print err ("ferryd.conf:7: bad value 'x' for max-clients"), exit 2
 *       ... the config's const char * fields point into the arena: keep
 *       it for as long as the config is used; conffile_arena_free() then.
 *   SIGHUP:  load into a fresh copy of the defaults plus the command line;
 *            on success swap configs and free the old arena, on failure
 *            keep running with the old config and log err.
 *   --check-config: load, print err or "ok", exit.
 *
 * Keys that only make sense on a command line ("config", "help",
 * "version", "check-config") are refused here with an error, before apply
 * sees them.  Repeatable keys (listen) are simply passed once per line. */
#ifndef FERRY_CONFFILE_H
#define FERRY_CONFFILE_H

#include <stddef.h>

/* Longest line, in bytes after leading blanks and before the newline:
 * libinih's buffer in Debian's build (INI_MAX_LINE 200) less the newline
 * and the NUL.  A build of inih with a larger buffer allows longer lines. */
#define CONFFILE_LINE_MAX 198

/* apply's return value for a key it does not know; conffile words the
 * error ("unknown key 'x'") so that every unknown key reads the same. */
#define CONFFILE_UNKNOWN_KEY (-2)

typedef int (*conffile_apply_fn)(void *ctx, const char *key, const char *value,
                                 char *err, size_t errlen);

/* Owns every value string handed to apply. */
struct conffile_arena;

/* Parse path and call apply(ctx, key, value, err, errlen) for every
 * setting in file order.  value is a NUL-terminated copy owned by the
 * arena (apply may keep the pointer); apply returns 0, -1 with a message
 * in err, or CONFFILE_UNKNOWN_KEY.
 *
 * Returns 0 and sets *arena (free with conffile_arena_free), or -1 with
 * "path:line: message" (or "path: message" when the file cannot be read)
 * in err; then *arena is untouched and nothing is left allocated.  Parsing
 * stops at the first error, but apply may already have been called for
 * earlier lines: load into a scratch config when the old one must survive
 * a failure (reload). */
int conffile_load(const char *path, conffile_apply_fn apply, void *ctx,
                  struct conffile_arena **arena, char *err, size_t errlen);

void conffile_arena_free(struct conffile_arena *a);   /* NULL is fine */

/* "yes", "true", "on", "1" -> 1; "no", "false", "off", "0" -> 0; any other
 * text -> -1 (case-insensitive).  NULL (a bare command-line flag) -> 1.
 * For apply callbacks handling flag keys such as write and allow-root. */
int conffile_parse_bool(const char *value);

#endif
