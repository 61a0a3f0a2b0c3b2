/* fuzz_ftpproto: the client side of FTP's wire format (ftpproto.h).
 *
 * The input is what a server sends on the control connection.  It goes
 * through ftp_reply_feed() in a client's read loop (a buffer bounded at
 * maxline + 1, exact-size heap copies for every call), once in reads as
 * large as the buffer takes and once in varied reads; the replies must
 * come out the same.  The text of each reply goes to the parsers a client
 * applies to it (227, 229, 213, 150, 257).  The same bytes are also taken
 * as a URL, a FEAT block, a command to format and, line by line, as MLSD
 * and LIST output.
 */
#include "ferry/buf.h"
#include "ferry/ftpproto.h"
#include "fuzz.h"

static void check_text_parsers(const char *text, size_t len)
{
    unsigned char ip[4];
    unsigned port;
    unsigned long long size;
    size_t outsz = len % 40;
    char *copy = fuzz_dup(text, len);
    char *out = malloc(outsz);
    int r;

    FUZZ_CHECK(out != NULL || outsz == 0);
    if (ftp_parse_227(copy, len, ip, &port) == 0)
        FUZZ_CHECK(port >= 1 && port <= 65535);
    if (ftp_parse_229(copy, len, &port) == 0)
        FUZZ_CHECK(port >= 1 && port <= 65535);
    (void)ftp_parse_size(copy, len, &size);
    (void)ftp_parse_150(copy, len, &size);
    r = ftp_parse_257(copy, len, out, outsz);
    FUZZ_CHECK(r == 0 || r == -1);
    if (r == 0)
        FUZZ_CHECK(strnlen(out, outsz) < outsz);
    free(out);
    free(copy);
}

/* Returns a hash of the replies; rng NULL: reads as large as possible. */
static uint64_t run_replies(const uint8_t *data, size_t size, size_t maxline,
                            uint64_t *rng)
{
    struct ftp_reply_parser p;
    struct buf in = BUF_INIT;
    uint64_t h = 1469598103934665603ULL, x;
    size_t limit = maxline + 1, off = 0, k, room, used, c, textlen;
    const char *text, *orig;
    char *copy;
    int r, code, reads, turns, failed = 0;
    char *dst;

    ftp_reply_init(&p);
    for (reads = 0; off < size && !failed; reads++) {
        FUZZ_CHECK((size_t)reads <= size);
        room = limit - buf_used(&in);
        FUZZ_CHECK(room > 0);
        k = size - off;
        if (rng != NULL) {
            x = fuzz_next(rng);
            k = (x & 7) == 0 ? 1 + (x >> 3) % 16 : 1 + (x >> 3) % limit;
        }
        if (k > room)
            k = room;
        if (k > size - off)
            k = size - off;
        dst = buf_reserve(&in, k, limit);
        FUZZ_CHECK(dst != NULL);
        memcpy(dst, data + off, k);
        buf_commit(&in, k);
        off += k;

        for (turns = 0; turns <= (int)limit && buf_used(&in) > 0; turns++) {
            used = buf_used(&in);
            orig = buf_rptr(&in);
            copy = fuzz_dup(orig, used);
            c = (size_t)-1;
            code = -7;
            text = NULL;
            textlen = (size_t)-1;
            r = ftp_reply_feed(&p, copy, used, maxline, &c, &code, &text, &textlen);
            if (r == FTPR_ERROR) {
                fuzz_hash(&h, "E", 1);
                free(copy);
                failed = 1;
                break;
            }
            FUZZ_CHECK(r == FTPR_DONE || r == FTPR_NEED);
            FUZZ_CHECK(c <= used);
            /* Whole lines only. */
            FUZZ_CHECK(c == 0 || orig[c - 1] == '\n');
            if (r == FTPR_NEED) {
                /* What is left is one partial line, within the limit. */
                FUZZ_CHECK(memchr(orig + c, '\n', used - c) == NULL);
                FUZZ_CHECK(used - c <= maxline);
                free(copy);
                buf_consume(&in, c);
                break;
            }
            FUZZ_CHECK(c > 0);
            FUZZ_CHECK(code >= 100 && code <= 599);
            FUZZ_CHECK(text != NULL && text >= copy && textlen <= c);
            FUZZ_CHECK(text + textlen <= copy + c);
            FUZZ_CHECK(memchr(text, '\n', textlen) == NULL);
            fuzz_hash(&h, &code, sizeof(code));
            fuzz_hash(&h, &textlen, sizeof(textlen));
            fuzz_hash(&h, text, textlen);
            check_text_parsers(text, textlen);
            free(copy);
            buf_consume(&in, c);
        }
        buf_trim(&in);
    }
    fuzz_hash(&h, &p, sizeof(p));
    buf_free(&in);
    return h;
}

static void check_url(const char *s)
{
    static struct ftp_url u;

    if (ftp_parse_url(s, &u) != 0)
        return;
    FUZZ_CHECK(strnlen(u.user, sizeof(u.user)) < sizeof(u.user));
    FUZZ_CHECK(strnlen(u.pass, sizeof(u.pass)) < sizeof(u.pass));
    FUZZ_CHECK(strnlen(u.host, sizeof(u.host)) < sizeof(u.host));
    FUZZ_CHECK(strnlen(u.path, sizeof(u.path)) < sizeof(u.path));
    FUZZ_CHECK(u.host[0] != '\0');
    FUZZ_CHECK(u.port >= 1 && u.port <= 65535);
    /* Nothing that would end or split a command line. */
    FUZZ_CHECK(strpbrk(u.user, "\r\n") == NULL);
    FUZZ_CHECK(strpbrk(u.pass, "\r\n") == NULL);
    FUZZ_CHECK(strpbrk(u.path, "\r\n") == NULL);
}

static void check_format(const char *s, size_t n)
{
    char *verb = fuzz_strdup(s, n);
    char *sp = strchr(verb, ' ');
    const char *arg = NULL;
    size_t outsz = n % 96;
    char *out = malloc(outsz);
    int r;

    FUZZ_CHECK(out != NULL || outsz == 0);
    if (sp != NULL) {
        *sp = '\0';
        arg = sp + 1;
    }
    r = ftp_format_cmd(out, outsz, verb, arg);
    if (r >= 0) {
        FUZZ_CHECK((size_t)r + 1 <= outsz && strlen(out) == (size_t)r);
        FUZZ_CHECK(r >= 3 && out[r - 2] == '\r' && out[r - 1] == '\n');
        /* Exactly one line: no CR or LF before the terminator. */
        FUZZ_CHECK(strcspn(out, "\r\n") == (size_t)r - 2);
    } else {
        FUZZ_CHECK(r == -1);
    }
    free(out);
    free(verb);
}

static void check_entry(const char *line, size_t len, int r,
                        const struct ftp_entry *e)
{
    FUZZ_CHECK(r == 0 || r == 1 || r == -1);
    FUZZ_CHECK(strnlen(e->mtime, sizeof(e->mtime)) < sizeof(e->mtime));
    if (r != 0)
        return;
    FUZZ_CHECK(e->name != NULL && e->namelen > 0);
    FUZZ_CHECK(e->name >= line && e->name + e->namelen <= line + len);
    if (e->target != NULL)
        FUZZ_CHECK(e->target >= line && e->target + e->targetlen <= line + len);
    FUZZ_CHECK(e->type >= FTP_ENT_UNKNOWN && e->type <= FTP_ENT_PDIR);
}

static void check_lines(const uint8_t *data, size_t size)
{
    struct ftp_entry e;
    size_t pos = 0, n;
    const uint8_t *lf;
    char *line;
    int r;

    while (pos < size) {
        lf = memchr(data + pos, '\n', size - pos);
        n = lf ? (size_t)(lf - (data + pos)) + 1 : size - pos;
        line = fuzz_dup(data + pos, n);
        r = ftp_parse_mlsx(line, n, &e);
        check_entry(line, n, r, &e);
        r = ftp_parse_list(line, n, &e);
        check_entry(line, n, r, &e);
        free(line);
        pos += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t rng, whole, varied;
    size_t maxline;
    char *copy, *str;

    if (size > 65536)
        return 0;
    rng = fuzz_seed(data, size);
    maxline = 64 + (size_t)(rng >> 40) % 2048;
    whole = run_replies(data, size, maxline, NULL);
    varied = run_replies(data, size, maxline, &rng);
    FUZZ_CHECK(whole == varied);

    copy = fuzz_dup(data, size);
    FUZZ_CHECK((ftp_parse_feat(copy, size) & ~0xffu) == 0);
    check_text_parsers(copy, size);
    free(copy);

    str = fuzz_strdup(data, strnlen((const char *)data, size));
    check_url(str);
    check_format(str, strlen(str));
    free(str);

    check_lines(data, size);
    return 0;
}
