/* config: ferryd's command line.  A table maps each flag to its field,
 * as vsftpd's parseconf.c maps names to variables. */
#include "ferry/config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/driver.h"
#include "ferry/log.h"

void config_defaults(struct ferry_config *c)
{
    memset(c, 0, sizeof(*c));
    c->root = "./srv";
    c->create_root = 1;
    c->login_timeout = 30;
    c->idle_timeout = 300;
    c->data_timeout = 30;
    c->stall_timeout = 300;
    c->drain_timeout = 30;
    c->log_level = LOG_INFO;
    c->model = "libev";
    c->workers = 1;
}

void config_usage(void)
{
    printf(
"Usage: ferryd [OPTION]...\n"
"Serve a folder over FTP.\n"
"\n"
"  -r, --root DIR            folder to serve (default ./srv, created if missing)\n"
"  -l, --listen ADDR:PORT    address to listen on, repeatable; IPv6 as [::1]:2121\n"
"                            (default 127.0.0.1:2121)\n"
"  -w, --write               allow uploads and changes (STOR, APPE, DELE, MKD,\n"
"                            RMD, RNFR/RNTO); read-only without it\n"
"      --pasv-ports LO-HI    passive data ports (default: any free port)\n"
"      --pasv-address ADDR   IPv4 address PASV advertises (behind NAT)\n"
"      --max-clients N       control connections in all (default: no limit)\n"
"      --max-per-ip N        control connections per client address (default: none)\n"
"      --login-timeout S     seconds to log in (default 30)\n"
"      --idle-timeout S      seconds without a command (default 300)\n"
"      --data-timeout S      seconds for the client to open a data connection (30)\n"
"      --stall-timeout S     seconds a transfer may make no progress (300)\n"
"      --drain-timeout S     on SIGTERM, seconds for transfers to finish (30)\n"
"  -m, --model NAME          concurrency model: %s (default libev)\n"
"      --workers N           event-loop workers, each with its own listener\n"
"                            (default 1; 0 = one per CPU)\n"
"      --synthetic           load-testing folders: /synthetic/SIZE files (e.g.\n"
"                            /synthetic/4K, /synthetic/10G) made of a known\n"
"                            pattern, and /discard/ which takes uploads and\n"
"                            throws them away (see docs/benchmarks.md)\n"
"      --log-level L         debug, info, warn or error (default info)\n"
"  -h, --help                show this help\n"
"  -V, --version             show the version\n"
"\n"
"Anonymous login: user 'anonymous' or 'ftp', any password.  A timeout of 0\n"
"disables it.  Logs go to stderr, one key=value line per event.\n",
        model_names());
}

enum {
    OPT_PASV_PORTS = 256, OPT_PASV_ADDRESS, OPT_MAX_CLIENTS,
    OPT_MAX_PER_IP, OPT_LOGIN_TMO, OPT_IDLE_TMO, OPT_DATA_TMO, OPT_STALL_TMO,
    OPT_DRAIN_TMO, OPT_WORKERS, OPT_LOG_LEVEL, OPT_SYNTHETIC,
};

static const struct option long_opts[] = {
    { "root",          required_argument, NULL, 'r' },
    { "listen",        required_argument, NULL, 'l' },
    { "write",         no_argument,       NULL, 'w' },
    { "pasv-ports",    required_argument, NULL, OPT_PASV_PORTS },
    { "pasv-address",  required_argument, NULL, OPT_PASV_ADDRESS },
    { "max-clients",   required_argument, NULL, OPT_MAX_CLIENTS },
    { "max-per-ip",    required_argument, NULL, OPT_MAX_PER_IP },
    { "login-timeout", required_argument, NULL, OPT_LOGIN_TMO },
    { "idle-timeout",  required_argument, NULL, OPT_IDLE_TMO },
    { "data-timeout",  required_argument, NULL, OPT_DATA_TMO },
    { "stall-timeout", required_argument, NULL, OPT_STALL_TMO },
    { "drain-timeout", required_argument, NULL, OPT_DRAIN_TMO },
    { "model",         required_argument, NULL, 'm' },
    { "workers",       required_argument, NULL, OPT_WORKERS },
    { "log-level",     required_argument, NULL, OPT_LOG_LEVEL },
    { "synthetic",     no_argument,       NULL, OPT_SYNTHETIC },
    { "help",          no_argument,       NULL, 'h' },
    { "version",       no_argument,       NULL, 'V' },
    { NULL, 0, NULL, 0 },
};

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || errno || v > max || s[0] == '-')
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || v < 0 || v > 86400 * 365)
        return -1;
    *out = v;
    return 0;
}

int config_parse_args(struct ferry_config *c, int argc, char **argv,
                      char *err, size_t errlen)
{
    int opt;
    unsigned u;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":r:l:wm:hV", long_opts, NULL)) != -1) {
        const char *name = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
        switch (opt) {
        case 'r': c->root = optarg; break;
        case 'l':
            if (c->nlisten >= CONFIG_MAX_LISTEN) {
                snprintf(err, errlen, "too many --listen (at most %d)", CONFIG_MAX_LISTEN);
                return -1;
            }
            c->listen[c->nlisten++] = optarg;
            break;
        case 'w': c->write = 1; break;
        case OPT_PASV_PORTS: {
            unsigned lo, hi;
            char tmp[32], *dash;
            snprintf(tmp, sizeof(tmp), "%s", optarg);
            dash = strchr(tmp, '-');
            if (!dash)
                goto bad;
            *dash = '\0';
            if (parse_uint(tmp, 65535, &lo) < 0 || parse_uint(dash + 1, 65535, &hi) < 0 ||
                lo < 1024 || hi < lo)
                goto bad;
            c->pasv_lo = lo;
            c->pasv_hi = hi;
            break;
        }
        case OPT_PASV_ADDRESS: c->pasv_address = optarg; break;
        case OPT_MAX_CLIENTS:
            if (parse_uint(optarg, UINT_MAX, &c->max_clients) < 0) goto bad;
            break;
        case OPT_MAX_PER_IP:
            if (parse_uint(optarg, UINT_MAX, &c->max_per_ip) < 0) goto bad;
            break;
        case OPT_LOGIN_TMO: if (parse_seconds(optarg, &c->login_timeout) < 0) goto bad; break;
        case OPT_IDLE_TMO:  if (parse_seconds(optarg, &c->idle_timeout) < 0) goto bad; break;
        case OPT_DATA_TMO:  if (parse_seconds(optarg, &c->data_timeout) < 0) goto bad; break;
        case OPT_STALL_TMO: if (parse_seconds(optarg, &c->stall_timeout) < 0) goto bad; break;
        case OPT_DRAIN_TMO: if (parse_seconds(optarg, &c->drain_timeout) < 0) goto bad; break;
        case 'm':
            if (!model_find(optarg)) {
                snprintf(err, errlen, "unknown model '%s' (known: %s)", optarg, model_names());
                return -1;
            }
            c->model = optarg;
            break;
        case OPT_WORKERS:
            if (parse_uint(optarg, 1024, &u) < 0) goto bad;
            c->workers = (int)u;
            break;
        case OPT_SYNTHETIC: c->synthetic = 1; break;
        case OPT_LOG_LEVEL:
            if ((c->log_level = log_level_parse(optarg)) < 0) goto bad;
            break;
        case 'h': config_usage(); return 1;
        case 'V': printf("ferryd %s\n", FERRY_VERSION); return 1;
        case ':':
            snprintf(err, errlen, "option '%s' needs a value", name);
            return -1;
        default:
            snprintf(err, errlen, "unknown option '%s' (see --help)", name);
            return -1;
        bad:
            snprintf(err, errlen, "bad value '%s' for %s", optarg, name);
            return -1;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
        return -1;
    }
    if (c->nlisten == 0)
        c->listen[c->nlisten++] = "127.0.0.1:2121";
    return 0;
}
