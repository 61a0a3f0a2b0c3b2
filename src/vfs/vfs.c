/* vfs: the sandboxed root.  See include/ferry/vfs.h for the contract.
 *
 * Confinement.  Every path is opened relative to the root fd with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): the kernel refuses any
 * step that would leave the root (a ".." above it, an absolute symlink, a
 * relative symlink that climbs out, even one that comes back in later) with
 * EXDEV, and refuses /proc-style magic links, whatever races happen around
 * the lookup.
 *
 * Kernels before 5.6 (and seccomp filters that hide the syscall) have no
 * openat2.  Then walk_beneath() resolves the path one component at a time
 * and never lets the kernel follow a symlink: every step is opened with
 * O_NOFOLLOW, symlinks are read and their text is spliced into the rest of
 * the path, absolute targets and ".." above the root fail with EXDEV, as
 * with openat2.  Because the kernel follows nothing, a symlink swapped in
 * behind our back makes the next step fail instead of leading out, and
 * magic links are never followed at all.
 *
 * Operations on a name (mkdir, rmdir, unlink, rename, uploads) open the
 * parent folder beneath the root and act on the last component with the
 * *at() call, which never follows a symlink in that component.  The root
 * itself is never the object of such an operation, and "." / ".." are
 * refused as last components.  Names holding CR or LF are refused for
 * anything ferry creates (mkdir, the target of a rename, uploads): no
 * listing line can carry them, so listings leave them out, and a client
 * could otherwise fill the disk with files no other client can see.  Such
 * names made by other means can still be removed or renamed.
 *
 * Uploads.  CREATE writes to an O_TMPFILE file in the target folder; commit
 * links it to a fresh hidden name and renames that over the real name, so
 * the real name changes from the old complete file to the new complete file
 * in one step.  linkat(fd, "", AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH;
 * without it the /proc/self/fd/N path with AT_SYMLINK_FOLLOW does the same.
 * Where the file system has no O_TMPFILE, the data goes straight to a hidden
 * VFS_TMP_PREFIX name created with O_EXCL.  Hidden names carry the pid, a
 * per-process counter and 64 random bits, so they are unique across
 * threads, processes and machines sharing one root.
 *
 * Durability.  Commit is atomic against readers, not durable against power
 * loss: ferry does not fsync the file or the folder, because a sync per
 * upload costs more than the guarantee is worth for a file server whose
 * clients can resend.  After a crash the real name holds either the old or
 * the new content, or (rarely, depending on the file system) an empty file.
 */
#include "ferry/vfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Links followed in one lookup, as the kernel's MAXSYMLINKS. */
#define WALK_MAX_LINKS 40
/* openat2 asks to retry on EAGAIN when a rename raced with "..". */
#define OPEN_RETRIES 8
/* Attempts at a fresh hidden name before giving up. */
#define TMPNAME_TRIES 16
/* Folder depth vfs_clean_temps() descends to. */
#define CLEAN_MAX_DEPTH 64

/* Nonzero makes uploads use hidden names as on file systems without
 * O_TMPFILE, so that path can be tested on any file system.  Not part of
 * the interface. */
int vfs_test_no_tmpfile;

static int sys_openat2(int dirfd, const char *path, int flags, mode_t mode,
                       unsigned long long resolve)
{
    struct open_how how;
    long fd;

    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(unsigned int)flags;
    /* openat2 rejects a mode without O_CREAT or O_TMPFILE. */
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
        how.mode = mode;
    how.resolve = resolve;
    fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    return fd < 0 ? -errno : (int)fd;
}

int vfs_open(struct vfs *v, const char *rootpath, int create)
{
    int fd, probe;

    v->rootfd = -1;
    v->has_openat2 = 0;
    if (rootpath == NULL || rootpath[0] == '\0')
        return -EINVAL;
    if (create && mkdir(rootpath, 0755) < 0 && errno != EEXIST)
        return -errno;
    fd = open(rootpath, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;

    probe = sys_openat2(fd, ".", O_PATH | O_CLOEXEC, 0,
                        RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
    if (probe >= 0) {
        close(probe);
        v->has_openat2 = 1;
    } else if (probe != -ENOSYS && probe != -EPERM) {
        /* EPERM: older container seccomp profiles answer unknown
         * syscalls so.  Anything else is a real failure to use the root. */
        close(fd);
        return probe;
    }
    v->rootfd = fd;
    return 0;
}

void vfs_close(struct vfs *v)
{
    if (v->rootfd >= 0)
        close(v->rootfd);
    v->rootfd = -1;
}

/* ---- pure path handling ------------------------------------------------ */

/* Apply the components of s to the normalised path out[*len]. */
static int push_components(char *out, size_t outlen, size_t *len,
                           const char *s)
{
    for (;;) {
        const char *e;
        size_t n;

        while (*s == '/')
            s++;
        if (*s == '\0')
            return 0;
        e = strchrnul(s, '/');
        n = (size_t)(e - s);
        if (n == 1 && s[0] == '.') {
            /* nothing */
        } else if (n == 2 && s[0] == '.' && s[1] == '.') {
            char *slash;

            if (*len == 1)
                return -EPERM;
            slash = memrchr(out, '/', *len);
            *len = slash == out ? 1 : (size_t)(slash - out);
            out[*len] = '\0';
        } else {
            size_t sep = *len > 1 ? 1 : 0;

            if (n > NAME_MAX || *len + sep + n + 1 > outlen)
                return -ENAMETOOLONG;
            if (sep)
                out[(*len)++] = '/';
            memcpy(out + *len, s, n);
            *len += n;
            out[*len] = '\0';
        }
        s = e;
    }
}

int vfs_resolve(const char *cwd, const char *arg, char *out, size_t outlen)
{
    size_t len = 1;
    int r;

    /* A NUL byte ends a C string, so an argument that held one arrives
     * here cut short; the command parser, which knows the line's length,
     * is where such lines are refused.  Here an empty argument is. */
    if (out != NULL && outlen > 0)
        out[0] = '\0';
    if (cwd == NULL || arg == NULL || out == NULL || arg[0] == '\0')
        return -EINVAL;
    if (outlen < 2)
        return -ENAMETOOLONG;
    out[0] = '/';
    out[1] = '\0';
    if (arg[0] != '/') {
        if (cwd[0] != '/') {
            r = -EINVAL;
            goto fail;
        }
        r = push_components(out, outlen, &len, cwd);
        if (r < 0)
            goto fail;
    }
    r = push_components(out, outlen, &len, arg);
    if (r < 0)
        goto fail;
    return 0;
fail:
    out[0] = '\0';
    return r;
}

const char *vfs_rel(const char *vpath)
{
    while (*vpath == '/')
        vpath++;
    return *vpath != '\0' ? vpath : ".";
}

const char *vfs_basename(const char *vpath)
{
    const char *slash;

    if (*vfs_rel(vpath) == '.' && vfs_rel(vpath)[1] == '\0')
        return "/";
    slash = strrchr(vpath, '/');
    return slash != NULL ? slash + 1 : vpath;
}

/* ---- opening beneath the root ------------------------------------------ */

/* Open the directories of rel ("a/b", no links, no dots: a path this walk
 * already resolved) from the root again, refusing any that turned into a
 * symlink meanwhile. */
static int reopen_dirs(int rootfd, const char *rel)
{
    char comp[NAME_MAX + 1];
    int cur, next;

    cur = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0)
        return -errno;
    while (*rel != '\0') {
        const char *e = strchrnul(rel, '/');
        size_t n = (size_t)(e - rel);

        memcpy(comp, rel, n);
        comp[n] = '\0';
        next = openat(cur, comp,
                      O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(cur);
        if (next < 0)
            return errno == ELOOP ? -EXDEV : -errno;
        cur = next;
        rel = *e == '/' ? e + 1 : e;
    }
    return cur;
}

/* The openat2 fallback, described at the top of this file.  rest holds the
 * path still to resolve, real the links-free path of the folder cur
 * stands in. */
static int walk_beneath(int rootfd, const char *path, int flags, mode_t mode)
{
    char rest[2 * VFS_PATH_MAX], tmp[2 * VFS_PATH_MAX];
    char real[VFS_PATH_MAX], target[VFS_PATH_MAX];
    char comp[NAME_MAX + 1];
    const char *p;
    const char *last = ".";    /* what the final open names in cur */
    size_t reallen = 0;
    int links = 0, cur, fd, r;
    struct stat st;

    if (strlen(path) >= sizeof rest)
        return -ENAMETOOLONG;
    strcpy(rest, path);
    p = rest;
    real[0] = '\0';
    cur = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0)
        return -errno;

    for (;;) {
        const char *e;
        size_t n;
        int final;

        while (*p == '/')
            p++;
        if (*p == '\0')
            break;
        e = strchrnul(p, '/');
        n = (size_t)(e - p);
        if (n > NAME_MAX) {
            r = -ENAMETOOLONG;
            goto out;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        p = e;
        /* Only a component with nothing after it is final; "dir/" must be
         * a folder, so it is entered and "." is opened in it. */
        final = *p == '\0';

        if (strcmp(comp, ".") == 0)
            continue;
        if (strcmp(comp, "..") == 0) {
            char *slash;

            if (reallen == 0) {
                r = -EXDEV;
                goto out;
            }
            slash = memrchr(real, '/', reallen);
            reallen = slash != NULL ? (size_t)(slash - real) : 0;
            real[reallen] = '\0';
            close(cur);
            cur = reopen_dirs(rootfd, real);
            if (cur < 0)
                return cur;
            continue;
        }
        /* O_NOFOLLOW, and O_CREAT|O_EXCL, which never follows either. */
        if (final && ((flags & O_NOFOLLOW) ||
                      (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))) {
            last = comp;
            break;
        }

        fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            if (final && errno == ENOENT) {
                last = comp;     /* O_CREAT may make it */
                break;
            }
            r = -errno;
            goto out;
        }
        if (fstat(fd, &st) < 0) {
            r = -errno;
            close(fd);
            goto out;
        }

        if (S_ISLNK(st.st_mode)) {
            ssize_t tl = readlinkat(fd, "", target, sizeof target);
            int m;

            close(fd);
            if (tl < 0) {
                r = -errno;
                goto out;
            }
            if (++links > WALK_MAX_LINKS) {
                r = -ELOOP;
                goto out;
            }
            if ((size_t)tl >= sizeof target) {
                r = -ENAMETOOLONG;
                goto out;
            }
            target[tl] = '\0';
            if (target[0] == '/') {
                r = -EXDEV;
                goto out;
            }
            m = snprintf(tmp, sizeof tmp, "%s%s", target, p);
            if (m < 0 || (size_t)m >= sizeof tmp) {
                r = -ENAMETOOLONG;
                goto out;
            }
            memcpy(rest, tmp, (size_t)m + 1);
            p = rest;
            continue;
        }

        if (final) {
            close(fd);
            last = comp;
            break;
        }
        if (!S_ISDIR(st.st_mode)) {
            close(fd);
            r = -ENOTDIR;
            goto out;
        }
        if (reallen + 1 + n >= sizeof real) {
            close(fd);
            r = -ENAMETOOLONG;
            goto out;
        }
        if (reallen > 0)
            real[reallen++] = '/';
        memcpy(real + reallen, comp, n + 1);
        reallen += n;
        close(cur);
        cur = fd;
    }

    /* O_NOFOLLOW: if the last component became a symlink since it was
     * looked at, fail rather than let the kernel follow it. */
    r = openat(cur, last, flags | O_NOFOLLOW, mode);
    if (r < 0)
        r = -errno;
out:
    close(cur);
    return r;
}

int vfs_openat(const struct vfs *v, const char *vpath, int flags, mode_t mode)
{
    const char *rel;
    int fd = -ENOSYS, i;

    if (v == NULL || vpath == NULL || v->rootfd < 0)
        return -EINVAL;
    rel = vfs_rel(vpath);
    if (strlen(rel) >= VFS_PATH_MAX)
        return -ENAMETOOLONG;
    flags |= O_CLOEXEC;
    if (v->has_openat2) {
        for (i = 0; i < OPEN_RETRIES; i++) {
            fd = sys_openat2(v->rootfd, rel, flags, mode,
                             RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
            if (fd != -EAGAIN && fd != -EINTR)
                break;
        }
        if (fd != -ENOSYS)
            return fd;
    }
    return walk_beneath(v->rootfd, rel, flags, mode);
}

/* Clear the O_NONBLOCK that kept the open of a FIFO from blocking. */
static int clear_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

int vfs_open_file(const struct vfs *v, const char *vpath, struct stat *st)
{
    int fd, r;

    /* O_NONBLOCK: opening a FIFO for reading would wait for a writer. */
    fd = vfs_openat(v, vpath, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
    if (fd == -ENXIO)    /* a socket */
        return -EACCES;
    if (fd < 0)
        return fd;
    if (fstat(fd, st) < 0) {
        r = -errno;
        goto fail;
    }
    if (S_ISDIR(st->st_mode)) {
        r = -EISDIR;
        goto fail;
    }
    if (!S_ISREG(st->st_mode)) {
        r = -EACCES;
        goto fail;
    }
    r = clear_nonblock(fd);
    if (r < 0)
        goto fail;
    return fd;
fail:
    close(fd);
    return r;
}

int vfs_open_dir(const struct vfs *v, const char *vpath)
{
    return vfs_openat(v, vpath, O_RDONLY | O_DIRECTORY, 0);
}

int vfs_stat(const struct vfs *v, const char *vpath, struct stat *st)
{
    int fd, r = 0;

    fd = vfs_openat(v, vpath, O_PATH, 0);
    if (fd < 0)
        return fd;
    if (fstat(fd, st) < 0)
        r = -errno;
    close(fd);
    return r;
}

/* ---- operations on a name in a folder ---------------------------------- */

static int is_tmpname(const char *name)
{
    return strncmp(name, VFS_TMP_PREFIX, sizeof VFS_TMP_PREFIX - 1) == 0;
}

/* A last component ferry may create, remove or rename.  Hidden upload
 * names are refused so that no client can reach another's upload. */
static int check_name(const char *name)
{
    if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return -EINVAL;
    if (strlen(name) > NAME_MAX)
        return -ENAMETOOLONG;
    if (is_tmpname(name))
        return -EACCES;
    return 0;
}

/* A name for something ferry creates: check_name() and no CR or LF (see
 * the top of this file). */
static int check_new_name(const char *name)
{
    return strpbrk(name, "\r\n") != NULL ? -EINVAL : 0;
}

/* Open the folder holding vpath's last component beneath the root and
 * point *namep at that component (inside vpath).  fd or -errno; -EPERM
 * for the root itself, which is never the object of an operation.
 * creating: the name is for a new entry (check_new_name()). */
static int open_parent(const struct vfs *v, const char *vpath,
                       const char **namep, int creating)
{
    char parent[VFS_PATH_MAX];
    const char *rel, *slash, *name;
    size_t plen;
    int r;

    if (vpath == NULL)
        return -EINVAL;
    rel = vfs_rel(vpath);
    if (strcmp(rel, ".") == 0)
        return -EPERM;
    slash = strrchr(rel, '/');
    name = slash != NULL ? slash + 1 : rel;
    plen = slash != NULL ? (size_t)(slash - rel) : 0;
    r = check_name(name);
    if (r == 0 && creating)
        r = check_new_name(name);
    if (r < 0)
        return r;
    if (plen >= sizeof parent)
        return -ENAMETOOLONG;
    memcpy(parent, rel, plen);
    parent[plen] = '\0';
    *namep = name;
    return vfs_openat(v, parent, O_PATH | O_DIRECTORY, 0);
}

int vfs_mkdir(const struct vfs *v, const char *vpath, mode_t mode)
{
    const char *name;
    int dfd, r = 0;

    dfd = open_parent(v, vpath, &name, 1);
    if (dfd < 0)
        return dfd;
    if (mkdirat(dfd, name, mode) < 0)
        r = -errno;
    close(dfd);
    return r;
}

int vfs_rmdir(const struct vfs *v, const char *vpath)
{
    const char *name;
    int dfd, r = 0;

    dfd = open_parent(v, vpath, &name, 0);
    if (dfd < 0)
        return dfd;
    if (unlinkat(dfd, name, AT_REMOVEDIR) < 0)
        r = -errno;
    close(dfd);
    return r;
}

int vfs_unlink(const struct vfs *v, const char *vpath)
{
    const char *name;
    int dfd, r = 0;

    dfd = open_parent(v, vpath, &name, 0);
    if (dfd < 0)
        return dfd;
    if (unlinkat(dfd, name, 0) < 0)
        r = -errno;
    close(dfd);
    return r;
}

int vfs_rename(const struct vfs *v, const char *from, const char *to)
{
    const char *fname, *tname;
    struct stat fst, tst;
    int ffd, tfd, r = 0;

    ffd = open_parent(v, from, &fname, 0);
    if (ffd < 0)
        return ffd;
    tfd = open_parent(v, to, &tname, 1);
    if (tfd < 0) {
        r = tfd;
        goto out_from;
    }
    if (fstatat(ffd, fname, &fst, AT_SYMLINK_NOFOLLOW) < 0) {
        r = -errno;
        goto out;
    }
    /* Only files are replaced: rename(2) would also put a folder in the
     * place of an empty one, which no FTP client expects of RNTO. */
    if (fstatat(tfd, tname, &tst, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISDIR(tst.st_mode) &&
        (tst.st_dev != fst.st_dev || tst.st_ino != fst.st_ino)) {
        r = -EEXIST;
        goto out;
    }
    if (renameat(ffd, fname, tfd, tname) < 0)
        r = -errno;
out:
    close(tfd);
out_from:
    close(ffd);
    return r;
}

/* ---- uploads ------------------------------------------------------------ */

static unsigned long tmp_counter;

static void make_tmpname(char *out, size_t outlen)
{
    unsigned long long rnd;
    unsigned long n = __atomic_add_fetch(&tmp_counter, 1, __ATOMIC_RELAXED);

    if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
        /* Only before the entropy pool is ready; pid and counter still
         * keep the name unique on this machine. */
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        rnd = (unsigned long long)ts.tv_sec * 1000000000ULL +
              (unsigned long long)ts.tv_nsec;
    }
    snprintf(out, outlen, VFS_TMP_PREFIX "%ld.%lu.%016llx",
             (long)getpid(), n, rnd);
}

static void upload_reset(struct vfs_upload *u)
{
    u->fd = -1;
    u->dirfd = -1;
    u->inplace = 0;
    u->anonymous = 0;
    u->name[0] = '\0';
    u->tmpname[0] = '\0';
}

/* STOR: an unnamed file in the target folder, or a hidden named one. */
static int begin_create(struct vfs_upload *u)
{
    struct stat st;
    int fd, i;

    /* The final name may be a file (replaced) or a symlink (the link is
     * replaced, nothing is written through it), nothing else. */
    if (fstatat(u->dirfd, u->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR(st.st_mode))
            return -EISDIR;
        if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
            return -EACCES;
    } else if (errno != ENOENT) {
        return -errno;
    }

    if (!vfs_test_no_tmpfile) {
        fd = openat(u->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0) {
            u->fd = fd;
            u->anonymous = 1;
            return 0;
        }
        /* These say "this file system cannot"; others are real errors. */
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
            return -errno;
    }

    for (i = 0; i < TMPNAME_TRIES; i++) {
        make_tmpname(u->tmpname, sizeof u->tmpname);
        fd = openat(u->dirfd, u->tmpname,
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    0644);
        if (fd >= 0) {
            u->fd = fd;
            return 0;
        }
        if (errno != EEXIST)
            break;
    }
    fd = -errno;
    u->tmpname[0] = '\0';
    return fd;
}

/* APPE and STOR after REST: the existing file, written in place.  1 when
 * there is no such file, 0 when opened, -errno. */
static int begin_inplace(struct vfs_upload *u, int extra,
                         unsigned long long offset)
{
    struct stat st;
    int fd, r;

    /* O_NOFOLLOW: never write through a symlink; O_NONBLOCK: a FIFO
     * must not stall the open (it is refused below). */
    fd = openat(u->dirfd, u->name,
                O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
                extra);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        /* ELOOP: a symlink; ENXIO: a FIFO nobody reads, or a socket. */
        return errno == ELOOP || errno == ENXIO ? -EACCES : -errno;
    }
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        r = -EACCES;
        goto fail;
    }
    if (offset > (unsigned long long)st.st_size) {
        r = -EINVAL;
        goto fail;
    }
    if (offset > 0 && lseek(fd, (off_t)offset, SEEK_SET) < 0) {
        r = -errno;
        goto fail;
    }
    r = clear_nonblock(fd);
    if (r < 0)
        goto fail;
    u->fd = fd;
    u->inplace = 1;
    return 0;
fail:
    close(fd);
    return r;
}

int vfs_upload_begin(const struct vfs *v, const char *vpath,
                     enum vfs_upload_mode mode, unsigned long long offset,
                     struct vfs_upload *u)
{
    const char *name;
    int dfd, r;

    upload_reset(u);
    dfd = open_parent(v, vpath, &name, 1);
    if (dfd < 0)
        return dfd;
    u->dirfd = dfd;
    strcpy(u->name, name);    /* check_name() bounded it by NAME_MAX */

    switch (mode) {
    case VFS_UP_CREATE:
        r = begin_create(u);
        break;
    case VFS_UP_APPEND:
        r = begin_inplace(u, O_APPEND, 0);
        if (r == 1)
            r = begin_create(u);
        break;
    case VFS_UP_RESUME:
        r = begin_inplace(u, 0, offset);
        if (r == 1)
            r = offset == 0 ? begin_create(u) : -ENOENT;
        break;
    default:
        r = -EINVAL;
        break;
    }
    if (r < 0)
        vfs_upload_abort(u);
    return r;
}

/* Give the unnamed file a hidden name in its folder. */
static int link_anonymous(struct vfs_upload *u)
{
    char proc[64];
    int i;

    for (i = 0; i < TMPNAME_TRIES; i++) {
        make_tmpname(u->tmpname, sizeof u->tmpname);
        if (linkat(u->fd, "", u->dirfd, u->tmpname, AT_EMPTY_PATH) == 0)
            return 0;
        if (errno == EEXIST)
            continue;
        /* ENOENT (or EPERM) without CAP_DAC_READ_SEARCH. */
        if (errno != ENOENT && errno != EPERM)
            break;
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", u->fd);
        if (linkat(AT_FDCWD, proc, u->dirfd, u->tmpname,
                   AT_SYMLINK_FOLLOW) == 0)
            return 0;
        if (errno != EEXIST)
            break;
    }
    i = -errno;
    u->tmpname[0] = '\0';
    return i;
}

/* Whatever the outcome, the upload is idle afterwards: on failure nothing
 * of it is left under a hidden name, and the real name is untouched. */
int vfs_upload_commit(struct vfs_upload *u)
{
    int r = 0;

    if (u->fd < 0)
        return -EBADF;
    if (u->inplace) {
        /* close() reports delayed write errors on some file systems. */
        if (close(u->fd) < 0)
            r = -errno;
        u->fd = -1;
        goto out;
    }
    if (u->anonymous) {
        r = link_anonymous(u);
        if (r < 0)
            goto out;
        u->anonymous = 0;
    }
    /* Close before the rename, so that a late write error is reported
     * while the data is still hidden. */
    r = close(u->fd) < 0 ? -errno : 0;
    u->fd = -1;
    if (r == 0 && renameat(u->dirfd, u->tmpname, u->dirfd, u->name) < 0)
        r = -errno;
    if (r == 0)
        u->tmpname[0] = '\0';
out:
    vfs_upload_abort(u);
    return r;
}

/* Safe on an idle upload (fd == -1), as every begin, commit and abort
 * leaves it; in place, what was written stays. */
void vfs_upload_abort(struct vfs_upload *u)
{
    if (u->fd >= 0)
        close(u->fd);
    if (u->dirfd >= 0) {
        if (!u->inplace && u->tmpname[0] != '\0')
            unlinkat(u->dirfd, u->tmpname, 0);
        close(u->dirfd);
    }
    upload_reset(u);
}

/* ---- start-up cleaning -------------------------------------------------- */

/* Remove hidden upload files in the folder dfd (which this takes over)
 * and its subfolders; returns how many.  Symlinks are never followed and
 * unreadable subfolders are skipped: cleaning is best effort. */
static int clean_dir(int dfd, int depth)
{
    struct dirent *de;
    DIR *d;
    int removed = 0;

    d = fdopendir(dfd);
    if (d == NULL) {
        close(dfd);
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        unsigned char type = de->d_type;

        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (type == DT_UNKNOWN) {
            struct stat st;

            if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                continue;
            type = S_ISREG(st.st_mode) ? DT_REG
                 : S_ISDIR(st.st_mode) ? DT_DIR : DT_UNKNOWN;
        }
        if (type == DT_REG && is_tmpname(name)) {
            if (unlinkat(dirfd(d), name, 0) == 0)
                removed++;
        } else if (type == DT_DIR && depth < CLEAN_MAX_DEPTH) {
            int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY |
                             O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
            if (sub >= 0)
                removed += clean_dir(sub, depth + 1);
        }
    }
    closedir(d);
    return removed;
}

int vfs_clean_temps(const struct vfs *v)
{
    int fd;

    if (v == NULL || v->rootfd < 0)
        return -EINVAL;
    fd = openat(v->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return clean_dir(fd, 1);
}
