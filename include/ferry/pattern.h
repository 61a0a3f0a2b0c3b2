/* pattern: the content of ferry's synthetic files.
 *
 * Byte `off` of every synthetic file (ferryd's /synthetic/ folder, the files
 * `ferry-bench --make-file` writes, the data `ferry-bench` uploads) is
 * ferry_pattern_byte(off).  A downloader that knows a file is synthetic can
 * then check every byte it receives without a checksum file, so a fast
 * server that sends the wrong bytes scores nothing.
 *
 * Why this function:
 * - It is periodic, with period FERRY_PATTERN_PERIOD, so that a server can
 *   serve a file of any size with sendfile() from one small shared buffer
 *   (a memfd of FERRY_PATTERN_PERIOD + its largest chunk bytes lets every
 *   chunk be sent from one contiguous range: start at off % PERIOD).
 * - The period is a prime a little under 1 MiB, so it shares no factor with
 *   the power-of-two chunk and page sizes servers use: a chunk sent twice,
 *   skipped, or sent from the wrong offset shifts the stream by an amount
 *   that is not a multiple of the period, and the comparison fails.
 * - Within a period the bytes come from a 32-bit integer hash (Wellons'
 *   "lowbias32"), so there is no shorter period and no near-repetition: a
 *   stream shifted by any amount from 1 to PERIOD-1 differs from the
 *   original within the first few bytes.  A Weyl sequence like
 *   (i * 2654435761u) >> 24 would be cheaper but nearly repeats at shifts
 *   that are Fibonacci numbers, exactly the kind of error it should catch.
 * - It costs two multiplies per byte, and in bulk users fill a table once
 *   (ferry_pattern_fill) and compare with memcmp.
 *
 * This header is the definition; tests pin its first bytes so the server
 * and the load generator cannot drift apart.
 */
#ifndef FERRY_BENCH_PATTERN_H
#define FERRY_BENCH_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#define FERRY_PATTERN_PERIOD 1048573u /* prime, 2^20 - 3 */

static inline uint8_t ferry_pattern_hash(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return (uint8_t)x;
}

static inline uint8_t ferry_pattern_byte(uint64_t off)
{
    return ferry_pattern_hash((uint32_t)(off % FERRY_PATTERN_PERIOD));
}

/* dst[0..len) = bytes off..off+len of the pattern, without a division per
 * byte. */
static inline void ferry_pattern_fill(void *dst, uint64_t off, size_t len)
{
    uint8_t *p = dst;
    uint32_t x = (uint32_t)(off % FERRY_PATTERN_PERIOD);
    for (size_t i = 0; i < len; i++) {
        p[i] = ferry_pattern_hash(x);
        if (++x == FERRY_PATTERN_PERIOD)
            x = 0;
    }
}

#endif
