/* config: ferryd's settings, from the command line.
 *
 * Every setting has one field here and one flag; main() fills the struct
 * once and then every thread reads it without locking. */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include <stddef.h>

#define CONFIG_MAX_LISTEN 16

struct ferry_config {
    const char *root;                 /* folder served ("./srv") */
    const char *listen[CONFIG_MAX_LISTEN];
    int         nlisten;              /* 0: the default 127.0.0.1:2121 */
    int         write;                /* --write: uploads and changes allowed */
    unsigned    pasv_lo, pasv_hi;     /* passive port range; 0,0 = any */
    const char *pasv_address;         /* address advertised by PASV (NAT) */
    unsigned    max_clients;          /* 0 = no limit other than fds */
    unsigned    max_per_ip;           /* 0 = no limit */
    double      login_timeout;        /* seconds, <= 0 disables */
    double      idle_timeout;
    double      data_timeout;         /* PASV/EPSV until the client connects */
    double      stall_timeout;        /* transfer without progress */
    double      drain_timeout;        /* SIGTERM: time for transfers in flight */
    int         log_level;
    const char *model;                /* driver name, "libev" */
    int         workers;              /* event-loop workers; 0 = one per CPU */
    int         create_root;          /* create root when missing (default) */
    int         synthetic;            /* --synthetic: /synthetic/ and /discard/ */
};

void config_defaults(struct ferry_config *c);
/* Parse argv.  Returns 0 to go on, 1 when --help/--version was printed
 * (exit 0), -1 on an error described in err. */
int config_parse_args(struct ferry_config *c, int argc, char **argv,
                      char *err, size_t errlen);
void config_usage(void);
#endif
