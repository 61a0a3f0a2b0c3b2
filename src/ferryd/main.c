/* ferryd: read the configuration, set the service up around the model
 * (listeners, accounts, logs, privileges), run the model. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "ferry/conffile.h"
#include "ferry/config.h"
#include "ferry/driver.h"
#include "ferry/log.h"
#include "ferry/service.h"
#include "ferry/synthetic.h"
#include "ferry/vfs.h"
#include "ferry/worker.h"

/* Use every descriptor the hard limit allows: each client costs one to
 * three.  Failing is not fatal; the server just refuses clients sooner. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            log_warn("event=rlimit error=\"%s\"", strerror(errno));
    }
}

int main(int argc, char **argv)
{
    struct ferry_config cfg;
    struct conffile_arena *arena = NULL;
    const struct model *m;
    struct server srv;
    char err[1024];
    int r, status = 1;

    r = config_load(&cfg, argc, argv, &arena, err, sizeof(err));
    if (r > 0)
        return 0;
    if (r < 0) {
        fprintf(stderr, "ferryd: %s\n", err);
        return 2;
    }
    if (cfg.check_config) {
        r = service_check(&cfg, err, sizeof(err));
        if (r < 0)
            fprintf(stderr, "ferryd: %s\n", err);
        else
            printf("ferryd: configuration ok\n");
        conffile_arena_free(arena);
        return r < 0 ? 2 : 0;
    }
    if (config_validate(&cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "ferryd: %s\n", err);
        conffile_arena_free(arena);
        return 2;
    }
    m = model_find(cfg.model);
    log_set_level(cfg.log_level);
    /* A peer that vanishes must cost an EPIPE, never the process.  send()
     * has MSG_NOSIGNAL, but sendfile() has no such flag. */
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();

    r = server_init(&srv, &cfg);
    if (r < 0) {
        log_error("event=root-failed root=%s error=\"%s\"", cfg.root, strerror(-r));
        conffile_arena_free(arena);
        return 1;
    }
    if (service_init(&srv, argc, argv, err, sizeof(err)) < 0) {
        log_error("event=socket-activation-failed error=\"%s\"", err);
        goto out_server;
    }
    r = vfs_clean_temps(&srv.vfs);
    if (r > 0)
        log_info("event=cleaned-temporaries count=%d", r);
    if (cfg.synthetic && (r = synthetic_init()) < 0) {
        log_error("event=synthetic-failed error=\"%s\"", strerror(-r));
        goto out_service;
    }
    /* Everything that may need root: listeners, the users file, the
     * xferlog, the metrics socket.  Then root goes, before any thread. */
    if (service_open(&srv, m, err, sizeof(err)) < 0) {
        log_error("event=start-failed error=\"%s\"", err);
        goto out_synthetic;
    }
    if (service_privdrop(&srv, err, sizeof(err)) < 0) {
        log_error("event=privdrop-failed error=\"%s\"", err);
        goto out_synthetic;
    }
    if (service_start(&srv, m, err, sizeof(err)) < 0) {
        log_error("event=start-failed error=\"%s\"", err);
        goto out_synthetic;
    }
    status = m->run(&srv, m);

out_synthetic:
    synthetic_fini();
out_service:
    service_fini(&srv);
out_server:
    server_fini(&srv);
    conffile_arena_free(arena);
    return status;
}
