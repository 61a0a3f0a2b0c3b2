/* driver: the table of models, and the part of running a model that is
 * the same for all event-loop models: listeners per worker, worker
 * threads, signals and the drain. */
#include "ferry/driver.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/authpool.h"
#include "ferry/log.h"
#include "ferry/metrics.h"
#include "ferry/service.h"
#include "ferry/worker.h"

static const struct model models[] = {
    { "libev",     &driver_libev,    driver_run_workers, 1, 0 },
    { "libev-lt",  &driver_libev_lt, driver_run_workers, 1, 0 },
    { "epoll",     &driver_epoll,    driver_run_workers, 1, 0 },
    { "poll",      &driver_poll,     driver_run_workers, 1, 0 },
    { "select",    &driver_select,   driver_run_workers, 1, 0 },
    { "thread",    &driver_poll,     perclient_run,      0, 0 },
    { "fork",      &driver_poll,     perclient_run,      0, 1 },
    { "iterative", &driver_poll,     perclient_run,      0, 0 },
};

const struct model *model_find(const char *name)
{
    for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
        if (strcmp(models[i].name, name) == 0)
            return &models[i];
    return NULL;
}

const char *model_names(void)
{
    static char names[256];
    if (!names[0]) {
        for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
            if (i)
                strncat(names, " ", sizeof(names) - strlen(names) - 1);
            strncat(names, models[i].name, sizeof(names) - strlen(names) - 1);
        }
    }
    return names;
}

int driver_run_model(struct server *srv)
{
    const struct model *m = model_find(srv->cfg->model);
    if (!m) {
        log_error("event=bad-model model=%s known=\"%s\"", srv->cfg->model, model_names());
        return 2;
    }
    return m->run(srv, m);
}

struct worker_thread {
    struct worker w;
    pthread_t     tid;
    int           started;
    atomic_int    finished;
};

static void *worker_main(void *arg)
{
    struct worker_thread *t = arg;
    metrics_thread_init((unsigned)t->w.id);
    int r = worker_run(&t->w);
    if (r < 0)
        log_error("event=worker-failed worker=%d error=%s", t->w.id, strerror(-r));
    atomic_store(&t->finished, 1);
    return NULL;
}

int driver_run_workers(struct server *srv, const struct model *m)
{
    const struct ferry_config *cfg = srv->cfg;
    const struct driver_ops *drv = m->drv;
    int nworkers = service_nworkers(m, cfg), status = 1, nstarted = 0;
    struct worker_thread *threads;
    sigset_t set;

    threads = calloc((size_t)nworkers, sizeof(*threads));
    if (!threads)
        return 1;

    /* Signals are taken synchronously by this thread alone: block them
     * before any worker exists so that every thread inherits the mask. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    /* Each worker's own listening sockets: bound before privileges were
     * dropped, or passed by the service manager (service.h). */
    for (int i = 0; i < nworkers; i++) {
        int fds[CONFIG_MAX_LISTEN];
        int n = service_listeners(srv, i, fds, CONFIG_MAX_LISTEN);
        if (n < 0)
            goto out;
        int r = worker_init(&threads[i].w, i, srv, drv, fds, n);
        if (r < 0) {
            for (int j = 0; j < n; j++)
                close(fds[j]);
            log_error("event=worker-init-failed worker=%d error=%s", i, strerror(-r));
            goto out;
        }
        threads[i].started = 1;
        service_watch(srv, &threads[i].w);
    }
    for (int i = 0; i < nworkers; i++) {
        atomic_init(&threads[i].finished, 0);
        if (pthread_create(&threads[i].tid, NULL, worker_main, &threads[i]) != 0) {
            log_error("event=thread-failed worker=%d", i);
            atomic_store(&srv->stopping, 1);
            for (int j = 0; j < nstarted; j++)
                worker_request_stop(&threads[j].w);
            goto join;
        }
        nstarted++;
    }
    log_info("event=ready model=%s workers=%d root=%s write=%s", m->name, nworkers,
             cfg->root, cfg->write ? "yes" : "no");
    service_ready(srv);

    /* Wait for a stop signal, then for the workers to drain.  The timed
     * wait lets this thread notice workers that ended on their own, and
     * keeps the service manager informed (status, watchdog). */
    for (int stops = 0;;) {
        double t = service_tick(srv);
        if (t > 0.2)
            t = 0.2;
        struct timespec tick = { 0, (long)(t * 1e9) + 1000000 };
        int alive = 0;
        for (int i = 0; i < nstarted; i++)
            alive += !atomic_load(&threads[i].finished);
        if (!alive)
            break;
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            if (++stops > 1) {
                /* A second signal: leave now.  Uploads in flight are
                 * O_TMPFILE files (or hidden names cleaned at start-up),
                 * so nothing partial appears under a real name. */
                log_warn("event=exit-now signal=%d", sig);
                _exit(1);
            }
            const struct ferry_config *cur = server_config_get(srv);
            log_info("event=stopping signal=%s drain_timeout=%g",
                     sig == SIGTERM ? "TERM" : "INT", cur->drain_timeout);
            server_config_put(srv, cur);
            atomic_store(&srv->stopping, 1);
            service_stopping(srv);
            for (int i = 0; i < nstarted; i++)
                worker_request_stop(&threads[i].w);
        } else if (sig == SIGHUP) {
            service_reload(srv);
        }
    }
    status = 0;
join:
    for (int i = 0; i < nstarted; i++)
        pthread_join(threads[i].tid, NULL);
    /* A worker that ended on an error may still have a password check
     * out: let it come back before the worker is freed. */
    authpool_drain(srv->authpool);
out:
    service_unwatch(srv);
    for (int i = 0; i < nworkers; i++)
        if (threads[i].started)
            worker_fini(&threads[i].w);
    free(threads);
    log_info("event=stopped status=%d", status);
    return status;
}
