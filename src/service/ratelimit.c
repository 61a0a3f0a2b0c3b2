/* ratelimit: token bucket.  See include/ferry/ratelimit.h. */
#include "ferry/ratelimit.h"

/* Wake-ups per second a limited session costs at most. */
#define QUANTA_PER_SECOND 16.0

void ratelimit_init(struct ratelimit *r, uint64_t rate, uint64_t burst, double now)
{
    r->rate = (double)rate;
    r->burst = burst ? (double)burst : (double)rate;
    r->tokens = r->burst;
    r->last = now;
}

static void refill(struct ratelimit *r, double now)
{
    /* A clock that steps back (it should not: monotonic) adds nothing. */
    if (now > r->last) {
        r->tokens += (now - r->last) * r->rate;
        if (r->tokens > r->burst)
            r->tokens = r->burst;
        r->last = now;
    }
}

size_t ratelimit_avail(struct ratelimit *r, double now, size_t want, double *wait)
{
    double quantum, need;

    if (wait)
        *wait = 0;
    if (r->rate <= 0 || want == 0)
        return want;
    refill(r, now);
    quantum = r->rate / QUANTA_PER_SECOND;
    if (quantum > r->burst)
        quantum = r->burst;
    if (quantum < 1)
        quantum = 1;
    need = (double)want < quantum ? (double)want : quantum;
    if (r->tokens >= need)
        return (double)want < r->tokens ? want : (size_t)r->tokens;
    if (wait)
        *wait = (need - r->tokens) / r->rate;
    return 0;
}

void ratelimit_spend(struct ratelimit *r, size_t n)
{
    if (r->rate > 0)
        r->tokens -= (double)n;
}
