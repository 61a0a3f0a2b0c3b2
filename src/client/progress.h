/* progress: the transfer progress bar on stderr.
 *
 * A bar appears only for transfers that last longer than about a second
 * and only when the caller enabled it (stderr is a terminal and --quiet
 * was not given); it redraws in place at most five times a second and
 * leaves one final line behind.  The formatting is a pure function so
 * that it can be tested apart from the terminal.
 */
#ifndef FERRY_CLIENT_PROGRESS_H
#define FERRY_CLIENT_PROGRESS_H

#include <stddef.h>

struct progress {
    int    enabled;
    int    drawn;               /* a bar is on the screen */
    char   label[128];
    unsigned long long start;   /* bytes already there (resume) */
    unsigned long long done;
    unsigned long long total;   /* FTPC_SIZE_UNKNOWN when unknown */
    double t0;
    double last;                /* time of the last redraw */
};

void progress_begin(struct progress *p, const char *label,
                    unsigned long long start, unsigned long long total,
                    int enabled);
/* An ftpc_progress_fn: arg is the struct progress. */
void progress_update(void *arg, unsigned long long done,
                     unsigned long long total);
/* Draw the final state and end the line, if a bar was shown. */
void progress_end(struct progress *p);

/* "12.3 MiB", "512 B". */
void progress_human(char *out, size_t outsz, unsigned long long bytes);

/* One bar line, at most width columns, NUL-terminated in out:
 *   "label [=====>     ]   45%     1.2 MiB   340.0 KiB/s  ETA 0:03"
 * total FTPC_SIZE_UNKNOWN drops the bar, the percentage and the ETA; a
 * final line shows the elapsed time ("in 0:03") instead of the ETA.
 * rate is in bytes per second. */
void progress_format(char *out, size_t outsz, unsigned width,
                     const char *label, unsigned long long done,
                     unsigned long long total, double rate, double elapsed,
                     int final);

#endif
