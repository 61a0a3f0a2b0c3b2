/* log: key=value lines on stderr, one write(2) each. */
#include "ferry/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Written by a reload while workers read it: atomic, relaxed (a line
 * logged at the old level during the switch is harmless). */
static _Atomic int g_level = LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_level(int level) { atomic_store_explicit(&g_level, level, memory_order_relaxed); }
int log_get_level(void) { return atomic_load_explicit(&g_level, memory_order_relaxed); }

int log_level_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void log_msg(int level, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    int n, m;

    if (level < log_get_level())
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 level_names[level < 0 ? 0 : level > LOG_ERROR ? LOG_ERROR : level]);
    va_list ap;
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    n += m;
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;   /* truncated: still one line */
    line[n++] = '\n';
    /* One write per line so that lines from several threads never mix;
     * stderr may be a pipe to journald, where a short write is unusual
     * but possible: finish it. */
    for (int off = 0; off < n;) {
        ssize_t w = write(STDERR_FILENO, line + off, (size_t)(n - off));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        off += (int)w;
    }
}

const char *log_quote(char *out, size_t outlen, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, need_quote = (len == 0);

    if (outlen == 0)
        return out;
    for (size_t i = 0; i < len && !need_quote; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=')
            need_quote = 1;
    }
    if (!need_quote) {
        size_t n = len < outlen - 1 ? len : outlen - 1;
        memcpy(out, s, n);
        out[n] = '\0';
        if (n < len && outlen >= 4)
            memcpy(out + outlen - 4, "...", 4);
        return out;
    }
    /* Room for the closing quote, "..." and NUL. */
    if (outlen < 8) {
        out[0] = '\0';
        return out;
    }
    out[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 4 + 5 > outlen) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c < ' ' || c >= 0x7f || c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}
