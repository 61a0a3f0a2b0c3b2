/* ferryd: parse the command line, open the root, run the model. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "ferry/config.h"
#include "ferry/driver.h"
#include "ferry/log.h"
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
    struct server srv;
    char err[512];
    int r;

    config_defaults(&cfg);
    r = config_parse_args(&cfg, argc, argv, err, sizeof(err));
    if (r > 0)
        return 0;
    if (r < 0) {
        fprintf(stderr, "ferryd: %s\n", err);
        return 2;
    }
    log_set_level(cfg.log_level);
    /* A peer that vanishes must cost an EPIPE, never the process.  send()
     * has MSG_NOSIGNAL, but sendfile() has no such flag. */
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();

    r = server_init(&srv, &cfg);
    if (r < 0) {
        log_error("event=root-failed root=%s error=\"%s\"", cfg.root, strerror(-r));
        return 1;
    }
    r = vfs_clean_temps(&srv.vfs);
    if (r > 0)
        log_info("event=cleaned-temporaries count=%d", r);
    if (cfg.synthetic && (r = synthetic_init()) < 0) {
        log_error("event=synthetic-failed error=\"%s\"", strerror(-r));
        server_fini(&srv);
        return 1;
    }
    r = driver_run_model(&srv);
    synthetic_fini();
    server_fini(&srv);
    return r;
}
