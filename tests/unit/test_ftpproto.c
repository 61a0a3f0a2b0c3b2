/* Unit tests for ftpproto, the client-side FTP wire parsers.
 *
 * Inputs are copied to the very end of a page followed by an inaccessible
 * guard page (as picohttpparser's tests do), so any read past the length
 * the parser was given faults instead of passing silently.
 */
#include "ferry/ftpproto.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static char *guard_base;
static size_t guard_page;

static void guard_setup(void)
{
    guard_page = (size_t)sysconf(_SC_PAGESIZE);
    guard_base = mmap(NULL, guard_page * 3, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(guard_base, MAP_FAILED);
    ck_assert_int_eq(mprotect(guard_base + 2 * guard_page, guard_page, PROT_NONE), 0);
}

static void guard_teardown(void)
{
    munmap(guard_base, guard_page * 3);
}

/* s[0..n) placed so that s[n] is the first byte of the guard page. */
static const char *G(const char *s, size_t n)
{
    char *p = guard_base + 2 * guard_page - n;

    ck_assert_uint_le(n, 2 * guard_page);
    memcpy(p, s, n);
    return p;
}
#define GS(lit) G(lit, strlen(lit))

/* ---- replies ---- */

static int feed_all(const char *in, int *code, char *text, size_t textsz,
                    size_t *used)
{
    struct ftp_reply_parser p;
    size_t consumed;
    const char *t;
    size_t tl;
    int r;

    ftp_reply_init(&p);
    r = ftp_reply_feed(&p, GS(in), strlen(in), 512, &consumed, code, &t, &tl);
    if (used != NULL)
        *used = consumed;
    if (r == FTPR_DONE && text != NULL) {
        ck_assert_uint_lt(tl, textsz);
        memcpy(text, t, tl);
        text[tl] = '\0';
    }
    return r;
}

START_TEST(reply_single)
{
    int code = 0;
    char text[64];
    size_t used;

    ck_assert_int_eq(feed_all("220 ferry ready\r\n", &code, text, sizeof(text), &used), FTPR_DONE);
    ck_assert_int_eq(code, 220);
    ck_assert_str_eq(text, "ferry ready");
    ck_assert_uint_eq(used, 17);
}
END_TEST

START_TEST(reply_bare_code_and_lf)
{
    int code = 0;
    char text[64];

    ck_assert_int_eq(feed_all("200\r\n", &code, text, sizeof(text), NULL), FTPR_DONE);
    ck_assert_int_eq(code, 200);
    ck_assert_str_eq(text, "");
    ck_assert_int_eq(feed_all("331 Password please\n", &code, text, sizeof(text), NULL), FTPR_DONE);
    ck_assert_int_eq(code, 331);
    ck_assert_str_eq(text, "Password please");
}
END_TEST

START_TEST(reply_multiline)
{
    const char *in = "211-Features:\r\n EPSV\r\n212 another code\r\n"
                     "230 inner line with another code\r\n 211 indented\r\n"
                     "211-dash repeat\r\n211 End\r\nNEXT";
    int code = 0;
    char text[64];
    size_t used;

    ck_assert_int_eq(feed_all(in, &code, text, sizeof(text), &used), FTPR_DONE);
    ck_assert_int_eq(code, 211);
    ck_assert_str_eq(text, "End");
    ck_assert_uint_eq(used, strlen(in) - 4);
}
END_TEST

START_TEST(reply_multiline_inner_same_code_space_ends)
{
    /* RFC 959: the block ends at the first line "NNN " with the same code. */
    int code = 0;
    char text[64];

    ck_assert_int_eq(feed_all("230-Welcome\r\n230 done\r\n", &code, text, sizeof(text), NULL),
                     FTPR_DONE);
    ck_assert_int_eq(code, 230);
    ck_assert_str_eq(text, "done");
}
END_TEST

START_TEST(reply_byte_by_byte)
{
    const char *in = "250-first\r\n second\r\n250 last\r\n";
    struct ftp_reply_parser p;
    char buf[128];
    size_t have = 0, i, n = strlen(in);
    int done = 0;

    ftp_reply_init(&p);
    for (i = 0; i < n; i++) {
        size_t consumed;
        const char *t = NULL;
        size_t tl = 0;
        int code = 0, r;

        buf[have++] = in[i];
        r = ftp_reply_feed(&p, G(buf, have), have, 512, &consumed, &code, &t, &tl);
        ck_assert_int_ne(r, FTPR_ERROR);
        memmove(buf, buf + consumed, have - consumed);
        have -= consumed;
        if (r == FTPR_DONE) {
            ck_assert_int_eq(code, 250);
            ck_assert_uint_eq(tl, 4);
            ck_assert_int_eq(memcmp(t, "last", 4), 0);
            ck_assert_uint_eq(i, n - 1);
            done = 1;
        }
    }
    ck_assert(done);
    ck_assert_uint_eq(have, 0);
}
END_TEST

START_TEST(reply_two_in_one_buffer)
{
    const char *in = "150 Opening\r\n226 Done\r\n";
    struct ftp_reply_parser p;
    size_t consumed, off = 0, n = strlen(in);
    int code;
    const char *buf = GS(in);

    ftp_reply_init(&p);
    ck_assert_int_eq(ftp_reply_feed(&p, buf, n, 0, &consumed, &code, NULL, NULL), FTPR_DONE);
    ck_assert_int_eq(code, 150);
    off += consumed;
    ck_assert_int_eq(ftp_reply_feed(&p, buf + off, n - off, 0, &consumed, &code, NULL, NULL),
                     FTPR_DONE);
    ck_assert_int_eq(code, 226);
    ck_assert_uint_eq(off + consumed, n);
}
END_TEST

START_TEST(reply_need_more)
{
    int code = 0;
    size_t used = 99;

    ck_assert_int_eq(feed_all("220 partial", &code, NULL, 0, &used), FTPR_NEED);
    ck_assert_uint_eq(used, 0);
    ck_assert_int_eq(feed_all("", &code, NULL, 0, &used), FTPR_NEED);
    /* Inner lines are consumed as they come. */
    ck_assert_int_eq(feed_all("220-a\r\n b\r\n220 c", &code, NULL, 0, &used), FTPR_NEED);
    ck_assert_uint_eq(used, 11);
}
END_TEST

START_TEST(reply_errors)
{
    int code = 0;
    char longline[600];

    ck_assert_int_eq(feed_all("hello\r\n", &code, NULL, 0, NULL), FTPR_ERROR);
    ck_assert_int_eq(feed_all("22 short\r\n", &code, NULL, 0, NULL), FTPR_ERROR);
    ck_assert_int_eq(feed_all("620 bad class\r\n", &code, NULL, 0, NULL), FTPR_ERROR);
    ck_assert_int_eq(feed_all("099 bad class\r\n", &code, NULL, 0, NULL), FTPR_ERROR);
    ck_assert_int_eq(feed_all("2200 no separator\r\n", &code, NULL, 0, NULL), FTPR_ERROR);
    memset(longline, 'x', sizeof(longline) - 1);
    memcpy(longline, "220 ", 4);
    longline[sizeof(longline) - 1] = '\0';
    /* No line end yet, but already past maxline (512). */
    ck_assert_int_eq(feed_all(longline, &code, NULL, 0, NULL), FTPR_ERROR);
}
END_TEST

START_TEST(reply_maxline_counts_terminator)
{
    struct ftp_reply_parser p;
    size_t consumed;
    int code;

    ftp_reply_init(&p);
    ck_assert_int_eq(ftp_reply_feed(&p, GS("200 ok\r\n"), 8, 8, &consumed, &code, NULL, NULL),
                     FTPR_DONE);
    ftp_reply_init(&p);
    ck_assert_int_eq(ftp_reply_feed(&p, GS("200 ok\r\n"), 8, 7, &consumed, &code, NULL, NULL),
                     FTPR_ERROR);
}
END_TEST

/* ---- PASV / EPSV ---- */

START_TEST(pasv_227)
{
    unsigned char ip[4];
    unsigned port = 0;
    const char *t = "Entering Passive Mode (127,0,0,1,195,80).";

    ck_assert_int_eq(ftp_parse_227(GS(t), strlen(t), ip, &port), 0);
    ck_assert_uint_eq(ip[0], 127);
    ck_assert_uint_eq(ip[3], 1);
    ck_assert_uint_eq(port, 195 * 256 + 80);

    t = "Entering Passive Mode 10,1,2,3,4,5";
    ck_assert_int_eq(ftp_parse_227(GS(t), strlen(t), ip, &port), 0);
    ck_assert_uint_eq(ip[0], 10);
    ck_assert_uint_eq(port, 4 * 256 + 5);

    /* A number before the tuple must not confuse it. */
    t = "=2 (192,168,0,10,0,21)";
    ck_assert_int_eq(ftp_parse_227(GS(t), strlen(t), ip, &port), 0);
    ck_assert_uint_eq(ip[0], 192);
    ck_assert_uint_eq(port, 21);
}
END_TEST

START_TEST(pasv_227_bad)
{
    unsigned char ip[4];
    unsigned port;
    static const char *bad[] = {
        "Entering Passive Mode (127,0,0,1,195)",
        "Entering Passive Mode (256,0,0,1,1,1)",
        "Entering Passive Mode (127,0,0,1,0,0)",
        "Entering Passive Mode (127,0,0,1,1,1000)",
        "Entering Passive Mode",
        "",
        "(1,2,3,4,5,",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(ftp_parse_227(GS(bad[i]), strlen(bad[i]), ip, &port) == -1,
                      "accepted %s", bad[i]);
}
END_TEST

START_TEST(epsv_229)
{
    unsigned port = 0;
    const char *t = "Entering Extended Passive Mode (|||50123|)";
    static const char *bad[] = {
        "Entering Extended Passive Mode (|||0|)",
        "Entering Extended Passive Mode (|||65536|)",
        "Entering Extended Passive Mode (||50123|)",
        "Entering Extended Passive Mode (|||50123)",
        "Entering Extended Passive Mode (|||50123|",
        "Entering Extended Passive Mode (|!|50123|)",
        "Entering Extended Passive Mode (|||abc|)",
        "Entering Extended Passive Mode",
        "(",
    };
    size_t i;

    ck_assert_int_eq(ftp_parse_229(GS(t), strlen(t), &port), 0);
    ck_assert_uint_eq(port, 50123);
    t = "ok (!!!21!)";
    ck_assert_int_eq(ftp_parse_229(GS(t), strlen(t), &port), 0);
    ck_assert_uint_eq(port, 21);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(ftp_parse_229(GS(bad[i]), strlen(bad[i]), &port) == -1,
                      "accepted %s", bad[i]);
}
END_TEST

/* ---- URLs ---- */

START_TEST(url_full)
{
    struct ftp_url u;

    ck_assert_int_eq(ftp_parse_url("ftp://alice:s%40cret@example.org:2121/pub/a%20b.txt", &u), 0);
    ck_assert_str_eq(u.user, "alice");
    ck_assert_str_eq(u.pass, "s@cret");
    ck_assert_str_eq(u.host, "example.org");
    ck_assert_uint_eq(u.port, 2121);
    ck_assert_str_eq(u.path, "pub/a b.txt");
}
END_TEST

START_TEST(url_minimal)
{
    struct ftp_url u;

    ck_assert_int_eq(ftp_parse_url("localhost", &u), 0);
    ck_assert_str_eq(u.host, "localhost");
    ck_assert_uint_eq(u.port, 21);
    ck_assert_str_eq(u.user, "");
    ck_assert_str_eq(u.pass, "");
    ck_assert_str_eq(u.path, "");

    ck_assert_int_eq(ftp_parse_url("FTP://127.0.0.1:2100/", &u), 0);
    ck_assert_str_eq(u.host, "127.0.0.1");
    ck_assert_uint_eq(u.port, 2100);
    ck_assert_str_eq(u.path, "");

    ck_assert_int_eq(ftp_parse_url("bob@h", &u), 0);
    ck_assert_str_eq(u.user, "bob");
    ck_assert_str_eq(u.pass, "");
    ck_assert_str_eq(u.host, "h");
}
END_TEST

START_TEST(url_ipv6_and_paths)
{
    struct ftp_url u;

    ck_assert_int_eq(ftp_parse_url("ftp://[::1]:2121/x", &u), 0);
    ck_assert_str_eq(u.host, "::1");
    ck_assert_uint_eq(u.port, 2121);
    ck_assert_str_eq(u.path, "x");

    ck_assert_int_eq(ftp_parse_url("[fe80::1%25eth0]", &u), 0);
    ck_assert_str_eq(u.host, "fe80::1%eth0");
    ck_assert_uint_eq(u.port, 21);

    ck_assert_int_eq(ftp_parse_url("ftp://h//etc/motd", &u), 0);
    ck_assert_str_eq(u.path, "/etc/motd");
    ck_assert_int_eq(ftp_parse_url("ftp://h/%2Fetc/motd", &u), 0);
    ck_assert_str_eq(u.path, "/etc/motd");

    /* A raw '@' in the password: the last '@' ends the user info. */
    ck_assert_int_eq(ftp_parse_url("ftp://u:p@ss@h/f", &u), 0);
    ck_assert_str_eq(u.pass, "p@ss");
    ck_assert_str_eq(u.host, "h");
}
END_TEST

START_TEST(url_bad)
{
    struct ftp_url u;
    static const char *bad[] = {
        "", "ftp://", "ftp:///path", "http://h/", "ftp://h:0/", "ftp://h:65536/",
        "ftp://h:12x/", "ftp://h:/", "ftp://[::1/", "ftp://[]/", "ftp://[::1]x/",
        "ftp://h/a%0d%0aDELE%20x", "ftp://h/a%00b", "ftp://h/a%2", "ftp://h/a%zz",
        "ftp://u%0a@h/", "ftp://ho st/", "ftp://h\r\n/", "ftp://[::g]/",
        "ftp://[fe80::1%eth0]/", "ftp://[fe80::1%25]/", "ftp://[fe80::1%25a/b]/",
    };
    size_t i;
    char longpath[5000];

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(ftp_parse_url(bad[i], &u) == -1, "accepted '%s'", bad[i]);
    memcpy(longpath, "ftp://h/", 8);
    memset(longpath + 8, 'a', sizeof(longpath) - 9);
    longpath[sizeof(longpath) - 1] = '\0';
    ck_assert_int_eq(ftp_parse_url(longpath, &u), -1);
}
END_TEST

/* ---- commands and simple replies ---- */

START_TEST(format_cmd)
{
    char out[16];

    ck_assert_int_eq(ftp_format_cmd(out, sizeof(out), "NOOP", NULL), 6);
    ck_assert_str_eq(out, "NOOP\r\n");
    ck_assert_int_eq(ftp_format_cmd(out, sizeof(out), "RETR", "a b"), 10);
    ck_assert_str_eq(out, "RETR a b\r\n");
    ck_assert_int_eq(ftp_format_cmd(out, sizeof(out), "RETR", "x\r\nDELE y"), -1);
    ck_assert_int_eq(ftp_format_cmd(out, sizeof(out), "RETR", "x\ny"), -1);
    ck_assert_int_eq(ftp_format_cmd(out, sizeof(out), "", NULL), -1);
    /* "RETR 0123456789\r\n" needs 18 bytes with the NUL. */
    ck_assert_int_eq(ftp_format_cmd(out, sizeof(out), "RETR", "0123456789"), -1);
    ck_assert_int_eq(ftp_format_cmd(out, 13, "RETR", "abcde"), 12);
    ck_assert_int_eq(ftp_format_cmd(out, 12, "RETR", "abcde"), -1);
}
END_TEST

START_TEST(parse_257)
{
    char out[64];
    const char *t = "\"/pub/a \"\"q\"\" dir\" is the current directory";

    ck_assert_int_eq(ftp_parse_257(GS(t), strlen(t), out, sizeof(out)), 0);
    ck_assert_str_eq(out, "/pub/a \"q\" dir");
    t = "\"/\"";
    ck_assert_int_eq(ftp_parse_257(GS(t), strlen(t), out, sizeof(out)), 0);
    ck_assert_str_eq(out, "/");
    t = "\"/unterminated";
    ck_assert_int_eq(ftp_parse_257(GS(t), strlen(t), out, sizeof(out)), -1);
    t = "no quotes";
    ck_assert_int_eq(ftp_parse_257(GS(t), strlen(t), out, sizeof(out)), -1);
    t = "\"/0123456789\"";
    ck_assert_int_eq(ftp_parse_257(GS(t), strlen(t), out, 11), -1);
    ck_assert_int_eq(ftp_parse_257(GS(t), strlen(t), out, 12), 0);
    t = "\"\"";
    ck_assert_int_eq(ftp_parse_257(GS(t), strlen(t), out, sizeof(out)), -1);
}
END_TEST

START_TEST(parse_size_and_150)
{
    unsigned long long v = 0;
    const char *t;

    t = "1234567890123";
    ck_assert_int_eq(ftp_parse_size(GS(t), strlen(t), &v), 0);
    ck_assert_uint_eq(v, 1234567890123ULL);
    t = "18446744073709551615";
    ck_assert_int_eq(ftp_parse_size(GS(t), strlen(t), &v), 0);
    ck_assert(v == ~0ULL);
    t = "18446744073709551616";
    ck_assert_int_eq(ftp_parse_size(GS(t), strlen(t), &v), -1);
    t = "12 bytes";
    ck_assert_int_eq(ftp_parse_size(GS(t), strlen(t), &v), -1);
    t = "";
    ck_assert_int_eq(ftp_parse_size(GS(t), strlen(t), &v), -1);

    t = "Opening BINARY mode data connection for big.bin (1048576 bytes).";
    ck_assert_int_eq(ftp_parse_150(GS(t), strlen(t), &v), 0);
    ck_assert_uint_eq(v, 1048576);
    t = "Opening (x) data connection (0 bytes)";
    ck_assert_int_eq(ftp_parse_150(GS(t), strlen(t), &v), 0);
    ck_assert_uint_eq(v, 0);
    t = "Opening BINARY mode data connection.";
    ck_assert_int_eq(ftp_parse_150(GS(t), strlen(t), &v), -1);
    t = "Here (12";
    ck_assert_int_eq(ftp_parse_150(GS(t), strlen(t), &v), -1);
}
END_TEST

START_TEST(parse_feat)
{
    const char *b = "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n"
                    " REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n"
                    " MLST type*;size*;modify*;\r\n211 End\r\n";
    unsigned f = ftp_parse_feat(GS(b), strlen(b));

    ck_assert_uint_eq(f, FTPF_EPRT | FTPF_EPSV | FTPF_MDTM | FTPF_REST |
                      FTPF_SIZE | FTPF_TVFS | FTPF_UTF8 | FTPF_MLST);
    b = "211-Features:\r\n SIZE\r\n REST\r\n EPSVX\r\n211 End";
    ck_assert_uint_eq(ftp_parse_feat(GS(b), strlen(b)), FTPF_SIZE);
    /* Features named on the framing lines do not count. */
    b = "211 EPSV SIZE\r\n";
    ck_assert_uint_eq(ftp_parse_feat(GS(b), strlen(b)), 0);
}
END_TEST

/* ---- listings ---- */

static int name_is(const struct ftp_entry *e, const char *s)
{
    return e->namelen == strlen(s) && memcmp(e->name, s, e->namelen) == 0;
}

START_TEST(mlsx_lines)
{
    struct ftp_entry e;
    const char *l;

    l = "type=file;size=1234;modify=20231127091600;perm=r; a file; name\r\n";
    ck_assert_int_eq(ftp_parse_mlsx(GS(l), strlen(l), &e), 0);
    ck_assert_int_eq(e.type, FTP_ENT_FILE);
    ck_assert(e.has_size);
    ck_assert_uint_eq(e.size, 1234);
    ck_assert_str_eq(e.mtime, "2023-11-27 09:16");
    ck_assert(name_is(&e, "a file; name"));

    l = "Type=dir;Modify=20240101000000.123;UNIX.mode=0755; pub";
    ck_assert_int_eq(ftp_parse_mlsx(GS(l), strlen(l), &e), 0);
    ck_assert_int_eq(e.type, FTP_ENT_DIR);
    ck_assert(!e.has_size);
    ck_assert(name_is(&e, "pub"));

    l = "type=cdir; .";
    ck_assert_int_eq(ftp_parse_mlsx(GS(l), strlen(l), &e), 0);
    ck_assert_int_eq(e.type, FTP_ENT_CDIR);
    l = "type=pdir; ..";
    ck_assert_int_eq(ftp_parse_mlsx(GS(l), strlen(l), &e), 0);
    ck_assert_int_eq(e.type, FTP_ENT_PDIR);
    l = "type=OS.unix=slink:/x; ln";
    ck_assert_int_eq(ftp_parse_mlsx(GS(l), strlen(l), &e), 0);
    ck_assert_int_eq(e.type, FTP_ENT_LINK);

    /* MLST reply line: leading space. */
    l = " type=file;size=5; /pub/f";
    ck_assert_int_eq(ftp_parse_mlsx(GS(l), strlen(l), &e), 0);
    ck_assert(name_is(&e, "/pub/f"));
    ck_assert_uint_eq(e.size, 5);

    l = "type=file;modify=bogus; f";
    ck_assert_int_eq(ftp_parse_mlsx(GS(l), strlen(l), &e), 0);
    ck_assert_str_eq(e.mtime, "");

    ck_assert_int_eq(ftp_parse_mlsx(GS("\r\n"), 2, &e), 1);
    l = "type=file;size=12";
    ck_assert_int_eq(ftp_parse_mlsx(GS(l), strlen(l), &e), -1);
    l = "type=file;size=1x; f";
    ck_assert_int_eq(ftp_parse_mlsx(GS(l), strlen(l), &e), -1);
    l = "type=file;noequals; f";
    ck_assert_int_eq(ftp_parse_mlsx(GS(l), strlen(l), &e), -1);
    l = "type=file; ";
    ck_assert_int_eq(ftp_parse_mlsx(GS(l), strlen(l), &e), -1);
}
END_TEST

START_TEST(list_unix)
{
    struct ftp_entry e;
    const char *l;

    /* vsftpd */
    l = "-rw-r--r--    1 0        0              12 Nov 27 09:16 hello.txt\r\n";
    ck_assert_int_eq(ftp_parse_list(GS(l), strlen(l), &e), 0);
    ck_assert_int_eq(e.type, FTP_ENT_FILE);
    ck_assert_uint_eq(e.size, 12);
    ck_assert_str_eq(e.mtime, "Nov 27 09:16");
    ck_assert(name_is(&e, "hello.txt"));

    /* No group column, a year, a one-digit day, a name with spaces. */
    l = "drwxr-xr-x 2 ftp 4096 Jan 5 2023 my dir ";
    ck_assert_int_eq(ftp_parse_list(GS(l), strlen(l), &e), 0);
    ck_assert_int_eq(e.type, FTP_ENT_DIR);
    ck_assert_uint_eq(e.size, 4096);
    ck_assert_str_eq(e.mtime, "Jan  5  2023");
    ck_assert(name_is(&e, "my dir "));

    l = "lrwxrwxrwx 1 root root 7 Feb 29 12:00 latest -> v1.2.3";
    ck_assert_int_eq(ftp_parse_list(GS(l), strlen(l), &e), 0);
    ck_assert_int_eq(e.type, FTP_ENT_LINK);
    ck_assert(name_is(&e, "latest"));
    ck_assert_uint_eq(e.targetlen, 6);
    ck_assert_int_eq(memcmp(e.target, "v1.2.3", 6), 0);

    /* A file whose name looks like a date. */
    l = "-rw-r--r-- 1 u g 99 Dec 31 23:59 Jan 1 2020";
    ck_assert_int_eq(ftp_parse_list(GS(l), strlen(l), &e), 0);
    ck_assert(name_is(&e, "Jan 1 2020"));
    ck_assert_uint_eq(e.size, 99);

    l = "total 12";
    ck_assert_int_eq(ftp_parse_list(GS(l), strlen(l), &e), 1);
    ck_assert_int_eq(ftp_parse_list(GS("   "), 3, &e), 1);
    l = "-rw-r--r-- 1 u g 99 Dec 31 23:59";
    ck_assert_int_eq(ftp_parse_list(GS(l), strlen(l), &e), -1);
    l = "-rw-r--r-- 1 u g xx Dec 31 23:59 f";
    ck_assert_int_eq(ftp_parse_list(GS(l), strlen(l), &e), -1);
    l = "garbage line here";
    ck_assert_int_eq(ftp_parse_list(GS(l), strlen(l), &e), -1);
}
END_TEST

START_TEST(list_dos)
{
    struct ftp_entry e;
    const char *l;

    l = "11-27-23  09:16AM       <DIR>          Some Dir\r\n";
    ck_assert_int_eq(ftp_parse_list(GS(l), strlen(l), &e), 0);
    ck_assert_int_eq(e.type, FTP_ENT_DIR);
    ck_assert(name_is(&e, "Some Dir"));
    ck_assert_str_eq(e.mtime, "11-27-23 09:16AM");

    l = "01-02-2024  11:05PM              1234 file.bin";
    ck_assert_int_eq(ftp_parse_list(GS(l), strlen(l), &e), 0);
    ck_assert_int_eq(e.type, FTP_ENT_FILE);
    ck_assert_uint_eq(e.size, 1234);
    ck_assert(name_is(&e, "file.bin"));

    l = "01-02-24  11:05PM  12";
    ck_assert_int_eq(ftp_parse_list(GS(l), strlen(l), &e), -1);
    l = "1-2-24  11:05PM  12 f";
    ck_assert_int_eq(ftp_parse_list(GS(l), strlen(l), &e), -1);
}
END_TEST

static Suite *ftpproto_suite(void)
{
    Suite *s = suite_create("ftpproto");
    TCase *tc;

    tc = tcase_create("reply");
    tcase_add_checked_fixture(tc, guard_setup, guard_teardown);
    tcase_add_test(tc, reply_single);
    tcase_add_test(tc, reply_bare_code_and_lf);
    tcase_add_test(tc, reply_multiline);
    tcase_add_test(tc, reply_multiline_inner_same_code_space_ends);
    tcase_add_test(tc, reply_byte_by_byte);
    tcase_add_test(tc, reply_two_in_one_buffer);
    tcase_add_test(tc, reply_need_more);
    tcase_add_test(tc, reply_errors);
    tcase_add_test(tc, reply_maxline_counts_terminator);
    suite_add_tcase(s, tc);

    tc = tcase_create("passive");
    tcase_add_checked_fixture(tc, guard_setup, guard_teardown);
    tcase_add_test(tc, pasv_227);
    tcase_add_test(tc, pasv_227_bad);
    tcase_add_test(tc, epsv_229);
    suite_add_tcase(s, tc);

    tc = tcase_create("url");
    tcase_add_test(tc, url_full);
    tcase_add_test(tc, url_minimal);
    tcase_add_test(tc, url_ipv6_and_paths);
    tcase_add_test(tc, url_bad);
    suite_add_tcase(s, tc);

    tc = tcase_create("simple");
    tcase_add_checked_fixture(tc, guard_setup, guard_teardown);
    tcase_add_test(tc, format_cmd);
    tcase_add_test(tc, parse_257);
    tcase_add_test(tc, parse_size_and_150);
    tcase_add_test(tc, parse_feat);
    suite_add_tcase(s, tc);

    tc = tcase_create("listing");
    tcase_add_checked_fixture(tc, guard_setup, guard_teardown);
    tcase_add_test(tc, mlsx_lines);
    tcase_add_test(tc, list_unix);
    tcase_add_test(tc, list_dos);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ftpproto_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
