/* opts: ferry-bench's command line, parsed into one read-only struct. */
#ifndef FERRY_BENCH_OPTS_H
#define FERRY_BENCH_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "files.h"

enum workload {
    WL_NOOP, WL_GET, WL_PUT, WL_LIST, WL_MIXED, WL_CHURN, WL_IDLE,
};

/* What one request does.  A mixed run draws get, list or put per request. */
enum op {
    OP_NOOP, OP_GET, OP_PUT, OP_LIST, OP_CHURN, OP_LOGIN,
    OP_COUNT
};

enum { MIX_GET, MIX_LIST, MIX_PUT, MIX_COUNT };

struct bench_opts {
    const char   *host;            /* --host, default 127.0.0.1 */
    unsigned      port;            /* --port, default 21 */
    const char   *user, *pass;     /* anonymous by default */
    enum workload workload;
    unsigned      clients;         /* concurrent sessions */
    unsigned      threads;         /* event loops */
    double        duration;        /* seconds of measurement (or idle hold) */
    int           duration_set;
    uint64_t      requests;        /* 0: bounded by duration only */
    double        rate;            /* requests/s for the whole run; 0: closed loop */
    int           epsv;            /* 1: EPSV, 0: PASV */
    int           pasv_use_address;/* connect to 227's address, not --host */
    double        connect_timeout; /* seconds */
    double        timeout;         /* seconds without progress on a request */
    double        ramp;            /* new connections per second; 0: no limit */
    double        warmup;          /* seconds after the ramp not measured */
    struct file_set files;         /* names for get and churn */
    uint64_t      size;            /* get: expected size; put: bytes sent */
    int           size_set;
    int           verify;          /* --verify-pattern */
    const char   *path;            /* list: the folder ("" for the cwd) */
    int           mlsd;            /* list with MLSD instead of LIST */
    long long     expect_entries;  /* list: -1 or the exact entry count */
    const char   *put_dir;         /* put: folder for the uploads ("" cwd) */
    const char   *put_prefix;      /* put: name prefix */
    unsigned      mix[MIX_COUNT];  /* weights for mixed */
    int           json, quiet, allow_errors;
    const char   *make_file;       /* --make-file: write a pattern file, exit */
};

/* 0: run.  1: help or version was printed, exit 0.  -1: err holds the
 * reason, exit 2.  The strings in o point into argv (or are literals);
 * opts_free releases the file set. */
int opts_parse(struct bench_opts *o, int argc, char **argv,
               char *err, size_t errlen);
void opts_free(struct bench_opts *o);

const char *workload_name(enum workload w);
const char *op_name(enum op op);

/* "4096", "4K", "1.5M", "10G" (binary multiples) -> bytes.  0 or -1. */
int parse_size(const char *s, uint64_t *out);

#endif
