/* progress: the transfer progress bar.  See progress.h. */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ferry/ftpc.h"
#include "netio.h"

#define PROGRESS_DELAY   1.0    /* seconds before a bar appears */
#define PROGRESS_PERIOD  0.2    /* seconds between redraws */

void progress_human(char *out, size_t outsz, unsigned long long bytes)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
    double v = (double)bytes;
    int u = -1;

    if (bytes < 1024) {
        snprintf(out, outsz, "%llu B", bytes);
        return;
    }
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    snprintf(out, outsz, "%.1f %s", v, units[u]);
}

static void clock_text(char *out, size_t outsz, double s)
{
    unsigned long t = s < 0 ? 0 : (unsigned long)(s + 0.5);

    int n;

    if (t >= 3600)
        n = snprintf(out, outsz, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        n = snprintf(out, outsz, "%lu:%02lu", t / 60, t % 60);
    if (n < 0 && outsz > 0)
        out[0] = '\0';
}

void progress_format(char *out, size_t outsz, unsigned width,
                     const char *label, unsigned long long done,
                     unsigned long long total, double rate, double elapsed,
                     int final)
{
    char right[96], amount[24], speed[24], when[24];
    int known = total != FTPC_SIZE_UNKNOWN;
    size_t rl, ll, avail, cap, bar = 0, o = 0;

    if (outsz == 0)
        return;
    progress_human(amount, sizeof(amount), done);
    progress_human(speed, sizeof(speed), rate > 0 ? (unsigned long long)rate : 0);
    if (final) {
        memcpy(when, "in ", 3);
        clock_text(when + 3, sizeof(when) - 3, elapsed);
    } else if (known && rate > 0 && total >= done) {
        double eta = (double)(total - done) / rate;

        memcpy(when, "ETA ", 4);
        if (eta >= 100 * 3600)
            snprintf(when + 4, sizeof(when) - 4, ">99h");
        else
            clock_text(when + 4, sizeof(when) - 4, eta);
    } else {
        snprintf(when, sizeof(when), "%s", known ? "ETA -:--" : "");
    }
    if (known) {
        unsigned pct = total == 0 || done >= total ? 100 : (unsigned)(done * 100 / total);

        /* Fixed-width fields keep the bar from jittering as the numbers
         * change ("ETA 99:59:59" is the widest time). */
        snprintf(right, sizeof(right), "  %3u%%  %10s  %10s/s  %-12s", pct, amount, speed, when);
    } else {
        snprintf(right, sizeof(right), "  %10s  %10s/s  %s", amount, speed, when);
    }
    rl = strlen(right);
    if (rl > width)
        rl = width;

    /* The label gets at most half of what the numbers leave when a bar
     * shares the line, and never less than 12 columns if they fit. */
    avail = width - rl;
    cap = known ? avail / 2 : avail;
    if (cap < 12)
        cap = avail < 12 ? avail : 12;
    ll = strlen(label);
    if (ll > cap)
        ll = cap;
    if (known && avail >= ll + 3 + 10)
        bar = avail - ll - 3;              /* " [" bar "]" */
    if (bar > 50)
        bar = 50;

    if (ll >= outsz)
        ll = outsz - 1;
    memcpy(out + o, label, ll);
    o += ll;
    if (bar > 0 && o + bar + 4 < outsz) {
        size_t fill = total == 0 ? bar : (size_t)((double)bar * (double)(done > total ? total : done) /
                                                  (double)total);
        size_t i;

        out[o++] = ' ';
        out[o++] = '[';
        for (i = 0; i < bar; i++)
            out[o++] = i < fill ? '=' : (i == fill ? '>' : ' ');
        out[o++] = ']';
    }
    if (o + rl >= outsz)
        rl = outsz - 1 - o;
    memcpy(out + o, right, rl);
    o += rl;
    out[o] = '\0';
}

static unsigned term_width(void)
{
    struct winsize ws;

    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
    return 80;
}

static void draw(struct progress *p, double now, int final)
{
    char line[512];
    double elapsed = now - p->t0;
    double rate = elapsed > 0 ? (double)(p->done - p->start) / elapsed : 0;
    unsigned width = term_width() - 1;   /* the last column makes some
                                            terminals wrap */

    if (width >= sizeof(line))
        width = sizeof(line) - 1;
    progress_format(line, sizeof(line), width, p->label, p->done, p->total,
                    rate, elapsed, final);
    /* "\r" back to column 0, "\033[K" clears what a longer line left. */
    fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
    fflush(stderr);
    p->drawn = 1;
    p->last = now;
}

void progress_begin(struct progress *p, const char *label,
                    unsigned long long start, unsigned long long total,
                    int enabled)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->label, sizeof(p->label), "%s", label);
    p->enabled = enabled;
    p->start = start;
    p->done = start;
    p->total = total;
    p->t0 = net_now();
}

void progress_update(void *arg, unsigned long long done, unsigned long long total)
{
    struct progress *p = arg;
    double now;

    p->done = done;
    if (total != FTPC_SIZE_UNKNOWN)
        p->total = total;
    if (!p->enabled)
        return;
    now = net_now();
    if (now - p->t0 < PROGRESS_DELAY || now - p->last < PROGRESS_PERIOD)
        return;
    draw(p, now, 0);
}

void progress_end(struct progress *p)
{
    if (p->enabled && p->drawn)
        draw(p, net_now(), 1);
}
