/* Unit tests for privdrop.  Dropping privileges is for good, so every
 * case runs in a forked child that reports back through its exit status
 * and a message pipe.  Cases that need root are only run as root (ferry's
 * CI runs as root); the rest run everywhere. */
#include "ferry/privdrop.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534u

/* Run fn in a child; it returns NULL on success or a failure message. */
typedef const char *(*child_fn)(void);

static void in_child(child_fn fn)
{
    char msg[512];
    int p[2], status;
    ssize_t n;
    pid_t pid;

    ck_assert_int_eq(pipe(p), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        const char *m;
        close(p[0]);
        m = fn();
        if (m && write(p[1], m, strlen(m)) < 0)
            _exit(3);
        _exit(m ? 1 : 0);
    }
    close(p[1]);
    n = read(p[0], msg, sizeof(msg) - 1);
    msg[n > 0 ? n : 0] = '\0';
    close(p[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %s (status %d)",
                  msg, status);
}

static char err[512];
static char fail_msg[600];

#define CHECK(cond) do { if (!(cond)) { \
        snprintf(fail_msg, sizeof(fail_msg), "line %d: %s (err: %s, errno %d)", \
                 __LINE__, #cond, err, errno); \
        return fail_msg; } } while (0)

static const char *drop_to_nobody(void)
{
    struct privdrop_opts o = { "nobody", NULL, NULL, 0 };
    gid_t groups[8];

    CHECK(privdrop(&o, err, sizeof(err)) == 0);
    CHECK(getuid() == NOBODY && geteuid() == NOBODY);
    CHECK(getgid() == NOBODY && getegid() == NOBODY);
    CHECK(setuid(0) < 0 && errno == EPERM);
    CHECK(seteuid(0) < 0);
    CHECK(setgid(0) < 0);
    /* Supplementary groups are nobody's, not root's. */
    CHECK(getgroups(8, groups) >= 0);
    {
        int i, n = getgroups(8, groups);
        for (i = 0; i < n; i++)
            CHECK(groups[i] != 0);
    }
    CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
    /* Root's files are out of reach now. */
    CHECK(open("/etc/shadow", O_RDONLY) < 0 && errno == EACCES);
    return NULL;
}

static const char *drop_with_group(void)
{
    struct privdrop_opts o = { "nobody", "nogroup", NULL, 0 };

    CHECK(privdrop(&o, err, sizeof(err)) == 0);
    CHECK(getuid() == NOBODY && getgid() == NOBODY);
    return NULL;
}

static const char *drop_numeric(void)
{
    struct privdrop_opts o = { "54321", NULL, NULL, 0 };
    gid_t groups[4];

    CHECK(privdrop(&o, err, sizeof(err)) == 0);
    CHECK(getuid() == 54321 && getgid() == 54321);
    CHECK(getgroups(4, groups) == 0);
    CHECK(setuid(0) < 0);
    return NULL;
}

static char jail[64];

static const char *drop_with_chroot(void)
{
    struct privdrop_opts o = { "nobody", NULL, jail, 0 };

    CHECK(privdrop(&o, err, sizeof(err)) == 0);
    CHECK(getuid() == NOBODY);
    CHECK(access("/marker", F_OK) == 0);            /* the jail's file */
    CHECK(access("/etc/passwd", F_OK) < 0);         /* the host's is gone */
    {
        char cwd[64];
        CHECK(getcwd(cwd, sizeof(cwd)) && strcmp(cwd, "/") == 0);
    }
    return NULL;
}

static const char *refuse_root(void)
{
    struct privdrop_opts o = { NULL, NULL, NULL, 0 };

    CHECK(privdrop(&o, err, sizeof(err)) == -1);
    CHECK(strstr(err, "refusing to run as root") != NULL);
    o.user = "root";
    CHECK(privdrop(&o, err, sizeof(err)) == -1);
    CHECK(strstr(err, "refusing to run as root") != NULL);
    CHECK(getuid() == 0);
    return NULL;
}

static const char *allow_root(void)
{
    struct privdrop_opts o = { NULL, NULL, NULL, 1 };

    CHECK(privdrop(&o, err, sizeof(err)) == 0);
    CHECK(getuid() == 0);
    return NULL;
}

static const char *unknown_user_and_group(void)
{
    struct privdrop_opts o = { "no-such-user-ferry", NULL, NULL, 0 };

    CHECK(privdrop(&o, err, sizeof(err)) == -1);
    CHECK(strcmp(err, "unknown user 'no-such-user-ferry'") == 0);
    o.user = "nobody";
    o.group = "no-such-group-ferry";
    CHECK(privdrop(&o, err, sizeof(err)) == -1);
    CHECK(strcmp(err, "unknown group 'no-such-group-ferry'") == 0);
    o.group = NULL;
    o.chroot_dir = "/nonexistent-ferry-jail";
    CHECK(privdrop(&o, err, sizeof(err)) == -1);
    CHECK(strstr(err, "chroot to '/nonexistent-ferry-jail'") != NULL);
    CHECK(getuid() == 0);                           /* nothing changed */
    return NULL;
}

/* Already unprivileged (as under systemd's User=): privdrop only checks. */
static const char *unprivileged_start(void)
{
    struct privdrop_opts o = { NULL, NULL, NULL, 0 };

    if (geteuid() == 0) {
        CHECK(setgroups(0, NULL) == 0);
        CHECK(setresgid(NOBODY, NOBODY, NOBODY) == 0);
        CHECK(setresuid(NOBODY, NOBODY, NOBODY) == 0);
    }
    CHECK(privdrop(&o, err, sizeof(err)) == 0);          /* nothing to do */
    if (getuid() == NOBODY) {
        o.user = "nobody";
        CHECK(privdrop(&o, err, sizeof(err)) == 0);      /* already nobody */
    }
    o.user = "root";
    CHECK(privdrop(&o, err, sizeof(err)) == -1);
    CHECK(strstr(err, "not running as root") != NULL);
    o.user = NULL;
    o.chroot_dir = "/";
    CHECK(privdrop(&o, err, sizeof(err)) == -1);
    CHECK(strstr(err, "chroot needs") != NULL);
    return NULL;
}

static const char *resolve_only(void)
{
    struct privdrop_opts o = { "nobody", NULL, NULL, 0 };
    uid_t uid;
    gid_t gid;

    CHECK(privdrop_resolve(&o, &uid, &gid, err, sizeof(err)) == 0);
    CHECK(uid == NOBODY && gid == NOBODY);
    o.user = "1234";
    o.group = "4321";
    CHECK(privdrop_resolve(&o, &uid, &gid, err, sizeof(err)) == 0);
    CHECK(uid == 1234 && gid == 4321);
    o.user = NULL;
    o.group = NULL;
    CHECK(privdrop_resolve(&o, &uid, &gid, err, sizeof(err)) == 0);
    CHECK(uid == geteuid() && gid == getegid());
    o.user = "-1";
    CHECK(privdrop_resolve(&o, &uid, &gid, err, sizeof(err)) == -1);
    CHECK(getuid() == geteuid());                   /* resolve changes nothing */
    return NULL;
}

#define ROOT_ONLY() do { if (geteuid() != 0) return; } while (0)

START_TEST(test_drop_to_nobody)      { ROOT_ONLY(); in_child(drop_to_nobody); } END_TEST
START_TEST(test_drop_with_group)     { ROOT_ONLY(); in_child(drop_with_group); } END_TEST
START_TEST(test_drop_numeric)        { ROOT_ONLY(); in_child(drop_numeric); } END_TEST
START_TEST(test_refuse_root)         { ROOT_ONLY(); in_child(refuse_root); } END_TEST
START_TEST(test_allow_root)          { ROOT_ONLY(); in_child(allow_root); } END_TEST
START_TEST(test_unknown_user_group)  { ROOT_ONLY(); in_child(unknown_user_and_group); } END_TEST
START_TEST(test_unprivileged_start)  { in_child(unprivileged_start); } END_TEST
START_TEST(test_resolve_only)        { in_child(resolve_only); } END_TEST

START_TEST(test_drop_with_chroot)
{
    char marker[96];
    int fd;

    ROOT_ONLY();
    snprintf(jail, sizeof(jail), "/tmp/ferry-jail-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(jail));
    ck_assert_int_eq(chmod(jail, 0755), 0);
    snprintf(marker, sizeof(marker), "%s/marker", jail);
    fd = open(marker, O_CREAT | O_WRONLY, 0644);
    ck_assert_int_ge(fd, 0);
    close(fd);
    in_child(drop_with_chroot);
    unlink(marker);
    rmdir(jail);
}
END_TEST

static Suite *privdrop_suite(void)
{
    Suite *s = suite_create("privdrop");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_drop_to_nobody);
    tcase_add_test(tc, test_drop_with_group);
    tcase_add_test(tc, test_drop_numeric);
    tcase_add_test(tc, test_drop_with_chroot);
    tcase_add_test(tc, test_refuse_root);
    tcase_add_test(tc, test_allow_root);
    tcase_add_test(tc, test_unknown_user_group);
    tcase_add_test(tc, test_unprivileged_start);
    tcase_add_test(tc, test_resolve_only);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(privdrop_suite());
    int failed;

    if (geteuid() != 0)
        fprintf(stderr, "privdrop: not root, so only the unprivileged cases run\n");
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
