/* fuzz_cmdparse: a control-connection byte stream through the session's
 * read loop.
 *
 * The input is what a client sends.  It is read into a struct buf, and
 * every whole line is parsed with cmdparse_line(); an over-long one
 * switches to cmdparse_skip_line() until its end, as the session does.  Each parse
 * sees an exact-size heap copy of the unread bytes, so that AddressSanitizer
 * catches a read past the length.  Checked on every line:
 *   - the status, verb and argument match a small reference parser written
 *     from the header's contract (Telnet stripping, CR, NUL, verb rules);
 *   - consumed counts stop exactly at a line end, and NEED rewrites nothing;
 *   - every argument helper keeps its own properties (args_check.h);
 *   - the events do not depend on the read boundaries: the stream is run
 *     once as the session reads it (a buffer of 2 * CMD_LINE_MAX, reads as
 *     large as it takes) and once with a buffer of just CMD_LINE_MAX and
 *     read sizes derived from the input; the two event logs must be
 *     identical.
 */
#include "args_check.h"
#include "ferry/buf.h"
#include "ferry/cmdparse.h"

/* ---- the reference: one complete line, LF excluded ---------------------- */

enum { REF_OK, REF_BAD };

struct ref {
    int    status;
    char   verb[CMD_VERB_MAX + 1];
    int    has_arg;
    char   arg[CMD_LINE_MAX];
    size_t arglen;
};

static void ref_parse(const unsigned char *raw, size_t n, struct ref *r)
{
    unsigned char text[CMD_LINE_MAX];
    size_t t = 0, i, v, a;

    r->status = REF_BAD;
    r->verb[0] = '\0';
    r->has_arg = 0;
    r->arglen = 0;
    for (i = 0; i < n; i++)
        if (raw[i] == 0)
            return;
    for (i = 0; i < n;) {
        if (raw[i] != 255) {
            text[t++] = raw[i++];
        } else if (i + 1 == n) {
            break;
        } else if (raw[i + 1] == 255) {
            text[t++] = 255;
            i += 2;
        } else if (raw[i + 1] >= 251 && raw[i + 1] <= 254) {
            i += 3;
        } else {
            i += 2;
        }
    }
    if (t > 0 && text[t - 1] == '\r')
        t--;
    for (v = 0; v < t; v++) {
        unsigned char c = text[v];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            break;
    }
    if (v == 0 || v > CMD_VERB_MAX || (v < t && text[v] != ' '))
        return;
    for (i = 0; i < v; i++)
        r->verb[i] = (char)((text[i] >= 'a') ? text[i] - 32 : text[i]);
    r->verb[v] = '\0';
    r->status = REF_OK;
    if (v == t)
        return;
    for (a = v; a < t && text[a] == ' '; a++)
        ;
    r->has_arg = 1;
    r->arglen = t - a;
    memcpy(r->arg, text + a, r->arglen);
}

/* ---- the session loop --------------------------------------------------- */

static void log_event(uint64_t *h, int status, const struct cmdline *cl)
{
    fuzz_hash(h, &status, sizeof(status));
    if (status != CMDP_OK)
        return;
    fuzz_hash(h, cl->verb, strlen(cl->verb) + 1);
    if (cl->arg != NULL)
        fuzz_hash(h, cl->arg, cl->arglen + 1);
    else
        fuzz_hash(h, "\xff", 1);
}

static void check_line(const char *orig, const char *line, size_t used,
                       const struct cmdline *cl, int r, size_t c)
{
    struct ref ref;
    size_t i;

    FUZZ_CHECK(c > 0 && c <= used && c <= CMD_LINE_MAX);
    FUZZ_CHECK(orig[c - 1] == '\n');
    FUZZ_CHECK(memchr(orig, '\n', c - 1) == NULL);
    ref_parse((const unsigned char *)orig, c - 1, &ref);
    if (r == CMDP_BAD) {
        FUZZ_CHECK(ref.status == REF_BAD);
        return;
    }
    FUZZ_CHECK(r == CMDP_OK && ref.status == REF_OK);
    FUZZ_CHECK(strcmp(cl->verb, ref.verb) == 0);
    for (i = 0; cl->verb[i] != '\0'; i++)
        FUZZ_CHECK(cl->verb[i] >= 'A' && cl->verb[i] <= 'Z');
    FUZZ_CHECK(i >= 1 && i <= CMD_VERB_MAX);
    if (!ref.has_arg) {
        FUZZ_CHECK(cl->arg == NULL && cl->arglen == 0);
        return;
    }
    FUZZ_CHECK(cl->arg != NULL);
    FUZZ_CHECK(cl->arg >= line && cl->arg + cl->arglen < line + c);
    FUZZ_CHECK(cl->arg[cl->arglen] == '\0');
    FUZZ_CHECK(strlen(cl->arg) == cl->arglen);
    FUZZ_CHECK(cl->arglen == ref.arglen);
    FUZZ_CHECK(memcmp(cl->arg, ref.arg, ref.arglen) == 0);
}

/* Parse and skip what the buffer holds; returns when more input is
 * needed.  *skipping is the session's "discard until end of line" mode. */
static void drain(struct buf *in, size_t bound, int *skipping, uint64_t *h)
{
    struct cmdline cl;
    size_t used, c;
    char *line;
    const char *orig;
    int r, done, turns;

    /* Every turn consumes at least one byte: bounded by the buffer. */
    for (turns = 0; (size_t)turns <= bound && buf_used(in) > 0; turns++) {
        used = buf_used(in);
        orig = buf_rptr(in);
        if (*skipping) {
            line = fuzz_dup(orig, used);
            c = cmdparse_skip_line(line, used, &done);
            free(line);
            if (done) {
                FUZZ_CHECK(c > 0 && c <= used && orig[c - 1] == '\n');
                FUZZ_CHECK(memchr(orig, '\n', c - 1) == NULL);
                *skipping = 0;
            } else {
                FUZZ_CHECK(c == used && memchr(orig, '\n', used) == NULL);
            }
            buf_consume(in, c);
            continue;
        }
        line = fuzz_dup(orig, used);
        memset(&cl, 0x5a, sizeof(cl));
        c = 777;
        r = cmdparse_line(line, used, &cl, &c);
        switch (r) {
        case CMDP_OK:
        case CMDP_BAD:
            check_line(orig, line, used, &cl, r, c);
            log_event(h, r, &cl);
            if (r == CMDP_OK)
                check_args(cl.arg, cl.arglen);
            break;
        case CMDP_TOOLONG:
            /* No line end in the first CMD_LINE_MAX bytes; handed back
             * is everything before the line end (all when there is none),
             * never the LF itself. */
            FUZZ_CHECK(used >= CMD_LINE_MAX && c >= CMD_LINE_MAX && c <= used);
            FUZZ_CHECK(memchr(orig, '\n', c) == NULL);
            FUZZ_CHECK(c == used || orig[c] == '\n');
            log_event(h, r, &cl);
            *skipping = 1;
            break;
        case CMDP_NEED:
            FUZZ_CHECK(c == 0 && used < CMD_LINE_MAX);
            FUZZ_CHECK(memchr(orig, '\n', used) == NULL);
            FUZZ_CHECK(memcmp(line, orig, used) == 0);
            free(line);
            return;
        default:
            FUZZ_CHECK(!"unknown status");
        }
        free(line);
        buf_consume(in, c);
    }
    FUZZ_CHECK(buf_used(in) == 0 || (size_t)turns <= bound);
}

/* Feed the stream into a buffer of at most `bound` bytes, in reads of
 * varied sizes (rng != NULL) or of as much as the buffer takes; returns a
 * hash of the events. */
static uint64_t run(const uint8_t *data, size_t size, size_t bound,
                    uint64_t *rng)
{
    struct buf in = BUF_INIT;
    uint64_t h = 1469598103934665603ULL, x;
    size_t off = 0, k, room;
    int skipping = 0, reads;
    char *dst;

    for (reads = 0; off < size; reads++) {
        FUZZ_CHECK((size_t)reads <= size);   /* each read takes >= 1 byte */
        room = bound - buf_used(&in);
        FUZZ_CHECK(room > 0);   /* the parser always frees a full buffer */
        k = size - off;
        if (rng != NULL) {
            x = fuzz_next(rng);
            /* Mostly large reads, one in eight tiny: tiny reads of a long
             * line cost a parse of the whole buffer each. */
            k = (x & 7) == 0 ? 1 + (x >> 3) % 16 : 1 + (x >> 3) % CMD_LINE_MAX;
        }
        if (k > room)
            k = room;
        if (k > size - off)
            k = size - off;
        dst = buf_reserve(&in, k, bound);
        FUZZ_CHECK(dst != NULL);
        memcpy(dst, data + off, k);
        buf_commit(&in, k);
        off += k;
        drain(&in, bound, &skipping, &h);
        buf_trim(&in);
    }
    fuzz_hash(&h, &skipping, sizeof(skipping));
    buf_free(&in);
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t rng, whole, varied;

    if (size > (1 << 20))
        return 0;
    whole = run(data, size, 2 * CMD_LINE_MAX, NULL);
    rng = fuzz_seed(data, size);
    varied = run(data, size, CMD_LINE_MAX, &rng);
    FUZZ_CHECK(whole == varied);
    return 0;
}
