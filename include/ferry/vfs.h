/* vfs: the sandboxed root.  Every file system call ferry makes on behalf of
 * a client is in vfs.c (and listing.c, which only reads directories that
 * vfs opened), so auditing what a client can reach means reading one file.
 *
 * Paths.  A session speaks in *virtual paths*: absolute, normalised strings
 * such as "/pub/a.txt", where "/" is the root.  vfs_resolve() turns what a
 * client typed (relative to its current directory, or absolute) into one;
 * ".." above "/" is an error, never clamped, so a client learns that it
 * tried to leave the root.  The kernel then does the real confinement:
 * every open goes through openat2(root, rel, RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS), so a symlink that leads out of the root (or any
 * absolute symlink) fails with EXDEV, whatever the path string said.
 *
 * Errors: every function returns 0 (or an fd) on success and -errno on
 * failure.  Typical: -ENOENT, -EACCES/-EPERM, -EXDEV (escape attempt),
 * -ENAMETOOLONG, -EISDIR/-ENOTDIR, -EEXIST, -ENOSPC/-EDQUOT (disk full).
 */
#ifndef FERRY_VFS_H
#define FERRY_VFS_H

#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Longest virtual path, NUL included. */
#define VFS_PATH_MAX 4096

/* Hidden name prefix of upload temporaries that had to be given a name
 * (file systems without O_TMPFILE); never listed, cleaned at start-up. */
#define VFS_TMP_PREFIX ".ferry-part."

struct vfs {
    int rootfd;          /* O_PATH|O_DIRECTORY descriptor of the root */
    int has_openat2;     /* probed once: kernels before 5.6 lack it */
};

/* Open the root directory (creating it with mode 0755 if create != 0).
 * 0 or -errno. */
int vfs_open(struct vfs *v, const char *rootpath, int create);
void vfs_close(struct vfs *v);

/* Pure: combine the current directory cwd (a virtual path) with what the
 * client typed (arg) into a normalised virtual path in out[outlen].
 * "." and empty components are dropped, ".." pops one component.
 * -EPERM when ".." would climb above "/", -ENAMETOOLONG when the result
 * does not fit, -EINVAL for an empty arg or one holding a NUL byte. */
int vfs_resolve(const char *cwd, const char *arg, char *out, size_t outlen);

/* Pure: the part of a virtual path after "/" ("." for the root itself),
 * which is what openat2 takes relative to the root fd. */
const char *vfs_rel(const char *vpath);

/* Pure: last component of a virtual path ("/" for the root). */
const char *vfs_basename(const char *vpath);

/* Open beneath the root.  flags as for open(2) (O_CLOEXEC is always
 * added, O_NOFOLLOW is honoured for the last component).  Returns an fd or
 * -errno. */
int vfs_openat(const struct vfs *v, const char *vpath, int flags, mode_t mode);

/* Open a regular file for reading: fd, with *st filled.  -EISDIR for a
 * directory, -EACCES for anything that is not a regular file. */
int vfs_open_file(const struct vfs *v, const char *vpath, struct stat *st);
/* Open a directory for reading (O_RDONLY|O_DIRECTORY): fd or -errno. */
int vfs_open_dir(const struct vfs *v, const char *vpath);
/* stat beneath the root (following symlinks that stay inside). */
int vfs_stat(const struct vfs *v, const char *vpath, struct stat *st);

int vfs_mkdir(const struct vfs *v, const char *vpath, mode_t mode);
int vfs_rmdir(const struct vfs *v, const char *vpath);
int vfs_unlink(const struct vfs *v, const char *vpath);
/* Rename within the root; the target is replaced if it is a file. */
int vfs_rename(const struct vfs *v, const char *from, const char *to);

/* Uploads.  The data goes to a file without a name (O_TMPFILE) or, where
 * the file system cannot do that, to a hidden VFS_TMP_PREFIX name in the
 * target folder; vfs_upload_commit() gives it the real name atomically
 * (link to a fresh hidden name, then rename over the target), so no reader
 * ever sees a partial file under the real name and two concurrent uploads
 * of one name never interleave: the last to commit wins whole.
 *
 * APPE to an existing file and STOR after REST > 0 (resume) write to the
 * existing file in place, because that file is already the partial copy
 * the client is completing; in those modes commit and abort only close. */
enum vfs_upload_mode {
    VFS_UP_CREATE,   /* STOR: new content replaces the target */
    VFS_UP_APPEND,   /* APPE: append (creates when missing, as STOR) */
    VFS_UP_RESUME,   /* STOR after REST n: write from offset n in place */
};

struct vfs_upload {
    int    fd;           /* write here; -1 when idle */
    int    dirfd;        /* target folder */
    int    inplace;      /* writing the real file (APPEND/RESUME) */
    int    anonymous;    /* O_TMPFILE: no name yet */
    char   name[NAME_MAX + 1];   /* final name in dirfd */
    char   tmpname[NAME_MAX + 1];/* hidden name, when not anonymous */
};

/* An idle upload: abort and commit of it do nothing. */
#define VFS_UPLOAD_INIT { -1, -1, 0, 0, "", "" }

int vfs_upload_begin(const struct vfs *v, const char *vpath,
                     enum vfs_upload_mode mode, unsigned long long offset,
                     struct vfs_upload *u);
/* Make the upload visible under its real name and close it. */
int vfs_upload_commit(struct vfs_upload *u);
/* Throw the upload away (nothing of it stays on disk unless in place). */
void vfs_upload_abort(struct vfs_upload *u);

/* Test switch: non-zero forces the hidden-name upload path that file
 * systems without O_TMPFILE take.  Never set outside tests. */
extern int vfs_test_no_tmpfile;

/* Remove VFS_TMP_PREFIX leftovers of a crash, walking the whole root.
 * Returns the number removed or -errno. */
int vfs_clean_temps(const struct vfs *v);

#endif
