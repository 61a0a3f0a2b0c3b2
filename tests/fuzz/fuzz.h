/* Shared bits of ferry's libFuzzer targets. */
#ifndef FERRY_FUZZ_H
#define FERRY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the code under test must keep: a violation is a crash, so
 * the fuzzer saves the input that caused it. */
#define FUZZ_CHECK(c) \
    do { \
        if (!(c)) { \
            fprintf(stderr, "%s:%d: property failed: %s\n", \
                    __FILE__, __LINE__, #c); \
            abort(); \
        } \
    } while (0)

/* An exact-size heap copy: AddressSanitizer then catches a read even one
 * byte past the length the parser was given. */
static inline char *fuzz_dup(const void *p, size_t n)
{
    char *d = malloc(n ? n : 1);

    FUZZ_CHECK(d != NULL);
    if (n)
        memcpy(d, p, n);
    return d;
}

/* The same with a NUL after the bytes, for functions that take strings;
 * the string ends at the first NUL of the data, as a C caller's would. */
static inline char *fuzz_strdup(const void *p, size_t n)
{
    char *d = malloc(n + 1);

    FUZZ_CHECK(d != NULL);
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

/* Deterministic read sizes derived from the input itself, so that a saved
 * crash input replays with the very same read boundaries. */
static inline uint64_t fuzz_seed(const uint8_t *data, size_t size)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    size_t i;

    for (i = 0; i < size; i++) {
        h ^= data[i];
        h *= 1099511628211ULL;
    }
    return h | 1;
}

static inline uint64_t fuzz_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* FNV-1a over an event log, to compare two runs cheaply. */
static inline void fuzz_hash(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *c = p;
    size_t i;

    for (i = 0; i < n; i++) {
        *h ^= c[i];
        *h *= 1099511628211ULL;
    }
}

#endif
