/* shell: the prompt and its commands.  See shell.h. */
#include "shell.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lineread.h"

/* Flags a command accepts before its arguments ("-c", "-1"). */
enum { F_CONTINUE = 1 << 0, F_NAMES = 1 << 1 };

typedef int cmd_fn(struct shell *sh, unsigned flags, int argc, char **argv,
                   char *err, size_t errlen);

struct command {
    const char *name;
    const char *alias;
    const char *flags;     /* letters accepted as -x */
    int         minargs;   /* after the flags */
    int         maxargs;   /* -1: no limit */
    int         remote;    /* needs the connection */
    cmd_fn     *fn;
    const char *usage;
    const char *help;
};

static int from_ftpc(struct shell *sh, int status, char *err, size_t errlen)
{
    if (status != FTPC_OK)
        snprintf(err, errlen, "%s", ftpc_error(sh->c));
    return status;
}

/* ------------------------------------------------------------------ */
/* Commands                                                             */

static void print_entry(const struct ftp_entry *e, int names_only)
{
    static const char *const types[] = {
        [FTP_ENT_UNKNOWN] = "?", [FTP_ENT_FILE] = "file", [FTP_ENT_DIR] = "dir",
        [FTP_ENT_LINK] = "link", [FTP_ENT_CDIR] = "dir", [FTP_ENT_PDIR] = "dir",
    };
    char size[24];

    if (names_only) {
        printf("%.*s\n", (int)e->namelen, e->name);
        return;
    }
    if (e->has_size && e->type != FTP_ENT_DIR)
        snprintf(size, sizeof(size), "%llu", e->size);
    else
        snprintf(size, sizeof(size), "-");
    printf("%-4s %14s  %-16s  %.*s%s", types[e->type], size, e->mtime,
           (int)e->namelen, e->name, e->type == FTP_ENT_DIR ? "/" : "");
    if (e->target != NULL)
        printf(" -> %.*s", (int)e->targetlen, e->target);
    putchar('\n');
}

static int entry_cb(void *arg, const struct ftp_entry *e)
{
    int names_only = *(int *)arg;

    if (e->type == FTP_ENT_CDIR || e->type == FTP_ENT_PDIR)
        return 0;
    if ((e->namelen == 1 && e->name[0] == '.') ||
        (e->namelen == 2 && e->name[0] == '.' && e->name[1] == '.'))
        return 0;
    print_entry(e, names_only);
    return 0;
}

static int cmd_list(struct shell *sh, unsigned flags, int argc, char **argv,
                    char *err, size_t errlen)
{
    int names_only = (flags & F_NAMES) != 0;
    int r = ftpc_list(sh->c, argc > 0 ? argv[0] : NULL, entry_cb, &names_only);

    fflush(stdout);
    return from_ftpc(sh, r, err, errlen);
}

static int cmd_get(struct shell *sh, unsigned flags, int argc, char **argv,
                   char *err, size_t errlen)
{
    struct xfer_opts o = sh->xo;

    if (flags & F_CONTINUE)
        o.resume = 1;
    return xfer_get(sh->c, argv[0], argc > 1 ? argv[1] : NULL, &o, err, errlen);
}

static int cmd_put(struct shell *sh, unsigned flags, int argc, char **argv,
                   char *err, size_t errlen)
{
    struct xfer_opts o = sh->xo;

    if (flags & F_CONTINUE)
        o.resume = 1;
    return xfer_put(sh->c, argv[0], argc > 1 ? argv[1] : NULL, &o, err, errlen);
}

static int cmd_cat(struct shell *sh, unsigned flags, int argc, char **argv,
                   char *err, size_t errlen)
{
    /* The file goes to stdout: no bar, no report mixed into it. */
    struct xfer_opts o = { 0 };
    int r;

    fflush(stdout);
    r = xfer_get(sh->c, argv[0], "-", &o, err, errlen);
    return r;
}

static int update_cwd(struct shell *sh)
{
    char dir[sizeof(sh->cwd)];

    if (ftpc_pwd(sh->c, dir, sizeof(dir)) == FTPC_OK)
        memcpy(sh->cwd, dir, sizeof(dir));
    return FTPC_OK;
}

static int cmd_cd(struct shell *sh, unsigned flags, int argc, char **argv,
                  char *err, size_t errlen)
{
    int r = ftpc_cwd(sh->c, argc > 0 ? argv[0] : sh->home);

    if (r != FTPC_OK)
        return from_ftpc(sh, r, err, errlen);
    return update_cwd(sh);
}

static int cmd_pwd(struct shell *sh, unsigned flags, int argc, char **argv,
                   char *err, size_t errlen)
{
    char dir[sizeof(sh->cwd)];
    int r = ftpc_pwd(sh->c, dir, sizeof(dir));

    if (r != FTPC_OK)
        return from_ftpc(sh, r, err, errlen);
    memcpy(sh->cwd, dir, sizeof(dir));
    printf("%s\n", dir);
    return FTPC_OK;
}

static int local_status(int e)
{
    if (e == ENOENT || e == ENOTDIR)
        return FTPC_ENOTFOUND;
    if (e == EACCES || e == EPERM)
        return FTPC_EPERM;
    return FTPC_ELOCAL;
}

static int cmd_lcd(struct shell *sh, unsigned flags, int argc, char **argv,
                   char *err, size_t errlen)
{
    const char *dir = argc > 0 ? argv[0] : getenv("HOME");
    char now[PATH_MAX];

    if (dir == NULL)
        dir = "/";
    if (chdir(dir) < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return local_status(errno);
    }
    if (getcwd(now, sizeof(now)) != NULL)
        printf("local directory now %s\n", now);
    return FTPC_OK;
}

static int cmd_lpwd(struct shell *sh, unsigned flags, int argc, char **argv,
                    char *err, size_t errlen)
{
    char now[PATH_MAX];

    if (getcwd(now, sizeof(now)) == NULL) {
        snprintf(err, errlen, "getcwd: %s", strerror(errno));
        return FTPC_ELOCAL;
    }
    printf("%s\n", now);
    return FTPC_OK;
}

static int cmd_mkdir(struct shell *sh, unsigned flags, int argc, char **argv,
                     char *err, size_t errlen)
{
    return from_ftpc(sh, ftpc_mkdir(sh->c, argv[0]), err, errlen);
}

static int cmd_rmdir(struct shell *sh, unsigned flags, int argc, char **argv,
                     char *err, size_t errlen)
{
    return from_ftpc(sh, ftpc_rmdir(sh->c, argv[0]), err, errlen);
}

static int cmd_rm(struct shell *sh, unsigned flags, int argc, char **argv,
                  char *err, size_t errlen)
{
    int i, r;

    for (i = 0; i < argc; i++) {
        r = ftpc_delete(sh->c, argv[i]);
        if (r != FTPC_OK)
            return from_ftpc(sh, r, err, errlen);
    }
    return FTPC_OK;
}

static int cmd_mv(struct shell *sh, unsigned flags, int argc, char **argv,
                  char *err, size_t errlen)
{
    return from_ftpc(sh, ftpc_rename(sh->c, argv[0], argv[1]), err, errlen);
}

static int cmd_size(struct shell *sh, unsigned flags, int argc, char **argv,
                    char *err, size_t errlen)
{
    unsigned long long size;
    int r = ftpc_size(sh->c, argv[0], &size);

    if (r != FTPC_OK)
        return from_ftpc(sh, r, err, errlen);
    printf("%llu\n", size);
    return FTPC_OK;
}

static int cmd_quote(struct shell *sh, unsigned flags, int argc, char **argv,
                     char *err, size_t errlen)
{
    char line[4096], reply[8192];
    size_t n = 0;
    int i, code = 0, r;

    for (i = 0; i < argc; i++) {
        int w = snprintf(line + n, sizeof(line) - n, "%s%s", i > 0 ? " " : "", argv[i]);

        if (w < 0 || (size_t)w >= sizeof(line) - n) {
            snprintf(err, errlen, "quote: command too long");
            return FTPC_EUSAGE;
        }
        n += (size_t)w;
    }
    r = ftpc_quote(sh->c, line, &code, reply, sizeof(reply));
    if (r != FTPC_OK)
        return from_ftpc(sh, r, err, errlen);
    for (i = 0; reply[i] != '\0'; i++)          /* CRLF -> LF */
        if (reply[i] != '\r')
            putchar(reply[i]);
    if (code >= 400) {
        snprintf(err, errlen, "%s: refused (%d)", argv[0], code);
        return FTPC_EPROTO;
    }
    return FTPC_OK;
}

static int cmd_help(struct shell *sh, unsigned flags, int argc, char **argv,
                    char *err, size_t errlen);

static int cmd_quit(struct shell *sh, unsigned flags, int argc, char **argv,
                    char *err, size_t errlen)
{
    sh->quit = 1;
    return FTPC_OK;
}

static const struct command commands[] = {
    { "list",  "ls",   "1", 0, 1,  1, cmd_list,  "list [-1] [PATH]",
      "list a directory: type, size, date, name (-1: names only)" },
    { "get",   NULL,   "c", 1, 2,  1, cmd_get,   "get [-c] REMOTE [LOCAL]",
      "download a file (-c: resume a partial one)" },
    { "put",   NULL,   "c", 1, 2,  1, cmd_put,   "put [-c] LOCAL [REMOTE]",
      "upload a file (-c: resume a partial one)" },
    { "cat",   NULL,   "",  1, 1,  1, cmd_cat,   "cat REMOTE",
      "print a remote file" },
    { "cd",    NULL,   "",  0, 1,  1, cmd_cd,    "cd [DIR]",
      "change the remote directory (none: back to the first one)" },
    { "pwd",   NULL,   "",  0, 0,  1, cmd_pwd,   "pwd",
      "print the remote directory" },
    { "mkdir", NULL,   "",  1, 1,  1, cmd_mkdir, "mkdir DIR",
      "make a remote directory" },
    { "rmdir", NULL,   "",  1, 1,  1, cmd_rmdir, "rmdir DIR",
      "remove an empty remote directory" },
    { "rm",    NULL,   "",  1, -1, 1, cmd_rm,    "rm FILE...",
      "remove remote files" },
    { "mv",    NULL,   "",  2, 2,  1, cmd_mv,    "mv FROM TO",
      "rename or move a remote file or directory" },
    { "size",  NULL,   "",  1, 1,  1, cmd_size,  "size FILE",
      "print the size of a remote file in bytes" },
    { "quote", NULL,   "",  1, -1, 1, cmd_quote, "quote COMMAND...",
      "send a raw FTP command and print the reply" },
    { "lcd",   NULL,   "",  0, 1,  0, cmd_lcd,   "lcd [DIR]",
      "change the local directory" },
    { "lpwd",  NULL,   "",  0, 0,  0, cmd_lpwd,  "lpwd",
      "print the local directory" },
    { "help",  "?",    "",  0, 1,  0, cmd_help,  "help [COMMAND]",
      "list the commands, or explain one" },
    { "quit",  "exit", "",  0, 0,  0, cmd_quit,  "quit",
      "close the connection and leave (also: exit, bye, Ctrl-D)" },
    { "bye",   NULL,   "",  0, 0,  0, cmd_quit,  NULL, NULL },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Names for Tab completion. */
static const char *const words[] = {
    "list", "ls", "get", "put", "cat", "cd", "pwd", "mkdir", "rmdir", "rm",
    "mv", "size", "quote", "lcd", "lpwd", "help", "quit", "exit", "bye", NULL,
};

static const struct command *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0 ||
            (commands[i].alias != NULL && strcmp(commands[i].alias, name) == 0))
            return &commands[i];
    return NULL;
}

void shell_print_commands(FILE *out)
{
    size_t i;

    for (i = 0; i < NCOMMANDS; i++)
        if (commands[i].usage != NULL)
            fprintf(out, "  %-24s %s\n", commands[i].usage, commands[i].help);
}

static int cmd_help(struct shell *sh, unsigned flags, int argc, char **argv,
                    char *err, size_t errlen)
{
    const struct command *c;

    if (argc == 0) {
        printf("Commands (ls is list, ? is help):\n");
        shell_print_commands(stdout);
        printf("Quote names with spaces: get \"my file.txt\".\n");
        return FTPC_OK;
    }
    c = find_command(argv[0]);
    if (c == NULL || c->usage == NULL) {
        snprintf(err, errlen, "unknown command '%s'; type 'help' for the list", argv[0]);
        return FTPC_EUSAGE;
    }
    printf("%s\n    %s\n", c->usage, c->help);
    return FTPC_OK;
}

/* ------------------------------------------------------------------ */
/* Running commands                                                     */

int shell_split(char *line, char **argv, int maxargs)
{
    char *r = line, *w = line;
    int argc = 0;

    for (;;) {
        char q = 0;

        while (*r == ' ' || *r == '\t')
            r++;
        if (*r == '\0')
            break;
        if (argc == maxargs)
            return -2;
        argv[argc++] = w;
        /* w never passes r, so the word is rewritten in place. */
        while (*r != '\0' && (q != 0 || (*r != ' ' && *r != '\t'))) {
            if (q == '\'') {
                if (*r == '\'')
                    q = 0;
                else
                    *w++ = *r;
                r++;
            } else if (*r == '\\' && r[1] != '\0') {
                *w++ = r[1];
                r += 2;
            } else if (q == '"') {
                if (*r == '"')
                    q = 0;
                else
                    *w++ = *r;
                r++;
            } else if (*r == '\'' || *r == '"') {
                q = *r++;
            } else {
                *w++ = *r++;
            }
        }
        if (q != 0)
            return -1;
        if (*r != '\0')
            r++;
        *w++ = '\0';
    }
    return argc;
}

int shell_connect(struct shell *sh)
{
    int r = ftpc_connect(sh->c, sh->host, sh->port);

    if (r == FTPC_OK)
        r = ftpc_login(sh->c, sh->user, sh->pass);
    if (r != FTPC_OK) {
        fprintf(stderr, "ferry: %s\n", ftpc_error(sh->c));
        ftpc_disconnect(sh->c);
        return r;
    }
    if (ftpc_pwd(sh->c, sh->home, sizeof(sh->home)) != FTPC_OK)
        snprintf(sh->home, sizeof(sh->home), "/");
    memcpy(sh->cwd, sh->home, sizeof(sh->cwd));
    return FTPC_OK;
}

/* After a lost connection: log in again and return to where we were. */
static int reconnect(struct shell *sh)
{
    char was[sizeof(sh->cwd)];
    int r;

    memcpy(was, sh->cwd, sizeof(was));
    fprintf(stderr, "ferry: reconnecting to %s\n", sh->host);
    r = shell_connect(sh);
    if (r != FTPC_OK)
        return r;
    if (strcmp(was, sh->home) != 0 && ftpc_cwd(sh->c, was) == FTPC_OK)
        memcpy(sh->cwd, was, sizeof(was));
    return FTPC_OK;
}

int shell_exec(struct shell *sh, int argc, char **argv)
{
    const struct command *c = find_command(argv[0]);
    char err[2048];
    unsigned flags = 0;
    int r;

    if (c == NULL) {
        fprintf(stderr, "ferry: unknown command '%s'; type 'help' for the list\n", argv[0]);
        return FTPC_EUSAGE;
    }
    argc--;
    argv++;
    while (argc > 0 && argv[0][0] == '-' && argv[0][1] != '\0') {
        const char *f;

        if (strcmp(argv[0], "--") == 0) {
            argc--;
            argv++;
            break;
        }
        for (f = argv[0] + 1; *f != '\0'; f++) {
            if (strchr(c->flags, *f) == NULL) {
                fprintf(stderr, "ferry: %s: unknown option -%c\nusage: %s\n", c->name, *f,
                        c->usage);
                return FTPC_EUSAGE;
            }
            flags |= *f == 'c' ? F_CONTINUE : F_NAMES;
        }
        argc--;
        argv++;
    }
    if (argc < c->minargs || (c->maxargs >= 0 && argc > c->maxargs)) {
        fprintf(stderr, "usage: %s\n", c->usage);
        return FTPC_EUSAGE;
    }
    if (c->remote)
        ftpc_check_idle(sh->c);
    if (c->remote && !ftpc_connected(sh->c)) {
        r = reconnect(sh);
        if (r != FTPC_OK)
            return r;
    }
    err[0] = '\0';
    r = c->fn(sh, flags, argc, argv, err, sizeof(err));
    if (r != FTPC_OK)
        fprintf(stderr, "ferry: %s\n", err[0] != '\0' ? err : "failed");
    return r;
}

int shell_run(struct shell *sh, const char *histfile)
{
    struct lineread *lr;
    int status = FTPC_OK;

    lr = lineread_new(sh->interactive && isatty(STDOUT_FILENO), histfile, words);
    if (lr == NULL) {
        fprintf(stderr, "ferry: out of memory\n");
        return FTPC_ELOCAL;
    }
    if (sh->interactive)
        printf("Connected to %s. Type 'help' for the commands, 'quit' to leave.\n", sh->host);
    while (!sh->quit) {
        char prompt[sizeof(sh->cwd) + 16], *argv[SHELL_MAXARGS], *line;
        const char *in;
        int argc, intr, ignore = 0, r;

        snprintf(prompt, sizeof(prompt), "ferry:%s> ", sh->cwd);
        in = lineread_get(lr, sh->interactive ? prompt : "", &intr);
        if (in == NULL) {
            if (sh->interactive)
                putchar('\n');
            break;
        }
        if (intr)
            continue;
        line = strdup(in);
        if (line == NULL) {
            status = FTPC_ELOCAL;
            break;
        }
        while (*line == ' ' || *line == '\t')
            memmove(line, line + 1, strlen(line));
        if (*line == '\0' || *line == '#') {
            free(line);
            continue;
        }
        if (sh->interactive) {
            lineread_remember(lr, line);
        } else if (*line == '-') {
            ignore = 1;        /* "-rm f": carry on if it fails */
            memmove(line, line + 1, strlen(line));
        }
        argc = shell_split(line, argv, SHELL_MAXARGS);
        if (argc == -1) {
            fprintf(stderr, "ferry: unterminated quote\n");
            r = FTPC_EUSAGE;
        } else if (argc == -2) {
            fprintf(stderr, "ferry: too many words (at most %d)\n", SHELL_MAXARGS);
            r = FTPC_EUSAGE;
        } else if (argc == 0) {
            r = FTPC_OK;
        } else {
            *sh->cancel = 0;
            r = shell_exec(sh, argc, argv);
            *sh->cancel = 0;
        }
        free(line);
        fflush(stdout);
        if (r != FTPC_OK && !sh->interactive && !ignore) {
            status = r;
            break;
        }
    }
    lineread_free(lr);
    return status;
}
