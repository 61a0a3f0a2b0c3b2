/* config: ferryd's options.  One table maps each option to its field, its
 * parser and its help text, as vsftpd's parseconf.c maps names to
 * variables; the command line, the config file and --help all read it, so
 * an option cannot exist in one and be missing from another. */
#include "ferry/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/conffile.h"
#include "ferry/driver.h"
#include "ferry/listener.h"
#include "ferry/log.h"

void config_defaults(struct ferry_config *c)
{
    memset(c, 0, sizeof(*c));
    c->root = "./srv";
    c->create_root = 1;
    c->anonymous = 1;
    c->login_timeout = 30;
    c->idle_timeout = 300;
    c->data_timeout = 30;
    c->stall_timeout = 300;
    c->drain_timeout = 30;
    c->login_failures = 10;
    c->login_fail_delay = 1;
    c->log_level = LOG_INFO;
    c->model = "libev";
    c->workers = 1;
    /* Not nginx's and redis's 511: Linux caps the figure at
     * net.core.somaxconn (4096 since 5.4), so asking for that much leaves
     * the admin's sysctl in charge, and a burst of a few thousand
     * connections (a reconnect storm after a restart) is queued rather
     * than dropped into SYN retries a second or more apart. */
    c->backlog = 4096;
}

/* ---- the table --------------------------------------------------------- */

enum opt_type {
    T_STR,        /* non-empty string */
    T_BOOL,       /* flag; yes/no in the file */
    T_NOBOOL,     /* flag that clears an int ("no-anonymous") */
    T_UINT,       /* unsigned up to max */
    T_SECONDS,    /* double, 0 .. a year */
    T_PORTS,      /* LO-HI */
    T_ADDR4,      /* IPv4 address */
    T_LISTEN,     /* ADDR:PORT, repeatable */
    T_ADDRPORT,   /* ADDR:PORT, once */
    T_MODEL,
    T_LEVEL,
    T_RATE,       /* bytes per second, K/M/G suffixes */
    T_CONFIG,     /* command line only */
    T_CHECK,
    T_HELP,
    T_VERSION,
};

struct opt {
    const char *name;
    int         shortopt;     /* 0: none */
    int         type;         /* enum opt_type */
    size_t      off;          /* field in struct ferry_config */
    unsigned    max;          /* T_UINT */
    const char *arg;          /* argument name in --help */
    const char *help;         /* lines after the first are indented */
};

#define F(field) offsetof(struct ferry_config, field)

static const struct opt opts[] = {
    { "root", 'r', T_STR, F(root), 0, "DIR",
      "folder to serve (default ./srv, created if missing)" },
    { "listen", 'l', T_LISTEN, 0, 0, "ADDR:PORT",
      "address to listen on, repeatable; IPv6 as [::1]:2121\n"
      "(default 127.0.0.1:2121; ignored when systemd\n"
      "passes the listening sockets)" },
    { "write", 'w', T_BOOL, F(write), 0, NULL,
      "allow uploads and changes (STOR, APPE, DELE, MKD,\n"
      "RMD, RNFR/RNTO) to local users with perms rw;\n"
      "read-only without it" },
    { "anon-write", 0, T_BOOL, F(anon_write), 0, NULL,
      "with --write, anonymous sessions may upload and\n"
      "change files too (off: anonymous is read-only)" },
    { "users", 0, T_STR, F(users), 0, "FILE",
      "local accounts, name:crypt-hash:home:perms per line" },
    { "no-anonymous", 0, T_NOBOOL, F(anonymous), 0, NULL,
      "refuse anonymous logins (user anonymous or ftp)" },
    { "pasv-ports", 0, T_PORTS, 0, 0, "LO-HI",
      "passive data ports (default: any free port)" },
    { "pasv-address", 0, T_ADDR4, F(pasv_address), 0, "ADDR",
      "IPv4 address PASV advertises (behind NAT)" },
    { "max-clients", 0, T_UINT, F(max_clients), UINT_MAX, "N",
      "control connections in all (default 0: no limit)" },
    { "max-per-ip", 0, T_UINT, F(max_per_ip), UINT_MAX, "N",
      "connections per client address, an IPv6 /64\n"
      "counting as one (default 0: none)" },
    { "backlog", 0, T_UINT, F(backlog), 65535, "N",
      "connections the kernel queues for accept, capped\n"
      "by net.core.somaxconn (default 4096)" },
    { "rate-limit", 0, T_RATE, F(rate_limit), 0, "BYTES",
      "bytes per second per session, for downloads and\n"
      "uploads; suffixes K, M, G (binary); default 0: none" },
    { "login-timeout", 0, T_SECONDS, F(login_timeout), 0, "S",
      "seconds to log in (default 30)" },
    { "idle-timeout", 0, T_SECONDS, F(idle_timeout), 0, "S",
      "seconds without a command (default 300)" },
    { "data-timeout", 0, T_SECONDS, F(data_timeout), 0, "S",
      "seconds for a client to open a data connection (30)" },
    { "stall-timeout", 0, T_SECONDS, F(stall_timeout), 0, "S",
      "seconds a transfer may make no progress (300)" },
    { "drain-timeout", 0, T_SECONDS, F(drain_timeout), 0, "S",
      "on SIGTERM, seconds for transfers to finish (30)" },
    { "max-login-failures", 0, T_UINT, F(login_failures), 1000000, "N",
      "failed logins from one address before its\n"
      "connections are closed, until 15 minutes pass\n"
      "without one (default 10)" },
    { "login-fail-delay", 0, T_SECONDS, F(login_fail_delay), 0, "S",
      "delay of the reply to a failed login, doubling\n"
      "with each failure up to 16 times it (default 1)" },
    { "model", 'm', T_MODEL, F(model), 0, "NAME",
      "concurrency model (default libev), one of:\n" },
    { "workers", 0, T_UINT, F(workers), 1024, "N",
      "event-loop workers, each with its own listener\n"
      "(default 1; 0 = one per CPU)" },
    { "synthetic", 0, T_BOOL, F(synthetic), 0, NULL,
      "load-testing folders: /synthetic/SIZE files (e.g.\n"
      "/synthetic/4K, /synthetic/10G) made of a known\n"
      "pattern, and /discard/ which takes uploads and\n"
      "throws them away (see docs/benchmarks.md)" },
    { "log-level", 0, T_LEVEL, F(log_level), 0, "L",
      "debug, info, warn or error (default info)" },
    { "xferlog", 0, T_STR, F(xferlog), 0, "FILE",
      "transfer log, xferlog format; reopened on SIGHUP" },
    { "metrics", 0, T_ADDRPORT, F(metrics), 0, "ADDR:PORT",
      "serve Prometheus metrics at http://ADDR:PORT/metrics" },
    { "user", 0, T_STR, F(user), 0, "NAME",
      "started as root: switch to this user after binding" },
    { "group", 0, T_STR, F(group), 0, "NAME",
      "and to this group (default: the user's)" },
    { "chroot", 0, T_BOOL, F(chroot), 0, NULL,
      "confine the process to the root folder after binding" },
    { "allow-root", 0, T_BOOL, F(allow_root), 0, NULL,
      "running as root is intended: started as root\n"
      "without user, or with a user that is root,\n"
      "ferryd refuses to start otherwise" },
    { "config", 0, T_CONFIG, F(config), 0, "FILE",
      "read options from FILE (key = value, the keys are\n"
      "the long options); the command line overrides it" },
    { "check-config", 0, T_CHECK, F(check_config), 0, NULL,
      "check the configuration, the users file and the\n"
      "listen addresses, print the result, exit 0 or 2" },
    { "help", 'h', T_HELP, 0, 0, NULL, "show this help" },
    { "version", 'V', T_VERSION, 0, 0, NULL, "show the version" },
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))
#define OPT_BASE 256      /* getopt value of opts[i] is OPT_BASE + i */

static const struct opt *opt_by_name(const char *name)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strcmp(opts[i].name, name) == 0)
            return &opts[i];
    return NULL;
}

void config_usage(void)
{
    printf("Usage: ferryd [OPTION]...\nServe a folder over FTP.\n\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        char head[64], text[512];
        int bool_flag = o->type == T_BOOL;
        snprintf(head, sizeof(head), "%c%c%c --%s%s%s",
                 o->shortopt ? '-' : ' ', o->shortopt ? o->shortopt : ' ',
                 o->shortopt ? ',' : ' ', o->name,
                 o->arg ? " " : bool_flag ? "[=yes|no]" : "", o->arg ? o->arg : "");
        if (o->type == T_MODEL)
            snprintf(text, sizeof(text), "%s%s", o->help, model_names());
        else
            snprintf(text, sizeof(text), "%s", o->help);
        printf(" %-28s", head);
        if (strlen(head) > 27)
            printf("\n %-28s", "");
        for (const char *p = text; *p;) {
            const char *nl = strchrnul(p, '\n');
            printf("%.*s\n", (int)(nl - p), p);
            p = *nl ? nl + 1 : nl;
            if (*p)
                printf(" %-28s", "");
        }
    }
    printf("\n"
"Every option can be set in the --config file as \"key = value\", the key\n"
"being the long option without its dashes; options without a value take\n"
"yes or no there.  Anonymous login: user 'anonymous' or 'ftp', any\n"
"password.  A timeout of 0 disables it.  SIGHUP reloads the config and\n"
"the users file and reopens the xferlog; SIGTERM drains.  Logs go to\n"
"stderr, one key=value line per event.\n");
}

/* ---- value parsers ----------------------------------------------------- */

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || errno || v > max || s[0] == '-' || s[0] == '+' || s[0] == ' ')
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* v == v: NaN is not a number of seconds. */
    if (!*s || *end || errno || !(v == v) || v < 0 || v > 86400 * 365)
        return -1;
    *out = v;
    return 0;
}

static int parse_ports(const char *s, unsigned *lo, unsigned *hi)
{
    char tmp[32], *dash;
    if (strlen(s) >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, strlen(s) + 1);
    dash = strchr(tmp, '-');
    if (!dash)
        return -1;
    *dash = '\0';
    if (parse_uint(tmp, 65535, lo) < 0 || parse_uint(dash + 1, 65535, hi) < 0 ||
        *lo < 1024 || *hi < *lo)
        return -1;
    return 0;
}

/* "262144", "256K", "1M", "10g", each optionally followed by "/s". */
static int parse_rate(const char *s, unsigned long long *out)
{
    char *end;
    unsigned long long v, mult = 1;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    switch (*end) {
    case 'k': case 'K': mult = 1ull << 10; end++; break;
    case 'm': case 'M': mult = 1ull << 20; end++; break;
    case 'g': case 'G': mult = 1ull << 30; end++; break;
    default: break;
    }
    if (strcmp(end, "/s") == 0)
        end += 2;
    if (*end || v > (1ull << 50) / mult)
        return -1;
    *out = v * mult;
    return 0;
}

static int parse_addrport(const char *s)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char e[128];
    return listener_parse(s, &ss, &len, e, sizeof(e));
}

/* ---- setting ----------------------------------------------------------- */

int config_set(void *ctx, const char *key, const char *value, char *err, size_t errlen)
{
    struct ferry_config *c = ctx;
    const struct opt *o = opt_by_name(key);
    char *base = (char *)c;
    int b;

    if (!o)
        return CONFFILE_UNKNOWN_KEY;
    /* Every option but the flags needs a value. */
    if (!value && o->type != T_BOOL && o->type != T_NOBOOL && o->type != T_CHECK &&
        o->type != T_HELP && o->type != T_VERSION) {
        snprintf(err, errlen, "%s needs a value", key);
        return -1;
    }
    switch (o->type) {
    case T_STR:
    case T_CONFIG:
        if (!*value)
            goto bad;
        *(const char **)(void *)(base + o->off) = value;
        return 0;
    case T_BOOL:
    case T_NOBOOL:
    case T_CHECK:
        if ((b = conffile_parse_bool(value)) < 0)
            goto bad;
        *(int *)(void *)(base + o->off) = o->type == T_NOBOOL ? !b : b;
        return 0;
    case T_UINT: {
        unsigned u;
        if (parse_uint(value, o->max, &u) < 0)
            goto bad;
        if (o->off == F(workers))
            c->workers = (int)u;
        else if ((o->off == F(login_failures) || o->off == F(backlog)) && u == 0)
            goto bad;
        else
            *(unsigned *)(void *)(base + o->off) = u;
        return 0;
    }
    case T_SECONDS:
        if (parse_seconds(value, (double *)(void *)(base + o->off)) < 0)
            goto bad;
        return 0;
    case T_PORTS:
        if (parse_ports(value, &c->pasv_lo, &c->pasv_hi) < 0)
            goto bad;
        return 0;
    case T_ADDR4: {
        struct in_addr a;
        if (inet_pton(AF_INET, value, &a) != 1)
            goto bad;
        *(const char **)(void *)(base + o->off) = value;
        return 0;
    }
    case T_LISTEN:
        if (parse_addrport(value) < 0)
            goto bad;
        if (c->nlisten >= CONFIG_MAX_LISTEN) {
            snprintf(err, errlen, "too many listen addresses (at most %d)", CONFIG_MAX_LISTEN);
            return -1;
        }
        c->listen[c->nlisten++] = value;
        return 0;
    case T_ADDRPORT:
        if (parse_addrport(value) < 0)
            goto bad;
        *(const char **)(void *)(base + o->off) = value;
        return 0;
    case T_MODEL:
        if (!model_find(value)) {
            snprintf(err, errlen, "unknown model '%s' (known: %s)", value, model_names());
            return -1;
        }
        c->model = value;
        return 0;
    case T_LEVEL:
        if ((b = log_level_parse(value)) < 0)
            goto bad;
        c->log_level = b;
        return 0;
    case T_RATE:
        if (parse_rate(value, &c->rate_limit) < 0)
            goto bad;
        return 0;
    default:
        /* help and version act on the command line only; conffile
         * refuses them before they get here. */
        snprintf(err, errlen, "'%s' is a command-line option", key);
        return -1;
    }
bad:
    snprintf(err, errlen, "bad value '%s' for %s", value ? value : "", key);
    return -1;
}

/* ---- the command line ---------------------------------------------------- */

static void build_getopt(struct option *lo, char *shorts, size_t slen)
{
    size_t n = 0;
    shorts[n++] = ':';
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        int flag = o->type == T_BOOL || o->type == T_NOBOOL || o->type == T_CHECK;
        lo[i].name = o->name;
        lo[i].has_arg = o->type == T_HELP || o->type == T_VERSION ? no_argument
                      : flag ? optional_argument : required_argument;
        lo[i].flag = NULL;
        lo[i].val = OPT_BASE + (int)i;
        if (o->shortopt && n + 3 < slen) {
            shorts[n++] = (char)o->shortopt;
            /* Short flags take no value: -w, not -wyes. */
            if (lo[i].has_arg == required_argument)
                shorts[n++] = ':';
        }
    }
    memset(&lo[NOPTS], 0, sizeof(lo[NOPTS]));
    shorts[n] = '\0';
}

static const struct opt *opt_of(int val)
{
    if (val >= OPT_BASE && val < OPT_BASE + (int)NOPTS)
        return &opts[val - OPT_BASE];
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].shortopt && opts[i].shortopt == val)
            return &opts[i];
    return NULL;
}

/* One pass over argv.  apply: set the options (else only --config,
 * --help and --version are acted on, errors in the rest still reported). */
static int args_pass(struct ferry_config *c, int argc, char **argv, int apply,
                     char *err, size_t errlen)
{
    struct option lo[NOPTS + 1];
    char shorts[64];
    int opt, cli_listen = 0;

    build_getopt(lo, shorts, sizeof(shorts));
    /* 0, not 1: glibc starts over completely, permutation state too. */
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        const char *name = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
        const struct opt *o;
        if (opt == ':') {
            snprintf(err, errlen, "option '%s' needs a value", name);
            return -1;
        }
        if (opt == '?' || !(o = opt_of(opt))) {
            snprintf(err, errlen, "unknown option '%s' (see --help)", name);
            return -1;
        }
        if (o->type == T_HELP) {
            config_usage();
            return 1;
        }
        if (o->type == T_VERSION) {
            printf("ferryd %s\n", FERRY_VERSION);
            return 1;
        }
        if (!apply && o->type != T_CONFIG)
            continue;
        /* Addresses on the command line replace those of the file. */
        if (o->type == T_LISTEN && !cli_listen) {
            cli_listen = 1;
            c->nlisten = 0;
        }
        if (config_set(c, o->name, optarg, err, errlen) < 0) {
            /* config_set words it for the file ("for key"); say which flag. */
            char tmp[512];
            snprintf(tmp, sizeof(tmp), "%s", err);
            snprintf(err, errlen, "--%s: %s", o->name, tmp);
            return -1;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
        return -1;
    }
    return 0;
}

int config_parse_args(struct ferry_config *c, int argc, char **argv,
                      char *err, size_t errlen)
{
    int r = args_pass(c, argc, argv, 1, err, errlen);
    if (r == 0 && c->nlisten == 0)
        c->listen[c->nlisten++] = "127.0.0.1:2121";
    return r;
}

int config_load(struct ferry_config *c, int argc, char **argv,
                struct conffile_arena **arena, char *err, size_t errlen)
{
    struct ferry_config pre;
    int r;

    *arena = NULL;
    config_defaults(c);
    /* First pass: find --config (and act on --help) before anything is
     * set, so that the file goes under the command line. */
    config_defaults(&pre);
    r = args_pass(&pre, argc, argv, 0, err, errlen);
    if (r != 0)
        return r;
    if (pre.config &&
        conffile_load(pre.config, config_set, c, arena, err, errlen) < 0)
        return -1;
    r = config_parse_args(c, argc, argv, err, errlen);
    if (r != 0) {
        conffile_arena_free(*arena);
        *arena = NULL;
    }
    return r;
}

int config_validate(const struct ferry_config *c, char *err, size_t errlen)
{
    const struct model *m = model_find(c->model);
    if (!m) {
        snprintf(err, errlen, "unknown model '%s' (known: %s)", c->model, model_names());
        return -1;
    }
    if (c->chroot && !c->user && !c->allow_root) {
        snprintf(err, errlen, "chroot needs user (or allow-root)");
        return -1;
    }
    if (c->group && !c->user) {
        snprintf(err, errlen, "group needs user");
        return -1;
    }
    return 0;
}
