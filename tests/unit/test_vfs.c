/* Unit tests for vfs: path resolution, confinement beneath the root,
 * operations on names, uploads and start-up cleaning.
 *
 * Every test that touches the disk runs against a fresh root made with
 * mkdtemp inside one folder per run (removed at the end even when tests
 * fail), and most run in several modes (the loop index): bit 0 forces the
 * component walk that replaces openat2 on old kernels, bit 1 forces hidden
 * upload names as on file systems without O_TMPFILE. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/vfs.h"

/* vfs.c's switch for the hidden-name upload path. */

static char base[64];       /* per run; the parent of every root */
static char root[96];
static char outside[96];
static struct vfs V;

/* ---- fixtures ----------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path);
    return unlink(path);
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void path_in(char *out, size_t outlen, const char *rel)
{
    int n = snprintf(out, outlen, "%s/%s", root, rel);

    ck_assert(n > 0 && (size_t)n < outlen);
}

static void put(const char *rel, const char *content)
{
    char p[PATH_MAX];
    FILE *f;

    path_in(p, sizeof p, rel);
    f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(content, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

/* Content of a file under the root, "" with errno set when missing. */
static const char *get(const char *rel)
{
    static char buf[1 << 16];
    char p[PATH_MAX];
    ssize_t n;
    int fd;

    path_in(p, sizeof p, rel);
    buf[0] = '\0';
    fd = open(p, O_RDONLY);
    if (fd < 0)
        return NULL;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    ck_assert_int_ge(n, 0);
    buf[n] = '\0';
    return buf;
}

static int exists(const char *rel)
{
    char p[PATH_MAX];
    struct stat st;

    path_in(p, sizeof p, rel);
    return lstat(p, &st) == 0;
}

static void mkdir_in(const char *rel)
{
    char p[PATH_MAX];

    path_in(p, sizeof p, rel);
    ck_assert_int_eq(mkdir(p, 0755), 0);
}

static void link_in(const char *target, const char *rel)
{
    char p[PATH_MAX];

    path_in(p, sizeof p, rel);
    ck_assert_int_eq(symlink(target, p), 0);
}

/* Entries of a folder under the root whose name starts with prefix. */
static int count_prefixed(const char *rel, const char *prefix)
{
    char p[PATH_MAX];
    struct dirent *de;
    DIR *d;
    int n = 0;

    path_in(p, sizeof p, rel);
    d = opendir(p);
    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static int count_entries(const char *rel)
{
    return count_prefixed(rel, "") - 2;    /* . and .. */
}

static void write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);

        ck_assert_int_gt(w, 0);
        s += w;
        n -= (size_t)w;
    }
}

/* The tree most tests start from:
 *   top            "top"
 *   d/             folder
 *   d/f            "hello"
 *   d/back  ->  ../top          (inside)
 *   rel     ->  d/f             (inside)
 *   dlink   ->  d               (inside, folder)
 *   etc     ->  /etc            (absolute)
 *   absin   ->  <root>/top      (absolute, even if it points inside)
 *   up      ->  ..              (escapes)
 *   chain   ->  ../<rootname>/top   (leaves and comes back)
 *   hop1 -> hop2 -> d/f         (chain inside)
 *   loop1 <-> loop2
 *   dang    ->  nothing
 *   fifo            a FIFO
 *   sock            a unix socket */
static void setup(void)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    char p[PATH_MAX];
    int s;

    snprintf(root, sizeof root, "%s/root-XXXXXX", base);
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(outside, sizeof outside, "%s/out-XXXXXX", base);
    ck_assert_ptr_nonnull(mkdtemp(outside));
    put("top", "top");
    mkdir_in("d");
    put("d/f", "hello");
    link_in("../top", "d/back");
    link_in("d/f", "rel");
    link_in("d", "dlink");
    link_in("/etc", "etc");
    snprintf(p, sizeof p, "%s/top", root);
    link_in(p, "absin");
    link_in("..", "up");
    snprintf(p, sizeof p, "../%s/top", strrchr(root, '/') + 1);
    link_in(p, "chain");
    link_in("hop2", "hop1");
    link_in("d/f", "hop2");
    link_in("loop2", "loop1");
    link_in("loop1", "loop2");
    link_in("nothing", "dang");
    path_in(p, sizeof p, "fifo");
    ck_assert_int_eq(mkfifo(p, 0644), 0);
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s/sock", root);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sun, sizeof sun), 0);
    close(s);
    ck_assert_int_eq(vfs_open(&V, root, 0), 0);
    vfs_test_no_tmpfile = 0;
}

/* Did anything land beside the root, where "up" leads? */
static int escaped(void)
{
    char p[PATH_MAX];

    snprintf(p, sizeof p, "%s/ferry-escape", base);
    return access(p, F_OK) == 0;
}

static void teardown(void)
{
    vfs_close(&V);
    rm_rf(root);
    rm_rf(outside);
}

/* Loop index: bit 0 forces the openat2 fallback, bit 1 hidden names. */
static void set_mode(int i)
{
    if (i & 1)
        V.has_openat2 = 0;
    vfs_test_no_tmpfile = (i & 2) != 0;
}

/* ---- pure path handling ------------------------------------------------ */

struct resolve_case {
    const char *cwd, *arg;
    const char *want;    /* NULL: error err */
    int err;
};

static const struct resolve_case resolve_cases[] = {
    { "/", "a", "/a", 0 },
    { "/", "/a/b", "/a/b", 0 },
    { "/x", "a", "/x/a", 0 },
    { "/x/y", "..", "/x", 0 },
    { "/x/y", "../..", "/", 0 },
    { "/x", "../..", NULL, EPERM },
    { "/", "..", NULL, EPERM },
    { "/", "/../x", NULL, EPERM },
    { "/a", "x/../..", "/", 0 },
    { "/a", "x/../../..", NULL, EPERM },
    { "/", "a/./b", "/a/b", 0 },
    { "/", "//", "/", 0 },
    { "/q", "//", "/", 0 },
    { "/", "a//b///c", "/a/b/c", 0 },
    { "/a", "b/", "/a/b", 0 },
    { "/a", "/", "/", 0 },
    { "/a", ".", "/a", 0 },
    { "/", ".", "/", 0 },
    { "/", "./.", "/", 0 },
    { "/a/b", "../c/../d", "/a/d", 0 },
    { "/", "...", "/...", 0 },
    { "/", "..a", "/..a", 0 },
    { "/", "a..", "/a..", 0 },
    { "/a/../b", "c", "/b/c", 0 },
    { "/a/", "c", "/a/c", 0 },
    { "/", " x ", "/ x ", 0 },
    { "/", "", NULL, EINVAL },
    { "a", "b", NULL, EINVAL },
    { "", "b", NULL, EINVAL },
    { "a", "/b", "/b", 0 },          /* absolute: cwd unused */
    { "/..", "b", NULL, EPERM },
};

START_TEST(test_resolve_table)
{
    const struct resolve_case *c = &resolve_cases[_i];
    char out[VFS_PATH_MAX];
    int r;

    r = vfs_resolve(c->cwd, c->arg, out, sizeof out);
    if (c->want != NULL) {
        ck_assert_msg(r == 0, "resolve(%s, %s) = %d", c->cwd, c->arg, r);
        ck_assert_str_eq(out, c->want);
    } else {
        ck_assert_msg(r == -c->err, "resolve(%s, %s) = %d, want %d",
                      c->cwd, c->arg, r, -c->err);
        ck_assert_str_eq(out, "");
    }
}
END_TEST

START_TEST(test_resolve_bounds)
{
    static char arg[3 * VFS_PATH_MAX];
    char out[VFS_PATH_MAX], small[8];
    size_t i;

    ck_assert_int_eq(vfs_resolve(NULL, "a", out, sizeof out), -EINVAL);
    ck_assert_int_eq(vfs_resolve("/", NULL, out, sizeof out), -EINVAL);
    ck_assert_int_eq(vfs_resolve("/", "a", out, 0), -ENAMETOOLONG);
    ck_assert_int_eq(vfs_resolve("/", "a", out, 1), -ENAMETOOLONG);

    /* Exactly fitting, and one byte too long. */
    ck_assert_int_eq(vfs_resolve("/", "abcdef", small, sizeof small), 0);
    ck_assert_str_eq(small, "/abcdef");
    ck_assert_int_eq(vfs_resolve("/", "abcdefg", small, sizeof small),
                     -ENAMETOOLONG);
    ck_assert_int_eq(vfs_resolve("/abc", "de", small, sizeof small), 0);
    ck_assert_str_eq(small, "/abc/de");
    ck_assert_int_eq(vfs_resolve("/abc", "def", small, sizeof small),
                     -ENAMETOOLONG);
    ck_assert_int_eq(vfs_resolve("/abcdefgh", "..", small, sizeof small),
                     -ENAMETOOLONG);

    /* A component longer than NAME_MAX. */
    memset(arg, 'x', NAME_MAX + 1);
    arg[NAME_MAX + 1] = '\0';
    ck_assert_int_eq(vfs_resolve("/", arg, out, sizeof out), -ENAMETOOLONG);
    arg[NAME_MAX] = '\0';
    ck_assert_int_eq(vfs_resolve("/", arg, out, sizeof out), 0);
    ck_assert_uint_eq(strlen(out), NAME_MAX + 1);

    /* "aa/a/a/.../a": 4094 bytes, 4095 with the leading slash, fit. */
    strcpy(arg, "aa");
    for (i = 2; i < VFS_PATH_MAX - 2; i += 2)
        memcpy(arg + i, "/a", 2);
    arg[VFS_PATH_MAX - 2] = '\0';
    ck_assert_int_eq(vfs_resolve("/", arg, out, sizeof out), 0);
    ck_assert_uint_eq(strlen(out), VFS_PATH_MAX - 1);
    /* One more component does not fit. */
    strcat(arg, "/b");
    ck_assert_int_eq(vfs_resolve("/", arg, out, sizeof out), -ENAMETOOLONG);
    /* But a long argument that climbs back does, when nothing in between
     * overflows: "x/../" repeated. */
    for (i = 0; i + 5 <= sizeof arg - 2; i += 5)
        memcpy(arg + i, "x/../", 5);
    arg[i] = 'y';
    arg[i + 1] = '\0';
    ck_assert_int_eq(vfs_resolve("/", arg, out, sizeof out), 0);
    ck_assert_str_eq(out, "/y");
    /* Many slashes. */
    memset(arg, '/', sizeof arg - 1);
    arg[sizeof arg - 1] = '\0';
    ck_assert_int_eq(vfs_resolve("/x", arg, out, sizeof out), 0);
    ck_assert_str_eq(out, "/");
}
END_TEST

START_TEST(test_rel_basename)
{
    ck_assert_str_eq(vfs_rel("/"), ".");
    ck_assert_str_eq(vfs_rel("/a"), "a");
    ck_assert_str_eq(vfs_rel("/a/b"), "a/b");
    ck_assert_str_eq(vfs_rel("//a"), "a");
    ck_assert_str_eq(vfs_basename("/"), "/");
    ck_assert_str_eq(vfs_basename("/a"), "a");
    ck_assert_str_eq(vfs_basename("/a/b.txt"), "b.txt");
}
END_TEST

/* ---- opening beneath the root ------------------------------------------ */

static int open_err(const char *vpath, int flags)
{
    int fd = vfs_openat(&V, vpath, flags, 0644);

    if (fd >= 0) {
        close(fd);
        return 0;
    }
    return fd;
}

static const char *read_via(const char *vpath)
{
    static char buf[256];
    ssize_t n;
    int fd = vfs_openat(&V, vpath, O_RDONLY, 0);

    if (fd < 0)
        return NULL;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    ck_assert_int_ge(n, 0);
    buf[n] = '\0';
    return buf;
}

START_TEST(test_open_beneath)
{
    struct stat st;
    int fd;

    set_mode(_i);
    ck_assert_ptr_nonnull(read_via("/top"));
    ck_assert_str_eq(read_via("/top"), "top");
    ck_assert_str_eq(read_via("/d/f"), "hello");
    ck_assert_str_eq(read_via("/rel"), "hello");         /* relative link */
    ck_assert_str_eq(read_via("/d/back"), "top");        /* ../ inside */
    ck_assert_str_eq(read_via("/dlink/f"), "hello");     /* folder link */
    ck_assert_str_eq(read_via("/dlink/back"), "top");
    ck_assert_str_eq(read_via("/hop1"), "hello");        /* chain inside */
    ck_assert_str_eq(read_via("/d/../top"), "top");
    ck_assert_str_eq(read_via("d/f"), "hello");

    ck_assert_int_eq(open_err("/etc/passwd", O_RDONLY), -EXDEV);
    ck_assert_int_eq(open_err("/etc", O_RDONLY), -EXDEV);
    ck_assert_int_eq(open_err("/absin", O_RDONLY), -EXDEV);
    ck_assert_int_eq(open_err("/up", O_RDONLY), -EXDEV);
    ck_assert_int_eq(open_err("/up/tmp", O_RDONLY), -EXDEV);
    ck_assert_int_eq(open_err("/chain", O_RDONLY), -EXDEV);
    ck_assert_int_eq(open_err("/..", O_RDONLY), -EXDEV);
    ck_assert_int_eq(open_err("/d/../../x", O_RDONLY), -EXDEV);
    ck_assert_int_eq(open_err("/loop1", O_RDONLY), -ELOOP);
    ck_assert_int_eq(open_err("/dang", O_RDONLY), -ENOENT);
    ck_assert_int_eq(open_err("/missing", O_RDONLY), -ENOENT);
    ck_assert_int_eq(open_err("/top/", O_RDONLY), -ENOTDIR);
    ck_assert_int_eq(open_err("/top/x", O_RDONLY), -ENOTDIR);

    /* O_NOFOLLOW covers the last component only. */
    ck_assert_int_eq(open_err("/rel", O_RDONLY | O_NOFOLLOW), -ELOOP);
    ck_assert_int_eq(open_err("/dlink/f", O_RDONLY | O_NOFOLLOW), 0);
    fd = vfs_openat(&V, "/rel", O_PATH | O_NOFOLLOW, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    close(fd);

    /* Every descriptor is close-on-exec. */
    fd = vfs_openat(&V, "/top", O_RDONLY, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    close(fd);

    /* The root and folders. */
    fd = vfs_openat(&V, "/", O_RDONLY | O_DIRECTORY, 0);
    ck_assert_int_ge(fd, 0);
    close(fd);
    fd = vfs_openat(&V, "/dlink/", O_RDONLY | O_DIRECTORY, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    close(fd);

    /* Creating through a folder link lands inside; through an escaping
     * one, nothing is created. */
    ck_assert_int_eq(open_err("/dlink/new", O_WRONLY | O_CREAT), 0);
    ck_assert(exists("d/new"));
    ck_assert_int_eq(open_err("/up/ferry-escape", O_WRONLY | O_CREAT),
                     -EXDEV);
    ck_assert(!escaped());
    ck_assert_int_eq(open_err("/d/", O_WRONLY | O_CREAT), -EISDIR);
    /* O_EXCL never follows a link, not even a dangling one. */
    ck_assert_int_eq(open_err("/dang", O_WRONLY | O_CREAT | O_EXCL), -EEXIST);
    ck_assert(!exists("nothing"));
    ck_assert_int_eq(open_err("/top", O_WRONLY | O_CREAT | O_EXCL), -EEXIST);
    ck_assert_int_eq(open_err("/d/x", O_WRONLY | O_CREAT | O_EXCL), 0);
    ck_assert(exists("d/x"));
    /* O_CREAT through a dangling link inside creates its target. */
    ck_assert_int_eq(open_err("/dang", O_WRONLY | O_CREAT), 0);
    ck_assert(exists("nothing"));
}
END_TEST

START_TEST(test_open_file_dir_stat)
{
    struct stat st;
    int fd;

    set_mode(_i);
    fd = vfs_open_file(&V, "/rel", &st);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(st.st_size, 5);
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    close(fd);
    ck_assert_int_eq(vfs_open_file(&V, "/d", &st), -EISDIR);
    /* A FIFO is refused, and opening it must not wait for a writer. */
    ck_assert_int_eq(vfs_open_file(&V, "/fifo", &st), -EACCES);
    ck_assert_int_eq(vfs_open_file(&V, "/sock", &st), -EACCES);
    ck_assert_int_eq(vfs_open_file(&V, "/etc/passwd", &st), -EXDEV);

    fd = vfs_open_dir(&V, "/dlink");
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(vfs_open_dir(&V, "/top"), -ENOTDIR);
    ck_assert_int_eq(vfs_open_dir(&V, "/up"), -EXDEV);

    ck_assert_int_eq(vfs_stat(&V, "/", &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(vfs_stat(&V, "/hop1", &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(st.st_size, 5);
    ck_assert_int_eq(vfs_stat(&V, "/etc", &st), -EXDEV);
    ck_assert_int_eq(vfs_stat(&V, "/dang", &st), -ENOENT);
}
END_TEST

START_TEST(test_open_bad_root)
{
    struct vfs v;
    char p[PATH_MAX];

    ck_assert_int_eq(vfs_open(&v, "", 0), -EINVAL);
    ck_assert_int_eq(vfs_open(&v, "/nonexistent/ferry/x", 0), -ENOENT);
    ck_assert_int_eq(v.rootfd, -1);
    path_in(p, sizeof p, "top");
    ck_assert_int_eq(vfs_open(&v, p, 0), -ENOTDIR);
    /* create makes the folder, and accepts an existing one. */
    path_in(p, sizeof p, "newroot");
    ck_assert_int_eq(vfs_open(&v, p, 1), 0);
    ck_assert_int_ge(v.rootfd, 0);
    vfs_close(&v);
    ck_assert_int_eq(v.rootfd, -1);
    ck_assert_int_eq(vfs_open(&v, p, 1), 0);
    vfs_close(&v);
    ck_assert(exists("newroot"));
}
END_TEST

/* ---- operations on names ------------------------------------------------ */

START_TEST(test_mkdir_rmdir)
{
    char p[PATH_MAX];

    set_mode(_i);
    ck_assert_int_eq(vfs_mkdir(&V, "/n", 0755), 0);
    ck_assert(exists("n"));
    ck_assert_int_eq(vfs_mkdir(&V, "/n", 0755), -EEXIST);
    ck_assert_int_eq(vfs_mkdir(&V, "/dlink/m", 0755), 0);
    ck_assert(exists("d/m"));
    ck_assert_int_eq(vfs_mkdir(&V, "/", 0755), -EPERM);
    ck_assert_int_eq(vfs_mkdir(&V, "/up/ferry-escape", 0755), -EXDEV);
    ck_assert(!escaped());
    ck_assert_int_eq(vfs_mkdir(&V, "/etc/x", 0755), -EXDEV);
    ck_assert_int_eq(vfs_mkdir(&V, "/d/.", 0755), -EINVAL);
    ck_assert_int_eq(vfs_mkdir(&V, "/d/..", 0755), -EINVAL);
    ck_assert_int_eq(vfs_mkdir(&V, "/d/", 0755), -EINVAL);
    ck_assert_int_eq(vfs_mkdir(&V, "/missing/x", 0755), -ENOENT);
    ck_assert_int_eq(vfs_mkdir(&V, "/" VFS_TMP_PREFIX "x", 0755), -EACCES);

    ck_assert_int_eq(vfs_rmdir(&V, "/"), -EPERM);
    ck_assert_int_eq(vfs_rmdir(&V, "/d/.."), -EINVAL);
    ck_assert_int_eq(vfs_rmdir(&V, "/d/."), -EINVAL);
    ck_assert_int_eq(vfs_rmdir(&V, "/d"), -ENOTEMPTY);
    ck_assert_int_eq(vfs_rmdir(&V, "/dlink"), -ENOTDIR);  /* the link */
    ck_assert(exists("d/f"));
    /* outside is an empty folder beside the root. */
    snprintf(p, sizeof p, "/up/%s", strrchr(outside, '/') + 1);
    ck_assert_int_eq(vfs_rmdir(&V, p), -EXDEV);
    ck_assert_int_eq(access(outside, F_OK), 0);
    ck_assert_int_eq(vfs_rmdir(&V, "/n"), 0);
    ck_assert(!exists("n"));
    ck_assert_int_eq(vfs_rmdir(&V, "/n"), -ENOENT);
    ck_assert_int_eq(vfs_rmdir(&V, "/dlink/m"), 0);
    ck_assert(!exists("d/m"));
}
END_TEST

START_TEST(test_unlink)
{
    char p[PATH_MAX];

    set_mode(_i);
    snprintf(p, sizeof p, "%s/victim", outside);
    close(open(p, O_WRONLY | O_CREAT, 0644));

    ck_assert_int_eq(vfs_unlink(&V, "/"), -EPERM);
    ck_assert_int_eq(vfs_unlink(&V, "/d"), -EISDIR);
    ck_assert_int_eq(vfs_unlink(&V, "/d/.."), -EINVAL);
    ck_assert_int_eq(vfs_unlink(&V, "/up/" ), -EINVAL);
    snprintf(p, sizeof p, "/up/%s/victim", strrchr(outside, '/') + 1);
    ck_assert_int_eq(vfs_unlink(&V, p), -EXDEV);
    snprintf(p, sizeof p, "%s/victim", outside);
    ck_assert_int_eq(access(p, F_OK), 0);

    /* Unlinking a link removes the link, never its target. */
    ck_assert_int_eq(vfs_unlink(&V, "/rel"), 0);
    ck_assert(!exists("rel"));
    ck_assert(exists("d/f"));
    ck_assert_int_eq(vfs_unlink(&V, "/etc"), 0);     /* the link itself */
    ck_assert_int_eq(access("/etc/passwd", F_OK), 0);
    ck_assert_int_eq(vfs_unlink(&V, "/dlink/f"), 0);
    ck_assert(!exists("d/f"));
    ck_assert_int_eq(vfs_unlink(&V, "/dlink/f"), -ENOENT);
}
END_TEST

START_TEST(test_rename)
{
    set_mode(_i);
    ck_assert_int_eq(vfs_rename(&V, "/d/f", "/g"), 0);
    ck_assert(!exists("d/f"));
    ck_assert_str_eq(get("g"), "hello");
    /* A file target is replaced. */
    ck_assert_int_eq(vfs_rename(&V, "/g", "/top"), 0);
    ck_assert_str_eq(get("top"), "hello");
    ck_assert(!exists("g"));
    /* A folder target is not. */
    mkdir_in("e");
    ck_assert_int_eq(vfs_rename(&V, "/top", "/e"), -EEXIST);
    ck_assert_int_eq(vfs_rename(&V, "/d", "/e"), -EEXIST);
    ck_assert_int_eq(vfs_rename(&V, "/d", "/d"), 0);
    /* Folders move, through links too. */
    ck_assert_int_eq(vfs_rename(&V, "/e", "/dlink/e2"), 0);
    ck_assert(exists("d/e2"));

    ck_assert_int_eq(vfs_rename(&V, "/", "/x"), -EPERM);
    ck_assert_int_eq(vfs_rename(&V, "/top", "/"), -EPERM);
    ck_assert_int_eq(vfs_rename(&V, "/top", "/up/ferry-escape"), -EXDEV);
    ck_assert(!escaped());
    ck_assert(exists("top"));
    ck_assert_int_eq(vfs_rename(&V, "/etc/passwd", "/stolen"), -EXDEV);
    ck_assert(!exists("stolen"));
    ck_assert_int_eq(vfs_rename(&V, "/top", "/d/.."), -EINVAL);
    ck_assert_int_eq(vfs_rename(&V, "/d/.", "/x"), -EINVAL);
    ck_assert_int_eq(vfs_rename(&V, "/missing", "/x"), -ENOENT);
    ck_assert_int_eq(vfs_rename(&V, "/top", "/" VFS_TMP_PREFIX "1"),
                     -EACCES);
    /* Renaming a link moves the link. */
    ck_assert_int_eq(vfs_rename(&V, "/etc", "/d/etc2"), 0);
    ck_assert_int_eq(open_err("/d/etc2/passwd", O_RDONLY), -EXDEV);
}
END_TEST

/* ---- uploads ------------------------------------------------------------ */

static int upload(const char *vpath, enum vfs_upload_mode mode,
                  unsigned long long off, const char *data)
{
    struct vfs_upload u;
    int r = vfs_upload_begin(&V, vpath, mode, off, &u);

    if (r < 0) {
        ck_assert_int_eq(u.fd, -1);
        return r;
    }
    write_all(u.fd, data, strlen(data));
    return vfs_upload_commit(&u);
}

START_TEST(test_upload_create)
{
    struct vfs_upload u;

    set_mode(_i);
    ck_assert_int_eq(vfs_upload_begin(&V, "/d/up.txt", VFS_UP_CREATE, 0, &u),
                     0);
    ck_assert_int_ge(u.fd, 0);
    ck_assert_int_eq(u.anonymous, !(_i & 2));
    ck_assert_int_eq(u.inplace, 0);
    write_all(u.fd, "data", 4);
    /* Nothing under the real name before the commit. */
    ck_assert(!exists("d/up.txt"));
    ck_assert_int_eq(count_prefixed("d", "up.txt"), 0);
    ck_assert_int_eq(count_prefixed("d", VFS_TMP_PREFIX), (_i & 2) ? 1 : 0);
    ck_assert_int_eq(vfs_upload_commit(&u), 0);
    ck_assert_int_eq(u.fd, -1);
    ck_assert_int_eq(u.dirfd, -1);
    ck_assert_str_eq(get("d/up.txt"), "data");
    ck_assert_int_eq(count_prefixed("d", VFS_TMP_PREFIX), 0);
    ck_assert_int_eq(count_entries("d"), 3);    /* f, back, up.txt */
    /* Commit of an idle upload is an error, not a crash. */
    ck_assert_int_eq(vfs_upload_commit(&u), -EBADF);

    /* Replacing: readers see the old content until the commit. */
    ck_assert_int_eq(vfs_upload_begin(&V, "/top", VFS_UP_CREATE, 0, &u), 0);
    write_all(u.fd, "new content", 11);
    ck_assert_str_eq(get("top"), "top");
    ck_assert_int_eq(vfs_upload_commit(&u), 0);
    ck_assert_str_eq(get("top"), "new content");
    ck_assert_int_eq(count_prefixed(".", VFS_TMP_PREFIX), 0);

    /* Through a folder link; an empty upload. */
    ck_assert_int_eq(upload("/dlink/empty", VFS_UP_CREATE, 0, ""), 0);
    ck_assert_str_eq(get("d/empty"), "");
    /* Over a symlink: the link is replaced, its target untouched. */
    ck_assert_int_eq(upload("/rel", VFS_UP_CREATE, 0, "replaced"), 0);
    ck_assert_str_eq(get("rel"), "replaced");
    ck_assert_str_eq(get("d/f"), "hello");
    ck_assert_int_eq(upload("/etc", VFS_UP_CREATE, 0, "x"), 0);
    ck_assert_int_eq(access("/etc/passwd", F_OK), 0);
}
END_TEST

START_TEST(test_upload_refused)
{
    struct vfs_upload u;

    set_mode(_i);
    ck_assert_int_eq(upload("/d", VFS_UP_CREATE, 0, "x"), -EISDIR);
    ck_assert_int_eq(upload("/dlink", VFS_UP_CREATE, 0, "x"), 0);  /* link */
    ck_assert_int_eq(upload("/fifo", VFS_UP_CREATE, 0, "x"), -EACCES);
    ck_assert_int_eq(upload("/sock", VFS_UP_CREATE, 0, "x"), -EACCES);
    ck_assert_int_eq(upload("/", VFS_UP_CREATE, 0, "x"), -EPERM);
    ck_assert_int_eq(upload("/d/.", VFS_UP_CREATE, 0, "x"), -EINVAL);
    ck_assert_int_eq(upload("/d/..", VFS_UP_CREATE, 0, "x"), -EINVAL);
    ck_assert_int_eq(upload("/d/", VFS_UP_CREATE, 0, "x"), -EINVAL);
    ck_assert_int_eq(upload("/up/ferry-escape", VFS_UP_CREATE, 0, "x"),
                     -EXDEV);
    ck_assert(!escaped());
    ck_assert_int_eq(upload("/etc/ferry-escape", VFS_UP_CREATE, 0, "x"),
                     -EXDEV);
    ck_assert_int_eq(upload("/missing/x", VFS_UP_CREATE, 0, "x"), -ENOENT);
    ck_assert_int_eq(upload("/" VFS_TMP_PREFIX "x", VFS_UP_CREATE, 0, "x"),
                     -EACCES);
    ck_assert_int_eq(vfs_upload_begin(&V, "/x", (enum vfs_upload_mode)42, 0,
                                      &u), -EINVAL);
    ck_assert_int_eq(count_prefixed(".", VFS_TMP_PREFIX), 0);
    ck_assert(!exists("x"));
}
END_TEST

START_TEST(test_upload_abort)
{
    struct vfs_upload u;
    int before = count_entries("d");

    set_mode(_i);
    ck_assert_int_eq(vfs_upload_begin(&V, "/d/gone", VFS_UP_CREATE, 0, &u),
                     0);
    write_all(u.fd, "partial", 7);
    vfs_upload_abort(&u);
    ck_assert_int_eq(u.fd, -1);
    ck_assert_int_eq(u.dirfd, -1);
    ck_assert(!exists("d/gone"));
    ck_assert_int_eq(count_entries("d"), before);
    vfs_upload_abort(&u);    /* idle: nothing happens */

    /* Aborting a replacement keeps the old file whole. */
    ck_assert_int_eq(vfs_upload_begin(&V, "/top", VFS_UP_CREATE, 0, &u), 0);
    write_all(u.fd, "xx", 2);
    vfs_upload_abort(&u);
    ck_assert_str_eq(get("top"), "top");
    ck_assert_int_eq(count_prefixed(".", VFS_TMP_PREFIX), 0);
}
END_TEST

START_TEST(test_upload_interleaved)
{
    struct vfs_upload a, b;

    set_mode(_i);
    ck_assert_int_eq(vfs_upload_begin(&V, "/same", VFS_UP_CREATE, 0, &a), 0);
    ck_assert_int_eq(vfs_upload_begin(&V, "/same", VFS_UP_CREATE, 0, &b), 0);
    write_all(a.fd, "AAAA", 4);
    write_all(b.fd, "BBBBBB", 6);
    write_all(a.fd, "AAAA", 4);
    ck_assert_int_eq(vfs_upload_commit(&b), 0);
    ck_assert_str_eq(get("same"), "BBBBBB");
    ck_assert_int_eq(vfs_upload_commit(&a), 0);
    ck_assert_str_eq(get("same"), "AAAAAAAA");    /* last commit wins */
    ck_assert_int_eq(count_prefixed(".", VFS_TMP_PREFIX), 0);
}
END_TEST

#define CONC_SIZE (256 * 1024)

struct conc {
    char letter;
    pthread_barrier_t *bar;
    int r;
};

static void *conc_upload(void *arg)
{
    struct conc *c = arg;
    struct vfs_upload u;
    char chunk[4096];
    int i;

    memset(chunk, c->letter, sizeof chunk);
    c->r = vfs_upload_begin(&V, "/d/race", VFS_UP_CREATE, 0, &u);
    pthread_barrier_wait(c->bar);
    if (c->r < 0)
        return NULL;
    for (i = 0; i < CONC_SIZE / (int)sizeof chunk; i++) {
        if (write(u.fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk) {
            c->r = -EIO;
            vfs_upload_abort(&u);
            return NULL;
        }
        if (i == CONC_SIZE / (int)sizeof chunk / 2)
            pthread_barrier_wait(c->bar);
    }
    pthread_barrier_wait(c->bar);
    c->r = vfs_upload_commit(&u);
    return NULL;
}

/* The file holds CONC_SIZE bytes of one letter, A or B. */
static void assert_whole(const char *rel)
{
    static char buf[CONC_SIZE + 1];
    char p[PATH_MAX];
    ssize_t n, got = 0;
    int fd, i;

    path_in(p, sizeof p, rel);
    fd = open(p, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    while ((n = read(fd, buf + got, sizeof buf - (size_t)got)) > 0)
        got += n;
    close(fd);
    ck_assert_int_eq(got, CONC_SIZE);
    ck_assert(buf[0] == 'A' || buf[0] == 'B');
    for (i = 1; i < CONC_SIZE && buf[i] == buf[0]; i++)
        ;
    ck_assert_int_eq(i, CONC_SIZE);
}

START_TEST(test_upload_concurrent_threads)
{
    pthread_barrier_t bar;
    struct conc c[2] = { { 'A', &bar, 1 }, { 'B', &bar, 1 } };
    pthread_t t[2];
    int i;

    set_mode(_i);
    pthread_barrier_init(&bar, NULL, 2);
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, conc_upload, &c[i]), 0);
    for (i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&bar);
    ck_assert_int_eq(c[0].r, 0);
    ck_assert_int_eq(c[1].r, 0);
    assert_whole("d/race");
    ck_assert_int_eq(count_prefixed("d", VFS_TMP_PREFIX), 0);
}
END_TEST

START_TEST(test_upload_concurrent_processes)
{
    pid_t pid[2];
    int i, status;

    set_mode(_i);
    for (i = 0; i < 2; i++) {
        pid[i] = fork();
        ck_assert_int_ge(pid[i], 0);
        if (pid[i] == 0) {
            char chunk[4096];
            struct vfs_upload u;
            int k;

            memset(chunk, i ? 'B' : 'A', sizeof chunk);
            if (vfs_upload_begin(&V, "/d/race", VFS_UP_CREATE, 0, &u) < 0)
                _exit(1);
            for (k = 0; k < CONC_SIZE / (int)sizeof chunk; k++)
                if (write(u.fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
                    _exit(2);
            _exit(vfs_upload_commit(&u) == 0 ? 0 : 3);
        }
    }
    for (i = 0; i < 2; i++) {
        ck_assert_int_eq(waitpid(pid[i], &status, 0), pid[i]);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
    }
    assert_whole("d/race");
    ck_assert_int_eq(count_prefixed("d", VFS_TMP_PREFIX), 0);
}
END_TEST

/* Hidden names stay distinct for many uploads open at once. */
START_TEST(test_upload_unique_names)
{
    enum { N = 64 };
    static struct vfs_upload u[N];
    int i, j;

    set_mode(_i | 2);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(vfs_upload_begin(&V, "/d/many", VFS_UP_CREATE, 0,
                                          &u[i]), 0);
        ck_assert_int_eq(strncmp(u[i].tmpname, VFS_TMP_PREFIX,
                                 strlen(VFS_TMP_PREFIX)), 0);
        for (j = 0; j < i; j++)
            ck_assert_str_ne(u[i].tmpname, u[j].tmpname);
    }
    ck_assert_int_eq(count_prefixed("d", VFS_TMP_PREFIX), N);
    for (i = 0; i < N; i++)
        vfs_upload_abort(&u[i]);
    ck_assert_int_eq(count_prefixed("d", VFS_TMP_PREFIX), 0);
    ck_assert(!exists("d/many"));
}
END_TEST

START_TEST(test_upload_append)
{
    struct vfs_upload u;

    set_mode(_i);
    put("log", "abc");
    ck_assert_int_eq(vfs_upload_begin(&V, "/log", VFS_UP_APPEND, 0, &u), 0);
    ck_assert_int_eq(u.inplace, 1);
    write_all(u.fd, "def", 3);
    /* In place: visible while it is written. */
    ck_assert_str_eq(get("log"), "abcdef");
    ck_assert_int_eq(vfs_upload_commit(&u), 0);
    ck_assert_str_eq(get("log"), "abcdef");

    /* Abort in place keeps what was written. */
    ck_assert_int_eq(vfs_upload_begin(&V, "/log", VFS_UP_APPEND, 0, &u), 0);
    write_all(u.fd, "g", 1);
    vfs_upload_abort(&u);
    ck_assert_str_eq(get("log"), "abcdefg");

    /* Missing: as STOR. */
    ck_assert_int_eq(vfs_upload_begin(&V, "/d/new", VFS_UP_APPEND, 0, &u), 0);
    ck_assert_int_eq(u.inplace, 0);
    write_all(u.fd, "fresh", 5);
    ck_assert(!exists("d/new"));
    ck_assert_int_eq(vfs_upload_commit(&u), 0);
    ck_assert_str_eq(get("d/new"), "fresh");

    /* Never through a symlink, nor to anything but a file. */
    ck_assert_int_eq(upload("/rel", VFS_UP_APPEND, 0, "x"), -EACCES);
    ck_assert_str_eq(get("d/f"), "hello");
    ck_assert_int_eq(upload("/etc", VFS_UP_APPEND, 0, "x"), -EACCES);
    ck_assert_int_eq(upload("/fifo", VFS_UP_APPEND, 0, "x"), -EACCES);
    ck_assert_int_eq(upload("/sock", VFS_UP_APPEND, 0, "x"), -EACCES);
    ck_assert_int_eq(upload("/fifo", VFS_UP_RESUME, 0, "x"), -EACCES);
    ck_assert_int_eq(upload("/d", VFS_UP_APPEND, 0, "x"), -EISDIR);
    ck_assert_int_eq(upload("/up/x", VFS_UP_APPEND, 0, "x"), -EXDEV);
    ck_assert_int_eq(count_prefixed(".", VFS_TMP_PREFIX), 0);
}
END_TEST

START_TEST(test_upload_resume)
{
    struct vfs_upload u;

    set_mode(_i);
    put("part", "0123456789");
    ck_assert_int_eq(upload("/part", VFS_UP_RESUME, 4, "ab"), 0);
    ck_assert_str_eq(get("part"), "0123ab6789");    /* nothing truncated */
    ck_assert_int_eq(upload("/part", VFS_UP_RESUME, 10, "XY"), 0);
    ck_assert_str_eq(get("part"), "0123ab6789XY");
    ck_assert_int_eq(upload("/part", VFS_UP_RESUME, 13, "Z"), -EINVAL);
    ck_assert_int_eq(upload("/part", VFS_UP_RESUME, ~0ULL, "Z"), -EINVAL);
    ck_assert_str_eq(get("part"), "0123ab6789XY");
    ck_assert_int_eq(vfs_upload_begin(&V, "/part", VFS_UP_RESUME, 2, &u), 0);
    ck_assert_int_eq(lseek(u.fd, 0, SEEK_CUR), 2);
    vfs_upload_abort(&u);

    ck_assert_int_eq(upload("/nofile", VFS_UP_RESUME, 5, "x"), -ENOENT);
    ck_assert(!exists("nofile"));
    ck_assert_int_eq(upload("/nofile", VFS_UP_RESUME, 0, "new"), 0);
    ck_assert_str_eq(get("nofile"), "new");
    ck_assert_int_eq(upload("/rel", VFS_UP_RESUME, 1, "x"), -EACCES);
    ck_assert_str_eq(get("d/f"), "hello");
}
END_TEST

/* Without CAP_DAC_READ_SEARCH, linkat(AT_EMPTY_PATH) is refused (since
 * Linux 6.10 only when the file was opened under other credentials, so the
 * capability is dropped between begin and commit) and the commit goes
 * through /proc/self/fd. */
START_TEST(test_upload_without_cap)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    pid_t pid;
    int status;

    set_mode(_i);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct vfs_upload u;

        if (vfs_upload_begin(&V, "/d/nocap", VFS_UP_CREATE, 0, &u) < 0)
            _exit(10);
        if (write(u.fd, "capless", 7) != 7)
            _exit(11);
        if (syscall(SYS_capget, &hdr, data) < 0)
            _exit(12);
        data[CAP_TO_INDEX(CAP_DAC_READ_SEARCH)].effective &=
            ~CAP_TO_MASK(CAP_DAC_READ_SEARCH);
        if (syscall(SYS_capset, &hdr, data) < 0)
            _exit(13);
        _exit(vfs_upload_commit(&u) == 0 ? 0 : 14);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_str_eq(get("d/nocap"), "capless");
    ck_assert_int_eq(count_prefixed("d", VFS_TMP_PREFIX), 0);
}
END_TEST

/* ---- start-up cleaning -------------------------------------------------- */

START_TEST(test_clean_temps)
{
    char p[PATH_MAX], deep[PATH_MAX] = "";
    int i;

    put(VFS_TMP_PREFIX "1.2.3", "x");
    put("d/" VFS_TMP_PREFIX "a", "x");
    mkdir_in("d/e");
    mkdir_in("d/e/g");
    put("d/e/g/" VFS_TMP_PREFIX "b", "x");
    put("d/e/g/keep", "x");
    put("ferry-part.x", "x");                   /* no leading dot */
    mkdir_in(VFS_TMP_PREFIX "dir");             /* folders stay */
    put(VFS_TMP_PREFIX "dir/" VFS_TMP_PREFIX "c", "x");
    link_in("top", VFS_TMP_PREFIX "link");      /* links stay */
    /* A link to a folder outside that holds a temporary: not followed. */
    snprintf(p, sizeof p, "%s/" VFS_TMP_PREFIX "outside", outside);
    close(open(p, O_WRONLY | O_CREAT, 0644));
    link_in(outside, "outlink");
    /* Deeper than the walk goes: left alone. */
    for (i = 0; i < 70; i++) {
        strcat(deep, i ? "/n" : "n");
        mkdir_in(deep);
    }
    strcat(deep, "/" VFS_TMP_PREFIX "deep");
    put(deep, "x");

    ck_assert_int_eq(vfs_clean_temps(&V), 4);
    ck_assert(!exists(VFS_TMP_PREFIX "1.2.3"));
    ck_assert(!exists("d/" VFS_TMP_PREFIX "a"));
    ck_assert(!exists("d/e/g/" VFS_TMP_PREFIX "b"));
    ck_assert(!exists(VFS_TMP_PREFIX "dir/" VFS_TMP_PREFIX "c"));
    ck_assert(exists("d/e/g/keep"));
    ck_assert(exists("ferry-part.x"));
    ck_assert(exists(VFS_TMP_PREFIX "dir"));
    ck_assert(exists(VFS_TMP_PREFIX "link"));
    ck_assert(exists("top"));
    ck_assert(exists(deep));
    ck_assert_int_eq(access(p, F_OK), 0);
    ck_assert_int_eq(vfs_clean_temps(&V), 0);
}
END_TEST

/* ---- runner ------------------------------------------------------------- */

static Suite *vfs_suite(void)
{
    Suite *s = suite_create("vfs");
    TCase *tc;

    tc = tcase_create("resolve");
    tcase_add_loop_test(tc, test_resolve_table, 0,
                        (int)(sizeof resolve_cases / sizeof resolve_cases[0]));
    tcase_add_test(tc, test_resolve_bounds);
    tcase_add_test(tc, test_rel_basename);
    suite_add_tcase(s, tc);

    tc = tcase_create("open");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_open_beneath, 0, 2);
    tcase_add_loop_test(tc, test_open_file_dir_stat, 0, 2);
    tcase_add_test(tc, test_open_bad_root);
    suite_add_tcase(s, tc);

    tc = tcase_create("names");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_mkdir_rmdir, 0, 2);
    tcase_add_loop_test(tc, test_unlink, 0, 2);
    tcase_add_loop_test(tc, test_rename, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("upload");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_upload_create, 0, 4);
    tcase_add_loop_test(tc, test_upload_refused, 0, 4);
    tcase_add_loop_test(tc, test_upload_abort, 0, 4);
    tcase_add_loop_test(tc, test_upload_interleaved, 0, 4);
    tcase_add_loop_test(tc, test_upload_concurrent_threads, 0, 4);
    tcase_add_loop_test(tc, test_upload_concurrent_processes, 0, 4);
    tcase_add_loop_test(tc, test_upload_unique_names, 0, 2);
    tcase_add_loop_test(tc, test_upload_append, 0, 4);
    tcase_add_loop_test(tc, test_upload_resume, 0, 4);
    tcase_add_loop_test(tc, test_upload_without_cap, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("clean");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_clean_temps);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    strcpy(base, "/tmp/ferry-vfs-test-XXXXXX");
    if (mkdtemp(base) == NULL) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    sr = srunner_create(vfs_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    rm_rf(base);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
