/* privdrop: give up root once the listeners are bound (--user, --group,
 * --chroot, --allow-root).
 *
 * Root is needed at start-up only to bind ports below 1024 and to open
 * files an unprivileged user could not (the users file, the xferlog
 * directory).  After that ferryd runs as --user, optionally confined to
 * the served root with chroot(2), and it refuses to go on as root unless
 * --allow-root says so.  Under systemd the unit starts ferryd as its own
 * user (User= or DynamicUser=), with the listeners passed in or
 * CAP_NET_BIND_SERVICE, so none of this runs there: privdrop() sees a
 * non-root process and no --user, and returns at once.
 *
 * How ferryd uses it, in main(), after every privileged step and before
 * any thread starts (setuid applies to all threads, but a thread that is
 * half-way through something when its ids change is not worth the risk):
 *
 *   1. parse config, bind the listeners (or take them from sdlisten),
 *      open the root directory (vfs), the users file, the xferlog, the
 *      metrics listener;
 *   2. struct privdrop_opts o = { cfg.user, cfg.group,
 *                                 cfg.chroot ? cfg.root : NULL, cfg.allow_root };
 *      if (privdrop(&o, err, sizeof(err)) < 0) -> print err, exit 1
 *   3. start the workers.
 *
 * With chroot the vfs keeps working through the directory descriptor it
 * opened before (openat beneath it); paths opened later by name (the
 * config and users files on reload, the xferlog on reopen) are then looked
 * up inside the new root and the dropped user's rights: keep them where
 * that user can read them, or restart instead of reloading. */
#ifndef FERRY_PRIVDROP_H
#define FERRY_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

struct privdrop_opts {
    const char *user;        /* name or numeric uid; NULL: stay who we are */
    const char *group;       /* name or numeric gid; NULL: the user's group */
    const char *chroot_dir;  /* NULL: no chroot (needs root) */
    int         allow_root;  /* 1: going on as root is acceptable */
};

/* Resolve the user and group and set the supplementary groups
 * (initgroups, or none for a numeric uid that has no passwd entry) while
 * /etc is reachable, chroot if asked (chdir, chroot("."), chdir("/")),
 * set the gid and then the uid (real, effective and saved), and
 * verify: the ids are the new ones, setuid(0) and setgid(0) fail, and no
 * capability is left in the permitted set.  Finally sets no_new_privs so
 * that no exec can raise privileges again.
 *
 * Returns 0, or -1 with a message in err: unknown user or group, a step
 * that failed, privileges that could be regained, or still root without
 * allow_root.  On failure the process may be half-way (chrooted but still
 * root): the caller must exit. */
int privdrop(const struct privdrop_opts *o, char *err, size_t errlen);

/* The uid and gid privdrop would switch to, without switching: for
 * --check-config.  0 or -1 with err. */
int privdrop_resolve(const struct privdrop_opts *o, uid_t *uid, gid_t *gid,
                     char *err, size_t errlen);

#endif
