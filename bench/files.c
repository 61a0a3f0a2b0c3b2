/* files: expand --files patterns and read --file-list files. */
#include "files.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_name(struct file_set *fs, const char *s, size_t len,
                    char *err, size_t errlen)
{
    if (len == 0) {
        snprintf(err, errlen, "empty file name");
        return -1;
    }
    if (memchr(s, '\r', len) || memchr(s, '\n', len) || memchr(s, '\0', len)) {
        snprintf(err, errlen, "file name with CR, LF or NUL");
        return -1;
    }
    if (fs->n >= FILES_MAX) {
        snprintf(err, errlen, "more than %u file names", FILES_MAX);
        return -1;
    }
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 64;
        char **p = realloc(fs->names, cap * sizeof *p);
        if (!p)
            goto oom;
        fs->names = p;
        fs->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        goto oom;
    memcpy(copy, s, len);
    copy[len] = '\0';
    fs->names[fs->n++] = copy;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* digits only, at least one, at most 18 (so the value fits) */
static int parse_bound(const char *s, size_t len, uint64_t *v)
{
    if (len == 0 || len > 18)
        return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *v = x;
    return 0;
}

int files_add_pattern(struct file_set *fs, const char *pat,
                      char *err, size_t errlen)
{
    const char *open = strchr(pat, '{');
    if (!open)
        return add_name(fs, pat, strlen(pat), err, errlen);

    const char *close = strchr(open, '}');
    const char *dots = strstr(open, "..");
    if (!close || !dots || dots > close)
        goto bad;
    if (strchr(close + 1, '{'))
        goto bad;  /* one range per pattern keeps the rule simple to state */

    uint64_t a, b;
    size_t alen = (size_t)(dots - open - 1);
    size_t blen = (size_t)(close - dots - 2);
    if (parse_bound(open + 1, alen, &a) < 0 || parse_bound(dots + 2, blen, &b) < 0)
        goto bad;
    if (a > b)
        goto bad;
    if (b - a >= FILES_MAX) {
        snprintf(err, errlen, "%s: more than %u names", pat, FILES_MAX);
        return -1;
    }
    int width = (alen > 1 && open[1] == '0') ? (int)alen : 0;

    size_t pre = (size_t)(open - pat);
    const char *post = close + 1;
    size_t postlen = strlen(post);
    char *name = malloc(pre + 24 + postlen + 1);
    if (!name) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (uint64_t i = a; i <= b; i++) {
        memcpy(name, pat, pre);
        int n = snprintf(name + pre, 24, "%0*" PRIu64, width, i);
        memcpy(name + pre + (size_t)n, post, postlen);
        rc = add_name(fs, name, pre + (size_t)n + postlen, err, errlen);
        if (rc < 0)
            break;
    }
    free(name);
    return rc;
bad:
    snprintf(err, errlen, "%s: bad pattern (one range {A..B} with A <= B)", pat);
    return -1;
}

int files_add_list(struct file_set *fs, const char *path,
                   char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    unsigned long lineno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len == 0 || line[0] == '#')
            continue;
        if (add_name(fs, line, (size_t)len, err, errlen) < 0) {
            size_t used = strlen(err);
            snprintf(err + used, errlen - used, " (%s line %lu)", path, lineno);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

void files_free(struct file_set *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        free(fs->names[i]);
    free(fs->names);
    fs->names = NULL;
    fs->n = fs->cap = 0;
}
