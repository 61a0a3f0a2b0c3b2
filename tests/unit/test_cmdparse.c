/* Unit tests for cmdparse: framing, Telnet, limits, argument helpers.
 *
 * Every input the parser sees is placed at the very end of a readable
 * mapping followed by a PROT_NONE page (picohttpparser's trick), so that a
 * read one byte past the length it was given faults instead of passing by
 * accident.
 */
#include "ferry/buf.h"
#include "ferry/cmdparse.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Every ck_assert is a message to the runner process; in the loops below,
 * which run hundreds of thousands of times, only failures may cost that. */
#define REQUIRE(c) \
    do { \
        if (!(c)) \
            ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c); \
    } while (0)

/* ---- guard pages ------------------------------------------------------ */

struct guarded {
    char  *base;
    size_t maplen;
    size_t room;       /* readable bytes before the guard page */
};

static void guard_init(struct guarded *g, size_t room)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (room + pg - 1) / pg;

    if (pages == 0)
        pages = 1;
    g->room = pages * pg;
    g->maplen = g->room + pg;
    g->base = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(g->base, MAP_FAILED);
    ck_assert_int_eq(mprotect(g->base + g->room, pg, PROT_NONE), 0);
}

static void guard_free(struct guarded *g)
{
    munmap(g->base, g->maplen);
    g->base = NULL;
}

/* Copy src[0..n) so that it ends right at the guard page. */
static char *guard_put(struct guarded *g, const void *src, size_t n)
{
    char *p;

    REQUIRE(n <= g->room);
    p = g->base + g->room - n;
    if (n)
        memcpy(p, src, n);
    return p;
}

/* A one-shot guarded copy for the argument helpers: the string and its NUL
 * end at the guard page.  The mapping is left to process exit (each test
 * runs in its own process). */
static const char *gstr(const char *s)
{
    struct guarded g;

    if (s == NULL)
        return NULL;
    guard_init(&g, strlen(s) + 1);
    return guard_put(&g, s, strlen(s) + 1);
}

/* ---- a session-shaped driver ------------------------------------------ *
 * Reads into a bounded buffer, parses every whole line, discards over-long
 * ones with cmdparse_skip_line(), exactly the loop a session runs.  The
 * bound is CMD_LINE_MAX, the least that works, or twice that, which leaves
 * a long line's end and the commands after it in the buffer together.  Each event is written to a log: "VERB" or "VERB arg" for
 * a command (non-printable bytes as \xHH, "VERB=" for an empty argument),
 * "!BAD", "!LONG"; entries end in "|". */

struct sim {
    struct buf     in;
    size_t         bound;
    int            skipping;
    struct guarded g;
    char           log[32768];
    size_t         loglen;
};

static void sim_init(struct sim *s, size_t bound)
{
    /* One guarded mapping serves every run of a test process. */
    static struct guarded g;

    if (g.base == NULL)
        guard_init(&g, 2 * CMD_LINE_MAX);
    memset(s, 0, sizeof(*s));
    s->bound = bound;
    s->g = g;
}

static void sim_free(struct sim *s)
{
    buf_free(&s->in);
}

static void sim_log(struct sim *s, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    /* One check for the whole argument: every ck_assert is a message to
     * the runner, far too slow per byte. */
    REQUIRE(s->loglen + 4 * n < sizeof(s->log));
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '|') {
            s->log[s->loglen++] = (char)c;
        } else {
            s->log[s->loglen++] = '\\';
            s->log[s->loglen++] = 'x';
            s->log[s->loglen++] = hex[c >> 4];
            s->log[s->loglen++] = hex[c & 15];
        }
    }
    s->log[s->loglen] = '\0';
}

static void sim_mark(struct sim *s, const char *text)
{
    size_t n = strlen(text);

    REQUIRE(s->loglen + n < sizeof(s->log));
    memcpy(s->log + s->loglen, text, n + 1);
    s->loglen += n;
}

static void sim_drain(struct sim *s)
{
    struct cmdline cl;
    size_t used, c;
    char *line;
    int r, done, guard;

    for (guard = 0; guard < 100000 && buf_used(&s->in) > 0; guard++) {
        used = buf_used(&s->in);
        if (s->skipping) {
            c = cmdparse_skip_line(buf_rptr(&s->in), used, &done);
            REQUIRE(c <= used);
            buf_consume(&s->in, c);
            if (done)
                s->skipping = 0;
            else
                REQUIRE(c == used);
            continue;
        }
        line = guard_put(&s->g, buf_rptr(&s->in), used);
        r = cmdparse_line(line, used, &cl, &c);
        REQUIRE(c <= used);
        switch (r) {
        case CMDP_OK:
            REQUIRE(c > 0);
            sim_mark(s, cl.verb);
            if (cl.arg != NULL) {
                REQUIRE(cl.arg >= line && cl.arg + cl.arglen < line + used);
                REQUIRE(cl.arg[cl.arglen] == '\0');
                sim_mark(s, cl.arglen ? " " : "=");
                sim_log(s, cl.arg, cl.arglen);
            }
            sim_mark(s, "|");
            break;
        case CMDP_BAD:
            REQUIRE(c > 0);
            sim_mark(s, "!BAD|");
            break;
        case CMDP_TOOLONG:
            REQUIRE(c > 0);
            sim_mark(s, "!LONG|");
            s->skipping = 1;
            break;
        case CMDP_NEED:
            REQUIRE(c == 0);
            REQUIRE(used < CMD_LINE_MAX);
            /* Nothing was rewritten: the bytes are read again later. */
            REQUIRE(memcmp(line, buf_rptr(&s->in), used) == 0);
            return;
        default:
            ck_abort_msg("bad status %d", r);
        }
        buf_consume(&s->in, c);
    }
    REQUIRE(guard < 100000);
}

static void sim_input(struct sim *s, const char *p, size_t n)
{
    size_t k, room;
    char *dst;

    while (n > 0) {
        room = s->bound - buf_used(&s->in);
        REQUIRE(room > 0);
        k = n < room ? n : room;
        dst = buf_reserve(&s->in, k, s->bound);
        REQUIRE(dst != NULL);
        memcpy(dst, p, k);
        buf_commit(&s->in, k);
        p += k;
        n -= k;
        sim_drain(s);
        buf_trim(&s->in);
    }
}

/* Run data through the driver in chunks of `chunk` bytes (0: one read). */
static void run_chunked(const char *data, size_t n, size_t bound,
                        size_t chunk, char *log, size_t logsize)
{
    struct sim s;
    size_t off, k;

    sim_init(&s, bound);
    if (chunk == 0)
        chunk = n ? n : 1;
    for (off = 0; off < n; off += k) {
        k = n - off < chunk ? n - off : chunk;
        sim_input(&s, data + off, k);
    }
    REQUIRE(s.loglen < logsize);
    memcpy(log, s.log, s.loglen + 1);
    sim_free(&s);
}

/* Two reads split at `at`. */
static void run_split(const char *data, size_t n, size_t bound, size_t at,
                      char *log, size_t logsize)
{
    struct sim s;

    sim_init(&s, bound);
    sim_input(&s, data, at);
    sim_input(&s, data + at, n - at);
    REQUIRE(s.loglen < logsize);
    memcpy(log, s.log, s.loglen + 1);
    sim_free(&s);
}

/* The log must not depend on where reads end nor on the buffer bound:
 * whole, split at every byte, and every chunk size up to `maxchunk`. */
static void expect_stream(const char *data, size_t n, const char *expect,
                          size_t maxchunk)
{
    static const size_t bounds[] = { CMD_LINE_MAX, 2 * CMD_LINE_MAX };
    static char log[32768];
    size_t at, chunk, b;

    for (b = 0; b < 2; b++) {
        run_chunked(data, n, bounds[b], 0, log, sizeof(log));
        if (strcmp(log, expect) != 0)
            ck_abort_msg("bound %zu: got \"%s\" want \"%s\"", bounds[b],
                         log, expect);
        for (at = 0; at <= n; at++) {
            run_split(data, n, bounds[b], at, log, sizeof(log));
            if (strcmp(log, expect) != 0)
                ck_abort_msg("bound %zu, split at %zu: got \"%s\" want \"%s\"",
                             bounds[b], at, log, expect);
        }
        for (chunk = 1; chunk <= maxchunk && chunk <= n; chunk++) {
            run_chunked(data, n, bounds[b], chunk, log, sizeof(log));
            if (strcmp(log, expect) != 0)
                ck_abort_msg("bound %zu, chunk %zu: got \"%s\" want \"%s\"",
                             bounds[b], chunk, log, expect);
        }
    }
}

#define S(lit) lit, sizeof(lit) - 1

/* One parse of a guarded copy. */
struct one {
    struct guarded g;
    char          *line;
    struct cmdline cl;
    size_t         consumed;
    int            r;
};

static void parse_one(struct one *o, const char *data, size_t n)
{
    guard_init(&o->g, n);
    o->line = guard_put(&o->g, data, n);
    memset(&o->cl, 0x5a, sizeof(o->cl));
    o->consumed = 12345;
    o->r = cmdparse_line(o->line, n, &o->cl, &o->consumed);
}

/* ---- framing ---------------------------------------------------------- */

START_TEST(test_simple)
{
    struct one o;

    parse_one(&o, S("NOOP\r\n"));
    ck_assert_int_eq(o.r, CMDP_OK);
    ck_assert_uint_eq(o.consumed, 6);
    ck_assert_str_eq(o.cl.verb, "NOOP");
    ck_assert_ptr_null(o.cl.arg);
    ck_assert_uint_eq(o.cl.arglen, 0);
    guard_free(&o.g);

    parse_one(&o, S("RETR pub/file.txt\r\n"));
    ck_assert_int_eq(o.r, CMDP_OK);
    ck_assert_uint_eq(o.consumed, 19);
    ck_assert_str_eq(o.cl.verb, "RETR");
    ck_assert_ptr_eq(o.cl.arg, o.line + 5);      /* in the caller's buffer */
    ck_assert_str_eq(o.cl.arg, "pub/file.txt");  /* NUL where the CR was */
    ck_assert_uint_eq(o.cl.arglen, 12);
    ck_assert_int_eq(o.line[17], '\0');
    guard_free(&o.g);
}
END_TEST

START_TEST(test_need)
{
    struct one o;
    struct cmdline cl;
    size_t c = 99;

    ck_assert_int_eq(cmdparse_line(NULL, 0, &cl, &c), CMDP_NEED);
    ck_assert_uint_eq(c, 0);

    parse_one(&o, S("NOOP\r"));
    ck_assert_int_eq(o.r, CMDP_NEED);
    ck_assert_uint_eq(o.consumed, 0);
    ck_assert_int_eq(memcmp(o.line, "NOOP\r", 5), 0);
    guard_free(&o.g);

    /* Telnet bytes are left alone until the line is complete. */
    parse_one(&o, S("\xff\xf4\xff\xf2" "AB\xff\xff"));
    ck_assert_int_eq(o.r, CMDP_NEED);
    ck_assert_int_eq(memcmp(o.line, "\xff\xf4\xff\xf2" "AB\xff\xff", 8), 0);
    guard_free(&o.g);
}
END_TEST

START_TEST(test_every_prefix_needs)
{
    static const char *const lines[] = {
        "USER anonymous\r\n",
        ("\xff\xf4\xff\xf2" "ABOR\r\n"),
        "STOR a file \xff\xff.txt\r\n",
        "EPRT |2|::1|6275|\n",
        "x\r\n",
    };
    size_t i, k, n;
    struct one o;

    for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        n = strlen(lines[i]);
        for (k = 0; k < n; k++) {
            parse_one(&o, lines[i], k);
            ck_assert_int_eq(o.r, CMDP_NEED);
            ck_assert_uint_eq(o.consumed, 0);
            ck_assert(k == 0 || memcmp(o.line, lines[i], k) == 0);
            guard_free(&o.g);
        }
        parse_one(&o, lines[i], n);
        ck_assert_int_eq(o.r, CMDP_OK);
        ck_assert_uint_eq(o.consumed, n);
        guard_free(&o.g);
    }
}
END_TEST

START_TEST(test_pipelined)
{
    static const char in[] = "USER anonymous\r\nPASS a@b\r\nSYST\r\nPWD\r\n"
                             "TYPE I\r\nEPSV\r\nRETR x\r\nQUIT\r\n";
    static const char *const verbs[] = {
        "USER", "PASS", "SYST", "PWD", "TYPE", "EPSV", "RETR", "QUIT" };
    struct guarded g;
    struct cmdline cl;
    size_t off = 0, c, n = sizeof(in) - 1;
    char *p;
    int i;

    guard_init(&g, n);
    p = guard_put(&g, in, n);
    for (i = 0; i < 8; i++) {
        ck_assert_int_eq(cmdparse_line(p + off, n - off, &cl, &c), CMDP_OK);
        ck_assert_str_eq(cl.verb, verbs[i]);
        off += c;
    }
    ck_assert_uint_eq(off, n);
    ck_assert_int_eq(cmdparse_line(p + off, 0, &cl, &c), CMDP_NEED);
    guard_free(&g);

    expect_stream(S(in), "USER anonymous|PASS a@b|SYST|PWD|TYPE I|EPSV|"
                  "RETR x|QUIT|", 64);
}
END_TEST

START_TEST(test_split_everywhere)
{
    expect_stream(S("USER anonymous\r\nPASS a@b\r\n\xff\xf4\xff\xf2"
                    "ABOR\r\nCWD  my dir \r\nnoop\n\r\nSTOR \xff\xff\r\n"
                    "MKD a\0b\r\nSIZE \xc3\xa9t\xc3\xa9\r\n"),
                  "USER anonymous|PASS a@b|ABOR|CWD my dir |NOOP|!BAD|"
                  "STOR \\xff|!BAD|SIZE \\xc3\\xa9t\\xc3\\xa9|", 200);
}
END_TEST

START_TEST(test_crlf_and_lf)
{
    expect_stream(S("NOOP\r\nNOOP\nCWD a\rb\r\nCWD a\r\r\nCWD a\r\n\n"),
                  "NOOP|NOOP|CWD a\\x0db|CWD a\\x0d|CWD a|!BAD|", 64);
    /* A CR alone is data, never a line end. */
    expect_stream(S("NOOP\rNOOP\r\n"), "!BAD|", 16);
    /* "NOOP\r" after the CRLF's CR is dropped: not a letter, not a space. */
    expect_stream(S("NOOP\r\r\n"), "!BAD|", 8);
}
END_TEST

START_TEST(test_empty_lines)
{
    expect_stream(S("\r\n\n\r\nNOOP\r\n   \r\n \r\n"),
                  "!BAD|!BAD|!BAD|NOOP|!BAD|!BAD|", 32);
}
END_TEST

START_TEST(test_lowercase)
{
    struct one o;

    parse_one(&o, S("uSeR Bob\r\n"));
    ck_assert_int_eq(o.r, CMDP_OK);
    ck_assert_str_eq(o.cl.verb, "USER");
    ck_assert_str_eq(o.cl.arg, "Bob");          /* the argument keeps case */
    guard_free(&o.g);
    expect_stream(S("noop\r\nepsv all\r\nfeat\n"), "NOOP|EPSV all|FEAT|", 32);
}
END_TEST

START_TEST(test_args_spaces)
{
    struct one o;

    parse_one(&o, S("STOR my file.txt \r\n"));
    ck_assert_int_eq(o.r, CMDP_OK);
    ck_assert_str_eq(o.cl.arg, "my file.txt ");
    ck_assert_uint_eq(o.cl.arglen, 12);
    guard_free(&o.g);

    parse_one(&o, S("CWD    dir\r\n"));
    ck_assert_int_eq(o.r, CMDP_OK);
    ck_assert_str_eq(o.cl.arg, "dir");
    ck_assert_uint_eq(o.cl.arglen, 3);
    guard_free(&o.g);

    /* "PASS " is an empty password, not a missing one. */
    parse_one(&o, S("PASS \r\n"));
    ck_assert_int_eq(o.r, CMDP_OK);
    ck_assert_ptr_nonnull(o.cl.arg);
    ck_assert_str_eq(o.cl.arg, "");
    ck_assert_uint_eq(o.cl.arglen, 0);
    guard_free(&o.g);

    parse_one(&o, S("SITE CHMOD 755  x y\r\n"));
    ck_assert_int_eq(o.r, CMDP_OK);
    ck_assert_str_eq(o.cl.verb, "SITE");
    ck_assert_str_eq(o.cl.arg, "CHMOD 755  x y");
    guard_free(&o.g);

    parse_one(&o, S("RNTO \t tab\r\n"));
    ck_assert_int_eq(o.r, CMDP_OK);
    ck_assert_str_eq(o.cl.arg, "\t tab");
    guard_free(&o.g);
}
END_TEST

START_TEST(test_bad_verbs)
{
    static const char *const bad[] = {
        " NOOP\r\n", "AB1 x\r\n", "A-B\r\n", "NOOP\tx\r\n",
        "NOOP:\r\n", "\xc3\x89TAT\r\n", "1NOOP\r\n", "ABCDEFGHIJKLMNOP\r\n",
        "ABCDEFGHIJKLMNOP x\r\n", ("\xff\xff" "NOOP\r\n"), "NO\xff\xffOP\r\n",
    };
    size_t i;
    struct one o;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse_one(&o, bad[i], strlen(bad[i]));
        if (o.r != CMDP_BAD)
            ck_abort_msg("\"%s\" gave %d", bad[i], o.r);
        ck_assert_uint_eq(o.consumed, strlen(bad[i]));
        guard_free(&o.g);
    }

    /* CMD_VERB_MAX letters are a verb (unknown ones get 500 later). */
    parse_one(&o, S("ABCDEFGHIJKLMNo x\r\n"));
    ck_assert_int_eq(o.r, CMDP_OK);
    ck_assert_str_eq(o.cl.verb, "ABCDEFGHIJKLMNO");
    ck_assert_uint_eq(strlen(o.cl.verb), CMD_VERB_MAX);
    guard_free(&o.g);
}
END_TEST

START_TEST(test_nul)
{
    struct one o;

    parse_one(&o, S("NO\0OP\r\nNOOP\r\n"));
    ck_assert_int_eq(o.r, CMDP_BAD);
    ck_assert_uint_eq(o.consumed, 7);
    guard_free(&o.g);

    expect_stream(S("NO\0OP\r\nNOOP\r\nCWD a\0b\r\n\0\r\nRETR x\0\nPWD\r\n"),
                  "!BAD|NOOP|!BAD|!BAD|!BAD|PWD|", 64);
    /* Even as the option byte of a Telnet negotiation. */
    expect_stream(S("\xff\xfb\0NOOP\r\nNOOP\r\n"), "!BAD|NOOP|", 16);
}
END_TEST

/* ---- Telnet ------------------------------------------------------------ */

START_TEST(test_telnet_lftp_abor)
{
    struct one o;

    parse_one(&o, S("\xff\xf4\xff\xf2" "ABOR\r\n"));
    ck_assert_int_eq(o.r, CMDP_OK);
    ck_assert_uint_eq(o.consumed, 10);
    ck_assert_str_eq(o.cl.verb, "ABOR");
    ck_assert_ptr_null(o.cl.arg);
    guard_free(&o.g);
    expect_stream(S("RETR big\r\n\xff\xf4\xff\xf2" "ABOR\r\nNOOP\r\n"),
                  "RETR big|ABOR|NOOP|", 32);
}
END_TEST

START_TEST(test_telnet_ftplib_abor)
{
    struct sim s;

    /* IAC IP IAC in one send, DM as urgent data, then the command. */
    sim_init(&s, 2 * CMD_LINE_MAX);
    sim_input(&s, S("\xff\xf4\xff"));
    ck_assert_str_eq(s.log, "");
    sim_input(&s, S("\xf2"));
    ck_assert_str_eq(s.log, "");
    sim_input(&s, S("ABOR\r\n"));
    ck_assert_str_eq(s.log, "ABOR|");
    ck_assert_uint_eq(buf_used(&s.in), 0);
    sim_free(&s);
}
END_TEST

START_TEST(test_telnet_sequences)
{
    /* IAC IAC is a data byte 255; negotiations and commands vanish. */
    expect_stream(S("CWD a\xff\xff" "b\r\n"), "CWD a\\xffb|", 16);
    expect_stream(S("CWD a\xff\xfb\x01" "b\xff\xfc\x03" "c\xff\xfd\x18"
                    "d\xff\xfe\x1f" "e\r\n"), "CWD abcde|", 32);
    expect_stream(S("NO\xff\xf1OP\r\n"), "NOOP|", 16);            /* NOP */
    expect_stream(S("\xff\xf6\xff\xf5\xff\xf9NOOP\r\n"), "NOOP|", 16); /* AYT AO GA */
    expect_stream(S("\xff\xfa\xff\xf0NOOP\r\n"), "NOOP|", 16);    /* SB SE */
    /* A Telnet sequence cut short by the line end is dropped. */
    expect_stream(S("NOOP\xff\r\nNOOP\xff\nNOOP\xff\xfb\nNOOP\xff\xfb\r\n"),
                  "NOOP|NOOP|NOOP|NOOP|", 64);
    /* DM between CR and LF: the CR still belongs to the terminator. */
    expect_stream(S("NOOP\r\xff\xf2\n"), "NOOP|", 8);
    /* A line of Telnet only is an empty line. */
    expect_stream(S("\xff\xf4\xff\xf2\r\n"), "!BAD|", 8);
    /* An IAC IAC pair straddling a read boundary stays one data byte. */
    expect_stream(S("STOR \xff\xff\xff\xff\r\n"), "STOR \\xff\\xff|", 16);
}
END_TEST

START_TEST(test_telnet_cannot_hide_lf)
{
    /* IAC DO LF or IAC DM LF: the LF still ends the line. */
    expect_stream(S("NOOP\xff\xfd\nUSER x\r\n"), "NOOP|USER x|", 32);
    expect_stream(S("\xff\xfd\nNOOP\r\n"), "!BAD|NOOP|", 16);
    expect_stream(S("NOOP\xff\xf2\nPWD\n"), "NOOP|PWD|", 16);
    expect_stream(S("NOOP\xff\nPWD\n"), "NOOP|PWD|", 16);
}
END_TEST

/* ---- over-long lines --------------------------------------------------- */

static char *make_line(const char *prefix, size_t total, const char *term)
{
    size_t np = strlen(prefix), nt = strlen(term);
    char *p = malloc(total + 1);

    ck_assert_ptr_nonnull(p);
    ck_assert_uint_ge(total, np + nt);
    memcpy(p, prefix, np);
    memset(p + np, 'x', total - np - nt);
    memcpy(p + total - nt, term, nt + 1);
    return p;
}

START_TEST(test_line_max_boundary)
{
    struct one o;
    char *l;

    /* Exactly CMD_LINE_MAX, terminator included: accepted. */
    l = make_line("CWD ", CMD_LINE_MAX, "\r\n");
    parse_one(&o, l, CMD_LINE_MAX);
    ck_assert_int_eq(o.r, CMDP_OK);
    ck_assert_uint_eq(o.consumed, CMD_LINE_MAX);
    ck_assert_uint_eq(o.cl.arglen, CMD_LINE_MAX - 6);
    guard_free(&o.g);
    free(l);

    l = make_line("CWD ", CMD_LINE_MAX, "\n");
    parse_one(&o, l, CMD_LINE_MAX);
    ck_assert_int_eq(o.r, CMDP_OK);
    ck_assert_uint_eq(o.cl.arglen, CMD_LINE_MAX - 5);
    guard_free(&o.g);
    free(l);

    /* One more byte: too long, and the bytes before the LF are handed back
     * (the CR with them), so that skip_line drops just the LF. */
    l = make_line("CWD ", CMD_LINE_MAX + 1, "\r\n");
    parse_one(&o, l, CMD_LINE_MAX + 1);
    ck_assert_int_eq(o.r, CMDP_TOOLONG);
    ck_assert_uint_eq(o.consumed, CMD_LINE_MAX);
    guard_free(&o.g);
    free(l);

    /* CMD_LINE_MAX bytes without a line end: too long, all of it. */
    l = make_line("CWD ", CMD_LINE_MAX, "");
    parse_one(&o, l, CMD_LINE_MAX);
    ck_assert_int_eq(o.r, CMDP_TOOLONG);
    ck_assert_uint_eq(o.consumed, CMD_LINE_MAX);
    guard_free(&o.g);
    /* One byte short of it: wait for more. */
    parse_one(&o, l, CMD_LINE_MAX - 1);
    ck_assert_int_eq(o.r, CMDP_NEED);
    ck_assert_uint_eq(o.consumed, 0);
    guard_free(&o.g);
    free(l);
}
END_TEST

START_TEST(test_toolong_then_good)
{
    struct guarded g;
    struct cmdline cl;
    size_t n, c, off;
    char *l, *p;
    int done;

    /* All in one buffer larger than CMD_LINE_MAX. */
    l = make_line("STOR ", 5000, "\r\nNOOP\r\n");
    n = strlen(l);
    guard_init(&g, n);
    p = guard_put(&g, l, n);
    ck_assert_int_eq(cmdparse_line(p, n, &cl, &c), CMDP_TOOLONG);
    ck_assert_uint_eq(c, 4993);             /* up to, not including, the LF */
    off = c;
    c = cmdparse_skip_line(p + off, n - off, &done);
    ck_assert_int_eq(done, 1);
    ck_assert_uint_eq(c, 1);
    off += c;
    ck_assert_int_eq(cmdparse_line(p + off, n - off, &cl, &c), CMDP_OK);
    ck_assert_str_eq(cl.verb, "NOOP");
    ck_assert_uint_eq(off + c, n);
    guard_free(&g);

    /* Through the bounded session loop, read boundaries anywhere. */
    expect_stream(l, n, "!LONG|NOOP|", 0);
    free(l);

    /* Two long lines back to back, then commands; LF-only too. */
    l = malloc(20000);
    ck_assert_ptr_nonnull(l);
    memset(l, 'a', 20000);
    memcpy(l + 9000, "\nPWD\r\n", 6);
    memcpy(l + 19990, "\r\nSYST\r\n\r\n", 10);
    {
        static char log[256];
        size_t chunk;
        static const size_t chunks[] = { 0, 1, 7, 512, 4095, 4096, 4097, 9001 };

        for (chunk = 0; chunk < sizeof(chunks) / sizeof(chunks[0]); chunk++) {
            run_chunked(l, 20000, CMD_LINE_MAX, chunks[chunk], log, sizeof(log));
            ck_assert_str_eq(log, "!LONG|PWD|!LONG|SYST|!BAD|");
            run_chunked(l, 20000, 2 * CMD_LINE_MAX, chunks[chunk], log, sizeof(log));
            ck_assert_str_eq(log, "!LONG|PWD|!LONG|SYST|!BAD|");
        }
    }
    free(l);
}
END_TEST

START_TEST(test_toolong_exact_fill)
{
    /* A line that fills the bounded buffer exactly with its CR, LF next. */
    char *l = make_line("CWD ", CMD_LINE_MAX + 1, "\r\n");
    char *two = malloc(CMD_LINE_MAX + 1 + 6);

    ck_assert_ptr_nonnull(two);
    memcpy(two, l, CMD_LINE_MAX + 1);
    memcpy(two + CMD_LINE_MAX + 1, "PWD\r\n", 6);
    expect_stream(two, CMD_LINE_MAX + 6, "!LONG|PWD|", 0);
    free(two);
    free(l);

    /* The longest good line, then a long one, then the longest again. */
    {
        static char in[3 * CMD_LINE_MAX + 1], want[3 * CMD_LINE_MAX];
        size_t n = 0, w = 0;

        l = make_line("CWD ", CMD_LINE_MAX, "\r\n");
        memcpy(in + n, l, CMD_LINE_MAX);
        n += CMD_LINE_MAX;
        memcpy(want + w, l, CMD_LINE_MAX - 2);
        w += CMD_LINE_MAX - 2;
        memcpy(want + w, "|!LONG|", 7);
        w += 7;
        free(l);
        l = make_line("CWD ", CMD_LINE_MAX + 1, "\n");
        memcpy(in + n, l, CMD_LINE_MAX + 1);
        n += CMD_LINE_MAX + 1;
        free(l);
        l = make_line("CWD ", CMD_LINE_MAX, "\n");
        memcpy(in + n, l, CMD_LINE_MAX);
        n += CMD_LINE_MAX;
        memcpy(want + w, l, CMD_LINE_MAX - 1);
        w += CMD_LINE_MAX - 1;
        memcpy(want + w, "|", 2);
        free(l);
        expect_stream(in, n, want, 0);
    }
}
END_TEST

START_TEST(test_skip_line)
{
    struct guarded g;
    const char *p;
    int done = 7;

    guard_init(&g, 16);
    ck_assert_uint_eq(cmdparse_skip_line(NULL, 0, &done), 0);
    ck_assert_int_eq(done, 0);
    p = guard_put(&g, "xxxx", 4);
    ck_assert_uint_eq(cmdparse_skip_line(p, 4, &done), 4);
    ck_assert_int_eq(done, 0);
    p = guard_put(&g, "xx\r\nNOOP\r\n", 10);
    ck_assert_uint_eq(cmdparse_skip_line(p, 10, &done), 4);
    ck_assert_int_eq(done, 1);
    p = guard_put(&g, "\n", 1);
    ck_assert_uint_eq(cmdparse_skip_line(p, 1, &done), 1);
    ck_assert_int_eq(done, 1);
    guard_free(&g);
}
END_TEST

/* ---- argument helpers -------------------------------------------------- */

START_TEST(test_type)
{
    ck_assert_int_eq(cmdparse_type(gstr("A")), 'A');
    ck_assert_int_eq(cmdparse_type(gstr("a")), 'A');
    ck_assert_int_eq(cmdparse_type(gstr("A N")), 'A');
    ck_assert_int_eq(cmdparse_type(gstr("a n")), 'A');
    ck_assert_int_eq(cmdparse_type(gstr("I")), 'I');
    ck_assert_int_eq(cmdparse_type(gstr("i")), 'I');
    ck_assert_int_eq(cmdparse_type(gstr("L 8")), 'I');
    ck_assert_int_eq(cmdparse_type(gstr("L8")), 'I');
    ck_assert_int_eq(cmdparse_type(gstr("l 8")), 'I');
    ck_assert_int_eq(cmdparse_type(NULL), -1);
    ck_assert_int_eq(cmdparse_type(gstr("")), -1);
    ck_assert_int_eq(cmdparse_type(gstr("E")), -1);
    ck_assert_int_eq(cmdparse_type(gstr("A T")), -1);
    ck_assert_int_eq(cmdparse_type(gstr("A C")), -1);
    ck_assert_int_eq(cmdparse_type(gstr("A ")), -1);
    ck_assert_int_eq(cmdparse_type(gstr("A N ")), -1);
    ck_assert_int_eq(cmdparse_type(gstr("AN")), -1);
    ck_assert_int_eq(cmdparse_type(gstr("I ")), -1);
    ck_assert_int_eq(cmdparse_type(gstr("IMAGE")), -1);
    ck_assert_int_eq(cmdparse_type(gstr("L 7")), -1);
    ck_assert_int_eq(cmdparse_type(gstr("L")), -1);
    ck_assert_int_eq(cmdparse_type(gstr("L 8 ")), -1);
    ck_assert_int_eq(cmdparse_type(gstr(" I")), -1);
}
END_TEST

START_TEST(test_offset)
{
    unsigned long long off = 77;

    ck_assert_int_eq(cmdparse_offset(gstr("0"), &off), 0);
    ck_assert_uint_eq(off, 0);
    ck_assert_int_eq(cmdparse_offset(gstr("1048576"), &off), 0);
    ck_assert_uint_eq(off, 1048576);
    ck_assert_int_eq(cmdparse_offset(gstr("00042"), &off), 0);
    ck_assert_uint_eq(off, 42);
    ck_assert_int_eq(cmdparse_offset(gstr("18446744073709551615"), &off), 0);
    ck_assert(off == 18446744073709551615ULL);
    ck_assert_int_eq(cmdparse_offset(gstr("00018446744073709551615"), &off), 0);
    ck_assert(off == 18446744073709551615ULL);

    off = 77;
    ck_assert_int_eq(cmdparse_offset(gstr("18446744073709551616"), &off), -1);
    ck_assert_int_eq(cmdparse_offset(gstr("18446744073709551620"), &off), -1);
    ck_assert_int_eq(cmdparse_offset(gstr("99999999999999999999"), &off), -1);
    ck_assert_int_eq(cmdparse_offset(gstr("184467440737095516150"), &off), -1);
    ck_assert_int_eq(cmdparse_offset(NULL, &off), -1);
    ck_assert_int_eq(cmdparse_offset(gstr(""), &off), -1);
    ck_assert_int_eq(cmdparse_offset(gstr("-1"), &off), -1);
    ck_assert_int_eq(cmdparse_offset(gstr("+1"), &off), -1);
    ck_assert_int_eq(cmdparse_offset(gstr(" 1"), &off), -1);
    ck_assert_int_eq(cmdparse_offset(gstr("1 "), &off), -1);
    ck_assert_int_eq(cmdparse_offset(gstr("1a"), &off), -1);
    ck_assert_int_eq(cmdparse_offset(gstr("0x10"), &off), -1);
    ck_assert_int_eq(cmdparse_offset(gstr("1e3"), &off), -1);
    ck_assert_uint_eq(off, 77);   /* untouched on failure */
}
END_TEST

START_TEST(test_opts_utf8)
{
    ck_assert_int_eq(cmdparse_opts_utf8(gstr("UTF8 ON")), 1);
    ck_assert_int_eq(cmdparse_opts_utf8(gstr("utf8 on")), 1);
    ck_assert_int_eq(cmdparse_opts_utf8(gstr("UTF-8 ON")), 1);
    ck_assert_int_eq(cmdparse_opts_utf8(gstr("UTF8  ON")), 1);
    ck_assert_int_eq(cmdparse_opts_utf8(gstr("UTF8 OFF")), 0);
    ck_assert_int_eq(cmdparse_opts_utf8(gstr("Utf8 oFf")), 0);
    ck_assert_int_eq(cmdparse_opts_utf8(NULL), -1);
    ck_assert_int_eq(cmdparse_opts_utf8(gstr("")), -1);
    ck_assert_int_eq(cmdparse_opts_utf8(gstr("UTF8")), -1);
    ck_assert_int_eq(cmdparse_opts_utf8(gstr("UTF8 ")), -1);
    ck_assert_int_eq(cmdparse_opts_utf8(gstr("UTF8ON")), -1);
    ck_assert_int_eq(cmdparse_opts_utf8(gstr("UTF8 ONE")), -1);
    ck_assert_int_eq(cmdparse_opts_utf8(gstr("UTF8 O")), -1);
    ck_assert_int_eq(cmdparse_opts_utf8(gstr("UTF8 ON ")), -1);
    ck_assert_int_eq(cmdparse_opts_utf8(gstr("UTF")), -1);
    ck_assert_int_eq(cmdparse_opts_utf8(gstr("MLST type;size;")), -1);
}
END_TEST

START_TEST(test_list_arg)
{
    const char *a;
    int all = 9;

    ck_assert_str_eq(cmdparse_list_arg(NULL, &all), "");
    ck_assert_int_eq(all, 0);
    ck_assert_str_eq(cmdparse_list_arg(gstr(""), &all), "");
    ck_assert_str_eq(cmdparse_list_arg(gstr("-la"), &all), "");
    ck_assert_int_eq(all, 1);
    ck_assert_str_eq(cmdparse_list_arg(gstr("-l"), &all), "");
    ck_assert_int_eq(all, 0);
    ck_assert_str_eq(cmdparse_list_arg(gstr("-A /pub"), &all), "/pub");
    ck_assert_int_eq(all, 1);
    ck_assert_str_eq(cmdparse_list_arg(gstr("-l -a  pub dir "), &all), "pub dir ");
    ck_assert_int_eq(all, 1);
    ck_assert_str_eq(cmdparse_list_arg(gstr("-lR1 x"), &all), "x");
    ck_assert_int_eq(all, 0);
    ck_assert_str_eq(cmdparse_list_arg(gstr("pub"), &all), "pub");
    ck_assert_int_eq(all, 0);
    /* Not option words: paths. */
    ck_assert_str_eq(cmdparse_list_arg(gstr("-"), &all), "-");
    ck_assert_str_eq(cmdparse_list_arg(gstr("-a.txt"), &all), "-a.txt");
    ck_assert_int_eq(all, 0);
    ck_assert_str_eq(cmdparse_list_arg(gstr("-l -x.y"), &all), "-x.y");
    ck_assert_str_eq(cmdparse_list_arg(gstr("--"), &all), "--");
    ck_assert_str_eq(cmdparse_list_arg(gstr("- a"), &all), "- a");
    ck_assert_str_eq(cmdparse_list_arg(gstr("dir -a"), &all), "dir -a");
    ck_assert_int_eq(all, 0);
    /* The result points into the argument. */
    a = gstr("-a x");
    ck_assert_ptr_eq(cmdparse_list_arg(a, &all), a + 3);
}
END_TEST

START_TEST(test_port)
{
    unsigned char ip[4] = { 9, 9, 9, 9 };
    unsigned port = 7;

    ck_assert_int_eq(cmdparse_port(gstr("127,0,0,1,4,1"), ip, &port), 0);
    ck_assert_int_eq(ip[0], 127);
    ck_assert_int_eq(ip[1], 0);
    ck_assert_int_eq(ip[2], 0);
    ck_assert_int_eq(ip[3], 1);
    ck_assert_uint_eq(port, 1025);
    ck_assert_int_eq(cmdparse_port(gstr("255,255,255,255,255,255"), ip, &port), 0);
    ck_assert_int_eq(ip[3], 255);
    ck_assert_uint_eq(port, 65535);
    ck_assert_int_eq(cmdparse_port(gstr("0,0,0,0,0,1"), ip, &port), 0);
    ck_assert_uint_eq(port, 1);
    ck_assert_int_eq(cmdparse_port(gstr("010,001,000,002,000,021"), ip, &port), 0);
    ck_assert_int_eq(ip[0], 10);
    ck_assert_uint_eq(port, 21);

    ip[0] = 9;
    port = 7;
    ck_assert_int_eq(cmdparse_port(NULL, ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr(""), ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr("256,0,0,1,4,1"), ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr("127,0,0,1,4,256"), ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr("127,0,0,1,256,1"), ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr("127,0,0,1,0,0"), ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr("127,0,0,1,4"), ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr("127,0,0,1,4,1,"), ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr("127,0,0,1,4,1,5"), ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr("127,0,,1,4,1"), ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr(",127,0,0,1,4,1"), ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr("0127,0,0,1,4,1"), ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr("127,0,0,1,4,0001"), ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr("127, 0,0,1,4,1"), ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr("127,0,0,1,4,1 "), ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr(" 127,0,0,1,4,1"), ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr("-1,0,0,1,4,1"), ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr("127.0.0.1,4,1"), ip, &port), -1);
    ck_assert_int_eq(cmdparse_port(gstr("4294967423,0,0,1,4,1"), ip, &port), -1);
    ck_assert_int_eq(ip[0], 9);
    ck_assert_uint_eq(port, 7);
}
END_TEST

START_TEST(test_eprt)
{
    char addr[64];
    char small[10];
    int proto = 0;
    unsigned port = 0;

    ck_assert_int_eq(cmdparse_eprt(gstr("|1|132.235.1.2|6275|"), &proto,
                                   addr, sizeof(addr), &port), 0);
    ck_assert_int_eq(proto, 1);
    ck_assert_str_eq(addr, "132.235.1.2");
    ck_assert_uint_eq(port, 6275);
    ck_assert_int_eq(cmdparse_eprt(gstr("|2|1080::8:800:200C:417A|5282|"), &proto,
                                   addr, sizeof(addr), &port), 0);
    ck_assert_int_eq(proto, 2);
    ck_assert_str_eq(addr, "1080::8:800:200C:417A");
    ck_assert_uint_eq(port, 5282);
    ck_assert_int_eq(cmdparse_eprt(gstr("|2|::1|65535|"), &proto,
                                   addr, sizeof(addr), &port), 0);
    ck_assert_uint_eq(port, 65535);
    ck_assert_int_eq(cmdparse_eprt(gstr("|2|::ffff:127.0.0.1|1|"), &proto,
                                   addr, sizeof(addr), &port), 0);
    ck_assert_uint_eq(port, 1);
    /* Any delimiter from 33 to 126. */
    ck_assert_int_eq(cmdparse_eprt(gstr("!1!127.0.0.1!21!"), &proto,
                                   addr, sizeof(addr), &port), 0);
    ck_assert_str_eq(addr, "127.0.0.1");
    ck_assert_int_eq(cmdparse_eprt(gstr("~2~::1~21~"), &proto,
                                   addr, sizeof(addr), &port), 0);
    ck_assert_int_eq(cmdparse_eprt(gstr("x1x10.0.0.1x2121x"), &proto,
                                   addr, sizeof(addr), &port), 0);
    ck_assert_uint_eq(port, 2121);
    /* Exactly fits the caller's buffer (9 chars + NUL). */
    ck_assert_int_eq(cmdparse_eprt(gstr("|1|127.0.0.1|21|"), &proto,
                                   small, sizeof(small), &port), 0);
    ck_assert_str_eq(small, "127.0.0.1");

    port = 4;
    ck_assert_int_eq(cmdparse_eprt(gstr("|1|10.10.10.10|21|"), &proto,
                                   small, sizeof(small), &port), -1);
    ck_assert_uint_eq(port, 4);
#define BAD_EPRT(s) \
    ck_assert_int_eq(cmdparse_eprt(gstr(s), &proto, addr, sizeof(addr), &port), -1)
    ck_assert_int_eq(cmdparse_eprt(NULL, &proto, addr, sizeof(addr), &port), -1);
    BAD_EPRT("");
    BAD_EPRT("|");
    BAD_EPRT("|1|");
    BAD_EPRT("|1|127.0.0.1|");
    BAD_EPRT("|1|127.0.0.1|21");
    BAD_EPRT("|1|127.0.0.1|21||");
    BAD_EPRT("|1|127.0.0.1|21| ");
    BAD_EPRT(" |1|127.0.0.1|21|");
    BAD_EPRT("\x7f" "1\x7f" "127.0.0.1\x7f" "21\x7f");
    BAD_EPRT("\x1f" "1\x1f" "127.0.0.1\x1f" "21\x1f");
    BAD_EPRT("|3|127.0.0.1|21|");
    BAD_EPRT("|0|127.0.0.1|21|");
    BAD_EPRT("|01|127.0.0.1|21|");
    BAD_EPRT("||127.0.0.1|21|");
    BAD_EPRT("|1|::1|21|");
    BAD_EPRT("|2|127.0.0.1|21|");
    BAD_EPRT("|1||21|");
    BAD_EPRT("|1|127.0.0.256|21|");
    BAD_EPRT("|1|127.0.0|21|");
    BAD_EPRT("|1| 127.0.0.1|21|");
    BAD_EPRT("|2|fe80::1%eth0|21|");
    BAD_EPRT("|2|1:2:3:4:5:6:7:8:9:a:b:c:d:e:f:0:1:2:3:4:5:6:7:8|21|");
    BAD_EPRT("|1|127.0.0.1|0|");
    BAD_EPRT("|1|127.0.0.1|65536|");
    BAD_EPRT("|1|127.0.0.1|000021|");
    BAD_EPRT("|1|127.0.0.1|-21|");
    BAD_EPRT("|1|127.0.0.1|2 1|");
    BAD_EPRT("|1|127.0.0.1||");
    BAD_EPRT("1|127.0.0.1|21|");   /* '1' as the delimiter: no proto left */
#undef BAD_EPRT
}
END_TEST

START_TEST(test_epsv)
{
    ck_assert_int_eq(cmdparse_epsv(NULL), 0);
    ck_assert_int_eq(cmdparse_epsv(gstr("")), 0);
    ck_assert_int_eq(cmdparse_epsv(gstr("ALL")), 'A');
    ck_assert_int_eq(cmdparse_epsv(gstr("all")), 'A');
    ck_assert_int_eq(cmdparse_epsv(gstr("1")), 1);
    ck_assert_int_eq(cmdparse_epsv(gstr("2")), 2);
    ck_assert_int_eq(cmdparse_epsv(gstr("3")), -1);
    ck_assert_int_eq(cmdparse_epsv(gstr("12")), -1);
    ck_assert_int_eq(cmdparse_epsv(gstr("AL")), -1);
    ck_assert_int_eq(cmdparse_epsv(gstr("ALLL")), -1);
    ck_assert_int_eq(cmdparse_epsv(gstr("ALL ")), -1);
    ck_assert_int_eq(cmdparse_epsv(gstr(" 1")), -1);
}
END_TEST

static Suite *cmdparse_suite(void)
{
    Suite *s = suite_create("cmdparse");
    TCase *tc = tcase_create("framing");
    TCase *tt = tcase_create("telnet");
    TCase *tl = tcase_create("long");
    TCase *ta = tcase_create("args");

    tcase_add_test(tc, test_simple);
    tcase_add_test(tc, test_need);
    tcase_add_test(tc, test_every_prefix_needs);
    tcase_add_test(tc, test_pipelined);
    tcase_add_test(tc, test_split_everywhere);
    tcase_add_test(tc, test_crlf_and_lf);
    tcase_add_test(tc, test_empty_lines);
    tcase_add_test(tc, test_lowercase);
    tcase_add_test(tc, test_args_spaces);
    tcase_add_test(tc, test_bad_verbs);
    tcase_add_test(tc, test_nul);
    suite_add_tcase(s, tc);

    tcase_add_test(tt, test_telnet_lftp_abor);
    tcase_add_test(tt, test_telnet_ftplib_abor);
    tcase_add_test(tt, test_telnet_sequences);
    tcase_add_test(tt, test_telnet_cannot_hide_lf);
    suite_add_tcase(s, tt);

    /* Every read boundary of a 5000-byte stream: give it time under
     * valgrind. */
    tcase_set_timeout(tl, 600);
    tcase_add_test(tl, test_line_max_boundary);
    tcase_add_test(tl, test_toolong_then_good);
    tcase_add_test(tl, test_toolong_exact_fill);
    tcase_add_test(tl, test_skip_line);
    suite_add_tcase(s, tl);

    tcase_add_test(ta, test_type);
    tcase_add_test(ta, test_offset);
    tcase_add_test(ta, test_opts_utf8);
    tcase_add_test(ta, test_list_arg);
    tcase_add_test(ta, test_port);
    tcase_add_test(ta, test_eprt);
    tcase_add_test(ta, test_epsv);
    suite_add_tcase(s, ta);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cmdparse_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
