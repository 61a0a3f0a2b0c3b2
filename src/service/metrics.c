/* metrics: sharded atomic counters and the Prometheus text exposition
 * format (version 0.0.4).  See include/ferry/metrics.h. */
#include "ferry/metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define CACHE_LINE 64
#define NBUCKETS   16                      /* finite upper bounds; +Inf extra */

/* Upper bounds of ferry_command_duration_seconds, in ns and as rendered.
 * 100 µs to 10 s: a NOOP on loopback lands in the first buckets, a slow
 * disk or a blocked loop in the last. */
static const uint64_t bucket_ns[NBUCKETS] = {
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000ULL,
    5000000000ULL, 10000000000ULL,
};
static const char *const bucket_le[NBUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
};

static const char *const kind_name[METRICS_NKINDS] = { "retr", "stor", "list" };
static const char *const result_name[METRICS_NRESULTS] = { "ok", "failed", "aborted" };

struct shard {
    atomic_uint_fast64_t sessions_opened;
    atomic_uint_fast64_t sessions_closed;
    atomic_uint_fast64_t logins_failed;
    atomic_uint_fast64_t bytes_in;
    atomic_uint_fast64_t bytes_out;
    atomic_uint_fast64_t transfers[METRICS_NKINDS][METRICS_NRESULTS];
    atomic_uint_fast64_t bucket[NBUCKETS + 1];   /* per bucket, not cumulative */
    atomic_uint_fast64_t sum_ns;
} __attribute__((aligned(CACHE_LINE)));

struct worker_counter {
    atomic_uint_fast64_t iterations;
} __attribute__((aligned(CACHE_LINE)));

/* In this process's memory, or after metrics_share() in one shared
 * mapping that forked children update and the parent renders. */
struct counters {
    struct shard sh[METRICS_SHARDS];
    struct worker_counter wk[METRICS_MAX_WORKERS];
};
static struct counters local;
static struct counters *ctr = &local;
#define shards  (ctr->sh)
#define workers (ctr->wk)
static atomic_uint nworkers;
static _Thread_local struct shard *my_shard;

static struct shard *shard(void)
{
    return my_shard ? my_shard : &shards[0];
}

static void add(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void metrics_set_workers(unsigned n)
{
    atomic_store(&nworkers, n < METRICS_MAX_WORKERS ? n : METRICS_MAX_WORKERS);
}

int metrics_share(void)
{
    struct counters *m;

    if (ctr != &local)
        return 0;
    if (!atomic_is_lock_free(&local.sh[0].bytes_in)) {
        errno = ENOTSUP;
        return -1;
    }
    m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -1;
    /* Lock-free atomics work across processes on a shared mapping; the
     * counts so far come along (nothing else runs yet). */
    memcpy(m, &local, sizeof(*m));
    ctr = m;
    return 0;
}

void metrics_thread_init(unsigned worker)
{
    my_shard = &shards[worker % METRICS_SHARDS];
}

void metrics_session_opened(void)  { add(&shard()->sessions_opened, 1); }
void metrics_session_closed(void)  { add(&shard()->sessions_closed, 1); }
void metrics_login_failed(void)    { add(&shard()->logins_failed, 1); }
void metrics_bytes_in(uint64_t n)  { add(&shard()->bytes_in, n); }
void metrics_bytes_out(uint64_t n) { add(&shard()->bytes_out, n); }

void metrics_transfer(enum metrics_kind kind, enum metrics_result result)
{
    if ((unsigned)kind < METRICS_NKINDS && (unsigned)result < METRICS_NRESULTS)
        add(&shard()->transfers[kind][result], 1);
}

void metrics_command(uint64_t ns)
{
    struct shard *s = shard();
    unsigned b = 0;

    while (b < NBUCKETS && ns > bucket_ns[b])
        b++;
    add(&s->bucket[b], 1);
    add(&s->sum_ns, ns);
}

void metrics_loop_iteration(unsigned worker)
{
    if (worker < METRICS_MAX_WORKERS)
        add(&workers[worker].iterations, 1);
}

void metrics_reset(void)
{
    unsigned i, k, r;

    for (i = 0; i < METRICS_SHARDS; i++) {
        struct shard *s = &shards[i];
        atomic_store(&s->sessions_opened, 0);
        atomic_store(&s->sessions_closed, 0);
        atomic_store(&s->logins_failed, 0);
        atomic_store(&s->bytes_in, 0);
        atomic_store(&s->bytes_out, 0);
        for (k = 0; k < METRICS_NKINDS; k++)
            for (r = 0; r < METRICS_NRESULTS; r++)
                atomic_store(&s->transfers[k][r], 0);
        for (k = 0; k <= NBUCKETS; k++)
            atomic_store(&s->bucket[k], 0);
        atomic_store(&s->sum_ns, 0);
    }
    for (i = 0; i < METRICS_MAX_WORKERS; i++)
        atomic_store(&workers[i].iterations, 0);
}

/* ---- rendering ---- */

/* snprintf-style appender: counts what would be written even once the
 * buffer is full, so that the caller learns the size it needs. */
struct out {
    char *buf;
    size_t len, pos;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    size_t room = o->pos < o->len ? o->len - o->pos : 0;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(room ? o->buf + o->pos : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->pos += (size_t)n;
}

/* One counter summed over the shards; off is its offsetof in a shard. */
static uint64_t sum_at(size_t off)
{
    uint64_t sum = 0;
    unsigned i;

    for (i = 0; i < METRICS_SHARDS; i++)
        sum += get((atomic_uint_fast64_t *)(void *)((char *)&shards[i] + off));
    return sum;
}

#define SUM(field) sum_at(offsetof(struct shard, field))

static void counter(struct out *o, const char *name, const char *help, uint64_t v)
{
    put(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
        (unsigned long long)v);
}

size_t metrics_render(char *buf, size_t len)
{
    struct out o = { buf, len, 0 };
    uint64_t opened = SUM(sessions_opened), closed = SUM(sessions_closed);
    uint64_t cum = 0, sum_ns = SUM(sum_ns);
    unsigned k, r, b, w, nw = atomic_load(&nworkers);

    if (len > 0)
        buf[0] = '\0';
    /* Closed is read after opened, so a session that opens and closes in
     * between can make closed exceed opened for one scrape: clamp. */
    put(&o, "# HELP ferry_sessions Control connections open now.\n"
            "# TYPE ferry_sessions gauge\nferry_sessions %llu\n",
        (unsigned long long)(opened > closed ? opened - closed : 0));
    counter(&o, "ferry_sessions_total", "Control connections accepted.", opened);
    counter(&o, "ferry_logins_failed_total", "Failed logins.", SUM(logins_failed));
    counter(&o, "ferry_bytes_in_total", "Data bytes received from clients.", SUM(bytes_in));
    counter(&o, "ferry_bytes_out_total", "Data bytes sent to clients.", SUM(bytes_out));

    put(&o, "# HELP ferry_transfers_total Data transfers by kind and result.\n"
            "# TYPE ferry_transfers_total counter\n");
    for (k = 0; k < METRICS_NKINDS; k++)
        for (r = 0; r < METRICS_NRESULTS; r++)
            put(&o, "ferry_transfers_total{result=\"%s\",kind=\"%s\"} %llu\n",
                result_name[r], kind_name[k],
                (unsigned long long)SUM(transfers[k][r]));

    /* _count is the +Inf bucket computed from the same reads, so the two
     * always agree even while commands are being counted. */
    put(&o, "# HELP ferry_command_duration_seconds Time from a command's arrival "
            "to its reply.\n# TYPE ferry_command_duration_seconds histogram\n");
    for (b = 0; b <= NBUCKETS; b++) {
        cum += SUM(bucket[b]);
        put(&o, "ferry_command_duration_seconds_bucket{le=\"%s\"} %llu\n",
            b < NBUCKETS ? bucket_le[b] : "+Inf", (unsigned long long)cum);
    }
    put(&o, "ferry_command_duration_seconds_sum %llu.%09llu\n",
        (unsigned long long)(sum_ns / 1000000000ULL),
        (unsigned long long)(sum_ns % 1000000000ULL));
    put(&o, "ferry_command_duration_seconds_count %llu\n", (unsigned long long)cum);

    put(&o, "# HELP ferry_worker_loop_iterations_total Event-loop turns per worker.\n"
            "# TYPE ferry_worker_loop_iterations_total counter\n");
    for (w = 0; w < nw; w++)
        put(&o, "ferry_worker_loop_iterations_total{worker=\"%u\"} %llu\n", w,
            (unsigned long long)get(&workers[w].iterations));
    return o.pos;
}

/* ---- HTTP ---- */

static const char *find_end(const char *req, size_t len)
{
    const char *a = memmem(req, len, "\r\n\r\n", 4);
    const char *b = memmem(req, len, "\n\n", 2);

    if (a && (!b || a < b))
        return a;
    return b;
}

static ssize_t simple(char *out, size_t outlen, const char *status, const char *extra,
                      const char *body)
{
    int n = snprintf(out, outlen,
                     "HTTP/1.0 %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\n%sConnection: close\r\n\r\n%s",
                     status, strlen(body), extra, body);

    if (n < 0 || (size_t)n >= outlen) {
        errno = ENOBUFS;
        return -1;
    }
    return n;
}

ssize_t metrics_http_respond(const char *req, size_t len, char *out, size_t outlen)
{
    const char *end, *sp1, *sp2, *target;
    size_t mlen, tlen, body, hlen;
    char head[METRICS_HTTP_HEADER_MAX];
    int is_head;
    int n;

    end = find_end(req, len < METRICS_HTTP_REQUEST_MAX ? len : METRICS_HTTP_REQUEST_MAX);
    if (!end) {
        if (len < METRICS_HTTP_REQUEST_MAX)
            return 0;
        return simple(out, outlen, "400 Bad Request", "", "request too long\n");
    }
    /* Request line: METHOD SP TARGET SP HTTP/x.y */
    sp1 = memchr(req, ' ', (size_t)(end - req));
    if (!sp1)
        return simple(out, outlen, "400 Bad Request", "", "bad request\n");
    target = sp1 + 1;
    sp2 = memchr(target, ' ', (size_t)(end - target));
    if (!sp2 || (size_t)(end - sp2) < 9 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
        return simple(out, outlen, "400 Bad Request", "", "bad request\n");
    mlen = (size_t)(sp1 - req);
    tlen = (size_t)(sp2 - target);
    is_head = mlen == 4 && memcmp(req, "HEAD", 4) == 0;
    if (!is_head && !(mlen == 3 && memcmp(req, "GET", 3) == 0))
        return simple(out, outlen, "405 Method Not Allowed", "Allow: GET, HEAD\r\n",
                      "method not allowed\n");
    if (!(tlen >= 8 && memcmp(target, "/metrics", 8) == 0 && (tlen == 8 || target[8] == '?')))
        return simple(out, outlen, "404 Not Found", "", "not found: try /metrics\n");

    /* Render the body where it will end up after the headers, which are
     * written last once the length is known. */
    if (outlen <= METRICS_HTTP_HEADER_MAX) {
        errno = ENOBUFS;
        return -1;
    }
    body = metrics_render(out + METRICS_HTTP_HEADER_MAX, outlen - METRICS_HTTP_HEADER_MAX);
    if (body >= outlen - METRICS_HTTP_HEADER_MAX) {
        errno = ENOBUFS;
        return -1;
    }
    n = snprintf(head, sizeof(head),
                 "HTTP/1.0 200 OK\r\n"
                 "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n", body);
    hlen = (size_t)n;
    memcpy(out, head, hlen);
    if (is_head)
        return (ssize_t)hlen;
    memmove(out + hlen, out + METRICS_HTTP_HEADER_MAX, body);
    return (ssize_t)(hlen + body);
}
