/* opts: ferry-bench's command line. */
#include "opts.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FERRY_VERSION
#define FERRY_VERSION "0"
#endif

static const char usage_text[] =
"usage: ferry-bench [options]\n"
"       ferry-bench --make-file PATH --size N\n"
"\n"
"A load generator that speaks FTP to any server.\n"
"\n"
"Target:\n"
"  -H, --host ADDR          server address (default 127.0.0.1; ::1 works)\n"
"  -p, --port N             control port (default 21)\n"
"      --user NAME          (default anonymous)\n"
"      --pass WORD          (default ferry-bench@)\n"
"      --passive pasv|epsv  passive mode (default epsv)\n"
"      --pasv-use-address   connect data to the address in 227, not --host\n"
"\n"
"Load:\n"
"  -w, --workload NAME      noop, get, put, list, mixed, churn, idle (default noop)\n"
"  -c, --clients N          concurrent sessions (default 1)\n"
"  -t, --threads N          event loops, one per thread (default 1)\n"
"  -d, --duration S         seconds measured, after ramp and warm-up (default 10)\n"
"  -n, --requests N         stop after N requests (with -d: whichever first)\n"
"  -r, --rate R             open loop: R requests/s for the whole run, latency\n"
"                           measured from each request's scheduled time\n"
"      --ramp R             open at most R connections/s at start (default 2000,\n"
"                           0: no limit)\n"
"      --warmup S           seconds after the ramp before measuring starts\n"
"                           (default 1; none for idle, nor for --requests\n"
"                           without --rate, which counts from the start)\n"
"      --connect-timeout S  (default 5)\n"
"      --timeout S          a request that makes no progress for S seconds\n"
"                           fails (default 10)\n"
"\n"
"Workloads:\n"
"      --files PATTERN      names to download, e.g. 'f{0000..0999}.bin' (repeatable)\n"
"      --file-list FILE     names to download, one per line\n"
"      --size N             get: expected size (else SIZE is asked once per file);\n"
"                           put: bytes per upload (default 4K); K, M, G suffixes\n"
"      --verify-pattern     check downloaded bytes against ferry's pattern\n"
"      --path DIR           list: folder to list (default: the login folder)\n"
"      --list-cmd list|mlsd (default list)\n"
"      --expect-entries N   list: fail a listing that has not exactly N entries\n"
"      --put-dir DIR        put: folder for uploads (default: the login folder)\n"
"      --put-prefix NAME    put: upload name prefix (default ferry-bench)\n"
"      --mix SPEC           mixed: weights (default get=70,list=20,put=10)\n"
"\n"
"Output:\n"
"      --json               one JSON object on stdout at the end\n"
"  -q, --quiet              no progress lines on stderr\n"
"      --allow-errors       exit 0 even when requests failed\n"
"      --make-file PATH     write a file of --size pattern bytes and exit\n"
"  -h, --help, -V, --version\n";

enum {
    O_USER = 256, O_PASS, O_PASSIVE, O_PASV_ADDR, O_RAMP, O_CTIMEOUT,
    O_TIMEOUT, O_FILES, O_FILE_LIST, O_SIZE, O_VERIFY, O_PATH, O_LIST_CMD,
    O_EXPECT, O_PUT_DIR, O_PUT_PREFIX, O_MIX, O_JSON, O_ALLOW, O_MAKE, O_WARMUP,
};

static const struct option longopts[] = {
    { "host",            required_argument, NULL, 'H' },
    { "port",            required_argument, NULL, 'p' },
    { "user",            required_argument, NULL, O_USER },
    { "pass",            required_argument, NULL, O_PASS },
    { "passive",         required_argument, NULL, O_PASSIVE },
    { "pasv-use-address", no_argument,      NULL, O_PASV_ADDR },
    { "workload",        required_argument, NULL, 'w' },
    { "clients",         required_argument, NULL, 'c' },
    { "threads",         required_argument, NULL, 't' },
    { "duration",        required_argument, NULL, 'd' },
    { "requests",        required_argument, NULL, 'n' },
    { "rate",            required_argument, NULL, 'r' },
    { "ramp",            required_argument, NULL, O_RAMP },
    { "warmup",          required_argument, NULL, O_WARMUP },
    { "connect-timeout", required_argument, NULL, O_CTIMEOUT },
    { "timeout",         required_argument, NULL, O_TIMEOUT },
    { "files",           required_argument, NULL, O_FILES },
    { "file-list",       required_argument, NULL, O_FILE_LIST },
    { "size",            required_argument, NULL, O_SIZE },
    { "verify-pattern",  no_argument,       NULL, O_VERIFY },
    { "path",            required_argument, NULL, O_PATH },
    { "list-cmd",        required_argument, NULL, O_LIST_CMD },
    { "expect-entries",  required_argument, NULL, O_EXPECT },
    { "put-dir",         required_argument, NULL, O_PUT_DIR },
    { "put-prefix",      required_argument, NULL, O_PUT_PREFIX },
    { "mix",             required_argument, NULL, O_MIX },
    { "json",            no_argument,       NULL, O_JSON },
    { "quiet",           no_argument,       NULL, 'q' },
    { "allow-errors",    no_argument,       NULL, O_ALLOW },
    { "make-file",       required_argument, NULL, O_MAKE },
    { "help",            no_argument,       NULL, 'h' },
    { "version",         no_argument,       NULL, 'V' },
    { NULL, 0, NULL, 0 },
};

static const char *const workload_names[] = {
    [WL_NOOP] = "noop", [WL_GET] = "get", [WL_PUT] = "put",
    [WL_LIST] = "list", [WL_MIXED] = "mixed", [WL_CHURN] = "churn",
    [WL_IDLE] = "idle",
};

static const char *const op_names[] = {
    [OP_NOOP] = "noop", [OP_GET] = "get", [OP_PUT] = "put",
    [OP_LIST] = "list", [OP_CHURN] = "churn", [OP_LOGIN] = "login",
};

static const char *const mix_names[] = {
    [MIX_GET] = "get", [MIX_LIST] = "list", [MIX_PUT] = "put",
};

const char *workload_name(enum workload w)
{
    return workload_names[w];
}

const char *op_name(enum op op)
{
    return op_names[op];
}

static int parse_uint(const char *s, unsigned long long max,
                      unsigned long long *out)
{
    char *end;
    if (*s == '-' || *s == '\0')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_secs(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v) || v < 0 || v > 1e7)
        return -1;
    *out = v;
    return 0;
}

int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        return -1;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0)
        return -1;
    double mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'B')  /* "4KiB", "4KB": same thing here */
        end += (end[0] == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end != '\0')
        return -1;
    v *= mult;
    if (v > 9.0e18 || v != floor(v))
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static int parse_mix(const char *spec, unsigned mix[MIX_COUNT])
{
    unsigned w[MIX_COUNT] = { 0, 0, 0 };
    const char *p = spec;
    while (*p) {
        const char *eq = strchr(p, '=');
        if (!eq)
            return -1;
        size_t klen = (size_t)(eq - p);
        int k = -1;
        for (int i = 0; i < MIX_COUNT; i++)
            if (strlen(mix_names[i]) == klen && memcmp(p, mix_names[i], klen) == 0)
                k = i;
        if (k < 0)
            return -1;
        char *end;
        errno = 0;
        unsigned long v = strtoul(eq + 1, &end, 10);
        if (errno || end == eq + 1 || v > 1000000 || (*end != ',' && *end != '\0'))
            return -1;
        w[k] = (unsigned)v;
        p = *end == ',' ? end + 1 : end;
    }
    if (w[MIX_GET] + w[MIX_LIST] + w[MIX_PUT] == 0)
        return -1;
    memcpy(mix, w, sizeof w);
    return 0;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

int opts_parse(struct bench_opts *o, int argc, char **argv,
               char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 21;
    o->user = "anonymous";
    o->pass = "ferry-bench@";
    o->workload = WL_NOOP;
    o->clients = 1;
    o->threads = 1;
    o->duration = 10.0;
    o->epsv = 1;
    o->connect_timeout = 5.0;
    o->timeout = 10.0;
    o->ramp = 2000.0;
    o->warmup = 1.0;
    o->path = "";
    o->expect_entries = -1;
    o->put_dir = "";
    o->put_prefix = "ferry-bench";
    o->mix[MIX_GET] = 70;
    o->mix[MIX_LIST] = 20;
    o->mix[MIX_PUT] = 10;

    unsigned long long u;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":H:p:w:c:t:d:n:r:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'H': o->host = optarg; break;
        case 'p':
            if (parse_uint(optarg, 65535, &u) < 0 || u == 0)
                FAIL("--port: expected 1..65535, got '%s'", optarg);
            o->port = (unsigned)u;
            break;
        case O_USER: o->user = optarg; break;
        case O_PASS: o->pass = optarg; break;
        case O_PASSIVE:
            if (strcasecmp(optarg, "epsv") == 0)
                o->epsv = 1;
            else if (strcasecmp(optarg, "pasv") == 0)
                o->epsv = 0;
            else
                FAIL("--passive: expected pasv or epsv, got '%s'", optarg);
            break;
        case O_PASV_ADDR: o->pasv_use_address = 1; break;
        case 'w': {
            int found = -1;
            for (int i = 0; i <= WL_IDLE; i++)
                if (strcmp(optarg, workload_names[i]) == 0)
                    found = i;
            if (found < 0)
                FAIL("--workload: unknown '%s'", optarg);
            o->workload = (enum workload)found;
            break;
        }
        case 'c':
            if (parse_uint(optarg, 1000000, &u) < 0 || u == 0)
                FAIL("--clients: expected 1..1000000, got '%s'", optarg);
            o->clients = (unsigned)u;
            break;
        case 't':
            if (parse_uint(optarg, 256, &u) < 0 || u == 0)
                FAIL("--threads: expected 1..256, got '%s'", optarg);
            o->threads = (unsigned)u;
            break;
        case 'd':
            if (parse_secs(optarg, &o->duration) < 0 || o->duration <= 0)
                FAIL("--duration: expected seconds > 0, got '%s'", optarg);
            o->duration_set = 1;
            break;
        case 'n':
            if (parse_uint(optarg, UINT64_MAX / 2, &u) < 0 || u == 0)
                FAIL("--requests: expected a count > 0, got '%s'", optarg);
            o->requests = u;
            break;
        case 'r':
            if (parse_secs(optarg, &o->rate) < 0 || o->rate <= 0)
                FAIL("--rate: expected requests/s > 0, got '%s'", optarg);
            break;
        case O_RAMP:
            if (parse_secs(optarg, &o->ramp) < 0)
                FAIL("--ramp: expected connections/s >= 0, got '%s'", optarg);
            break;
        case O_WARMUP:
            if (parse_secs(optarg, &o->warmup) < 0)
                FAIL("--warmup: expected seconds >= 0, got '%s'", optarg);
            break;
        case O_CTIMEOUT:
            if (parse_secs(optarg, &o->connect_timeout) < 0 || o->connect_timeout <= 0)
                FAIL("--connect-timeout: expected seconds > 0, got '%s'", optarg);
            break;
        case O_TIMEOUT:
            if (parse_secs(optarg, &o->timeout) < 0 || o->timeout <= 0)
                FAIL("--timeout: expected seconds > 0, got '%s'", optarg);
            break;
        case O_FILES:
            if (files_add_pattern(&o->files, optarg, err, errlen) < 0)
                return -1;
            break;
        case O_FILE_LIST:
            if (files_add_list(&o->files, optarg, err, errlen) < 0)
                return -1;
            break;
        case O_SIZE:
            if (parse_size(optarg, &o->size) < 0)
                FAIL("--size: expected bytes (K, M, G suffixes), got '%s'", optarg);
            o->size_set = 1;
            break;
        case O_VERIFY: o->verify = 1; break;
        case O_PATH: o->path = optarg; break;
        case O_LIST_CMD:
            if (strcasecmp(optarg, "mlsd") == 0)
                o->mlsd = 1;
            else if (strcasecmp(optarg, "list") == 0)
                o->mlsd = 0;
            else
                FAIL("--list-cmd: expected list or mlsd, got '%s'", optarg);
            break;
        case O_EXPECT:
            if (parse_uint(optarg, 1000000000, &u) < 0)
                FAIL("--expect-entries: expected a count, got '%s'", optarg);
            o->expect_entries = (long long)u;
            break;
        case O_PUT_DIR: o->put_dir = optarg; break;
        case O_PUT_PREFIX:
            if (*optarg == '\0' || strchr(optarg, '/'))
                FAIL("--put-prefix: a name without '/', got '%s'", optarg);
            o->put_prefix = optarg;
            break;
        case O_MIX:
            if (parse_mix(optarg, o->mix) < 0)
                FAIL("--mix: expected e.g. get=70,list=20,put=10, got '%s'", optarg);
            break;
        case O_JSON: o->json = 1; break;
        case 'q': o->quiet = 1; break;
        case O_ALLOW: o->allow_errors = 1; break;
        case O_MAKE: o->make_file = optarg; break;
        case 'h':
            fputs(usage_text, stdout);
            return 1;
        case 'V':
            printf("ferry-bench %s\n", FERRY_VERSION);
            return 1;
        case ':':
            FAIL("%s needs an argument", argv[optind - 1]);
        default:
            FAIL("unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind < argc)
        FAIL("unexpected argument '%s'", argv[optind]);

    if (o->make_file) {
        if (!o->size_set)
            FAIL("--make-file needs --size");
        return 0;
    }

    int wants_files = o->workload == WL_GET || o->workload == WL_CHURN ||
                      (o->workload == WL_MIXED && o->mix[MIX_GET] > 0);
    if (wants_files && o->files.n == 0)
        FAIL("workload %s needs --files or --file-list", workload_names[o->workload]);
    if (o->workload == WL_IDLE && (o->requests || o->rate > 0))
        FAIL("workload idle holds connections for --duration; "
             "--requests and --rate do not apply");
    /* put sends --size bytes, 4K by default; get reads o->size only when
     * size_set, and asks SIZE otherwise */
    if (!o->size_set)
        o->size = 4096;
    if (o->workload == WL_MIXED && o->mix[MIX_PUT] && wants_files && o->size_set)
        FAIL("mixed with get and put: --size would mean two things; "
             "leave it out (get asks SIZE, put sends 4K)");
    if (o->threads > o->clients)
        o->threads = o->clients;
    return 0;
}

void opts_free(struct bench_opts *o)
{
    files_free(&o->files);
}
