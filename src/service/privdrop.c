/* privdrop: switch from root to the service user.  See
 * include/ferry/privdrop.h. */
#include "ferry/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* getpwnam_r/getgrnam_r scratch: glibc's suggested sizes are 1-16 KiB;
 * a group with many members can need more, so it grows on ERANGE. */
#define NSS_BUF_START 16384
#define NSS_BUF_MAX   (1 << 20)

struct who {
    uid_t uid;
    gid_t gid;
    int   has_passwd;                 /* name below is valid for initgroups */
    char  name[256];
};

static int parse_id(const char *s, unsigned long *out)
{
    char *end;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    *out = strtoul(s, &end, 10);
    return errno || *end || *out >= (unsigned long)(uid_t)-1 ? -1 : 0;
}

static int lookup_user(const char *user, struct who *w, char *err, size_t errlen)
{
    size_t cap = NSS_BUF_START;
    struct passwd pw, *res = NULL;
    unsigned long id;
    char *buf = NULL;
    int r;

    for (;;) {
        char *nb = realloc(buf, cap);
        if (!nb) {
            free(buf);
            snprintf(err, errlen, "user '%s': %s", user, strerror(ENOMEM));
            return -1;
        }
        buf = nb;
        r = getpwnam_r(user, &pw, buf, cap, &res);
        if (r != ERANGE || cap >= NSS_BUF_MAX)
            break;
        cap *= 2;
    }
    if (res) {
        w->uid = pw.pw_uid;
        w->gid = pw.pw_gid;
        w->has_passwd = snprintf(w->name, sizeof(w->name), "%s", pw.pw_name) <
                        (int)sizeof(w->name);
        free(buf);
        return 0;
    }
    free(buf);
    /* A number with no passwd entry: as systemd's DynamicUser hands out,
     * or a container's.  Its group is the same number unless given. */
    if (parse_id(user, &id) == 0) {
        w->uid = (uid_t)id;
        w->gid = (gid_t)id;
        w->has_passwd = 0;
        return 0;
    }
    if (r)
        snprintf(err, errlen, "user '%s': %s", user, strerror(r));
    else
        snprintf(err, errlen, "unknown user '%s'", user);
    return -1;
}

static int lookup_group(const char *group, gid_t *gid, char *err, size_t errlen)
{
    size_t cap = NSS_BUF_START;
    struct group gr, *res = NULL;
    unsigned long id;
    char *buf = NULL;
    int r;

    for (;;) {
        char *nb = realloc(buf, cap);
        if (!nb) {
            free(buf);
            snprintf(err, errlen, "group '%s': %s", group, strerror(ENOMEM));
            return -1;
        }
        buf = nb;
        r = getgrnam_r(group, &gr, buf, cap, &res);
        if (r != ERANGE || cap >= NSS_BUF_MAX)
            break;
        cap *= 2;
    }
    if (res) {
        *gid = gr.gr_gid;
        free(buf);
        return 0;
    }
    free(buf);
    if (parse_id(group, &id) == 0) {
        *gid = (gid_t)id;
        return 0;
    }
    if (r)
        snprintf(err, errlen, "group '%s': %s", group, strerror(r));
    else
        snprintf(err, errlen, "unknown group '%s'", group);
    return -1;
}

static int resolve(const struct privdrop_opts *o, struct who *w, char *err, size_t errlen)
{
    if (lookup_user(o->user, w, err, errlen) < 0)
        return -1;
    if (o->group && lookup_group(o->group, &w->gid, err, errlen) < 0)
        return -1;
    return 0;
}

int privdrop_resolve(const struct privdrop_opts *o, uid_t *uid, gid_t *gid,
                     char *err, size_t errlen)
{
    struct who w;

    if (!o->user) {
        *uid = geteuid();
        *gid = getegid();
        if (o->group && lookup_group(o->group, gid, err, errlen) < 0)
            return -1;
        return 0;
    }
    if (resolve(o, &w, err, errlen) < 0)
        return -1;
    *uid = w.uid;
    *gid = w.gid;
    return 0;
}

static int do_chroot(const char *dir, char *err, size_t errlen)
{
    if (chdir(dir) < 0 || chroot(".") < 0 || chdir("/") < 0) {
        snprintf(err, errlen, "chroot to '%s': %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Nothing left in the permitted set: a setuid from root clears it unless
 * a securebit said otherwise, and this checks that nothing did. */
static int caps_empty(void)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];

    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) < 0)
        return -1;
    return data[0].permitted == 0 && data[1].permitted == 0 &&
           data[0].effective == 0 && data[1].effective == 0;
}

static int verify(const struct who *w, char *err, size_t errlen)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;

    if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
        ru != w->uid || eu != w->uid || su != w->uid ||
        rg != w->gid || eg != w->gid || sg != w->gid) {
        snprintf(err, errlen, "ids did not change as asked");
        return -1;
    }
    if (w->uid != 0) {
        if (setuid(0) == 0 || seteuid(0) == 0) {
            snprintf(err, errlen, "could regain root after dropping privileges");
            return -1;
        }
        if (w->gid != 0 && (setgid(0) == 0 || setegid(0) == 0)) {
            snprintf(err, errlen, "could regain group 0 after dropping privileges");
            return -1;
        }
        if (caps_empty() != 1) {
            snprintf(err, errlen, "capabilities left after dropping privileges");
            return -1;
        }
    }
    return 0;
}

static int refuse_root(char *err, size_t errlen)
{
    snprintf(err, errlen, "refusing to run as root: set user (and group) to an "
             "unprivileged account, or allow-root to insist");
    return -1;
}

int privdrop(const struct privdrop_opts *o, char *err, size_t errlen)
{
    struct who w;

    if (geteuid() != 0) {
        /* Already unprivileged: only check we are who the config says. */
        if (o->chroot_dir) {
            snprintf(err, errlen, "chroot needs ferryd to start as root");
            return -1;
        }
        if (o->user) {
            if (resolve(o, &w, err, errlen) < 0)
                return -1;
            if (w.uid != geteuid() || w.gid != getegid()) {
                snprintf(err, errlen, "cannot switch to user '%s': not running as root",
                         o->user);
                return -1;
            }
        }
        goto no_new_privs;
    }
    if (!o->user) {
        if (!o->allow_root)
            return refuse_root(err, errlen);
        if (o->chroot_dir && do_chroot(o->chroot_dir, err, errlen) < 0)
            return -1;
        goto no_new_privs;
    }
    if (resolve(o, &w, err, errlen) < 0)
        return -1;
    if (w.uid == 0 && !o->allow_root)
        return refuse_root(err, errlen);
    /* Names and groups are looked up before the chroot, while /etc and
     * NSS are reachable; groups are set before the uid changes, since
     * after it they can't be. */
    if ((w.has_passwd ? initgroups(w.name, w.gid) : setgroups(0, NULL)) < 0) {
        snprintf(err, errlen, "setting supplementary groups: %s", strerror(errno));
        return -1;
    }
    if (o->chroot_dir && do_chroot(o->chroot_dir, err, errlen) < 0)
        return -1;
    if (setresgid(w.gid, w.gid, w.gid) < 0) {
        snprintf(err, errlen, "setresgid(%lu): %s", (unsigned long)w.gid, strerror(errno));
        return -1;
    }
    if (setresuid(w.uid, w.uid, w.uid) < 0) {
        snprintf(err, errlen, "setresuid(%lu): %s", (unsigned long)w.uid, strerror(errno));
        return -1;
    }
    if (verify(&w, err, errlen) < 0)
        return -1;

no_new_privs:
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
        return -1;
    }
    return 0;
}
