/* lineread: where the prompt's command lines come from.
 *
 * On a terminal: libedit, for line editing (emacs keys, or vi through
 * ~/.editrc), a history kept in a file, and Tab completion of command
 * names.  libedit rather than GNU readline because it is BSD-licensed,
 * like ferry, well kept (NetBSD's), and packaged everywhere.  Otherwise a
 * plain line mode, so that the prompt can be scripted through a pipe.
 */
#ifndef FERRY_CLIENT_LINEREAD_H
#define FERRY_CLIENT_LINEREAD_H

struct lineread;

/* edit: use libedit (stdin and stdout are terminals).  histfile may be
 * NULL (no history kept across runs).  words: a NULL-terminated list for
 * completion, used as given (not copied). */
struct lineread *lineread_new(int edit, const char *histfile,
                              const char *const *words);
/* The next line without its line end, valid until the next call; NULL at
 * the end of input.  *interrupted is set when Ctrl-C abandoned the line
 * (the result is then "" and the caller prompts again). */
const char *lineread_get(struct lineread *lr, const char *prompt, int *interrupted);
/* Remember a line in the history (edit mode only). */
void lineread_remember(struct lineread *lr, const char *line);
/* Save the history and restore the terminal. */
void lineread_free(struct lineread *lr);

#endif
