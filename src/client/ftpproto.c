/* ftpproto: the client side of FTP's wire format.  See ftpproto.h.
 *
 * Every function here is a pure function of its input bytes: no I/O, no
 * allocation, no global state, and no read past the length it is given
 * (inputs are not NUL-terminated in general: they point into a socket
 * buffer).
 */
#include "ferry/ftpproto.h"

#include <string.h>

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* Case-insensitive compare of s[0..n) against a NUL-terminated literal. */
static int ieq(const char *s, size_t n, const char *lit)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (lit[i] == '\0' || lower((unsigned char)s[i]) != lower((unsigned char)lit[i]))
            return 0;
    }
    return lit[n] == '\0';
}

static int iprefix(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);

    return n >= l && ieq(s, l, lit);
}

/* ------------------------------------------------------------------ */
/* Replies                                                              */

void ftp_reply_init(struct ftp_reply_parser *p)
{
    p->code = 0;
    p->multiline = 0;
}

/* "NNN" at line[0..3) with a valid first digit (1-5), or -1. */
static int line_code(const char *line, size_t len)
{
    if (len < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]))
        return -1;
    if (line[0] < '1' || line[0] > '5')
        return -1;
    return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

int ftp_reply_feed(struct ftp_reply_parser *p, const char *buf, size_t len,
                   size_t maxline, size_t *consumed, int *code,
                   const char **text, size_t *textlen)
{
    size_t pos = 0;

    *consumed = 0;
    while (pos < len) {
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t linelen, full;
        int c;

        if (nl == NULL) {
            if (maxline != 0 && len - pos > maxline)
                return FTPR_ERROR;
            return FTPR_NEED;
        }
        full = (size_t)(nl - line) + 1;      /* with the LF */
        linelen = full - 1;
        if (linelen > 0 && line[linelen - 1] == '\r')
            linelen--;                       /* a bare LF is tolerated */
        if (maxline != 0 && full > maxline)
            return FTPR_ERROR;

        c = line_code(line, linelen);
        if (!p->multiline) {
            /* First line: "NNN text", "NNN-text" or a bare "NNN". */
            if (c < 0 || (linelen > 3 && line[3] != ' ' && line[3] != '-'))
                return FTPR_ERROR;
            if (linelen > 3 && line[3] == '-') {
                p->code = c;
                p->multiline = 1;
                pos += full;
                *consumed = pos;
                continue;
            }
        } else if (c != p->code || (linelen > 3 && line[3] != ' ')) {
            /* Any inner line, including "NNN-..." repeats and lines that
             * start with other digits. */
            pos += full;
            *consumed = pos;
            continue;
        }

        /* The last line of the reply. */
        pos += full;
        *consumed = pos;
        *code = c;
        if (text != NULL)
            *text = linelen > 4 ? line + 4 : line + linelen;
        if (textlen != NULL)
            *textlen = linelen > 4 ? linelen - 4 : 0;
        ftp_reply_init(p);
        return FTPR_DONE;
    }
    return FTPR_NEED;
}

/* ------------------------------------------------------------------ */
/* PASV and EPSV                                                        */

/* Parse a decimal number of at most maxdigits digits at s[*i..len). */
static int parse_num(const char *s, size_t len, size_t *i, unsigned maxdigits,
                     unsigned long *out)
{
    unsigned long v = 0;
    unsigned n = 0;

    while (*i < len && is_digit(s[*i])) {
        if (++n > maxdigits)
            return -1;
        v = v * 10 + (unsigned long)(s[*i] - '0');
        (*i)++;
    }
    if (n == 0)
        return -1;
    *out = v;
    return 0;
}

int ftp_parse_227(const char *text, size_t len, unsigned char ip[4],
                  unsigned *port)
{
    size_t start;

    /* RFC 959 leaves the wording free and some servers drop the
     * parentheses, so look for the first "h1,h2,h3,h4,p1,p2" anywhere. */
    for (start = 0; start < len; start++) {
        unsigned long v[6];
        size_t i = start;
        int k, ok = 1;

        if (!is_digit(text[start]) || (start > 0 && is_digit(text[start - 1])))
            continue;
        for (k = 0; k < 6; k++) {
            if (parse_num(text, len, &i, 3, &v[k]) < 0 || v[k] > 255) {
                ok = 0;
                break;
            }
            if (k < 5) {
                if (i >= len || text[i] != ',') {
                    ok = 0;
                    break;
                }
                i++;
            }
        }
        if (!ok)
            continue;
        if (i < len && is_digit(text[i]))
            continue;
        for (k = 0; k < 4; k++)
            ip[k] = (unsigned char)v[k];
        *port = (unsigned)(v[4] * 256 + v[5]);
        if (*port == 0)
            return -1;
        return 0;
    }
    return -1;
}

int ftp_parse_229(const char *text, size_t len, unsigned *port)
{
    const char *open = memchr(text, '(', len);
    size_t i;
    unsigned long v;
    char d;

    /* RFC 2428: "(<d><d><d><tcp-port><d>)", d any printable ASCII but
     * conventionally '|'. */
    if (open == NULL)
        return -1;
    i = (size_t)(open - text) + 1;
    if (len - i < 5)
        return -1;
    d = text[i];
    if (d < 33 || d > 126 || is_digit(d) || text[i + 1] != d || text[i + 2] != d)
        return -1;
    i += 3;
    if (parse_num(text, len, &i, 5, &v) < 0 || v == 0 || v > 65535)
        return -1;
    if (i + 1 >= len || text[i] != d || text[i + 1] != ')')
        return -1;
    *port = (unsigned)v;
    return 0;
}

/* ------------------------------------------------------------------ */
/* URLs                                                                 */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Copy s[0..n) into out (size outsz) decoding %XX when decode is set.
 * Refuses NUL, CR and LF in the result: they would end or split an FTP
 * command line. */
static int copy_part(const char *s, size_t n, char *out, size_t outsz, int decode)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        int c = (unsigned char)s[i];

        if (decode && c == '%') {
            int hi, lo;

            if (n - i < 3)
                return -1;
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == '\0' || c == '\r' || c == '\n')
            return -1;
        if (o + 1 >= outsz)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

int ftp_parse_url(const char *s, struct ftp_url *u)
{
    size_t n = strlen(s);
    const char *auth, *auth_end, *at, *host, *host_end, *p;

    memset(u, 0, sizeof(*u));
    u->port = 21;

    if (iprefix(s, n, "ftp://"))
        s += 6;
    else if (strstr(s, "://") != NULL)
        return -1;                           /* another scheme */

    auth = s;
    auth_end = strchr(auth, '/');
    if (auth_end == NULL)
        auth_end = auth + strlen(auth);

    /* The last '@' separates the user info: a password may contain a raw
     * '@', a host never does. */
    at = NULL;
    for (p = auth; p < auth_end; p++)
        if (*p == '@')
            at = p;
    host = auth;
    if (at != NULL) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));

        if (colon != NULL) {
            if (copy_part(auth, (size_t)(colon - auth), u->user, sizeof(u->user), 1) < 0 ||
                copy_part(colon + 1, (size_t)(at - colon - 1), u->pass, sizeof(u->pass), 1) < 0)
                return -1;
        } else if (copy_part(auth, (size_t)(at - auth), u->user, sizeof(u->user), 1) < 0) {
            return -1;
        }
        host = at + 1;
    }

    if (host < auth_end && *host == '[') {
        const char *close = memchr(host, ']', (size_t)(auth_end - host));

        if (close == NULL || close == host + 1)
            return -1;
        /* An address, then perhaps a zone as RFC 6874 writes it:
         * "fe80::1%25eth0" names "fe80::1%eth0". */
        for (p = host + 1; p < close && (hexval(*p) >= 0 || *p == ':' || *p == '.'); p++)
            ;
        if (p < close) {
            const char *z;

            if (close - p < 4 || memcmp(p, "%25", 3) != 0)
                return -1;
            for (z = p + 3; z < close; z++)
                if (!((*z >= 'a' && *z <= 'z') || (*z >= 'A' && *z <= 'Z') ||
                      is_digit(*z) || *z == '.' || *z == '_' || *z == '~' || *z == '-'))
                    return -1;
        }
        if (copy_part(host + 1, (size_t)(close - host - 1), u->host, sizeof(u->host), 1) < 0)
            return -1;
        host_end = close + 1;
        if (host_end < auth_end && *host_end != ':')
            return -1;
    } else {
        host_end = memchr(host, ':', (size_t)(auth_end - host));
        if (host_end == NULL)
            host_end = auth_end;
        if (host_end == host)
            return -1;
        for (p = host; p < host_end; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  is_digit(*p) || *p == '-' || *p == '.' || *p == '_'))
                return -1;
        if (copy_part(host, (size_t)(host_end - host), u->host, sizeof(u->host), 0) < 0)
            return -1;
    }

    if (host_end < auth_end) {               /* ":port" */
        size_t i = 0, plen = (size_t)(auth_end - host_end - 1);
        unsigned long v;

        if (parse_num(host_end + 1, plen, &i, 5, &v) < 0 || i != plen ||
            v == 0 || v > 65535)
            return -1;
        u->port = (unsigned)v;
    }

    /* RFC 1738: the '/' after the host only separates; the path is
     * relative to the login directory ("ftp://h//etc" or "%2Fetc" for an
     * absolute one). */
    if (*auth_end == '/')
        return copy_part(auth_end + 1, strlen(auth_end + 1), u->path, sizeof(u->path), 1);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Commands and simple replies                                          */

static int has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

int ftp_format_cmd(char *out, size_t outsz, const char *verb, const char *arg)
{
    size_t vl = strlen(verb), al = arg != NULL ? strlen(arg) : 0;
    size_t total = vl + (arg != NULL ? 1 + al : 0) + 2;

    if (vl == 0 || has_crlf(verb) || (arg != NULL && has_crlf(arg)))
        return -1;
    if (total + 1 > outsz)
        return -1;
    memcpy(out, verb, vl);
    if (arg != NULL) {
        out[vl] = ' ';
        memcpy(out + vl + 1, arg, al);
    }
    out[total - 2] = '\r';
    out[total - 1] = '\n';
    out[total] = '\0';
    return (int)total;
}

int ftp_parse_257(const char *text, size_t len, char *out, size_t outsz)
{
    size_t i = 0, o = 0;

    while (i < len && text[i] == ' ')
        i++;
    if (i >= len || text[i] != '"')
        return -1;
    for (i++; i < len; i++) {
        char c = text[i];

        if (c == '"') {
            if (i + 1 < len && text[i + 1] == '"') {
                i++;                       /* "" is a literal quote */
            } else {
                if (o == 0 || o >= outsz)
                    return -1;
                out[o] = '\0';
                return 0;
            }
        }
        if (c == '\0' || c == '\r' || c == '\n' || o + 1 >= outsz)
            return -1;
        out[o++] = c;
    }
    return -1;                             /* no closing quote */
}

/* Decimal without overflow, at most 20 digits. */
static int parse_ull(const char *s, size_t len, size_t *i, unsigned long long *out)
{
    unsigned long long v = 0;
    size_t start = *i;

    while (*i < len && is_digit(s[*i])) {
        unsigned d = (unsigned)(s[*i] - '0');

        if (v > (~0ULL - d) / 10)
            return -1;
        v = v * 10 + d;
        (*i)++;
    }
    if (*i == start)
        return -1;
    *out = v;
    return 0;
}

int ftp_parse_size(const char *text, size_t len, unsigned long long *size)
{
    size_t i = 0;

    while (i < len && text[i] == ' ')
        i++;
    if (parse_ull(text, len, &i, size) < 0)
        return -1;
    while (i < len && text[i] == ' ')
        i++;
    return i == len ? 0 : -1;
}

int ftp_parse_150(const char *text, size_t len, unsigned long long *size)
{
    size_t i;

    for (i = 0; i < len; i++) {
        size_t j = i + 1;
        unsigned long long v;

        if (text[i] != '(' || parse_ull(text, len, &j, &v) < 0)
            continue;
        if (j < len && text[j] == ' ' && iprefix(text + j + 1, len - j - 1, "bytes")) {
            *size = v;
            return 0;
        }
    }
    return -1;
}

unsigned ftp_parse_feat(const char *block, size_t len)
{
    static const struct { const char *name; unsigned bit; } feats[] = {
        { "EPSV", FTPF_EPSV }, { "EPRT", FTPF_EPRT }, { "MLST", FTPF_MLST },
        { "SIZE", FTPF_SIZE }, { "MDTM", FTPF_MDTM }, { "UTF8", FTPF_UTF8 },
        { "TVFS", FTPF_TVFS },
    };
    unsigned bits = 0;
    size_t pos = 0;

    while (pos < len) {
        const char *line = block + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl != NULL ? (size_t)(nl - line) : len - pos;
        size_t i = 0, w, k;

        pos += ll + 1;
        if (ll > 0 && line[ll - 1] == '\r')
            ll--;
        /* Feature lines start with a space (RFC 2389 3.2); the "211-" and
         * "211 " lines around them do not. */
        if (ll == 0 || line[0] != ' ')
            continue;
        while (i < ll && line[i] == ' ')
            i++;
        for (w = i; w < ll && line[w] != ' '; w++)
            ;
        for (k = 0; k < sizeof(feats) / sizeof(feats[0]); k++)
            if (ieq(line + i, w - i, feats[k].name))
                bits |= feats[k].bit;
        if (ieq(line + i, w - i, "REST")) {
            while (w < ll && line[w] == ' ')
                w++;
            if (iprefix(line + w, ll - w, "STREAM"))
                bits |= FTPF_REST;
        }
    }
    return bits;
}

/* ------------------------------------------------------------------ */
/* Listings                                                             */

static void entry_init(struct ftp_entry *e)
{
    memset(e, 0, sizeof(*e));
}

static size_t trim_eol(const char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    return len;
}

/* "YYYYMMDDHHMMSS[.sss]" -> "YYYY-MM-DD HH:MM". */
static int mlsx_time(const char *v, size_t n, char out[20])
{
    size_t i;

    if (n < 14)
        return -1;
    for (i = 0; i < 14; i++)
        if (!is_digit(v[i]))
            return -1;
    memcpy(out, v, 4);
    out[4] = '-';
    memcpy(out + 5, v + 4, 2);
    out[7] = '-';
    memcpy(out + 8, v + 6, 2);
    out[10] = ' ';
    memcpy(out + 11, v + 8, 2);
    out[13] = ':';
    memcpy(out + 14, v + 10, 2);
    out[16] = '\0';
    return 0;
}

int ftp_parse_mlsx(const char *line, size_t len, struct ftp_entry *e)
{
    const char *sp;
    size_t pos = 0, factlen;

    entry_init(e);
    len = trim_eol(line, len);
    if (len == 0)
        return 1;
    /* An MLST reply line carries one leading space before the facts. */
    if (line[0] == ' ' && len > 1 && line[1] != ' ' && memchr(line + 1, ';', len - 1) != NULL) {
        line++;
        len--;
    }
    sp = memchr(line, ' ', len);
    if (sp == NULL)
        return -1;
    factlen = (size_t)(sp - line);
    if (factlen > 0 && line[factlen - 1] != ';')
        return -1;
    e->name = sp + 1;
    e->namelen = len - factlen - 1;
    if (e->namelen == 0)
        return -1;

    while (pos < factlen) {
        const char *f = line + pos;
        const char *semi = memchr(f, ';', factlen - pos);
        const char *eq;
        size_t fl = (size_t)(semi - f), nl, vl;
        const char *v;

        pos += fl + 1;
        eq = memchr(f, '=', fl);
        if (eq == NULL)
            return -1;
        nl = (size_t)(eq - f);
        v = eq + 1;
        vl = fl - nl - 1;
        if (ieq(f, nl, "type")) {
            if (ieq(v, vl, "file"))
                e->type = FTP_ENT_FILE;
            else if (ieq(v, vl, "dir"))
                e->type = FTP_ENT_DIR;
            else if (ieq(v, vl, "cdir"))
                e->type = FTP_ENT_CDIR;
            else if (ieq(v, vl, "pdir"))
                e->type = FTP_ENT_PDIR;
            else if (iprefix(v, vl, "OS.unix=slink") || iprefix(v, vl, "OS.unix=symlink"))
                e->type = FTP_ENT_LINK;
            else
                e->type = FTP_ENT_UNKNOWN;
        } else if (ieq(f, nl, "size")) {
            size_t i = 0;

            if (parse_ull(v, vl, &i, &e->size) < 0 || i != vl)
                return -1;
            e->has_size = 1;
        } else if (ieq(f, nl, "modify")) {
            if (mlsx_time(v, vl, e->mtime) < 0)
                e->mtime[0] = '\0';
        }
    }
    return 0;
}

/* Tokens of a LIST line: start offsets and lengths, split on spaces. */
#define LIST_MAXTOK 12

static int tokenize(const char *line, size_t len, size_t off[], size_t tl[])
{
    size_t i = 0;
    int n = 0;

    while (i < len && n < LIST_MAXTOK) {
        while (i < len && line[i] == ' ')
            i++;
        if (i >= len)
            break;
        off[n] = i;
        while (i < len && line[i] != ' ')
            i++;
        tl[n] = i - off[n];
        n++;
    }
    return n;
}

static int all_digits(const char *s, size_t n)
{
    size_t i;

    if (n == 0)
        return 0;
    for (i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return 0;
    return 1;
}

static int is_month(const char *s, size_t n)
{
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    size_t m;

    if (n != 3)
        return 0;
    for (m = 0; m < 36; m += 3)
        if (lower((unsigned char)s[0]) == months[m] &&
            lower((unsigned char)s[1]) == months[m + 1] &&
            lower((unsigned char)s[2]) == months[m + 2])
            return 1;
    return 0;
}

/* "HH:MM" or "YYYY". */
static int is_time_or_year(const char *s, size_t n)
{
    if (n == 4 && all_digits(s, 4))
        return 1;
    if ((n == 5 && is_digit(s[0]) && is_digit(s[1]) && s[2] == ':' && all_digits(s + 3, 2)) ||
        (n == 4 && is_digit(s[0]) && s[1] == ':' && all_digits(s + 2, 2)))
        return 1;
    return 0;
}

static int list_dos(const char *line, size_t len, const size_t off[],
                    const size_t tl[], int n, struct ftp_entry *e)
{
    const char *d, *t, *s;
    size_t i;

    if (n < 4)
        return -1;
    d = line + off[0];
    t = line + off[1];
    s = line + off[2];
    /* "MM-DD-YY" or "MM-DD-YYYY", then "HH:MMAM". */
    if ((tl[0] != 8 && tl[0] != 10) || d[2] != '-' || d[5] != '-' ||
        !all_digits(d, 2) || !all_digits(d + 3, 2) || !all_digits(d + 6, tl[0] - 6))
        return -1;
    if (tl[1] < 6 || t[tl[1] - 1] != 'M' || (t[tl[1] - 2] != 'A' && t[tl[1] - 2] != 'P'))
        return -1;
    if (tl[2] == 5 && memcmp(s, "<DIR>", 5) == 0) {
        e->type = FTP_ENT_DIR;
    } else {
        size_t j = 0;

        if (parse_ull(s, tl[2], &j, &e->size) < 0 || j != tl[2])
            return -1;
        e->has_size = 1;
        e->type = FTP_ENT_FILE;
    }
    if (tl[0] + 1 + tl[1] + 1 > sizeof(e->mtime))
        return -1;
    memcpy(e->mtime, d, tl[0]);
    e->mtime[tl[0]] = ' ';
    memcpy(e->mtime + tl[0] + 1, t, tl[1]);
    e->mtime[tl[0] + 1 + tl[1]] = '\0';
    /* The name is everything after the size column and its padding. */
    i = off[2] + tl[2];
    while (i < len && line[i] == ' ')
        i++;
    e->name = line + i;
    e->namelen = len - i;
    return e->namelen > 0 ? 0 : -1;
}

int ftp_parse_list(const char *line, size_t len, struct ftp_entry *e)
{
    size_t off[LIST_MAXTOK], tl[LIST_MAXTOK];
    int n, m;

    entry_init(e);
    len = trim_eol(line, len);
    n = tokenize(line, len, off, tl);
    if (n == 0)
        return 1;
    if (n == 2 && ieq(line + off[0], tl[0], "total") && all_digits(line + off[1], tl[1]))
        return 1;
    if (is_digit(line[off[0]]))
        return list_dos(line, len, off, tl, n, e);

    /* Unix: "perms links owner [group] size Mon DD HH:MM|YYYY name".  The
     * owner/group columns vary between servers, so anchor on the date:
     * the first month name followed by a day and a time or year, with the
     * size just before it. */
    if (tl[0] < 10 || strchr("-dlcbps", line[off[0]]) == NULL)
        return -1;
    for (m = 2; m + 2 < n; m++) {
        const char *day = line + off[m + 1];
        size_t i, k;

        if (!is_month(line + off[m], tl[m]) || tl[m + 1] > 2 ||
            !all_digits(day, tl[m + 1]) ||
            !is_time_or_year(line + off[m + 2], tl[m + 2]) ||
            !all_digits(line + off[m - 1], tl[m - 1]))
            continue;
        k = 0;
        if (parse_ull(line + off[m - 1], tl[m - 1], &k, &e->size) < 0)
            return -1;
        e->has_size = 1;
        switch (line[off[0]]) {
        case '-': e->type = FTP_ENT_FILE; break;
        case 'd': e->type = FTP_ENT_DIR; break;
        case 'l': e->type = FTP_ENT_LINK; break;
        default:  e->type = FTP_ENT_UNKNOWN; break;
        }
        /* "Nov 27 09:16" / "Nov  7  2023", aligned as ls aligns it. */
        memcpy(e->mtime, line + off[m], 3);
        e->mtime[3] = ' ';
        e->mtime[4] = tl[m + 1] == 1 ? ' ' : day[0];
        e->mtime[5] = day[tl[m + 1] - 1];
        e->mtime[6] = ' ';
        memset(e->mtime + 7, ' ', 5);
        memcpy(e->mtime + 12 - tl[m + 2], line + off[m + 2], tl[m + 2]);
        e->mtime[12] = '\0';
        /* One space separates the date from the name; a name may itself
         * begin with spaces. */
        i = off[m + 2] + tl[m + 2] + 1;
        if (i >= len)
            return -1;
        e->name = line + i;
        e->namelen = len - i;
        if (e->type == FTP_ENT_LINK) {
            for (k = 0; k + 4 <= e->namelen; k++) {
                if (memcmp(e->name + k, " -> ", 4) == 0) {
                    e->target = e->name + k + 4;
                    e->targetlen = e->namelen - k - 4;
                    e->namelen = k;
                    break;
                }
            }
        }
        return e->namelen > 0 ? 0 : -1;
    }
    return -1;
}
