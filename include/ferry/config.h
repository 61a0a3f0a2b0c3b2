/* config: ferryd's settings, from the command line and the config file.
 *
 * Every setting has one field here, one command-line flag and one config
 * file key (the flag without its dashes).  Both go through config_set(),
 * so a key and its flag cannot drift apart.  main() fills the struct once;
 * a reload (SIGHUP) builds a new one and publishes it (worker.h,
 * server_config_publish), so a published config is never written again
 * and every thread reads it without locking. */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include <stddef.h>

#define CONFIG_MAX_LISTEN 16

struct conffile_arena;

struct ferry_config {
    const char *root;                 /* folder served ("./srv") */
    const char *listen[CONFIG_MAX_LISTEN];
    int         nlisten;              /* 0: the default 127.0.0.1:2121 */
    int         write;                /* --write: uploads and changes allowed */
    const char *users;                /* --users FILE: local accounts */
    int         anonymous;            /* anonymous login allowed (--no-anonymous) */
    int         anon_write;           /* with write: anonymous may change files too */
    unsigned    pasv_lo, pasv_hi;     /* passive port range; 0,0 = any */
    const char *pasv_address;         /* address advertised by PASV (NAT) */
    unsigned    max_clients;          /* 0 = no limit other than fds */
    unsigned    max_per_ip;           /* 0 = no limit */
    unsigned    backlog;              /* listen(2) queue; the kernel caps it at somaxconn */
    unsigned long long rate_limit;    /* bytes/s per session and direction; 0 = none */
    double      login_timeout;        /* seconds, <= 0 disables */
    double      idle_timeout;
    double      data_timeout;         /* PASV/EPSV until the client connects */
    double      stall_timeout;        /* transfer without progress */
    double      drain_timeout;        /* SIGTERM: time for transfers in flight */
    unsigned    login_failures;       /* failed logins per address before closing */
    double      login_fail_delay;     /* delay after the first failure (doubles) */
    int         log_level;
    const char *xferlog;              /* transfer log path, or NULL */
    const char *metrics;              /* ADDR:PORT of the Prometheus endpoint */
    const char *model;                /* driver name, "libev" */
    int         workers;              /* event-loop workers; 0 = one per CPU */
    const char *user, *group;         /* switch to these after binding */
    int         chroot;               /* chroot to root after start-up */
    int         allow_root;           /* going on as root is acceptable */
    int         create_root;          /* create root when missing (default) */
    int         synthetic;            /* --synthetic: /synthetic/ and /discard/ */
    /* Command line only. */
    const char *config;               /* --config FILE */
    int         check_config;         /* --check-config */
};

void config_defaults(struct ferry_config *c);

/* Set one option by its long name ("pasv-ports"), from the command line
 * (value NULL for a flag given without one) or from the config file (the
 * conffile_apply_fn signature; ctx is the struct ferry_config).  Returns
 * 0, -1 with "bad value 'x' for key" in err, or CONFFILE_UNKNOWN_KEY.
 * Repeatable keys (listen) append.  value is kept, not copied. */
int config_set(void *ctx, const char *key, const char *value, char *err, size_t errlen);

/* Parse argv on top of c.  Returns 0 to go on, 1 when --help/--version
 * was printed (exit 0), -1 on an error described in err.  The first
 * --listen replaces the listen addresses c had (from a config file). */
int config_parse_args(struct ferry_config *c, int argc, char **argv,
                      char *err, size_t errlen);

/* The whole configuration: defaults, then the --config file named in
 * argv (if any), then argv itself, so that flags override the file.
 * *arena (NULL without a file) owns the file's strings: keep it as long
 * as c is used, then conffile_arena_free().  Returns as
 * config_parse_args; on -1 nothing is left allocated and err reads
 * "file:line: message" for an error in the file. */
int config_load(struct ferry_config *c, int argc, char **argv,
                struct conffile_arena **arena, char *err, size_t errlen);

/* Checks that need the whole configuration (combinations of settings).
 * 0 or -1 with err. */
int config_validate(const struct ferry_config *c, char *err, size_t errlen);

void config_usage(void);
#endif
