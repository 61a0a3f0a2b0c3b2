/* ferry: the command-line FTP client.
 *
 *   ferry [OPTIONS] [ftp://][user[:pass]@]HOST[:PORT][/DIR]   the prompt
 *   ferry [OPTIONS] ls|get|put|cat|rm|mkdir|rmdir|mv|size ... one shot
 *
 * The exit status tells the kind of failure (see usage()).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ferry/ftpc.h"
#include "ferry/ftpproto.h"
#include "shell.h"

#ifndef FERRY_VERSION
#define FERRY_VERSION "unknown"
#endif

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* The one-shot subcommands: where the URL sits among their arguments,
 * and which prompt command runs them. */
struct subcommand {
    const char *name;
    const char *command;
    int         nargs_min, nargs_max;
    int         url_at;         /* index of the URL among the arguments */
    int         needs_path;     /* the URL must name a file or directory */
    const char *usage;
};

static const struct subcommand subcommands[] = {
    { "ls",    "list",  1, 1, 0, 0, "ls URL" },
    { "get",   "get",   1, 2, 0, 1, "get URL [LOCAL]" },
    { "put",   "put",   2, 2, 1, 0, "put LOCAL URL" },
    { "cat",   "cat",   1, 1, 0, 1, "cat URL" },
    { "rm",    "rm",    1, 1, 0, 1, "rm URL" },
    { "mkdir", "mkdir", 1, 1, 0, 1, "mkdir URL" },
    { "rmdir", "rmdir", 1, 1, 0, 1, "rmdir URL" },
    { "mv",    "mv",    2, 2, 0, 1, "mv URL NEWPATH" },
    { "size",  "size",  1, 1, 0, 1, "size URL" },
};
#define NSUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *out)
{
    fprintf(out,
"usage: ferry [OPTIONS] [ftp://][USER[:PASS]@]HOST[:PORT][/DIR]\n"
"       ferry [OPTIONS] COMMAND ARGS...\n"
"\n"
"With a host alone, ferry opens a prompt on it. With a command, it does one\n"
"thing and exits; URLs are ftp://[USER[:PASS]@]HOST[:PORT]/PATH, with the\n"
"path relative to the login directory (ftp://HOST//abs for an absolute one).\n"
"\n"
"Commands:\n"
"  ls URL                  list a directory\n"
"  get URL [LOCAL]         download a file (to LOCAL, or a directory)\n"
"  put LOCAL URL           upload a file (URL ending in / keeps the name)\n"
"  cat URL                 print a file on standard output\n"
"  rm URL, mkdir URL, rmdir URL, size URL\n"
"  mv URL NEWPATH          rename (NEWPATH relative to the login directory)\n"
"\n"
"Options:\n"
"  -c, --continue          resume a partial download (LOCAL.part, or LOCAL)\n"
"                          or upload (SIZE, then APPE)\n"
"  -q, --quiet             no progress bar and no transfer reports\n"
"  -1                      ls: names only\n"
"  -t, --timeout=SECONDS   give up on a silent server (default 30)\n"
"  -r, --limit-rate=RATE   at most RATE bytes a second (suffix k, m or g)\n"
"  -u, --user=USER         log in as USER (default: anonymous); the password\n"
"                          comes from the URL, $FERRY_PASSWORD, or is asked\n"
"      --pasv              passive mode with PASV only (no EPSV)\n"
"      --no-mlsd           list with LIST even where MLSD is offered\n"
"  -v, --verbose           show the commands and replies on stderr\n"
"  -h, --help              this text\n"
"  -V, --version           ferry's version\n"
"\n"
"Prompt commands:\n");
    shell_print_commands(out);
    fprintf(out,
"\n"
"Exit status:\n"
"  0  success                     5  not found (remote or local)\n"
"  1  refused by the server       6  permission denied\n"
"  2  usage error                 7  transfer broken or incomplete\n"
"  3  cannot connect              8  the server stopped answering\n"
"  4  login refused               9  local I/O error\n"
"  130 interrupted (Ctrl-C)\n"
"A scripted prompt (input not a terminal) stops at the first failing\n"
"command with its status; a line starting with '-' may fail.\n");
}

/* "100k", "2M", "1g" -> bytes per second. */
static int parse_rate(const char *s, unsigned long long *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *s == '-')
        return -1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': v *= 1024ULL; end++; break;
    case 'm': case 'M': v *= 1024ULL * 1024; end++; break;
    case 'g': case 'G': v *= 1024ULL * 1024 * 1024; end++; break;
    default: return -1;
    }
    if (*end != '\0' || v == 0)
        return -1;
    *out = v;
    return 0;
}

/* Ask for a password on the terminal, without echo. */
static int ask_password(const char *user, const char *host, char *out, size_t outsz)
{
    struct termios old, quiet;
    FILE *tty = fopen("/dev/tty", "r+e");
    int r = -1;

    if (tty == NULL)
        return -1;
    if (tcgetattr(fileno(tty), &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        /* Echo goes off before the question is shown, so that nothing
         * typed in answer can appear. */
        (void)tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
        fprintf(tty, "Password for %s@%s: ", user, host);
        fflush(tty);
        if (fgets(out, (int)outsz, tty) != NULL) {
            out[strcspn(out, "\r\n")] = '\0';
            r = 0;
        }
        (void)tcsetattr(fileno(tty), TCSAFLUSH, &old);
        fputc('\n', tty);
    }
    fclose(tty);
    return r;
}

static const struct subcommand *find_sub(const char *name)
{
    size_t i;

    for (i = 0; i < NSUBCOMMANDS; i++)
        if (strcmp(subcommands[i].name, name) == 0)
            return &subcommands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "continue",   no_argument,       NULL, 'c' },
        { "quiet",      no_argument,       NULL, 'q' },
        { "timeout",    required_argument, NULL, 't' },
        { "limit-rate", required_argument, NULL, 'r' },
        { "user",       required_argument, NULL, 'u' },
        { "pasv",       no_argument,       NULL, 'P' },
        { "no-mlsd",    no_argument,       NULL, 'M' },
        { "verbose",    no_argument,       NULL, 'v' },
        { "help",       no_argument,       NULL, 'h' },
        { "version",    no_argument,       NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    struct ftpc_config cfg = { .timeout_ms = 30000, .cancel = &interrupted };
    struct shell sh;
    struct ftp_url url;
    const struct subcommand *sub = NULL;
    const char *user_opt = NULL, *env;
    char password[256] = "", histfile[4096], *cargv[4];
    int opt, quiet = 0, resume = 0, names = 0, nargs, status, cargc = 0;
    char **args;
    struct sigaction sa;

    while ((opt = getopt_long(argc, argv, "cqt:r:u:v1hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': resume = 1; break;
        case 'q': quiet = 1; break;
        case '1': names = 1; break;
        case 'v': cfg.trace = 1; break;
        case 'P': cfg.pasv_only = 1; break;
        case 'M': cfg.no_mlsd = 1; break;
        case 'u': user_opt = optarg; break;
        case 't': {
            char *end;
            long t = strtol(optarg, &end, 10);

            if (*optarg == '\0' || *end != '\0' || t <= 0 || t > 86400) {
                fprintf(stderr, "ferry: --timeout: want seconds, 1 to 86400\n");
                return FTPC_EUSAGE;
            }
            cfg.timeout_ms = (int)t * 1000;
            break;
        }
        case 'r':
            if (parse_rate(optarg, &cfg.rate_limit) < 0) {
                fprintf(stderr, "ferry: --limit-rate: want a rate such as 500k or 2M\n");
                return FTPC_EUSAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("ferry %s\n", FERRY_VERSION);
            return 0;
        default:
            fprintf(stderr, "Try 'ferry --help'.\n");
            return FTPC_EUSAGE;
        }
    }
    args = argv + optind;
    nargs = argc - optind;
    if (nargs == 0) {
        usage(stderr);
        return FTPC_EUSAGE;
    }
    if (nargs > 1 || find_sub(args[0]) != NULL) {
        sub = find_sub(args[0]);
        if (sub == NULL) {
            fprintf(stderr, "ferry: unknown command '%s'. Try 'ferry --help'.\n", args[0]);
            return FTPC_EUSAGE;
        }
        args++;
        nargs--;
        if (nargs < sub->nargs_min || nargs > sub->nargs_max) {
            fprintf(stderr, "usage: ferry %s\n", sub->usage);
            return FTPC_EUSAGE;
        }
    }
    if (ftp_parse_url(args[sub != NULL ? sub->url_at : 0], &url) < 0) {
        fprintf(stderr, "ferry: %s: not a valid ftp:// URL or host\n",
                args[sub != NULL ? sub->url_at : 0]);
        return FTPC_EUSAGE;
    }
    if (sub != NULL && sub->needs_path && url.path[0] == '\0') {
        fprintf(stderr, "ferry: %s: the URL names no file\n", args[sub->url_at]);
        return FTPC_EUSAGE;
    }
    if (user_opt != NULL)
        snprintf(url.user, sizeof(url.user), "%s", user_opt);
    if (url.pass[0] == '\0' && url.user[0] != '\0' &&
        strcmp(url.user, "anonymous") != 0 && strcmp(url.user, "ftp") != 0) {
        if ((env = getenv("FERRY_PASSWORD")) != NULL)
            snprintf(url.pass, sizeof(url.pass), "%s", env);
        else if (isatty(STDIN_FILENO) && ask_password(url.user, url.host, password,
                                                      sizeof(password)) == 0)
            snprintf(url.pass, sizeof(url.pass), "%s", password);
    }

    /* Ctrl-C stops the transfer in progress (ABOR) rather than the
     * process; no SA_RESTART, so that waits see it at once. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&sh, 0, sizeof(sh));
    sh.c = ftpc_new(&cfg);
    if (sh.c == NULL) {
        fprintf(stderr, "ferry: out of memory\n");
        return FTPC_ELOCAL;
    }
    sh.host = url.host;
    sh.port = url.port;
    sh.user = url.user;
    sh.pass = url.pass;
    sh.cancel = &interrupted;
    sh.interactive = sub == NULL && isatty(STDIN_FILENO);
    sh.xo.resume = resume;
    sh.xo.progress = !quiet && isatty(STDERR_FILENO);
    sh.xo.report = !quiet && sub == NULL;

    status = shell_connect(&sh);
    if (status != FTPC_OK)
        goto out;

    if (sub == NULL) {
        const char *home = getenv("HOME");

        if (url.path[0] != '\0') {
            char *cd[] = { (char *)"cd", url.path };

            status = shell_exec(&sh, 2, cd);
            if (status != FTPC_OK && !sh.interactive)
                goto out;
        }
        snprintf(histfile, sizeof(histfile), "%s/.ferry_history", home != NULL ? home : "");
        status = shell_run(&sh, home != NULL ? histfile : NULL);
        goto out;
    }

    cargv[cargc++] = (char *)sub->command;
    if (names)
        cargv[cargc++] = (char *)"-1";
    if (strcmp(sub->name, "put") == 0) {
        cargv[cargc++] = args[0];
        cargv[cargc++] = url.path;
    } else {
        if (sub->needs_path || url.path[0] != '\0')
            cargv[cargc++] = url.path;
        if (nargs > 1)
            cargv[cargc++] = args[1];
    }
    status = shell_exec(&sh, cargc, cargv);
out:
    ftpc_free(sh.c);
    return status;
}
