/* hist: log-linear histogram; the layout is described in hist.h. */
#include "hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct hist *hist_new(void)
{
    struct hist *h = malloc(sizeof *h);
    if (h)
        hist_reset(h);
    return h;
}

void hist_free(struct hist *h)
{
    free(h);
}

void hist_reset(struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

size_t hist_index(uint64_t v)
{
    if (v < (1u << HIST_SUB_BITS))
        return (size_t)v;
    unsigned m = 63u - (unsigned)__builtin_clzll(v);  /* top bit, >= SUB_BITS */
    unsigned shift = m - HIST_SUB_BITS + 1;
    return (size_t)shift * HIST_HALF + (size_t)(v >> shift);
}

uint64_t hist_bucket_low(size_t i)
{
    if (i < (1u << HIST_SUB_BITS))
        return i;
    unsigned shift = (unsigned)(i / HIST_HALF) - 1;
    uint64_t sub = (uint64_t)(i % HIST_HALF) + HIST_HALF;
    return sub << shift;
}

uint64_t hist_bucket_high(size_t i)
{
    if (i < (1u << HIST_SUB_BITS))
        return i;
    unsigned shift = (unsigned)(i / HIST_HALF) - 1;
    /* add the width minus one, so the top bucket ends at UINT64_MAX
     * without overflowing */
    return hist_bucket_low(i) + ((UINT64_C(1) << shift) - 1);
}

void hist_record_n(struct hist *h, uint64_t v, uint64_t n)
{
    if (n == 0)
        return;
    h->counts[hist_index(v)] += n;
    h->count += n;
    h->sum += (double)v * (double)n;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void hist_record(struct hist *h, uint64_t v)
{
    hist_record_n(h, v, 1);
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    if (src->count == 0)
        return;
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
    if (h->count == 0)
        return 0;
    if (p <= 0.0)
        return h->min;
    if (p >= 100.0)
        return h->max;
    /* rank of the wanted value, 1-based: ceil(p% of count), at least 1;
     * shaved by a hair so 99.9% of 1000 is 999, not 1000 by rounding */
    double r = ceil(p * (double)h->count / 100.0 * (1.0 - 1e-12));
    uint64_t rank = r < 1.0 ? 1 : (uint64_t)r;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (size_t i = hist_index(h->min); i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = hist_bucket_high(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;  /* not reached: the counts add up to count */
}

double hist_mean(const struct hist *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}
