/* reply: FTP reply formatting (RFC 959 section 4.2).
 *
 * Every reply line is "NNN text\r\n"; a multi-line reply is
 * "NNN-first\r\n", inner lines, "NNN last\r\n".  Text that came from a
 * client or the file system (names, paths) can hold CR or LF, which would
 * let a client forge replies: the formatter replaces them (and NUL) with
 * '?' after formatting, so no caller can forget to.  Paths in 257 replies
 * are quoted with reply_quote_path() (embedded '"' doubled, as RFC 959
 * asks). */
#ifndef FERRY_REPLY_H
#define FERRY_REPLY_H

#include <stdarg.h>
#include <stddef.h>

#include "ferry/buf.h"

/* Append "code text\r\n".  0 or -1 (ENOMEM). */
int reply_line(struct buf *out, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Start of a multi-line reply: "code-text\r\n". */
int reply_first(struct buf *out, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Inner line of a multi-line reply, written as given (a leading space is
 * added so that no inner line can look like a final "NNN " line). */
int reply_inner(struct buf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Quote a path for a 257 reply: '"' doubled, CR/LF replaced.  Returns
 * out; truncates (keeping it NUL-terminated) when out is too small. */
const char *reply_quote_path(char *out, size_t outlen, const char *path);

#endif
