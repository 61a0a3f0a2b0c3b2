/* buf: a growable byte buffer with a read cursor.  See buf.h.
 *
 * Every size computation that could wrap is checked here, once, so that the
 * rest of ferry can append and reserve without doing arithmetic of its own:
 * a size that does not fit in size_t is reported as ENOMEM, exactly like an
 * allocation the system refused.
 *
 * Growth doubles the capacity (starting at BUF_MIN_CAP) so that appending
 * byte by byte stays amortised O(1); with a limit, the capacity is clamped
 * to the limit so a bounded buffer never allocates more than it may hold.
 */
#include "ferry/buf.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_CAP 256

/* Move the unread bytes to the front so that the free space is one block. */
static void buf_compact(struct buf *b)
{
    size_t used = buf_used(b);

    if (b->rpos == 0)
        return;
    if (used)
        memmove(b->data, b->data + b->rpos, used);
    b->rpos = 0;
    b->len = used;
}

/* Capacity for at least need bytes: doubling from the current capacity (or
 * BUF_MIN_CAP), clamped to max when there is one.  need <= max and
 * need <= PTRDIFF_MAX are known, so neither the doubling nor the result
 * can overflow. */
static size_t buf_grow_cap(size_t cap, size_t need, size_t max)
{
    size_t c = cap < BUF_MIN_CAP ? BUF_MIN_CAP : cap;

    while (c < need) {
        if (c > (size_t)PTRDIFF_MAX / 2) {
            c = need;
            break;
        }
        c *= 2;
    }
    if (max != 0 && c > max)
        c = max;
    return c;
}

char *buf_reserve(struct buf *b, size_t n, size_t max)
{
    size_t used = buf_used(b);
    size_t need, cap;
    char *p;

    if (n > SIZE_MAX - used) {
        errno = ENOMEM;
        return NULL;
    }
    need = used + n;
    if (max != 0 && need > max) {
        errno = E2BIG;
        return NULL;
    }
    /* No object may be larger than PTRDIFF_MAX (pointer differences within
     * it would overflow), so do not even ask the allocator. */
    if (need > (size_t)PTRDIFF_MAX) {
        errno = ENOMEM;
        return NULL;
    }

    if (b->data != NULL && n <= b->cap - b->len)
        return b->data + b->len;
    if (b->data != NULL && need <= b->cap) {
        /* Enough room once the consumed prefix is reclaimed. */
        buf_compact(b);
        return b->data + b->len;
    }

    cap = buf_grow_cap(b->cap, need, max);
    if (b->rpos == 0) {
        p = realloc(b->data, cap);
        if (p == NULL) {
            errno = ENOMEM;
            return NULL;
        }
    } else {
        /* Copy only the unread bytes rather than realloc'ing the consumed
         * prefix along; the old block stays intact until the new one
         * exists, so a failure leaves the buffer as it was. */
        p = malloc(cap);
        if (p == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        memcpy(p, b->data + b->rpos, used);
        free(b->data);
        b->rpos = 0;
        b->len = used;
    }
    b->data = p;
    b->cap = cap;
    return b->data + b->len;
}

void buf_commit(struct buf *b, size_t n)
{
    assert(n <= b->cap - b->len);
    b->len += n;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    char *dst;

    if (n == 0)
        return 0;
    dst = buf_reserve(b, n, 0);
    if (dst == NULL)
        return -1;
    memcpy(dst, p, n);
    b->len += n;
    return 0;
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    size_t room;
    char *dst;
    int r, r2;

    /* First try in the space already there; vsnprintf(NULL, 0) merely
     * measures when the buffer owns no memory yet. */
    room = b->data != NULL ? b->cap - b->len : 0;
    va_copy(ap2, ap);
    r = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap2);
    va_end(ap2);
    if (r < 0) {
        errno = EINVAL;
        return -1;
    }
    if ((size_t)r < room) {
        b->len += (size_t)r;
        return 0;
    }

    /* It did not fit: make room for the text and vsnprintf's NUL (which
     * lands in the free space and is not committed), then format again. */
    dst = buf_reserve(b, (size_t)r + 1, 0);
    if (dst == NULL)
        return -1;
    va_copy(ap2, ap);
    r2 = vsnprintf(dst, (size_t)r + 1, fmt, ap2);
    va_end(ap2);
    /* The same arguments give the same length; anything else means the
     * format is not what it claims (and the text was cut short). */
    if (r2 != r) {
        errno = EINVAL;
        return -1;
    }
    b->len += (size_t)r;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

void buf_consume(struct buf *b, size_t n)
{
    assert(n <= buf_used(b));
    b->rpos += n;
    /* Everything read: start over at the front, which keeps the free space
     * contiguous without moving a byte. */
    if (b->rpos == b->len)
        b->rpos = b->len = 0;
}

void buf_reset(struct buf *b)
{
    b->rpos = 0;
    b->len = 0;
}

void buf_trim(struct buf *b)
{
    if (buf_used(b) == 0) {
        buf_free(b);
        return;
    }
    buf_compact(b);
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->rpos = 0;
    b->len = 0;
    b->cap = 0;
}
