/* cmdparse: the FTP command-line parser.  See cmdparse.h.
 *
 * Only whole lines are ever parsed: the parser first looks for the LF in
 * the raw bytes and does nothing at all (not even the Telnet rewrite) until
 * one is there.  That keeps it a pure function of the bytes received so
 * far, whatever the read boundaries were: an IAC at the very end of a read
 * (ftplib sends IAC IP IAC, then DM as urgent data, then "ABOR\r\n") is
 * simply looked at again, with its second byte, on the next call.
 *
 * Telnet (RFC 854) inside a line:
 *   IAC IAC                    a data byte 255
 *   IAC WILL/WONT/DO/DONT opt  removed, all three bytes
 *   IAC <any other byte>       removed (IP, DM, AO, AYT, GA, SB, SE ...)
 *   IAC (and WILL..DONT) cut short by the line end: removed
 * The LF search runs on raw bytes, so no Telnet sequence can hide a line
 * end: "IAC DO LF" ends the line at that LF, like any other LF.
 *
 * No allocation, no locale: the verb test is ASCII-only on purpose, so that
 * bytes >= 0x80 never count as letters whatever the process locale is.
 */
#include "ferry/cmdparse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#define TN_IAC  255
#define TN_WILL 251
#define TN_DONT 254

static int is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_alnum(unsigned char c)
{
    return is_alpha(c) || is_digit(c);
}

static unsigned char upper(unsigned char c)
{
    return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
}

/* Case-insensitive equality with an upper-case literal. */
static int ieq(const char *s, size_t n, const char *lit)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (lit[i] == '\0' || upper((unsigned char)s[i]) != (unsigned char)lit[i])
            return 0;
    return lit[n] == '\0';
}

/* Strip Telnet sequences from line[0..n) in place; returns the new length.
 * The output never runs ahead of the input, so rewriting in place is safe. */
static size_t telnet_strip(char *line, size_t n)
{
    unsigned char *p = (unsigned char *)line;
    size_t i = 0, w = 0;

    while (i < n) {
        if (p[i] != TN_IAC) {
            p[w++] = p[i++];
            continue;
        }
        if (i + 1 >= n) {
            i = n;                          /* lone IAC at the line end */
        } else if (p[i + 1] == TN_IAC) {
            p[w++] = TN_IAC;
            i += 2;
        } else if (p[i + 1] >= TN_WILL && p[i + 1] <= TN_DONT) {
            i = (n - i >= 3) ? i + 3 : n;   /* option byte may be missing */
        } else {
            i += 2;
        }
    }
    return w;
}

int cmdparse_line(char *buf, size_t len, struct cmdline *out, size_t *consumed)
{
    const char *lf;
    size_t scan, end, n, v, a;

    *consumed = 0;
    scan = len < CMD_LINE_MAX ? len : CMD_LINE_MAX;
    lf = scan ? memchr(buf, '\n', scan) : NULL;
    if (lf == NULL) {
        if (len < CMD_LINE_MAX)
            return CMDP_NEED;
        /* Over-long.  Hand back every byte before the line end (all of
         * them when there is none yet), never the LF itself nor anything
         * after it: cmdparse_skip_line() drops the terminator, and a
         * command pipelined behind the long line stays in the buffer. */
        lf = memchr(buf + CMD_LINE_MAX, '\n', len - CMD_LINE_MAX);
        *consumed = lf ? (size_t)(lf - buf) : len;
        return CMDP_TOOLONG;
    }
    end = (size_t)(lf - buf);
    *consumed = end + 1;

    /* A NUL cannot travel through the C strings the session hands on, and
     * truncating at it would act on something the client did not send. */
    if (end && memchr(buf, '\0', end) != NULL)
        return CMDP_BAD;

    n = telnet_strip(buf, end);
    /* The CR of CRLF; checked after the Telnet rewrite so that an IAC DM
     * between CR and LF does not leave the CR stuck on the argument. */
    if (n && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';   /* n <= end, and buf[end] is the LF: in bounds */

    for (v = 0; v < n && is_alpha((unsigned char)buf[v]); v++)
        ;
    if (v == 0 || v > CMD_VERB_MAX || (v < n && buf[v] != ' '))
        return CMDP_BAD;
    for (a = 0; a < v; a++)
        out->verb[a] = (char)upper((unsigned char)buf[a]);
    out->verb[v] = '\0';

    if (v == n) {
        out->arg = NULL;
        out->arglen = 0;
        return CMDP_OK;
    }
    /* One space separates verb and argument; a client that sends more
     * gets them all skipped.  Trailing spaces are part of the argument (a
     * file name may end in one).  "VERB " alone gives an empty
     * argument, which is not the same as none ("PASS " is an empty
     * password). */
    for (a = v; a < n && buf[a] == ' '; a++)
        ;
    out->arg = buf + a;
    out->arglen = n - a;
    return CMDP_OK;
}

size_t cmdparse_skip_line(const char *buf, size_t len, int *done)
{
    const char *lf = len ? memchr(buf, '\n', len) : NULL;

    if (lf == NULL) {
        *done = 0;
        return len;
    }
    *done = 1;
    return (size_t)(lf - buf) + 1;
}

/* ---- argument helpers ------------------------------------------------ */

int cmdparse_type(const char *arg)
{
    unsigned char c;

    if (arg == NULL || arg[0] == '\0')
        return -1;
    c = upper((unsigned char)arg[0]);
    switch (c) {
    case 'A':
        /* "A" or "A N": ASCII, non-print.  Telnet-format effects and ASA
         * carriage control ("A T", "A C") are not supported. */
        if (arg[1] == '\0')
            return 'A';
        if (arg[1] == ' ' && upper((unsigned char)arg[2]) == 'N' && arg[3] == '\0')
            return 'A';
        return -1;
    case 'I':
        return arg[1] == '\0' ? 'I' : -1;
    case 'L':
        /* "L 8" (and the common "L8"): 8-bit bytes, which is image. */
        if (arg[1] == '8' && arg[2] == '\0')
            return 'I';
        if (arg[1] == ' ' && arg[2] == '8' && arg[3] == '\0')
            return 'I';
        return -1;
    default:
        return -1;
    }
}

int cmdparse_offset(const char *arg, unsigned long long *off)
{
    unsigned long long v = 0;
    unsigned d;
    size_t i;

    if (arg == NULL || !is_digit((unsigned char)arg[0]))
        return -1;
    for (i = 0; arg[i] != '\0'; i++) {
        if (!is_digit((unsigned char)arg[i]))
            return -1;
        d = (unsigned)(arg[i] - '0');
        if (v > (~0ULL - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *off = v;
    return 0;
}

int cmdparse_opts_utf8(const char *arg)
{
    size_t n;
    const char *p;

    if (arg == NULL)
        return -1;
    /* "UTF8" (RFC 2640 usage) or "UTF-8" (what some clients send). */
    if (ieq(arg, 4, "UTF8"))
        p = arg + 4;
    else if (ieq(arg, 5, "UTF-8"))
        p = arg + 5;
    else
        return -1;
    if (*p != ' ')
        return -1;
    while (*p == ' ')
        p++;
    n = strlen(p);
    if (ieq(p, n, "ON"))
        return 1;
    if (ieq(p, n, "OFF"))
        return 0;
    return -1;
}

const char *cmdparse_list_arg(const char *arg, int *all)
{
    const char *p = arg, *w;

    *all = 0;
    if (p == NULL)
        return "";
    /* Clients send ls options ("LIST -la", "LIST -al /pub"); a word of
     * '-' and letters or digits is taken for one.  Anything else, "-"
     * alone included, is the path. */
    while (p[0] == '-' && is_alnum((unsigned char)p[1])) {
        for (w = p + 1; is_alnum((unsigned char)*w); w++)
            ;
        if (*w != ' ' && *w != '\0')
            break;
        for (; p < w; p++)
            if (*p == 'a' || *p == 'A')
                *all = 1;
        while (*p == ' ')
            p++;
    }
    return p;
}

/* Parse 1..maxdigits decimal digits at *sp into *v and advance *sp. */
static int parse_uint(const char **sp, unsigned maxdigits, unsigned *v)
{
    const char *s = *sp;
    unsigned x = 0, i;

    for (i = 0; i < maxdigits && is_digit((unsigned char)s[i]); i++)
        x = x * 10 + (unsigned)(s[i] - '0');
    if (i == 0 || is_digit((unsigned char)s[i]))
        return -1;
    *sp = s + i;
    *v = x;
    return 0;
}

int cmdparse_port(const char *arg, unsigned char ip[4], unsigned *port)
{
    unsigned f[6];
    const char *p = arg;
    int i;

    if (p == NULL)
        return -1;
    for (i = 0; i < 6; i++) {
        if (i > 0 && *p++ != ',')
            return -1;
        if (parse_uint(&p, 3, &f[i]) < 0 || f[i] > 255)
            return -1;
    }
    if (*p != '\0')
        return -1;
    /* Port 0 cannot be connected to: reject it here, not at connect(). */
    if (f[4] == 0 && f[5] == 0)
        return -1;
    for (i = 0; i < 4; i++)
        ip[i] = (unsigned char)f[i];
    *port = f[4] * 256 + f[5];
    return 0;
}

int cmdparse_eprt(const char *arg, int *proto, char *addr, size_t addrlen,
                  unsigned *port)
{
    char text[INET6_ADDRSTRLEN];
    unsigned char bin[sizeof(struct in6_addr)];
    const char *p, *a, *e;
    unsigned pr, pt;
    char d;
    size_t n;

    if (arg == NULL)
        return -1;
    /* RFC 2428: the delimiter is any of ASCII 33..126, "|" usually. */
    d = arg[0];
    if ((unsigned char)d < 33 || (unsigned char)d > 126)
        return -1;
    p = arg + 1;

    if (parse_uint(&p, 1, &pr) < 0 || (pr != 1 && pr != 2) || *p++ != d)
        return -1;

    a = p;
    e = strchr(a, d);
    if (e == NULL)
        return -1;
    n = (size_t)(e - a);
    if (n == 0 || n >= sizeof(text))
        return -1;
    memcpy(text, a, n);
    text[n] = '\0';
    if (inet_pton(pr == 1 ? AF_INET : AF_INET6, text, bin) != 1)
        return -1;

    p = e + 1;
    if (parse_uint(&p, 5, &pt) < 0 || pt < 1 || pt > 65535)
        return -1;
    if (*p++ != d || *p != '\0')
        return -1;

    if (addrlen < n + 1)
        return -1;
    memcpy(addr, text, n + 1);
    *proto = (int)pr;
    *port = pt;
    return 0;
}

int cmdparse_epsv(const char *arg)
{
    if (arg == NULL || arg[0] == '\0')
        return 0;
    if (ieq(arg, strlen(arg), "ALL"))
        return 'A';
    if (arg[0] == '1' && arg[1] == '\0')
        return 1;
    if (arg[0] == '2' && arg[1] == '\0')
        return 2;
    return -1;
}
