/* hist: a log-linear histogram of unsigned 64-bit values (latencies in
 * nanoseconds), in the manner of HdrHistogram.
 *
 * Values below 2^HIST_SUB_BITS are counted exactly.  Above that, each power
 * of two [2^m, 2^(m+1)) is split into 2^(HIST_SUB_BITS-1) equal buckets, so
 * a value is known to within 1 part in 2^(HIST_SUB_BITS-1) (under 0.1%,
 * about three significant digits) whatever its magnitude, in a fixed table
 * of HIST_BUCKETS counters.  Recording is a count-leading-zeros, a shift
 * and an increment: cheap enough for every request of a load generator.
 *
 * Each thread records into its own histogram; hist_merge adds them up at
 * the end.  Nothing here allocates except hist_new.
 */
#ifndef FERRY_BENCH_HIST_H
#define FERRY_BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS 11
#define HIST_HALF     (1u << (HIST_SUB_BITS - 1))
/* bucket index of UINT64_MAX, plus one */
#define HIST_BUCKETS  ((64 - HIST_SUB_BITS + 2) * HIST_HALF)

struct hist {
    uint64_t count;          /* values recorded */
    uint64_t min, max;       /* exact; min is UINT64_MAX while empty */
    double   sum;            /* for the mean; a double cannot overflow */
    uint64_t counts[HIST_BUCKETS];
};

/* A zeroed histogram on the heap (the table is ~450 KiB), or NULL. */
struct hist *hist_new(void);
void hist_free(struct hist *h);
void hist_reset(struct hist *h);

void hist_record(struct hist *h, uint64_t v);
void hist_record_n(struct hist *h, uint64_t v, uint64_t n);
/* dst += src */
void hist_merge(struct hist *dst, const struct hist *src);

/* The value at percentile p (0..100): the smallest v such that at least
 * p% of the recorded values are <= v, reported as the highest value of
 * v's bucket (so it never understates) but never above the exact max.
 * p <= 0 gives the exact min; 0 for an empty histogram. */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);

/* The bucket layout, exposed for tests and for anyone printing the
 * distribution: index of v, and the lowest and highest value of a bucket. */
size_t hist_index(uint64_t v);
uint64_t hist_bucket_low(size_t i);
uint64_t hist_bucket_high(size_t i);

#endif
