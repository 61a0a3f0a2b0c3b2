/* lineread: libedit on a terminal, plain lines otherwise.  See lineread.h. */
#include "lineread.h"

#include <errno.h>
#include <histedit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_SIZE 1000

struct lineread {
    EditLine *el;                /* NULL in plain mode */
    History  *hist;
    const char *const *words;
    char     *histfile;
    char     *buf;               /* plain mode's getline buffer, and the
                                    line handed out in edit mode */
    size_t    cap;
    char      prompt[512];
};

static char *prompt_fn(EditLine *el)
{
    struct lineread *lr = NULL;

    el_get(el, EL_CLIENTDATA, &lr);
    return lr != NULL ? lr->prompt : (char *)"";
}

/* Tab: complete the command name under the cursor; list the choices when
 * there are several. */
static unsigned char complete_fn(EditLine *el, int ch)
{
    const LineInfo *li = el_line(el);
    struct lineread *lr = NULL;
    const char *start = li->buffer, *match = NULL;
    size_t plen, common = 0, i;
    int n = 0;

    (void)ch;
    el_get(el, EL_CLIENTDATA, &lr);
    while (start < li->cursor && *start == ' ')
        start++;
    plen = (size_t)(li->cursor - start);
    if (lr == NULL || memchr(start, ' ', plen) != NULL)
        return CC_ERROR;             /* only the command word completes */
    for (i = 0; lr->words[i] != NULL; i++) {
        const char *w = lr->words[i];

        if (strncmp(w, start, plen) != 0)
            continue;
        if (n++ == 0) {
            match = w;
            common = strlen(w);
        } else {
            size_t k = plen;

            while (k < common && match[k] == w[k])
                k++;
            common = k;
        }
    }
    if (n == 0)
        return CC_ERROR;
    if (n == 1) {
        char add[64];

        snprintf(add, sizeof(add), "%s ", match + plen);
        el_insertstr(el, add);
        return CC_REFRESH;
    }
    if (common > plen) {
        char add[64];

        snprintf(add, sizeof(add), "%.*s", (int)(common - plen), match + plen);
        el_insertstr(el, add);
        return CC_REFRESH;
    }
    fputc('\n', stdout);
    for (i = 0; lr->words[i] != NULL; i++)
        if (strncmp(lr->words[i], start, plen) == 0)
            printf("%s  ", lr->words[i]);
    fputc('\n', stdout);
    return CC_REDISPLAY;
}

struct lineread *lineread_new(int edit, const char *histfile,
                              const char *const *words)
{
    struct lineread *lr = calloc(1, sizeof(*lr));
    HistEvent ev;

    if (lr == NULL)
        return NULL;
    lr->words = words;
    if (!edit)
        return lr;
    if (histfile != NULL && (lr->histfile = strdup(histfile)) == NULL)
        goto fail;
    lr->el = el_init("ferry", stdin, stdout, stderr);
    lr->hist = history_init();
    if (lr->el == NULL || lr->hist == NULL)
        goto fail;
    history(lr->hist, &ev, H_SETSIZE, HISTORY_SIZE);
    history(lr->hist, &ev, H_SETUNIQUE, 1);
    if (lr->histfile != NULL)
        history(lr->hist, &ev, H_LOAD, lr->histfile);   /* none yet is fine */
    el_set(lr->el, EL_CLIENTDATA, lr);
    el_set(lr->el, EL_PROMPT, prompt_fn);
    el_set(lr->el, EL_EDITOR, "emacs");
    el_set(lr->el, EL_HIST, history, lr->hist);
    /* libedit restores the terminal on signals and tracks resizes. */
    el_set(lr->el, EL_SIGNAL, 1);
    /* The wide-character call: the narrow el_set(EL_ADDFN) copies both
     * strings and never frees them. */
    el_wset(lr->el, EL_ADDFN, L"ferry-complete", L"complete a command name", complete_fn);
    el_set(lr->el, EL_BIND, "^I", "ferry-complete", NULL);
    el_source(lr->el, NULL);         /* the user's ~/.editrc, if any */
    return lr;
fail:
    lineread_free(lr);
    return NULL;
}

const char *lineread_get(struct lineread *lr, const char *prompt, int *interrupted)
{
    *interrupted = 0;
    if (lr->el == NULL) {
        ssize_t n;

        if (*prompt != '\0') {
            fputs(prompt, stdout);
            fflush(stdout);
        }
        errno = 0;
        n = getline(&lr->buf, &lr->cap, stdin);
        if (n < 0) {
            if (errno == EINTR) {
                clearerr(stdin);
                *interrupted = 1;
                return "";
            }
            return NULL;
        }
        while (n > 0 && (lr->buf[n - 1] == '\n' || lr->buf[n - 1] == '\r'))
            lr->buf[--n] = '\0';
        return lr->buf;
    } else {
        const char *line;
        size_t n;
        int count = 0;

        snprintf(lr->prompt, sizeof(lr->prompt), "%s", prompt);
        errno = 0;
        line = el_gets(lr->el, &count);
        if (line == NULL) {
            if (count < 0 && errno == EINTR) {
                /* Ctrl-C: drop the line, as a shell does. */
                fputc('\n', stdout);
                *interrupted = 1;
                return "";
            }
            return NULL;
        }
        n = strlen(line);
        if (n + 1 > lr->cap) {
            char *b = realloc(lr->buf, n + 1);

            if (b == NULL)
                return NULL;
            lr->buf = b;
            lr->cap = n + 1;
        }
        memcpy(lr->buf, line, n + 1);
        while (n > 0 && (lr->buf[n - 1] == '\n' || lr->buf[n - 1] == '\r'))
            lr->buf[--n] = '\0';
        return lr->buf;
    }
}

void lineread_remember(struct lineread *lr, const char *line)
{
    HistEvent ev;

    if (lr->hist != NULL && *line != '\0')
        history(lr->hist, &ev, H_ENTER, line);
}

void lineread_free(struct lineread *lr)
{
    HistEvent ev;

    if (lr == NULL)
        return;
    if (lr->hist != NULL && lr->histfile != NULL)
        history(lr->hist, &ev, H_SAVE, lr->histfile);
    if (lr->el != NULL)
        el_end(lr->el);
    if (lr->hist != NULL)
        history_end(lr->hist);
    free(lr->histfile);
    free(lr->buf);
    free(lr);
}
