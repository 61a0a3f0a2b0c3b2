/* buf: a growable byte buffer with a read cursor.
 *
 * All buffer arithmetic in ferry lives here.  A buffer starts empty and owns
 * no memory; it allocates on first append and buf_trim() hands the memory
 * back once everything was consumed, so that idle sessions hold none.
 *
 *   [ consumed | unread data | free space ]
 *   ^data      ^data+rpos    ^data+len    ^data+cap
 */
#ifndef FERRY_BUF_H
#define FERRY_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char  *data;   /* NULL until the first append */
    size_t rpos;   /* first unread byte */
    size_t len;    /* end of data */
    size_t cap;    /* allocated bytes */
};

#define BUF_INIT { NULL, 0, 0, 0 }

/* Unread bytes. */
static inline size_t buf_used(const struct buf *b) { return b->len - b->rpos; }
/* Call only when buf_used() > 0 (an empty buffer may own no memory). */
static inline char *buf_rptr(const struct buf *b) { return b->data != NULL ? b->data + b->rpos : NULL; }

/* Make room for at least n more bytes after len; returns a pointer to the
 * free space, or NULL (ENOMEM) without changing the buffer.  Never grows the
 * buffer beyond max bytes of unread+new data when max != 0 (E2BIG). */
char *buf_reserve(struct buf *b, size_t n, size_t max);
/* Declare n bytes written into the space returned by buf_reserve(). */
void buf_commit(struct buf *b, size_t n);
/* Append bytes; 0 or -1 (ENOMEM). */
int buf_append(struct buf *b, const void *p, size_t n);
/* Append formatted text; 0 or -1 (ENOMEM, or EINVAL on a format error). */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Mark n unread bytes consumed (n <= buf_used). */
void buf_consume(struct buf *b, size_t n);
/* Drop all data; memory is kept. */
void buf_reset(struct buf *b);
/* Give the memory back when nothing is unread; otherwise move the unread
 * bytes to the front so that free space is contiguous. */
void buf_trim(struct buf *b);
/* Free the memory and reset the buffer to BUF_INIT. */
void buf_free(struct buf *b);

#endif
