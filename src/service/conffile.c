/* conffile: the config file, parsed by libinih through a strict line
 * reader.  See include/ferry/conffile.h for the syntax and why the reader
 * exists. */
#include "ferry/conffile.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- arena: the value strings, freed together ---- */

#define ARENA_CHUNK 4096

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    char data[];
};

struct conffile_arena {
    struct arena_chunk *head;
};

static char *arena_strdup(struct conffile_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    struct arena_chunk *c = a->head;
    char *p;

    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    p = c->data + c->used;
    memcpy(p, s, n);
    c->used += n;
    return p;
}

void conffile_arena_free(struct conffile_arena *a)
{
    struct arena_chunk *c, *next;

    if (!a)
        return;
    for (c = a->head; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

/* ---- reading ---- */

struct load {
    FILE *f;
    const char *path;
    conffile_apply_fn apply;
    void *ctx;
    struct conffile_arena *arena;
    char *line;                /* getline's buffer */
    size_t linecap;
    unsigned lineno;           /* lines handed to inih so far */
    int want_handler;          /* the last line was a setting: inih must call us */
    int handled;               /* ...and it did */
    unsigned err_line;         /* first error, 0 = none */
    int io_errno;
    char msg[512];
};

static void fail(struct load *ld, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct load *ld, unsigned line, const char *fmt, ...)
{
    va_list ap;

    if (ld->err_line)
        return;
    ld->err_line = line;
    va_start(ap, fmt);
    vsnprintf(ld->msg, sizeof(ld->msg), fmt, ap);
    va_end(ap);
}

/* A setting line inih did not hand to the handler had no '=' or ':'. */
static void check_last_handled(struct load *ld)
{
    if (ld->want_handler && !ld->handled)
        fail(ld, ld->lineno, "expected 'key = value'");
    ld->want_handler = ld->handled = 0;
}

/* inih's fgets-style reader: one whole line per call, or NULL to end. */
static char *reader(char *str, int num, void *stream)
{
    struct load *ld = stream;
    ssize_t n;
    char *s;
    size_t len;

    check_last_handled(ld);
    if (ld->err_line || num < 3)
        return NULL;
    errno = 0;
    n = getline(&ld->line, &ld->linecap, ld->f);
    if (n < 0) {
        if (errno)
            ld->io_errno = errno;
        return NULL;
    }
    ld->lineno++;
    len = (size_t)n;
    if (memchr(ld->line, '\0', len)) {
        fail(ld, ld->lineno, "NUL byte in line");
        return NULL;
    }
    if (len > 0 && ld->line[len - 1] == '\n')
        len--;
    if (len > 0 && ld->line[len - 1] == '\r')
        len--;
    /* Leading blanks go, so inih never takes a line for the continuation
     * of the previous value. */
    s = ld->line;
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    if (len > (size_t)num - 2) {
        fail(ld, ld->lineno, "line longer than %d bytes", num - 2);
        return NULL;
    }
    if (len > 0 && s[0] == '[') {
        fail(ld, ld->lineno, "sections are not used in this file");
        return NULL;
    }
    ld->want_handler = len > 0 && s[0] != '#' && s[0] != ';';
    memcpy(str, s, len);
    str[len] = '\n';
    str[len + 1] = '\0';
    return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    static const char *const cli_only[] = { "config", "check-config", "help", "version" };
    struct load *ld = user;
    char msg[sizeof(ld->msg)];
    const char *copy;
    size_t i;
    int r;

    (void)section;       /* always "": the reader refuses section lines */
    ld->handled = 1;
    if (ld->err_line)
        return 0;
    if (!*name) {
        fail(ld, ld->lineno, "missing key before '='");
        return 0;
    }
    for (i = 0; i < sizeof(cli_only) / sizeof(cli_only[0]); i++) {
        if (strcmp(name, cli_only[i]) == 0) {
            fail(ld, ld->lineno, "'%s' can only be given on the command line", name);
            return 0;
        }
    }
    copy = arena_strdup(ld->arena, value);
    if (!copy) {
        fail(ld, ld->lineno, "%s", strerror(ENOMEM));
        return 0;
    }
    msg[0] = '\0';
    r = ld->apply(ld->ctx, name, copy, msg, sizeof(msg));
    if (r == CONFFILE_UNKNOWN_KEY) {
        fail(ld, ld->lineno, "unknown key '%s'", name);
        return 0;
    }
    if (r < 0) {
        fail(ld, ld->lineno, "%s", msg[0] ? msg : "bad value");
        return 0;
    }
    return 1;
}

int conffile_load(const char *path, conffile_apply_fn apply, void *ctx,
                  struct conffile_arena **arena, char *err, size_t errlen)
{
    struct load ld;
    int r;

    memset(&ld, 0, sizeof(ld));
    ld.path = path;
    ld.apply = apply;
    ld.ctx = ctx;
    ld.arena = calloc(1, sizeof(*ld.arena));
    if (!ld.arena) {
        snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
        return -1;
    }
    ld.f = fopen(path, "re");
    if (!ld.f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail_arena;
    }
    r = ini_parse_stream(reader, &ld, handler, &ld);
    check_last_handled(&ld);      /* the last line, when the file ended */
    free(ld.line);
    fclose(ld.f);
    if (ld.io_errno) {
        snprintf(err, errlen, "%s: %s", path, strerror(ld.io_errno));
        goto fail_arena;
    }
    if (ld.err_line) {
        snprintf(err, errlen, "%s:%u: %s", path, ld.err_line, ld.msg);
        goto fail_arena;
    }
    if (r != 0) {
        /* An error inih saw and the reader did not: report its line. */
        if (r > 0)
            snprintf(err, errlen, "%s:%d: expected 'key = value'", path, r);
        else
            snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
        goto fail_arena;
    }
    *arena = ld.arena;
    return 0;

fail_arena:
    conffile_arena_free(ld.arena);
    return -1;
}

int conffile_parse_bool(const char *value)
{
    static const char *const yes[] = { "yes", "true", "on", "1" };
    static const char *const no[] = { "no", "false", "off", "0" };
    size_t i;

    if (!value)
        return 1;
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(value, yes[i]) == 0)
            return 1;
        if (strcasecmp(value, no[i]) == 0)
            return 0;
    }
    return -1;
}
