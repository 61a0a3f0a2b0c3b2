/* fuzz_resolve: vfs_resolve(), the pure half of ferry's sandbox.
 *
 * Input: "cwd\narg" (no LF: cwd is "/" and the whole input is the
 * argument).  The cwd part is first resolved against "/", so that the
 * current directory is a normalised virtual path as a session would hold.
 * Checked:
 *   - a result is absolute and normalised: no empty, "." or ".."
 *     component, no trailing '/', components within NAME_MAX, and it fits;
 *   - it equals a reference normalisation written from the header;
 *   - ".." above "/" never succeeds;
 *   - resolving a result again (from "/" or from the cwd) gives itself;
 *   - with an exact-size output buffer of another length nothing is
 *     written past it, and a success there agrees with the first answer;
 *   - vfs_rel() and vfs_basename() of a result behave.
 */
#include <errno.h>
#include <limits.h>

#include "ferry/vfs.h"
#include "fuzz.h"

static int is_errno_ok(int r)
{
    return r == 0 || r == -EPERM || r == -ENAMETOOLONG || r == -EINVAL;
}

static void check_normal(const char *p, size_t outlen)
{
    const char *c = p + 1, *e;
    size_t n = strlen(p);

    FUZZ_CHECK(n + 1 <= outlen);
    FUZZ_CHECK(p[0] == '/');
    if (n == 1)
        return;
    FUZZ_CHECK(p[n - 1] != '/');
    while (*c != '\0') {
        e = strchrnul(c, '/');
        FUZZ_CHECK(e > c);                         /* no "//" */
        FUZZ_CHECK((size_t)(e - c) <= NAME_MAX);
        FUZZ_CHECK(!(e - c == 1 && c[0] == '.'));
        FUZZ_CHECK(!(e - c == 2 && c[0] == '.' && c[1] == '.'));
        c = *e ? e + 1 : e;
    }
}

/* The reference: components of cwd (when arg is relative) and arg on a
 * stack, without any length limit.  0, -EPERM (".." above the root) or
 * -EINVAL (empty arg); *toolong is set when a component passes NAME_MAX.
 * out has room for everything. */
static int ref_resolve(const char *cwd, const char *arg, char *out,
                       int *toolong)
{
    const char *parts[2] = { cwd, arg };
    size_t len = 0;
    int k;

    *toolong = 0;
    if (arg[0] == '\0')
        return -EINVAL;
    for (k = arg[0] == '/' ? 1 : 0; k < 2; k++) {
        const char *s = parts[k];

        while (*s != '\0') {
            const char *e;
            size_t n;

            if (*s == '/') {
                s++;
                continue;
            }
            e = strchrnul(s, '/');
            n = (size_t)(e - s);
            if (n == 2 && s[0] == '.' && s[1] == '.') {
                if (len == 0)
                    return -EPERM;
                do
                    len--;
                while (len > 0 && out[len] != '/');
            } else if (!(n == 1 && s[0] == '.')) {
                if (n > NAME_MAX)
                    *toolong = 1;
                out[len] = '/';
                memcpy(out + len + 1, s, n);
                len += n + 1;
            }
            s = e;
        }
    }
    if (len == 0)
        out[len++] = '/';
    out[len] = '\0';
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char cwd[VFS_PATH_MAX], out[VFS_PATH_MAX], again[VFS_PATH_MAX];
    static char ref[4 * VFS_PATH_MAX + 64];
    char *input, *arg, *lf, *small;
    size_t smalllen;
    int r, r2, rr, toolong;

    if (size > 3 * VFS_PATH_MAX)
        return 0;
    input = fuzz_strdup(data, size);
    lf = strchr(input, '\n');
    strcpy(cwd, "/");
    if (lf != NULL) {
        *lf = '\0';
        arg = lf + 1;
        if (input[0] != '\0') {
            r = vfs_resolve("/", input, cwd, sizeof(cwd));
            FUZZ_CHECK(is_errno_ok(r));
            if (r < 0)
                strcpy(cwd, "/");
            else
                check_normal(cwd, sizeof(cwd));
        }
    } else {
        arg = input;
    }

    r = vfs_resolve(cwd, arg, out, sizeof(out));
    FUZZ_CHECK(is_errno_ok(r));
    FUZZ_CHECK((r == -EINVAL) == (arg[0] == '\0'));
    rr = ref_resolve(cwd, arg, ref, &toolong);
    if (r == 0) {
        check_normal(out, sizeof(out));
        FUZZ_CHECK(rr == 0 && !toolong);
        FUZZ_CHECK(strcmp(out, ref) == 0);

        FUZZ_CHECK(vfs_resolve("/", out, again, sizeof(again)) == 0);
        FUZZ_CHECK(strcmp(again, out) == 0);
        FUZZ_CHECK(vfs_resolve(cwd, out, again, sizeof(again)) == 0);
        FUZZ_CHECK(strcmp(again, out) == 0);

        FUZZ_CHECK(vfs_rel(out)[0] != '/');
        FUZZ_CHECK(strcmp(vfs_rel(out), ".") == 0 ? strcmp(out, "/") == 0
                                                  : vfs_rel(out) == out + 1);
        FUZZ_CHECK(strchr(vfs_basename(out), '/') == NULL ||
                   strcmp(out, "/") == 0);
        FUZZ_CHECK(vfs_basename(out)[0] != '\0');
    } else if (r == -EPERM) {
        FUZZ_CHECK(rr == -EPERM);
    } else if (r == -ENAMETOOLONG) {
        /* Only when the reference result (or a component) is too long,
         * or the way there passes the limit. */
        FUZZ_CHECK(rr == -EPERM || toolong || strlen(cwd) + strlen(arg) + 2 > sizeof(out));
    }
    if (rr == -EPERM)
        FUZZ_CHECK(r != 0);

    /* Another output size, exactly allocated. */
    smalllen = size % 300;
    small = malloc(smalllen);
    FUZZ_CHECK(small != NULL || smalllen == 0);
    r2 = vfs_resolve(cwd, arg, small, smalllen);
    FUZZ_CHECK(is_errno_ok(r2));
    if (r2 == 0) {
        FUZZ_CHECK(r == 0 && strcmp(small, out) == 0);
        FUZZ_CHECK(strlen(small) < smalllen);
    }
    free(small);
    free(input);
    return 0;
}
