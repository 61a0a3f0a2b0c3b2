/* users: the users file, password checks, failed-login accounting.  See
 * include/ferry/users.h for the file format and the calling sequence. */
#include "ferry/users.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

/* A users file is a few lines per account; anything this large is a
 * mistake (a wrong path), not a user list. */
#define USERS_FILE_MAX (16u << 20)

struct users {
    pthread_mutex_t    ref_lock;   /* guards refs only */
    unsigned           refs;
    char              *text;       /* the file; users' fields point into it */
    size_t             textlen;
    struct ferry_user *v;          /* sorted by name */
    unsigned           n;
    char               dummy[CRYPT_OUTPUT_SIZE];   /* setting for unknown names */
};

/* ---- parsing ---- */

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static char *trim(char *s)
{
    size_t n;

    while (is_blank(*s))
        s++;
    n = strlen(s);
    while (n > 0 && is_blank(s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int valid_name(const char *s)
{
    size_t n = 0;

    for (; *s; s++, n++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == ':')
            return 0;
    return n >= 1 && n <= USERS_NAME_MAX;
}

/* Normalise a virtual home in place: "/a//b/" -> "/a/b".  The result is
 * never longer than the input.  Refuses "." and ".." components, control
 * bytes and relative paths, so the home can be joined to the root as is. */
static int normalise_home(char *home)
{
    const char *r = home;
    char *w = home;

    if (*r != '/')
        return -1;
    while (*r) {
        const char *c;
        size_t len;

        while (*r == '/')
            r++;
        if (!*r)
            break;
        c = r;
        while (*r && *r != '/') {
            if ((unsigned char)*r < 0x20 || *r == 0x7f)
                return -1;
            r++;
        }
        len = (size_t)(r - c);
        if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return -1;
        *w++ = '/';
        memmove(w, c, len);
        w += len;
    }
    if (w == home)
        *w++ = '/';
    *w = '\0';
    return 0;
}

/* libxcrypt's crypt_checksalt() looks at the method prefix only, so
 * "$y$nonsense" passes it; check the rest of the shape too, cheaply
 * (hashing at load would cost milliseconds per account): modular crypt
 * format "$id$[params$]salt$hash", at least three '$', a non-empty last
 * field, and nothing outside the crypt alphabet. */
static int plausible_hash(const char *h)
{
    const char *last = NULL;
    unsigned dollars = 0;

    if (h[0] != '$')
        return 0;
    for (; *h; h++) {
        unsigned char c = (unsigned char)*h;
        if (c == '$') {
            dollars++;
            last = h;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                     (c >= 'A' && c <= 'Z') || c == '.' || c == '/' || c == '=' ||
                     c == ',' || c == '-')) {
            return 0;
        }
    }
    return dollars >= 3 && last && last[1] != '\0';
}

static int is_locked(const char *hash)
{
    return hash[0] == '!' || hash[0] == '*';
}

int users_parse_line(char *line, struct ferry_user *u, char *err, size_t errlen)
{
    char *f[4], *p;
    int i;

    line = trim(line);
    if (!*line || *line == '#')
        return 0;
    p = line;
    for (i = 0; i < 4; i++) {
        f[i] = p;
        p = strchr(p, ':');
        if (i < 3) {
            if (!p) {
                snprintf(err, errlen, "expected name:hash:home:perms");
                return -1;
            }
            *p++ = '\0';
        } else if (p) {
            snprintf(err, errlen, "too many ':' fields (expected name:hash:home:perms)");
            return -1;
        }
    }
    if (!valid_name(f[0])) {
        snprintf(err, errlen, "bad user name (1-%d printable characters, no ':' or space)",
                 USERS_NAME_MAX);
        return -1;
    }
    if (!*f[1]) {
        snprintf(err, errlen, "user '%s': empty hash (use '!' to lock the account)", f[0]);
        return -1;
    }
    if (!is_locked(f[1])) {
        int c = crypt_checksalt(f[1]);

        if (c == CRYPT_SALT_METHOD_LEGACY) {
            snprintf(err, errlen, "user '%s': hash uses a weak legacy method; "
                     "make a new one with mkpasswd -m yescrypt", f[0]);
            return -1;
        }
        if (c != CRYPT_SALT_OK || !plausible_hash(f[1])) {
            snprintf(err, errlen, "user '%s': not a crypt(3) hash this system supports",
                     f[0]);
            return -1;
        }
    }
    if (normalise_home(f[2]) < 0) {
        snprintf(err, errlen, "user '%s': home must be an absolute virtual path "
                 "without '.' or '..'", f[0]);
        return -1;
    }
    if (strcmp(f[3], "r") != 0 && strcmp(f[3], "rw") != 0) {
        snprintf(err, errlen, "user '%s': perms must be 'r' or 'rw'", f[0]);
        return -1;
    }
    u->name = f[0];
    u->hash = f[1];
    u->home = f[2];
    u->write = f[3][1] == 'w';
    u->line = 0;
    return 1;
}

/* ---- loading ---- */

static int read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    struct stat sb;
    char *buf = NULL;
    size_t got = 0;
    int fd, e;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) < 0) {
        e = errno;
        goto fail_errno;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    if ((unsigned long long)sb.st_size > USERS_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, USERS_FILE_MAX);
        goto fail;
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (!buf) {
        e = ENOMEM;
        goto fail_errno;
    }
    /* Read what fstat promised; a file that grows meanwhile is cut there
     * (the next reload sees the rest). */
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = errno;
            goto fail_errno;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    close(fd);
    *text = buf;
    *len = got;
    return 0;

fail_errno:
    snprintf(err, errlen, "%s: %s", path, strerror(e));
fail:
    free(buf);
    close(fd);
    return -1;
}

static int cmp_user(const void *a, const void *b)
{
    const struct ferry_user *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : (x->line > y->line) - (x->line < y->line);
}

int users_load(const char *path, struct users **out, char *err, size_t errlen)
{
    struct users *t;
    char *p, *end, msg[256];
    size_t len, cap = 0;
    unsigned line = 0, i;

    t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
        return -1;
    }
    if (read_file(path, &t->text, &len, err, errlen) < 0)
        goto fail_t;
    t->textlen = len;
    if (memchr(t->text, '\0', len)) {
        snprintf(err, errlen, "%s: contains a NUL byte (not a text file)", path);
        goto fail_text;
    }
    for (p = t->text, end = t->text + len; p < end; p = p ? p : end) {
        struct ferry_user u;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        int r;

        line++;
        if (nl)
            *nl = '\0';
        r = users_parse_line(p, &u, msg, sizeof(msg));
        p = nl ? nl + 1 : NULL;
        if (r < 0) {
            snprintf(err, errlen, "%s:%u: %s", path, line, msg);
            goto fail_v;
        }
        if (r == 0)
            continue;
        u.line = line;
        if (t->n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct ferry_user *nv = realloc(t->v, ncap * sizeof(*nv));
            if (!nv) {
                snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
                goto fail_v;
            }
            t->v = nv;
            cap = ncap;
        }
        t->v[t->n++] = u;
    }
    if (t->n > 1)
        qsort(t->v, t->n, sizeof(*t->v), cmp_user);
    for (i = 1; i < t->n; i++) {
        if (strcmp(t->v[i - 1].name, t->v[i].name) == 0) {
            snprintf(err, errlen, "%s:%u: user '%s' is listed twice (first on line %u)",
                     path, t->v[i].line, t->v[i].name, t->v[i - 1].line);
            goto fail_v;
        }
    }
    /* The setting an unknown or locked name is hashed with, so that its
     * check costs what a real account's does: a real account's own hash
     * (same method, same cost), else the system's preferred method at its
     * default cost. */
    for (i = 0; i < t->n && is_locked(t->v[i].hash); i++)
        ;
    if (i < t->n && strlen(t->v[i].hash) < sizeof(t->dummy)) {
        memcpy(t->dummy, t->v[i].hash, strlen(t->v[i].hash) + 1);
    } else if (!crypt_gensalt_rn(NULL, 0, NULL, 0, t->dummy, sizeof(t->dummy))) {
        snprintf(err, errlen, "crypt_gensalt: %s", strerror(errno));
        goto fail_v;
    }
    if (pthread_mutex_init(&t->ref_lock, NULL) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
        goto fail_v;
    }
    t->refs = 1;
    *out = t;
    return 0;

fail_v:
    free(t->v);
fail_text:
    explicit_bzero(t->text, len);
    free(t->text);
fail_t:
    free(t);
    return -1;
}

struct users *users_ref(struct users *t)
{
    pthread_mutex_lock(&t->ref_lock);
    t->refs++;
    pthread_mutex_unlock(&t->ref_lock);
    return t;
}

void users_unref(struct users *t)
{
    unsigned left;

    if (!t)
        return;
    pthread_mutex_lock(&t->ref_lock);
    left = --t->refs;
    pthread_mutex_unlock(&t->ref_lock);
    if (left)
        return;
    pthread_mutex_destroy(&t->ref_lock);
    /* The text holds password hashes: do not leave them in freed memory. */
    explicit_bzero(t->text, t->textlen);
    free(t->text);
    free(t->v);
    free(t);
}

unsigned users_count(const struct users *t)
{
    return t->n;
}

const struct ferry_user *users_find(const struct users *t, const char *name)
{
    size_t lo = 0, hi = t->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, t->v[mid].name);

        if (c == 0)
            return &t->v[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Equal strings in time that depends only on their lengths (which a
 * crypt result for a given setting does not hide anyway). */
static int ct_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i;
    volatile unsigned char diff = la != lb;

    if (la != lb)
        return 0;
    for (i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

int users_authenticate(const struct users *t, const char *name,
                       const char *password, const struct ferry_user **out)
{
    const struct ferry_user *u = users_find(t, name);
    int usable = u && !is_locked(u->hash);
    struct crypt_data *cd;
    const char *res;
    int match = 0;

    cd = calloc(1, sizeof(*cd));
    if (!cd)
        return -ENOMEM;
    errno = 0;
    res = crypt_rn(password, usable ? u->hash : t->dummy, cd, (int)sizeof(*cd));
    if (!res && errno == ENOMEM) {
        free(cd);
        return -ENOMEM;
    }
    /* A NULL result is a password longer than crypt accepts (ERANGE) or
     * a setting it refuses: no match either way. */
    if (res && usable)
        match = ct_equal(res, u->hash);
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    if (match && out)
        *out = u;
    return match;
}

void users_current_init(struct users_current *c, struct users *t)
{
    pthread_mutex_init(&c->lock, NULL);
    c->t = t;
}

struct users *users_current_get(struct users_current *c)
{
    struct users *t;

    pthread_mutex_lock(&c->lock);
    t = c->t ? users_ref(c->t) : NULL;
    pthread_mutex_unlock(&c->lock);
    return t;
}

void users_current_set(struct users_current *c, struct users *t)
{
    struct users *old;

    pthread_mutex_lock(&c->lock);
    old = c->t;
    c->t = t;
    pthread_mutex_unlock(&c->lock);
    users_unref(old);
}

void users_current_fini(struct users_current *c)
{
    users_unref(c->t);
    c->t = NULL;
    pthread_mutex_destroy(&c->lock);
}

/* ---- failed logins ---- */

#define NIL UINT32_MAX
/* Expired entries reclaimed per call at most, so that no single event
 * pays for a burst of expiries; lookups treat expired entries as absent
 * anyway, so the rest wait for later calls. */
#define EXPIRE_PER_CALL 8

struct af_key {
    uint8_t fam;             /* 4, 6 (a /64) or 0 (anything else) */
    uint8_t addr[16];
};

struct af_entry {
    struct af_key key;
    uint32_t hnext;          /* bucket chain; free list when unused */
    uint32_t prev, next;     /* order of last failure, oldest first */
    unsigned failures;
    double   last;
};

struct authfail {
    pthread_mutex_t lock;
    struct authfail_policy p;
    uint64_t  k0, k1;        /* SipHash key */
    uint32_t  mask;          /* buckets - 1 */
    uint32_t *bucket;
    struct af_entry *e;
    uint32_t  cap, used, freelist;
    uint32_t  head, tail;    /* oldest and newest last failure */
    size_t    maplen;        /* > 0: one MAP_SHARED mapping (fork model) */
};

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                          \
    do {                                                                  \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);         \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                            \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                            \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);         \
    } while (0)

/* SipHash-2-4 (Aumasson and Bernstein): a keyed hash, so that clients,
 * who choose their addresses only within limits but do choose them, cannot
 * pile their entries into one bucket. */
static uint64_t siphash24(uint64_t k0, uint64_t k1, const uint8_t *in, size_t len)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = (uint64_t)len << 56, m;
    size_t i, left = len & 7;
    const uint8_t *end = in + len - left;
    int r;

    for (; in != end; in += 8) {
        m = 0;
        for (i = 0; i < 8; i++)
            m |= (uint64_t)in[i] << (8 * i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (i = 0; i < left; i++)
        b |= (uint64_t)in[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    for (r = 0; r < 4; r++)
        SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static void key_of(const struct sockaddr *sa, struct af_key *k)
{
    memset(k, 0, sizeof(*k));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        k->fam = 4;
        memcpy(k->addr, &s4->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            k->fam = 4;
            memcpy(k->addr, &s6->sin6_addr.s6_addr[12], 4);
        } else {
            k->fam = 6;
            memcpy(k->addr, &s6->sin6_addr, 8);   /* the /64 */
        }
    }
}

static uint32_t bucket_of(const struct authfail *t, const struct af_key *k)
{
    return (uint32_t)siphash24(t->k0, t->k1, (const uint8_t *)k, sizeof(*k)) & t->mask;
}

static void order_unlink(struct authfail *t, uint32_t i)
{
    struct af_entry *x = &t->e[i];

    if (x->prev != NIL)
        t->e[x->prev].next = x->next;
    else
        t->head = x->next;
    if (x->next != NIL)
        t->e[x->next].prev = x->prev;
    else
        t->tail = x->prev;
    x->prev = x->next = NIL;
}

static void order_append(struct authfail *t, uint32_t i)
{
    struct af_entry *x = &t->e[i];

    x->prev = t->tail;
    x->next = NIL;
    if (t->tail != NIL)
        t->e[t->tail].next = i;
    else
        t->head = i;
    t->tail = i;
}

static void entry_remove(struct authfail *t, uint32_t i)
{
    uint32_t *pp = &t->bucket[bucket_of(t, &t->e[i].key)];

    /* Chains hold about one entry (buckets >= 2 * capacity, keyed hash). */
    while (*pp != i)
        pp = &t->e[*pp].hnext;
    *pp = t->e[i].hnext;
    order_unlink(t, i);
    t->e[i].hnext = t->freelist;
    t->freelist = i;
    t->used--;
}

static int expired(const struct authfail *t, uint32_t i, double now)
{
    return now - t->e[i].last >= t->p.window;
}

static void expire(struct authfail *t, double now, unsigned limit)
{
    while (limit-- > 0 && t->head != NIL && expired(t, t->head, now))
        entry_remove(t, t->head);
}

static uint32_t lookup(struct authfail *t, const struct af_key *k, double now)
{
    uint32_t i = t->bucket[bucket_of(t, k)];

    while (i != NIL && memcmp(&t->e[i].key, k, sizeof(*k)) != 0)
        i = t->e[i].hnext;
    if (i != NIL && expired(t, i, now)) {
        entry_remove(t, i);
        i = NIL;
    }
    return i;
}

static int policy_ok(unsigned capacity, const struct authfail_policy *p)
{
    if (capacity == 0 || capacity > (1u << 24) || p->base_delay < 0 ||
        p->max_delay < 0 || p->window < 0 || p->max_failures == 0) {
        errno = EINVAL;
        return 0;
    }
    return 1;
}

static uint32_t buckets_for(unsigned capacity)
{
    uint32_t nb = 1;
    while (nb < 2 * capacity)
        nb <<= 1;
    return nb;
}

/* Fill a table whose bucket and entry arrays are in place (zeroed). */
static void table_init(struct authfail *t, unsigned capacity, uint32_t nb,
                       const struct authfail_policy *p)
{
    uint32_t i;

    if (getrandom(&t->k0, sizeof(t->k0), 0) != (ssize_t)sizeof(t->k0) ||
        getrandom(&t->k1, sizeof(t->k1), 0) != (ssize_t)sizeof(t->k1)) {
        /* No entropy source: a weaker key still spreads honest traffic. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t->k0 = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
        t->k1 = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)t;
    }
    t->p = *p;
    t->mask = nb - 1;
    t->cap = capacity;
    t->used = 0;
    for (i = 0; i < nb; i++)
        t->bucket[i] = NIL;
    for (i = 0; i < capacity; i++) {
        t->e[i].hnext = i + 1 < capacity ? i + 1 : NIL;
        t->e[i].prev = t->e[i].next = NIL;
    }
    t->freelist = 0;
    t->head = t->tail = NIL;
}

struct authfail *authfail_new(unsigned capacity, const struct authfail_policy *p)
{
    static const struct authfail_policy def = AUTHFAIL_POLICY_DEFAULT;
    struct authfail *t;
    uint32_t nb;

    if (!p)
        p = &def;
    if (!policy_ok(capacity, p))
        return NULL;
    nb = buckets_for(capacity);
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->bucket = malloc(nb * sizeof(*t->bucket));
    t->e = calloc(capacity, sizeof(*t->e));
    if (!t->bucket || !t->e)
        goto fail;
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        errno = ENOMEM;
        goto fail;
    }
    table_init(t, capacity, nb, p);
    return t;

fail:
    free(t->bucket);
    free(t->e);
    free(t);
    return NULL;
}

struct authfail *authfail_new_shared(unsigned capacity, const struct authfail_policy *p)
{
    static const struct authfail_policy def = AUTHFAIL_POLICY_DEFAULT;
    pthread_mutexattr_t a;
    struct authfail *t;
    size_t head, len;
    uint32_t nb;
    void *m;
    int r;

    if (!p)
        p = &def;
    if (!policy_ok(capacity, p))
        return NULL;
    nb = buckets_for(capacity);
    /* One mapping, the arrays after the header, so that the pointers
     * inside stay valid in every process forked from this one. */
    head = (sizeof(*t) + 63) & ~(size_t)63;
    len = head + (size_t)capacity * sizeof(*t->e) + (size_t)nb * sizeof(*t->bucket);
    m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    t = m;
    t->e = (struct af_entry *)(void *)((char *)m + head);
    t->bucket = (uint32_t *)(void *)(t->e + capacity);
    t->maplen = len;
    /* Robust: a child killed while it holds the lock (SIGKILL at the
     * drain deadline) must not leave every other process stuck. */
    if ((r = pthread_mutexattr_init(&a)) != 0)
        goto fail;
    if ((r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED)) != 0 ||
        (r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST)) != 0 ||
        (r = pthread_mutex_init(&t->lock, &a)) != 0) {
        pthread_mutexattr_destroy(&a);
        goto fail;
    }
    pthread_mutexattr_destroy(&a);
    table_init(t, capacity, nb, p);
    return t;

fail:
    munmap(m, len);
    errno = r;
    return NULL;
}

/* Lock the table.  A shared table's owner may have died holding it, in
 * the middle of an update: the table is then emptied (forgetting some
 * failures is the lesser harm) and made consistent again. */
static void af_lock(struct authfail *t)
{
    if (pthread_mutex_lock(&t->lock) == EOWNERDEAD) {
        table_init(t, t->cap, t->mask + 1, &t->p);
        pthread_mutex_consistent(&t->lock);
    }
}

void authfail_free(struct authfail *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    if (t->maplen) {
        munmap(t, t->maplen);
        return;
    }
    free(t->bucket);
    free(t->e);
    free(t);
}

static double delay_for(const struct authfail_policy *p, unsigned failures)
{
    double d = p->base_delay;
    unsigned i;

    for (i = 1; i < failures && i < 64 && d < p->max_delay; i++)
        d *= 2;
    return d < p->max_delay ? d : p->max_delay;
}

void authfail_check(struct authfail *t, const struct sockaddr *peer, double now,
                    struct authfail_verdict *v)
{
    struct af_key k;
    uint32_t i;

    key_of(peer, &k);
    af_lock(t);
    expire(t, now, EXPIRE_PER_CALL);
    i = lookup(t, &k, now);
    v->failures = i == NIL ? 0 : t->e[i].failures;
    pthread_mutex_unlock(&t->lock);
    v->delay = 0;
    v->close = v->failures >= t->p.max_failures;
}

void authfail_failed(struct authfail *t, const struct sockaddr *peer, double now,
                     struct authfail_verdict *v)
{
    struct af_key k;
    uint32_t i;

    key_of(peer, &k);
    af_lock(t);
    expire(t, now, EXPIRE_PER_CALL);
    i = lookup(t, &k, now);
    if (i == NIL) {
        if (t->freelist == NIL)
            entry_remove(t, t->head);        /* full: forget the oldest */
        i = t->freelist;
        t->freelist = t->e[i].hnext;
        t->used++;
        t->e[i].key = k;
        t->e[i].failures = 0;
        {
            uint32_t b = bucket_of(t, &k);
            t->e[i].hnext = t->bucket[b];
            t->bucket[b] = i;
        }
    } else {
        order_unlink(t, i);
    }
    if (t->e[i].failures < UINT32_MAX)
        t->e[i].failures++;
    t->e[i].last = now;
    order_append(t, i);
    v->failures = t->e[i].failures;
    pthread_mutex_unlock(&t->lock);
    v->delay = delay_for(&t->p, v->failures);
    v->close = v->failures >= t->p.max_failures;
}

unsigned authfail_size(struct authfail *t, double now)
{
    unsigned n;

    af_lock(t);
    expire(t, now, UINT32_MAX);
    n = t->used;
    pthread_mutex_unlock(&t->lock);
    return n;
}
