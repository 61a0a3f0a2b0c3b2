/* Unit tests for listing: the LIST and MLSD line formats for fixed stat
 * values, and listings of real folders (filtering, symlinks, streaming). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/buf.h"
#include "ferry/listing.h"
#include "ferry/vfs.h"

/* 2024-11-27 09:14:00 UTC */
#define NOW ((time_t)1732698840)
/* 2001-02-03 04:05:06 UTC */
#define T2001 ((time_t)981173106)

static struct stat mkstat(mode_t mode, unsigned long nlink,
                          unsigned long long size, time_t mtime)
{
    struct stat st;

    memset(&st, 0, sizeof st);
    st.st_mode = mode;
    st.st_nlink = nlink;
    st.st_size = (off_t)size;
    st.st_mtime = mtime;
    st.st_dev = 0x803;
    st.st_ino = 0x1234ab;
    return st;
}

static const char *ls(const char *name, mode_t mode, unsigned long nlink,
                      unsigned long long size, time_t mtime, time_t now)
{
    static char out[512];
    struct stat st = mkstat(mode, nlink, size, mtime);
    int n = listing_format_ls(out, sizeof out, name, &st, now);

    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq((size_t)n, strlen(out));
    return out;
}

/* ---- LIST format -------------------------------------------------------- */

START_TEST(test_ls_exact)
{
    ck_assert_str_eq(ls("name", S_IFREG | 0644, 1, 1234, NOW - 3600, NOW),
        "-rw-r--r--    1 ftp      ftp          1234 Nov 27 08:14 name\r\n");
    ck_assert_str_eq(ls("name", S_IFREG | 0644, 1, 1234, NOW, NOW),
        "-rw-r--r--    1 ftp      ftp          1234 Nov 27 09:14 name\r\n");
    /* Old: the year, two spaces before it. */
    ck_assert_str_eq(ls("old.tar", S_IFREG | 0600, 1, 0, 1578229620, NOW),
        "-rw-------    1 ftp      ftp             0 Jan 05  2020 old.tar\r\n");
    /* The six-month boundary (182 days), and one second past it. */
    ck_assert_str_eq(ls("b", S_IFREG | 0644, 1, 1, NOW - 182 * 86400, NOW),
        "-rw-r--r--    1 ftp      ftp             1 May 29 09:14 b\r\n");
    ck_assert_str_eq(ls("b", S_IFREG | 0644, 1, 1, NOW - 182 * 86400 - 1, NOW),
        "-rw-r--r--    1 ftp      ftp             1 May 29  2024 b\r\n");
    /* The future shows the year too. */
    ck_assert_str_eq(ls("f", S_IFREG | 0644, 1, 1, NOW + 86400, NOW),
        "-rw-r--r--    1 ftp      ftp             1 Nov 28  2024 f\r\n");
    ck_assert_str_eq(ls("f", S_IFREG | 0644, 1, 1, NOW + 1, NOW),
        "-rw-r--r--    1 ftp      ftp             1 Nov 27  2024 f\r\n");
    /* Before the epoch. */
    ck_assert_str_eq(ls("e", S_IFREG | 0644, 1, 1, -86400, NOW),
        "-rw-r--r--    1 ftp      ftp             1 Dec 31  1969 e\r\n");
    /* Sizes past 4 GiB are not cut. */
    ck_assert_str_eq(ls("big", S_IFREG | 0644, 1, 5000000000ULL,
                        NOW - 3600, NOW),
        "-rw-r--r--    1 ftp      ftp      5000000000 Nov 27 08:14 big\r\n");
    ck_assert_str_eq(ls("huge", S_IFREG | 0644, 1, 9223372036854775807ULL,
                        NOW - 3600, NOW),
        "-rw-r--r--    1 ftp      ftp      9223372036854775807 "
        "Nov 27 08:14 huge\r\n");
    ck_assert_str_eq(ls("sub", S_IFDIR | 0755, 3, 4096, NOW - 3600, NOW),
        "drwxr-xr-x    3 ftp      ftp          4096 Nov 27 08:14 sub\r\n");
    ck_assert_str_eq(ls("n", S_IFREG | 0644, 123456, 3, NOW - 3600, NOW),
        "-rw-r--r-- 123456 ftp      ftp             3 Nov 27 08:14 n\r\n");
    ck_assert_str_eq(ls("l", S_IFLNK | 0777, 1, 5, NOW - 3600, NOW),
        "lrwxrwxrwx    1 ftp      ftp             5 Nov 27 08:14 l\r\n");
    /* Names keep their spaces. */
    ck_assert_str_eq(ls(" a b ", S_IFREG | 0644, 1, 1, NOW - 60, NOW),
        "-rw-r--r--    1 ftp      ftp             1 Nov 27 09:13  a b \r\n");
}
END_TEST

static const struct {
    mode_t mode;
    const char *want;
} mode_cases[] = {
    { S_IFREG | 0644, "-rw-r--r--" },
    { S_IFREG | 0000, "----------" },
    { S_IFREG | 0777, "-rwxrwxrwx" },
    { S_IFREG | 04755, "-rwsr-xr-x" },
    { S_IFREG | 04644, "-rwSr--r--" },
    { S_IFREG | 02755, "-rwxr-sr-x" },
    { S_IFREG | 02745, "-rwxr-Sr-x" },
    { S_IFDIR | 01777, "drwxrwxrwt" },
    { S_IFDIR | 01776, "drwxrwxrwT" },
    { S_IFDIR | 07777, "drwsrwsrwt" },
    { S_IFDIR | 0700, "drwx------" },
    { S_IFLNK | 0777, "lrwxrwxrwx" },
    { S_IFCHR | 0666, "crw-rw-rw-" },
    { S_IFBLK | 0660, "brw-rw----" },
    { S_IFIFO | 0644, "prw-r--r--" },
    { S_IFSOCK | 0755, "srwxr-xr-x" },
    { S_IFREG | 0421, "-r---w---x" },
};

START_TEST(test_ls_modes)
{
    const char *line = ls("x", mode_cases[_i].mode, 1, 0, NOW, NOW);

    ck_assert_msg(strncmp(line, mode_cases[_i].want, 10) == 0 &&
                  line[10] == ' ', "mode %o: %s", mode_cases[_i].mode, line);
}
END_TEST

START_TEST(test_ls_months)
{
    static const char *names[12] = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun",
        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    };
    char want[32];
    struct tm tm;
    time_t t;
    int m;

    for (m = 0; m < 12; m++) {
        memset(&tm, 0, sizeof tm);
        tm.tm_year = 124;
        tm.tm_mon = m;
        tm.tm_mday = 5;
        tm.tm_hour = 7;
        tm.tm_min = 3;
        t = timegm(&tm);
        snprintf(want, sizeof want, " %s 05 07:03 x\r\n", names[m]);
        ck_assert_ptr_nonnull(strstr(ls("x", S_IFREG | 0644, 1, 0, t, t + 60),
                                     want));
        snprintf(want, sizeof want, " %s 05  2024 x\r\n", names[m]);
        ck_assert_ptr_nonnull(strstr(ls("x", S_IFREG | 0644, 1, 0, t,
                                        t + 400 * 86400), want));
    }
}
END_TEST

START_TEST(test_ls_refused)
{
    struct stat st = mkstat(S_IFREG | 0644, 1, 1, NOW);
    char out[512];
    int n;

    ck_assert_int_eq(listing_format_ls(out, sizeof out, "a\rb", &st, NOW), -1);
    ck_assert_int_eq(listing_format_ls(out, sizeof out, "a\nb", &st, NOW), -1);
    ck_assert_int_eq(listing_format_ls(out, sizeof out, "", &st, NOW), -1);
    n = listing_format_ls(out, sizeof out, "name", &st, NOW);
    ck_assert_int_gt(n, 0);
    /* Room for the line and its NUL, and one byte less. */
    ck_assert_int_eq(listing_format_ls(out, (size_t)n + 1, "name", &st, NOW),
                     n);
    ck_assert_int_eq(listing_format_ls(out, (size_t)n, "name", &st, NOW), -1);
    ck_assert_int_eq(listing_format_ls(out, 0, "name", &st, NOW), -1);
}
END_TEST

/* ---- MLSD facts --------------------------------------------------------- */

static const char *mlsx(const char *name, mode_t mode,
                        unsigned long long size, const char *type, int w)
{
    static char out[512];
    struct stat st = mkstat(mode, 1, size, T2001);
    int n = listing_format_mlsx(out, sizeof out, name, &st, type, w);

    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq((size_t)n, strlen(out));
    return out;
}

START_TEST(test_mlsx_exact)
{
    ck_assert_str_eq(mlsx("a.txt", S_IFREG | 0644, 42, "file", 0),
        "type=file;size=42;modify=20010203040506;perm=r;"
        "unique=803U1234ab; a.txt\r\n");
    ck_assert_str_eq(mlsx("a.txt", S_IFREG | 0644, 42, "file", 1),
        "type=file;size=42;modify=20010203040506;perm=radfw;"
        "unique=803U1234ab; a.txt\r\n");
    ck_assert_str_eq(mlsx("big", S_IFREG | 0644, 5000000000ULL, "file", 0),
        "type=file;size=5000000000;modify=20010203040506;perm=r;"
        "unique=803U1234ab; big\r\n");
    ck_assert_str_eq(mlsx("sub", S_IFDIR | 0755, 4096, "dir", 0),
        "type=dir;modify=20010203040506;perm=el;unique=803U1234ab; sub\r\n");
    ck_assert_str_eq(mlsx("sub", S_IFDIR | 0755, 4096, "dir", 1),
        "type=dir;modify=20010203040506;perm=elcdfmp;"
        "unique=803U1234ab; sub\r\n");
    ck_assert_str_eq(mlsx(".", S_IFDIR | 0755, 4096, "cdir", 0),
        "type=cdir;modify=20010203040506;perm=el;unique=803U1234ab; .\r\n");
    ck_assert_str_eq(mlsx(".", S_IFDIR | 0755, 4096, "cdir", 1),
        "type=cdir;modify=20010203040506;perm=elcmp;"
        "unique=803U1234ab; .\r\n");
    ck_assert_str_eq(mlsx("..", S_IFDIR | 0755, 4096, "pdir", 0),
        "type=pdir;modify=20010203040506;perm=el;unique=803U1234ab; ..\r\n");
    /* The name follows one space, whatever it starts with. */
    ck_assert_str_eq(mlsx(" sp;=x", S_IFREG | 0644, 0, "file", 0),
        "type=file;size=0;modify=20010203040506;perm=r;"
        "unique=803U1234ab;  sp;=x\r\n");
}
END_TEST

START_TEST(test_mlsx_refused)
{
    struct stat st = mkstat(S_IFREG | 0644, 1, 1, T2001);
    char out[512];
    int n;

    ck_assert_int_eq(listing_format_mlsx(out, sizeof out, "x", &st, "link", 0),
                     -1);
    ck_assert_int_eq(listing_format_mlsx(out, sizeof out, "x", &st, NULL, 0),
                     -1);
    ck_assert_int_eq(listing_format_mlsx(out, sizeof out, "a\r\n", &st,
                                         "file", 0), -1);
    n = listing_format_mlsx(out, sizeof out, "x", &st, "file", 0);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(listing_format_mlsx(out, (size_t)n + 1, "x", &st,
                                         "file", 0), n);
    ck_assert_int_eq(listing_format_mlsx(out, (size_t)n, "x", &st,
                                         "file", 0), -1);
}
END_TEST

/* ---- listings of real folders ------------------------------------------- */

static char base[64];       /* per run; removed at the end */
static char root[96];
static struct vfs V;

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void path_in(char *out, size_t outlen, const char *rel)
{
    int n = snprintf(out, outlen, "%s/%s", root, rel);

    ck_assert(n > 0 && (size_t)n < outlen);
}

static void put(const char *rel, const char *content, time_t mtime)
{
    struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };
    char p[PATH_MAX];
    int fd;

    path_in(p, sizeof p, rel);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, strlen(content)),
                     (ssize_t)strlen(content));
    ck_assert_int_eq(fchmod(fd, 0644), 0);
    ck_assert_int_eq(futimens(fd, ts), 0);
    close(fd);
}

static void link_in(const char *target, const char *rel)
{
    char p[PATH_MAX];

    path_in(p, sizeof p, rel);
    ck_assert_int_eq(symlink(target, p), 0);
}

static void mkdir_in(const char *rel)
{
    char p[PATH_MAX];

    path_in(p, sizeof p, rel);
    ck_assert_int_eq(mkdir(p, 0755), 0);
}

static void stat_in(const char *rel, struct stat *st)
{
    char p[PATH_MAX];

    path_in(p, sizeof p, rel);
    ck_assert_int_eq(stat(p, st), 0);
}

/*   a.txt        "abc", 0644, NOW - 3600
 *   .hidden      "h"
 *   sub/         folder, sub/inner, sub/esc -> ../../.. (leaves the root),
 *                sub/back -> ../a.txt (climbs out of sub, stays in the root)
 *   cr\rname, lf\nname     unframeable names
 *   .ferry-part.x          an upload temporary
 *   link_in -> a.txt, link_dir -> sub
 *   dang -> nope, esc -> /etc/passwd, up -> ..
 *   fifo         a FIFO */
static void setup(void)
{
    char p[PATH_MAX];

    snprintf(root, sizeof root, "%s/root-XXXXXX", base);
    ck_assert_ptr_nonnull(mkdtemp(root));
    put("a.txt", "abc", NOW - 3600);
    put(".hidden", "h", NOW - 3600);
    mkdir_in("sub");
    put("sub/inner", "inner", NOW - 3600);
    link_in("../../..", "sub/esc");
    link_in("../a.txt", "sub/back");
    put("cr\rname", "x", NOW);
    put("lf\nname", "x", NOW);
    put(VFS_TMP_PREFIX "x", "x", NOW);
    link_in("a.txt", "link_in");
    link_in("sub", "link_dir");
    link_in("nope", "dang");
    link_in("/etc/passwd", "esc");
    link_in("..", "up");
    path_in(p, sizeof p, "fifo");
    ck_assert_int_eq(mkfifo(p, 0644), 0);
    ck_assert_int_eq(vfs_open(&V, root, 0), 0);
}

static void teardown(void)
{
    vfs_close(&V);
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void set_mode(int i)
{
    if (i & 1)
        V.has_openat2 = 0;
}

#define MAX_LINES 1024

struct lines {
    char *text;              /* the whole listing, owned */
    char *line[MAX_LINES];   /* into text, CRLF cut off */
    int n;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run a listing to its end with fills of `want`, and split it into
 * sorted lines, asserting that each ends in CRLF. */
static void run(const char *vpath, int fmt, int all, int writable,
                size_t want, struct lines *out)
{
    struct listing l;
    struct buf b = BUF_INIT;
    char *p, *end;
    int r, calls = 0;

    ck_assert_int_eq(listing_open(&l, &V, vpath, fmt, all, writable), 0);
    l.now = NOW;
    do {
        r = listing_fill(&l, &b, want);
        ck_assert_int_ge(r, 0);
        ck_assert_int_lt(++calls, 100000);
    } while (r == 1);
    listing_close(&l);

    out->text = calloc(1, buf_used(&b) + 1);
    ck_assert_ptr_nonnull(out->text);
    if (buf_used(&b) > 0)
        memcpy(out->text, buf_rptr(&b), buf_used(&b));
    buf_free(&b);
    out->n = 0;
    for (p = out->text; *p != '\0'; p = end + 2) {
        end = strstr(p, "\r\n");
        ck_assert_ptr_nonnull(end);
        *end = '\0';
        ck_assert_ptr_null(strchr(p, '\r'));
        ck_assert_ptr_null(strchr(p, '\n'));
        ck_assert_int_lt(out->n, MAX_LINES);
        out->line[out->n++] = p;
    }
    qsort(out->line, (size_t)out->n, sizeof out->line[0], cmp_str);
}

static void assert_lines(const struct lines *ls_, const char *const *want,
                         int nwant)
{
    int i;

    ck_assert_int_eq(ls_->n, nwant);
    for (i = 0; i < nwant; i++)
        ck_assert_str_eq(ls_->line[i], want[i]);
}

/* The line that ends in " name" (LIST and MLSD both end so). */
static const char *find(const struct lines *ls_, const char *name)
{
    size_t n = strlen(name);
    int i;

    for (i = 0; i < ls_->n; i++) {
        size_t len = strlen(ls_->line[i]);

        if (len > n && ls_->line[i][len - n - 1] == ' ' &&
            strcmp(ls_->line[i] + len - n, name) == 0)
            return ls_->line[i];
    }
    return NULL;
}

START_TEST(test_nlst)
{
    static const char *const want[] = {
        "a.txt", "fifo", "link_dir", "link_in", "sub",
    };
    static const char *const want_all[] = {
        ".hidden", "a.txt", "fifo", "link_dir", "link_in", "sub",
    };
    static const char *const want_sub[] = { "back", "inner" };
    struct lines out;

    set_mode(_i);
    run("/", LISTING_NLST, 0, 0, 4096, &out);
    assert_lines(&out, want, 5);
    free(out.text);
    run("/", LISTING_NLST, 1, 0, 4096, &out);
    assert_lines(&out, want_all, 6);
    free(out.text);
    run("/link_dir", LISTING_NLST, 0, 0, 4096, &out);
    assert_lines(&out, want_sub, 2);
    free(out.text);
    run("/a.txt", LISTING_NLST, 0, 0, 4096, &out);
    assert_lines(&out, want, 1);
    free(out.text);
}
END_TEST

START_TEST(test_list)
{
    struct lines out;
    const char *line;

    set_mode(_i);
    run("/", LISTING_LS, 0, 0, 4096, &out);
    ck_assert_int_eq(out.n, 5);
    ck_assert_str_eq(find(&out, "a.txt"),
        "-rw-r--r--    1 ftp      ftp             3 Nov 27 08:14 a.txt");
    /* A link inside is shown as its target, under its own name. */
    ck_assert_str_eq(find(&out, "link_in"),
        "-rw-r--r--    1 ftp      ftp             3 Nov 27 08:14 link_in");
    line = find(&out, "link_dir");
    ck_assert_ptr_nonnull(line);
    ck_assert_int_eq(strncmp(line, "drwxr-xr-x ", 11), 0);
    line = find(&out, "sub");
    ck_assert_ptr_nonnull(line);
    ck_assert_int_eq(line[0], 'd');
    line = find(&out, "fifo");
    ck_assert_ptr_nonnull(line);
    ck_assert_int_eq(line[0], 'p');
    ck_assert_ptr_null(find(&out, ".hidden"));
    ck_assert_ptr_null(find(&out, "dang"));
    ck_assert_ptr_null(find(&out, "esc"));
    ck_assert_ptr_null(find(&out, "up"));
    ck_assert_ptr_null(strstr(out.text, "ferry-part"));
    free(out.text);

    run("/", LISTING_LS, 1, 0, 4096, &out);
    ck_assert_int_eq(out.n, 6);
    ck_assert_ptr_nonnull(find(&out, ".hidden"));
    free(out.text);

    /* A single file lists that one entry, under the name asked for. */
    run("/a.txt", LISTING_LS, 0, 0, 4096, &out);
    ck_assert_int_eq(out.n, 1);
    ck_assert_str_eq(out.line[0],
        "-rw-r--r--    1 ftp      ftp             3 Nov 27 08:14 a.txt");
    free(out.text);
    run("/link_in", LISTING_LS, 0, 0, 4096, &out);
    ck_assert_int_eq(out.n, 1);
    ck_assert_str_eq(out.line[0],
        "-rw-r--r--    1 ftp      ftp             3 Nov 27 08:14 link_in");
    free(out.text);
    run("/.hidden", LISTING_LS, 0, 0, 4096, &out);
    ck_assert_int_eq(out.n, 1);
    free(out.text);

    /* A sub folder: its link out of the root is not shown; its link out
     * of the folder but into the root is, as the file it points to. */
    run("/sub", LISTING_LS, 1, 0, 4096, &out);
    ck_assert_int_eq(out.n, 2);
    ck_assert_ptr_nonnull(find(&out, "inner"));
    ck_assert_ptr_nonnull(strstr(find(&out, "back"), " 3 Nov 27 08:14 back"));
    free(out.text);
}
END_TEST

START_TEST(test_mlsd)
{
    char want[256];
    struct lines out;
    struct stat st;
    const char *line;

    set_mode(_i);
    run("/", LISTING_MLSD, 0, 0, 4096, &out);
    /* cdir, .hidden, a.txt, link_in, link_dir, sub; no fifo. */
    ck_assert_int_eq(out.n, 6);
    line = find(&out, ".");
    ck_assert_ptr_nonnull(line);
    ck_assert_int_eq(strncmp(line, "type=cdir;modify=", 17), 0);
    ck_assert_ptr_nonnull(strstr(line, ";perm=el;"));
    /* ...and it comes first. */
    ck_assert_int_eq(strncmp(out.text, "type=cdir;", 10), 0);

    stat_in("a.txt", &st);
    snprintf(want, sizeof want, "type=file;size=3;modify=20241127081400;"
             "perm=r;unique=%llxU%llx; a.txt",
             (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    ck_assert_str_eq(find(&out, "a.txt"), want);
    /* The link shows its target's facts. */
    snprintf(want, sizeof want, "type=file;size=3;modify=20241127081400;"
             "perm=r;unique=%llxU%llx; link_in",
             (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    ck_assert_str_eq(find(&out, "link_in"), want);
    ck_assert_int_eq(strncmp(find(&out, "link_dir"), "type=dir;", 9), 0);
    ck_assert_int_eq(strncmp(find(&out, "sub"), "type=dir;", 9), 0);
    /* MLSD always shows dot files. */
    ck_assert_int_eq(strncmp(find(&out, ".hidden"), "type=file;size=1;", 17),
                     0);
    ck_assert_ptr_null(find(&out, "fifo"));
    ck_assert_ptr_null(find(&out, "esc"));
    ck_assert_ptr_null(find(&out, "dang"));
    ck_assert_ptr_null(strstr(out.text, "ferry-part"));
    free(out.text);

    run("/", LISTING_MLSD, 0, 1, 4096, &out);
    ck_assert_ptr_nonnull(strstr(find(&out, "a.txt"), ";perm=radfw;"));
    ck_assert_ptr_nonnull(strstr(find(&out, "sub"), ";perm=elcdfmp;"));
    ck_assert_ptr_nonnull(strstr(find(&out, "."), ";perm=elcmp;"));
    free(out.text);
}
END_TEST

START_TEST(test_open_errors)
{
    struct listing l;

    set_mode(_i);
    ck_assert_int_eq(listing_open(&l, &V, "/a.txt", LISTING_MLSD, 0, 0),
                     -ENOTDIR);
    ck_assert_ptr_null(l.dir);
    ck_assert_int_eq(listing_open(&l, &V, "/missing", LISTING_LS, 0, 0),
                     -ENOENT);
    ck_assert_int_eq(listing_open(&l, &V, "/esc", LISTING_LS, 0, 0), -EXDEV);
    ck_assert_int_eq(listing_open(&l, &V, "/up", LISTING_LS, 0, 0), -EXDEV);
    ck_assert_int_eq(listing_open(&l, &V, "/dang", LISTING_NLST, 0, 0),
                     -ENOENT);
    ck_assert_int_eq(listing_open(&l, &V, "/" VFS_TMP_PREFIX "x",
                                  LISTING_LS, 0, 0), -ENOENT);
    ck_assert_int_eq(listing_open(&l, &V, "/", 7, 0, 0), -EINVAL);
    /* Closing twice, or after a failed open, is harmless. */
    listing_close(&l);
    listing_close(&l);
}
END_TEST

/* ---- streaming ---------------------------------------------------------- */

#define MANY 300

static void make_many(void)
{
    char rel[64];
    int i;

    mkdir_in("many");
    for (i = 0; i < MANY; i++) {
        snprintf(rel, sizeof rel, "many/file-%03d", i);
        put(rel, "", NOW);
    }
}

/* Mark the name of each NLST line in out as seen, consuming it. */
static int take_lines(struct buf *b, char *seen)
{
    int n = 0;

    while (buf_used(b) > 0) {
        char *p = buf_rptr(b);
        char *end = memchr(p, '\n', buf_used(b));
        char line[32];
        int idx;

        ck_assert_ptr_nonnull(end);
        ck_assert_int_eq(end - p, 9);
        memcpy(line, p, 10);
        line[10] = '\0';
        ck_assert_int_eq(sscanf(line, "file-%03d\r\n", &idx), 1);
        ck_assert(idx >= 0 && idx < MANY);
        ck_assert_int_eq(seen[idx], 0);
        seen[idx] = 1;
        buf_consume(b, (size_t)(end - p) + 1);
        n++;
    }
    return n;
}

START_TEST(test_streaming)
{
    char seen[MANY] = { 0 };
    struct listing l;
    struct buf b = BUF_INIT;
    int r, calls = 0, total = 0, i, n;

    set_mode(_i);
    make_many();
    ck_assert_int_eq(listing_open(&l, &V, "/many", LISTING_NLST, 0, 0), 0);
    do {
        r = listing_fill(&l, &b, 64);
        ck_assert_int_ge(r, 0);
        /* Stops right after reaching want: at most one line past it. */
        ck_assert_uint_lt(buf_used(&b), 64 + sizeof "file-000\r\n");
        if (r == 1)
            ck_assert_uint_ge(buf_used(&b), 64);
        /* 10-byte lines: 7 reach 64 bytes. */
        n = take_lines(&b, seen);
        ck_assert_int_le(n, 7);
        if (r == 1)
            ck_assert_int_eq(n, 7);
        total += n;
        ck_assert_int_lt(++calls, 10 * MANY);
    } while (r == 1);
    listing_close(&l);
    ck_assert_int_eq(total, MANY);
    for (i = 0; i < MANY; i++)
        ck_assert_int_eq(seen[i], 1);
    ck_assert_int_ge(calls, MANY / 7);
    buf_free(&b);
}
END_TEST

/* want = 1: each fill adds exactly one line. */
START_TEST(test_streaming_one_by_one)
{
    char seen[MANY] = { 0 };
    struct listing l;
    struct buf b = BUF_INIT;
    int r, lines = 0;

    set_mode(_i);
    make_many();
    ck_assert_int_eq(listing_open(&l, &V, "/many", LISTING_NLST, 0, 0), 0);
    for (;;) {
        r = listing_fill(&l, &b, 1);
        ck_assert_int_ge(r, 0);
        if (r == 0) {
            lines += take_lines(&b, seen);
            break;
        }
        ck_assert_int_eq(take_lines(&b, seen), 1);
        lines++;
        /* A full buffer gets nothing more, and the listing goes on. */
        ck_assert_int_eq(buf_append(&b, "x", 1), 0);
        ck_assert_int_eq(listing_fill(&l, &b, 1), 1);
        ck_assert_uint_eq(buf_used(&b), 1);
        buf_consume(&b, 1);
        ck_assert_int_le(lines, MANY);
    }
    /* Filling a finished listing adds nothing. */
    ck_assert_int_eq(listing_fill(&l, &b, 1000), 0);
    ck_assert_uint_eq(buf_used(&b), 0);
    listing_close(&l);
    ck_assert_int_eq(lines, MANY);
    buf_free(&b);
}
END_TEST

/* Closing in the middle of a listing frees everything. */
START_TEST(test_close_midway)
{
    struct listing l;
    struct buf b = BUF_INIT;

    set_mode(_i);
    make_many();
    ck_assert_int_eq(listing_open(&l, &V, "/many", LISTING_MLSD, 0, 0), 0);
    ck_assert_int_eq(listing_fill(&l, &b, 100), 1);
    ck_assert_int_eq(strncmp(buf_rptr(&b), "type=cdir;", 10), 0);
    listing_close(&l);
    ck_assert_ptr_null(l.dir);
    buf_free(&b);
}
END_TEST

static Suite *listing_suite(void)
{
    Suite *s = suite_create("listing");
    TCase *tc;

    tc = tcase_create("format");
    tcase_add_test(tc, test_ls_exact);
    tcase_add_loop_test(tc, test_ls_modes, 0,
                        (int)(sizeof mode_cases / sizeof mode_cases[0]));
    tcase_add_test(tc, test_ls_months);
    tcase_add_test(tc, test_ls_refused);
    tcase_add_test(tc, test_mlsx_exact);
    tcase_add_test(tc, test_mlsx_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("folder");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_nlst, 0, 2);
    tcase_add_loop_test(tc, test_list, 0, 2);
    tcase_add_loop_test(tc, test_mlsd, 0, 2);
    tcase_add_loop_test(tc, test_open_errors, 0, 2);
    tcase_add_loop_test(tc, test_streaming, 0, 2);
    tcase_add_loop_test(tc, test_streaming_one_by_one, 0, 2);
    tcase_add_loop_test(tc, test_close_midway, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    strcpy(base, "/tmp/ferry-listing-test-XXXXXX");
    if (mkdtemp(base) == NULL) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    sr = srunner_create(listing_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
