/* users: local FTP accounts from a users file, password checks, and the
 * per-address count of failed logins.
 *
 * The file (--users FILE) has one account per line:
 *
 *       # name:crypt-hash:home:perms
 *       alice:$y$j9T$...:/alice:rw
 *       bob:$6$rounds=5000$...:/shared/bob:r
 *
 *   name   1-64 printable ASCII bytes, no ':' and no space
 *   hash   a crypt(3) string from libxcrypt: yescrypt ($y$), sha512-crypt
 *          ($6$), sha256-crypt ($5$), bcrypt ($2b$); legacy methods (DES,
 *          MD5) are refused.  A hash starting with '!' or '*' locks the
 *          account (it exists but no password matches), as in /etc/shadow.
 *   home   a virtual path beneath the served root, starting with '/';
 *          "." and ".." are refused, repeated and trailing slashes are
 *          dropped ("/a//b/" is stored as "/a/b").  The user is confined
 *          to it: their "/" is root/home.
 *   perms  "r" (read only) or "rw" (read and write)
 *
 * '#' starts a comment line; blank lines are skipped; leading and
 * trailing blanks around a line are ignored.  Errors name "file:line".
 * Make a hash with `mkpasswd -m yescrypt` (Debian's whois package).
 *
 * How ferryd uses it:
 *
 *   main(), before dropping privileges (the file is usually root-owned):
 *       struct users *t;
 *       if (users_load(cfg.users, &t, err, sizeof(err)) < 0) -> exit 2
 *       users_current_init(&srv->users, t);
 *   on PASS for a name other than anonymous/ftp:
 *       struct users *t = users_current_get(&srv->users);
 *       const struct ferry_user *u;
 *       r = users_authenticate(t, name, password, &u);
 *       r == 1: copy u->home and u->write into the session, then
 *       users_unref(t);   (u points into t: copy before the unref)
 *   on SIGHUP:
 *       if (users_load(path, &t, ...) == 0) users_current_set(&srv->users, t);
 *       else log the error and keep the old table
 *   at exit: users_current_fini(&srv->users);
 *
 * users_authenticate() runs the hash, which is slow on purpose: yescrypt
 * at libxcrypt's default cost takes about 0.1 s of CPU (sha512-crypt about
 * 1 ms).  Run on an event loop it would stall every session of that worker
 * for as long, so the server hands it to a small thread pool and resumes
 * the session when the answer comes back.  It is thread-safe and holds no
 * lock while hashing.
 *
 * The failed-login table (struct authfail) is shared by all workers: an
 * attacker's connections are spread over them.  With the fork model it
 * lives in shared memory (authfail_new_shared), so the children share it
 * too. */
#ifndef FERRY_USERS_H
#define FERRY_USERS_H

#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>

#define USERS_NAME_MAX 64

struct ferry_user {
    const char *name;
    const char *hash;        /* crypt(3) string; '!' or '*' first: locked */
    const char *home;        /* normalised virtual path: "/" or "/a/b" */
    int         write;       /* perms "rw" */
    unsigned    line;        /* line in the users file, for logs */
};

struct users;                /* a loaded file; immutable, reference-counted */

/* Parse one line in place (the fields point into line, which is cut with
 * NULs).  No allocation.  Returns 1 for an account, 0 for a blank or
 * comment line, -1 with a message (no file:line prefix) in err. */
int users_parse_line(char *line, struct ferry_user *u, char *err, size_t errlen);

/* Read and check the whole file.  Fails (-1, "file:line: message" in err,
 * *out untouched) on any bad line or a name listed twice, so that a typo
 * in a reload never locks everybody out.  The new table has one reference. */
int users_load(const char *path, struct users **out, char *err, size_t errlen);

struct users *users_ref(struct users *t);
void users_unref(struct users *t);            /* frees at zero; NULL is fine */

unsigned users_count(const struct users *t);
/* The account called name, or NULL.  O(log n). */
const struct ferry_user *users_find(const struct users *t, const char *name);

/* Check name/password.  Returns 1 and sets *out when they match, 0 when
 * the user is unknown or locked or the password is wrong, -errno when the
 * hash could not be computed (ENOMEM).  An unknown or locked name still
 * costs one hash computation, with the setting of a real account in the
 * file, so that when the accounts share one method and cost (the usual
 * case) response time does not tell which names exist.  The comparison of
 * the computed and the stored hash takes the same time wherever they
 * differ. */
int users_authenticate(const struct users *t, const char *name,
                       const char *password, const struct ferry_user **out);

/* The table in force, swapped on reload while sessions keep using the one
 * they took.  A mutex guards only the pointer swap and the reference
 * count, never a hash computation. */
struct users_current {
    pthread_mutex_t lock;
    struct users *t;
};
void users_current_init(struct users_current *c, struct users *t); /* takes t's ref */
struct users *users_current_get(struct users_current *c);         /* +1 ref; may be NULL */
void users_current_set(struct users_current *c, struct users *t);  /* takes t's ref */
void users_current_fini(struct users_current *c);

/* ---- failed logins, per client address ----
 *
 * After the k-th failed login from an address the reply waits
 * min(base_delay * 2^(k-1), max_delay) seconds (1, 2, 4, 8, 16, 16, ...
 * with the defaults), and from the max_failures-th failure on the
 * connection is closed, and so is every later login attempt from that
 * address, until window seconds pass without a failure, when the address
 * is forgotten.  A success does not clear the count: an address holding
 * one valid account could otherwise reset it between guesses at others.
 *
 * IPv4 addresses (and IPv4-mapped IPv6) count one by one; IPv6 addresses
 * count per /64, the block one host usually gets.
 *
 * The table holds at most `capacity` addresses; when full, the one whose
 * last failure is oldest is dropped.  Every operation is O(1): a hash
 * (SipHash with a random key, so clients cannot aim collisions) finds the
 * entry, and a list in order of last failure yields both expiry and
 * eviction from its head, as in libev's "be smart about timeouts".
 * Thread-safe (one mutex, held for a few dozen instructions).
 *
 * The server never sleeps: it keeps the session from reading further
 * commands, arms a timer for `delay`, then sends the 530 (or 421 and
 * closes when `close` is set). */
struct authfail_policy {
    double   base_delay;     /* seconds after the first failure */
    double   max_delay;      /* cap of the doubling */
    unsigned max_failures;   /* this many failures in a window: close */
    double   window;         /* seconds without a failure to be forgotten */
};
#define AUTHFAIL_POLICY_DEFAULT { 1.0, 16.0, 10, 900.0 }

struct authfail_verdict {
    unsigned failures;       /* failures counted for the address */
    double   delay;          /* seconds to wait before replying */
    int      close;          /* reply 421 and close the connection */
};

struct authfail;

/* NULL policy: AUTHFAIL_POLICY_DEFAULT.  NULL on ENOMEM or EINVAL
 * (capacity 0 or above 1 << 24, or a policy with negative times or
 * max_failures 0). */
struct authfail *authfail_new(unsigned capacity, const struct authfail_policy *p);
/* The same in one MAP_SHARED mapping with a process-shared, robust
 * mutex, for the fork model: every child counts into the parent's table.
 * Create it before the first fork; authfail_free() unmaps it. */
struct authfail *authfail_new_shared(unsigned capacity, const struct authfail_policy *p);
void authfail_free(struct authfail *t);

/* Before checking a password (now: CLOCK_MONOTONIC seconds): tells
 * whether the address is already over the limit (close set, delay 0). */
void authfail_check(struct authfail *t, const struct sockaddr *peer, double now,
                    struct authfail_verdict *v);
/* After a failed login: counts it and says how to answer. */
void authfail_failed(struct authfail *t, const struct sockaddr *peer, double now,
                     struct authfail_verdict *v);
/* Addresses tracked at time now (expired ones are dropped first). */
unsigned authfail_size(struct authfail *t, double now);

#endif
