/* reply: RFC 959 reply lines, with CR/LF/NUL neutralised. */
#include "ferry/reply.h"

#include <stdio.h>
#include <string.h>

/* Format into out, then make sure nothing between the code and the final
 * CRLF can end the line early. */
static int reply_vformat(struct buf *out, const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static int reply_vformat(struct buf *out, const char *prefix, const char *fmt, va_list ap)
{
    size_t start = out->len;
    if (buf_printf(out, "%s", prefix) < 0 || buf_vprintf(out, fmt, ap) < 0) {
        out->len = start;
        return -1;
    }
    for (size_t i = start; i < out->len; i++)
        if (out->data[i] == '\r' || out->data[i] == '\n' || out->data[i] == '\0')
            out->data[i] = '?';
    if (buf_append(out, "\r\n", 2) < 0) {
        out->len = start;
        return -1;
    }
    return 0;
}

int reply_line(struct buf *out, int code, const char *fmt, ...)
{
    char prefix[8];
    va_list ap;
    int r;
    snprintf(prefix, sizeof(prefix), "%03d ", code);
    va_start(ap, fmt);
    r = reply_vformat(out, prefix, fmt, ap);
    va_end(ap);
    return r;
}

int reply_first(struct buf *out, int code, const char *fmt, ...)
{
    char prefix[8];
    va_list ap;
    int r;
    snprintf(prefix, sizeof(prefix), "%03d-", code);
    va_start(ap, fmt);
    r = reply_vformat(out, prefix, fmt, ap);
    va_end(ap);
    return r;
}

int reply_inner(struct buf *out, const char *fmt, ...)
{
    va_list ap;
    int r;
    va_start(ap, fmt);
    r = reply_vformat(out, " ", fmt, ap);
    va_end(ap);
    return r;
}

const char *reply_quote_path(char *out, size_t outlen, const char *path)
{
    size_t o = 0;
    if (outlen == 0)
        return out;
    for (const char *p = path; *p && o + 1 < outlen; p++) {
        if (*p == '"') {
            if (o + 2 >= outlen)
                break;
            out[o++] = '"';
            out[o++] = '"';
        } else if (*p == '\r' || *p == '\n') {
            out[o++] = '?';
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
    return out;
}
