/* ferry-bench: a load generator that speaks FTP to any server.
 *
 * The main thread parses the command line, raises the descriptor limit,
 * starts one worker thread per --threads, prints progress once a second
 * while they run, and at the end merges their counts into one report.
 * Usage and output are documented in docs/bench-tool.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"
#include "netutil.h"
#include "ferry/pattern.h"

static int make_file(const char *path, uint64_t size)
{
    enum { CHUNK = 1 << 20 };
    int rc = -1;
    uint8_t *buf = malloc(CHUNK);
    if (!buf) {
        fprintf(stderr, "ferry-bench: out of memory\n");
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "ferry-bench: %s: %s\n", path, strerror(errno));
        goto out_buf;
    }
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
        ferry_pattern_fill(buf, off, n);
        for (size_t done = 0; done < n;) {
            ssize_t w = write(fd, buf + done, n - done);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                fprintf(stderr, "ferry-bench: %s: %s\n", path, strerror(errno));
                goto out_fd;
            }
            done += (size_t)w;
        }
        off += n;
    }
    if (fsync(fd) < 0 && errno != EINVAL) {
        fprintf(stderr, "ferry-bench: %s: %s\n", path, strerror(errno));
        goto out_fd;
    }
    rc = 0;
out_fd:
    if (close(fd) < 0 && rc == 0) {
        fprintf(stderr, "ferry-bench: %s: %s\n", path, strerror(errno));
        rc = -1;
    }
out_buf:
    free(buf);
    return rc;
}

/* Names go into command lines: refuse what could never be sent. */
static int check_names(const struct bench_opts *o)
{
    const char *one[] = { o->path, o->put_dir, o->user, o->pass };
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++)
        if (strlen(one[i]) > NAME_MAX_LEN || strpbrk(one[i], "\r\n")) {
            fprintf(stderr, "ferry-bench: '%.40s...': too long or holds CR/LF\n", one[i]);
            return -1;
        }
    for (size_t i = 0; i < o->files.n; i++)
        if (strlen(o->files.names[i]) > NAME_MAX_LEN) {
            fprintf(stderr, "ferry-bench: file name longer than %d bytes\n", NAME_MAX_LEN);
            return -1;
        }
    return 0;
}

static double tv_secs(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void progress(const struct worker *ws, unsigned n, double elapsed,
                     uint64_t *last_done, uint64_t *last_bytes, double dt)
{
    uint64_t done = 0, bytes = 0, errors = 0, conns = 0;
    for (unsigned i = 0; i < n; i++) {
        done += LIVE_GET(ws[i].live.done);
        bytes += LIVE_GET(ws[i].live.bytes);
        errors += LIVE_GET(ws[i].live.errors);
        conns += LIVE_GET(ws[i].live.conns);
    }
    if (dt <= 0)
        dt = 1;
    fprintf(stderr, "[%6.1fs] %10.1f req/s %9.2f MB/s  sessions %" PRIu64
            "  done %" PRIu64 "  errors %" PRIu64 "\n",
            elapsed, (double)(done - *last_done) / dt,
            (double)(bytes - *last_bytes) / dt / 1e6, conns, done, errors);
    *last_done = done;
    *last_bytes = bytes;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    char err[512];
    int rc = 2;
    struct worker *ws = NULL;
    unsigned made = 0;
    uint8_t *pattern = NULL;

    int r = opts_parse(&o, argc, argv, err, sizeof err);
    if (r != 0) {
        if (r < 0)
            fprintf(stderr, "ferry-bench: %s\n", err);
        opts_free(&o);
        return r > 0 ? 0 : 2;
    }
    if (o.make_file) {
        rc = make_file(o.make_file, o.size) < 0 ? 1 : 0;
        opts_free(&o);
        return rc;
    }
    if (check_names(&o) < 0)
        goto out_opts;

    struct shared sh;
    memset(&sh, 0, sizeof sh);
    sh.o = &o;
    sh.nthreads = o.threads;
    sh.main_thread = pthread_self();
    if (net_resolve(o.host, o.port, &sh.addr, &sh.addrlen, err, sizeof err) < 0) {
        fprintf(stderr, "ferry-bench: %s\n", err);
        goto out_opts;
    }
    sh.loopback4 = net_is_loopback4(&sh.addr);

    /* descriptors: the control connection, a data connection for the
     * transfer workloads, and a few per thread (epoll, timerfd, eventfd) */
    int data = o.workload != WL_NOOP && o.workload != WL_IDLE;
    rlim_t want = (rlim_t)o.clients * (data ? 2 : 1) + 16u * o.threads + 64;
    rlim_t nofile;
    net_raise_nofile(want, &nofile);
    if (nofile < want && !o.quiet)
        fprintf(stderr, "ferry-bench: warning: RLIMIT_NOFILE is %llu, %u clients need"
                " about %llu; the rest will fail to connect\n",
                (unsigned long long)nofile, o.clients, (unsigned long long)want);
    /* Past ~20,000 sockets to one address the ephemeral ports (28k by
     * default) are close to running out; spread from the start rather
     * than wait for the first EADDRNOTAVAIL. */
    if (sh.loopback4 && (uint64_t)o.clients * (data ? 2 : 1) >= 20000)
        sh.spread = 1;

    int needs_pattern = o.verify || o.workload == WL_PUT ||
                        (o.workload == WL_MIXED && o.mix[MIX_PUT]);
    if (needs_pattern) {
        pattern = malloc(FERRY_PATTERN_PERIOD + RXBUF_SIZE);
        if (!pattern) {
            fprintf(stderr, "ferry-bench: out of memory\n");
            goto out_opts;
        }
        ferry_pattern_fill(pattern, 0, FERRY_PATTERN_PERIOD + RXBUF_SIZE);
        sh.pattern = pattern;
    }

    ws = calloc(o.threads, sizeof *ws);
    struct report rep;
    memset(&rep, 0, sizeof rep);
    rep.s.hist = hist_new();
    if (!ws || !rep.s.hist) {
        fprintf(stderr, "ferry-bench: out of memory\n");
        goto out_ws;
    }
    for (unsigned i = 0; i < o.threads; i++, made++) {
        struct worker *w = &ws[i];
        unsigned lo = (unsigned)((uint64_t)o.clients * i / o.threads);
        unsigned hi = (unsigned)((uint64_t)o.clients * (i + 1) / o.threads);
        w->sh = &sh;
        w->idx = i;
        w->tfd = -1;
        w->nclients = hi - lo;
        w->first_id = lo;
        w->spread_next = i * (NET_SPREAD_COUNT / o.threads);
        w->clients = calloc(w->nclients, sizeof *w->clients);
        w->rx = malloc(RXBUF_SIZE);
        w->st.hist = hist_new();
        if (o.files.n) {
            w->sizes = malloc(o.files.n * sizeof *w->sizes);
            if (w->sizes)
                for (size_t k = 0; k < o.files.n; k++)
                    w->sizes[k] = -1;
        }
        if (!w->clients || !w->rx || !w->st.hist || (o.files.n && !w->sizes)) {
            fprintf(stderr, "ferry-bench: out of memory for %u clients\n", o.clients);
            made++;
            goto out_ws;
        }
        for (unsigned k = 0; k < w->nclients; k++)
            client_init(&w->clients[k], w, lo + k);
    }

    /* Signals go to this thread only: the workers inherit the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    double ramp_s = 0;
    if (o.ramp > 0) {
        unsigned per_thread = (o.clients + o.threads - 1) / o.threads;
        ramp_s = (double)per_thread / (o.ramp / o.threads);
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    sh.t0 = now_ns();
    /* the others first give the sessions --warmup seconds to log in and
     * settle; idle times its hold itself, per thread, from the moment its
     * logins have all ended (worker.c) */
    double warmup_s = o.workload == WL_IDLE || (o.requests && o.rate <= 0) ? 0.0 : o.warmup;
    sh.t_ramp_end = sh.t0 + (uint64_t)(ramp_s * 1e9);
    sh.t_start = sh.t_ramp_end + (uint64_t)(warmup_s * 1e9);
    if (o.requests) {
        /* every one of the N counts; an open loop's from its first */
        sh.t_measure = o.rate > 0 ? sh.t_start : sh.t0;
        sh.t_deadline = o.duration_set ? sh.t_start + (uint64_t)(o.duration * 1e9) : 0;
    } else if (o.workload == WL_IDLE) {
        sh.t_measure = sh.t_start;
        sh.t_deadline = 0;
    } else {
        sh.t_measure = sh.t_start;
        sh.t_deadline = sh.t_start + (uint64_t)(o.duration * 1e9);
    }

    unsigned started = 0;
    for (; started < o.threads; started++) {
        int e = pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]);
        if (e) {
            fprintf(stderr, "ferry-bench: pthread_create: %s\n", strerror(e));
            __atomic_store_n(&sh.stop, 1, __ATOMIC_RELAXED);
            break;
        }
    }

    /* Wait: a progress line each second, a signal to stop early, and a
     * SIGUSR1 from each worker as it ends. */
    uint64_t last_done = 0, last_bytes = 0, last_tick = sh.t0;
    unsigned signals = 0;
    for (;;) {
        unsigned fin = 0;
        for (unsigned i = 0; i < started; i++)
            fin += __atomic_load_n(&ws[i].finished, __ATOMIC_ACQUIRE) != 0;
        if (fin == started)
            break;
        uint64_t now = now_ns();
        uint64_t next = last_tick + 1000000000u;
        if (now >= next) {
            if (!o.quiet)
                progress(ws, started, (double)(now - sh.t0) / 1e9, &last_done,
                         &last_bytes, (double)(now - last_tick) / 1e9);
            last_tick = now;
            continue;
        }
        struct timespec to = { 0, (long)(next - now) };
        int sig = sigtimedwait(&sigs, NULL, &to);
        if (sig == SIGINT || sig == SIGTERM) {
            if (++signals > 1) {
                fprintf(stderr, "ferry-bench: interrupted twice, exiting\n");
                _exit(130);
            }
            __atomic_store_n(&sh.stop, 1, __ATOMIC_RELAXED);
        }
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(ws[i].thread, NULL);
    uint64_t t_end = now_ns();
    getrusage(RUSAGE_SELF, &ru1);

    rep.o = &o;
    net_format(&sh.addr, rep.target, sizeof rep.target);
    rep.wall = (double)(t_end - sh.t0) / 1e9;
    rep.ramp = ramp_s;
    rep.warmup = warmup_s;
    uint64_t m_end = sh.t_deadline && t_end > sh.t_deadline ? sh.t_deadline : t_end;
    rep.elapsed = m_end > sh.t_measure ? (double)(m_end - sh.t_measure) / 1e9 : 0.0;
    if (o.workload == WL_IDLE) {
        rep.elapsed = 0;  /* the shortest hold: every session had that long */
        for (unsigned i = 0; i < started; i++)
            if (i == 0 || ws[i].hold_s < rep.elapsed)
                rep.elapsed = ws[i].hold_s;
    }
    rep.cpu_user = tv_secs(ru1.ru_utime) - tv_secs(ru0.ru_utime);
    rep.cpu_sys = tv_secs(ru1.ru_stime) - tv_secs(ru0.ru_stime);
    rep.nofile = nofile;
    rep.spread = __atomic_load_n(&sh.spread, __ATOMIC_RELAXED);
    rep.interrupted = __atomic_load_n(&sh.stop, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < o.threads; i++) {
        stats_merge(&rep.s, &ws[i].st);
        if (ws[i].run_s > 0 && ws[i].cpu_s / ws[i].run_s > rep.cpu_busiest)
            rep.cpu_busiest = ws[i].cpu_s / ws[i].run_s;
    }

    if (o.json) {
        report_json(stdout, &rep);
        if (!o.quiet)
            report_text(stderr, &rep);
    } else {
        report_text(stdout, &rep);
    }
    fflush(stdout);
    rc = (stats_errors(&rep.s) && !o.allow_errors) || started < o.threads ? 1 : 0;

out_ws:
    if (ws) {
        for (unsigned i = 0; i < made; i++) {
            struct worker *w = &ws[i];
            if (w->clients)
                for (unsigned k = 0; k < w->nclients; k++)
                    client_free(&w->clients[k]);
            free(w->clients);
            free(w->rx);
            free(w->sizes);
            hist_free(w->st.hist);
        }
        free(ws);
    }
    hist_free(rep.s.hist);
    free(pattern);
out_opts:
    opts_free(&o);
    return rc;
}
