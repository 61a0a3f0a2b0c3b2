/* shell: ferry's prompt, its command table, and the one-shot
 * subcommands, which run the very same commands.
 */
#ifndef FERRY_CLIENT_SHELL_H
#define FERRY_CLIENT_SHELL_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "ferry/ftpc.h"
#include "xfer.h"

#define SHELL_MAXARGS 64

struct shell {
    struct ftpc *c;
    const char  *host;
    unsigned     port;
    const char  *user;
    const char  *pass;
    struct xfer_opts xo;
    int          interactive;   /* a person at a terminal: errors do not
                                   end the session */
    int          quit;          /* set by quit */
    volatile sig_atomic_t *cancel;
    char         home[4096];    /* remote directory after login */
    char         cwd[4096];     /* remote directory now */
};

/* Split a command line in place into at most maxargs words: blanks
 * separate, '...' and "..." quote, a backslash escapes the next character
 * (not inside '...').  The count, -1 for an unterminated quote, -2 for
 * too many words. */
int shell_split(char *line, char **argv, int maxargs);

/* Connect and log in (again), printing any error; an ftpc status. */
int shell_connect(struct shell *sh);

/* Run one command (argv[0] names it), printing its output on stdout and
 * its error on stderr; an ftpc status. */
int shell_exec(struct shell *sh, int argc, char **argv);

/* The prompt: read commands until quit or end of input.  On a terminal an
 * error is shown and the prompt goes on; otherwise (a script) the first
 * failing command ends the session with its status, unless its line
 * starts with '-'.  Returns the exit status. */
int shell_run(struct shell *sh, const char *histfile);

/* The prompt's commands, for --help. */
void shell_print_commands(FILE *out);

#endif
