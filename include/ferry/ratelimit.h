/* ratelimit: a token bucket for one session's data bandwidth
 * (--rate-limit BYTES_PER_SECOND, downloads and uploads alike).
 *
 * Tokens are bytes.  They accrue at `rate` per second up to `burst`; a
 * send spends them.  The bucket never sleeps: it says how many bytes may
 * go now, or how long until it is worth asking again, and the event loop
 * arms a timer for that.  Time is passed in (CLOCK_MONOTONIC seconds), so
 * the arithmetic is testable without a clock.
 *
 * To keep timers coarse, ratelimit_avail() hands out either at least a
 * quantum (1/16 s of traffic, but no more than burst or the bytes wanted)
 * or nothing: a limited session wakes about 16 times a second, not once
 * per few bytes.
 *
 * How the session uses it (sending; receiving is the same with recv):
 *
 *       double wait;
 *       size_t n = ratelimit_avail(&s->rl, now, want, &wait);
 *       if (n == 0) { arm a timer for `wait` s; stop writing until it fires; }
 *       else { sent = sendfile(..., n); if (sent > 0) ratelimit_spend(&s->rl, sent); }
 *
 * With rate 0 the bucket is off: avail returns want, wait is 0. */
#ifndef FERRY_RATELIMIT_H
#define FERRY_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ratelimit {
    double rate;        /* bytes per second; 0 = unlimited */
    double burst;       /* most tokens held */
    double tokens;      /* may go below 0 after an over-spend */
    double last;        /* when tokens were last brought up to date */
};

/* Start full (a new transfer may send a burst at once).  burst 0 means
 * one second's worth of rate. */
void ratelimit_init(struct ratelimit *r, uint64_t rate, uint64_t burst, double now);

/* Bytes that may go now, at most want: 0, or at least
 * min(want, quantum).  When 0, *wait (if not NULL) is the seconds until
 * that many are available; otherwise *wait is 0. */
size_t ratelimit_avail(struct ratelimit *r, double now, size_t want, double *wait);

/* Record n bytes actually sent or received.  Spending more than avail
 * allowed is legal (a recv that returned more): the debt delays what
 * follows. */
void ratelimit_spend(struct ratelimit *r, size_t n);

#endif
