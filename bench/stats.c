/* stats: merging per-thread counters and printing the report. */
#include "stats.h"

#include <inttypes.h>
#include <string.h>

static const char *const err_names[ERR_COUNT] = {
    [ERR_CONNECT_REFUSED] = "connect_refused",
    [ERR_CONNECT_TIMEOUT] = "connect_timeout",
    [ERR_CONNECT_OTHER]   = "connect_other",
    [ERR_RESET]           = "reset",
    [ERR_BAD_REPLY]       = "bad_reply",
    [ERR_SHORT_TRANSFER]  = "short_transfer",
    [ERR_VERIFY]          = "verify_failed",
    [ERR_TIMEOUT]         = "timeout",
};

const char *err_kind_name(enum err_kind k)
{
    return err_names[k];
}

void stats_merge(struct stats *dst, const struct stats *src)
{
    for (int i = 0; i < OP_COUNT; i++)
        dst->ok[i] += src->ok[i];
    for (int i = 0; i < ERR_COUNT; i++)
        dst->err[i] += src->err[i];
    dst->bytes += src->bytes;
    dst->ok_all += src->ok_all;
    dst->abandoned += src->abandoned;
    dst->unsent += src->unsent;
    dst->connects += src->connects;
    dst->logins += src->logins;
    dst->idle_accepted += src->idle_accepted;
    dst->idle_dropped += src->idle_dropped;
    dst->idle_kept += src->idle_kept;
    if (dst->hist && src->hist)
        hist_merge(dst->hist, src->hist);
}

uint64_t stats_errors(const struct stats *s)
{
    uint64_t n = 0;
    for (int i = 0; i < ERR_COUNT; i++)
        n += s->err[i];
    return n;
}

uint64_t stats_ok(const struct stats *s)
{
    uint64_t n = 0;
    for (int i = 0; i < OP_COUNT; i++)
        n += s->ok[i];
    return n;
}

static double per_sec(uint64_t n, double secs)
{
    return secs > 0 ? (double)n / secs : 0.0;
}

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

static double cpu_us_per_request(const struct report *r)
{
    return r->s.ok_all ? (r->cpu_user + r->cpu_sys) * 1e6 / (double)r->s.ok_all : 0.0;
}

static const struct {
    const char *label, *json;
    double p;
} pcts[] = {
    { "p50", "p50", 50.0 }, { "p90", "p90", 90.0 }, { "p99", "p99", 99.0 },
    { "p99.9", "p99_9", 99.9 },
};

void report_text(FILE *f, const struct report *r)
{
    const struct bench_opts *o = r->o;
    const struct stats *s = &r->s;
    uint64_t ok = stats_ok(s), errs = stats_errors(s);

    fprintf(f, "ferry-bench %s: %s, %u client%s, %u thread%s, ",
            workload_name(o->workload), r->target, o->clients,
            o->clients == 1 ? "" : "s", o->threads, o->threads == 1 ? "" : "s");
    if (o->rate > 0)
        fprintf(f, "open loop at %.0f req/s\n", o->rate);
    else
        fprintf(f, "closed loop\n");
    if (o->workload == WL_IDLE)
        fprintf(f, "  held        %.2f s, once all logins had ended (%.2f s in all,"
                " ramp %.2f s)\n", r->elapsed, r->wall, r->ramp);
    else
        fprintf(f, "  measured    %.2f s of %.2f s in all (ramp %.2f s, warm-up %.2f s)\n",
                r->elapsed, r->wall, r->ramp, r->warmup);
    if (o->workload == WL_IDLE) {
        fprintf(f, "  idle        %u wanted, %" PRIu64 " accepted, %" PRIu64
                " dropped while held, %" PRIu64 " kept (answered NOOP at the end)\n",
                o->clients, s->idle_accepted, s->idle_dropped, s->idle_kept);
        fprintf(f, "  logins      %" PRIu64 " (latency below is connect to logged in)\n", ok);
    } else {
        fprintf(f, "  requests    %" PRIu64 " ok (%.1f/s)", ok, per_sec(ok, r->elapsed));
        if (o->workload == WL_MIXED)
            fprintf(f, "  [get %" PRIu64 ", list %" PRIu64 ", put %" PRIu64 "]",
                    s->ok[OP_GET], s->ok[OP_LIST], s->ok[OP_PUT]);
        fputc('\n', f);
        fprintf(f, "  transfer    %" PRIu64 " bytes (%.2f MB/s)\n", s->bytes,
                per_sec(s->bytes, r->elapsed) / 1e6);
    }
    if (s->abandoned)
        fprintf(f, "  in flight   %" PRIu64 " at the end (not counted)\n", s->abandoned);
    if (s->unsent)
        fprintf(f, "  unsent      %" PRIu64 " due by --rate but never started: no free"
                " client (the server, or --clients, could not keep up)\n", s->unsent);
    fprintf(f, "  errors      %" PRIu64, errs);
    for (int i = 0; i < ERR_COUNT; i++)
        if (s->err[i])
            fprintf(f, "  %s %" PRIu64, err_names[i], s->err[i]);
    fputc('\n', f);
    if (s->hist && s->hist->count) {
        fprintf(f, "  latency us  min %.1f", us(s->hist->min));
        for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++)
            fprintf(f, "  %s %.1f", pcts[i].label, us(hist_percentile(s->hist, pcts[i].p)));
        fprintf(f, "  max %.1f  mean %.1f\n", us(s->hist->max), hist_mean(s->hist) / 1000.0);
    }
    fprintf(f, "  connections %" PRIu64 " opened, %" PRIu64 " logged in%s\n",
            s->connects, s->logins,
            r->spread ? " (source addresses spread over 127.0.0.2-254)" : "");
    fprintf(f, "  bench cpu   %.2f s user + %.2f s sys = %.2f cores busy of %u thread%s"
            " (busiest thread %.0f%%); %.1f us per request\n",
            r->cpu_user, r->cpu_sys,
            r->wall > 0 ? (r->cpu_user + r->cpu_sys) / r->wall : 0.0,
            o->threads, o->threads == 1 ? "" : "s", r->cpu_busiest * 100.0,
            cpu_us_per_request(r));
    if (r->interrupted)
        fprintf(f, "  interrupted: stopped early by a signal\n");
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void report_json(FILE *f, const struct report *r)
{
    const struct bench_opts *o = r->o;
    const struct stats *s = &r->s;
    uint64_t ok = stats_ok(s);

    fprintf(f, "{\"tool\":\"ferry-bench\",\"workload\":");
    json_str(f, workload_name(o->workload));
    fprintf(f, ",\"target\":");
    json_str(f, r->target);
    fprintf(f, ",\"clients\":%u,\"threads\":%u,\"rate\":%.3f,\"passive\":\"%s\"",
            o->clients, o->threads, o->rate, o->epsv ? "epsv" : "pasv");
    fprintf(f, ",\"elapsed_s\":%.6f,\"ramp_s\":%.6f,\"warmup_s\":%.6f,\"wall_s\":%.6f",
            r->elapsed, r->ramp, r->warmup, r->wall);
    /* idle: the requests are the logins, and a rate of them means nothing */
    fprintf(f, ",\"requests\":%" PRIu64 ",\"requests_per_s\":%.3f", ok,
            o->workload == WL_IDLE ? 0.0 : per_sec(ok, r->elapsed));
    fprintf(f, ",\"by_op\":{");
    int first = 1;
    for (int i = 0; i < OP_COUNT; i++) {
        if (!s->ok[i])
            continue;
        fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",", op_name((enum op)i), s->ok[i]);
        first = 0;
    }
    fprintf(f, "},\"bytes\":%" PRIu64 ",\"mb_per_s\":%.3f", s->bytes,
            per_sec(s->bytes, r->elapsed) / 1e6);
    fprintf(f, ",\"errors\":%" PRIu64 ",\"errors_by_kind\":{", stats_errors(s));
    for (int i = 0; i < ERR_COUNT; i++)
        fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", err_names[i], s->err[i]);
    fprintf(f, "},\"unsent\":%" PRIu64 ",\"abandoned\":%" PRIu64, s->unsent, s->abandoned);
    fprintf(f, ",\"latency_us\":{");
    if (s->hist && s->hist->count) {
        fprintf(f, "\"count\":%" PRIu64 ",\"min\":%.3f", s->hist->count, us(s->hist->min));
        for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++)
            fprintf(f, ",\"%s\":%.3f", pcts[i].json, us(hist_percentile(s->hist, pcts[i].p)));
        fprintf(f, ",\"max\":%.3f,\"mean\":%.3f", us(s->hist->max), hist_mean(s->hist) / 1000.0);
    } else {
        fprintf(f, "\"count\":0");
    }
    fprintf(f, "},\"connections\":{\"opened\":%" PRIu64 ",\"logged_in\":%" PRIu64
            ",\"spread\":%s,\"nofile\":%" PRIu64 "}",
            s->connects, s->logins, r->spread ? "true" : "false", r->nofile);
    if (o->workload == WL_IDLE)
        fprintf(f, ",\"idle\":{\"wanted\":%u,\"accepted\":%" PRIu64 ",\"dropped\":%" PRIu64
                ",\"kept\":%" PRIu64 "}",
                o->clients, s->idle_accepted, s->idle_dropped, s->idle_kept);
    fprintf(f, ",\"cpu\":{\"user_s\":%.3f,\"sys_s\":%.3f,\"cores\":%.3f,"
            "\"busiest_thread\":%.3f,\"us_per_request\":%.3f}",
            r->cpu_user, r->cpu_sys,
            r->wall > 0 ? (r->cpu_user + r->cpu_sys) / r->wall : 0.0,
            r->cpu_busiest, cpu_us_per_request(r));
    fprintf(f, ",\"interrupted\":%s", r->interrupted ? "true" : "false");
    fprintf(f, "}\n");
}
