/* Unit tests for reply formatting: codes, multi-line framing and the
 * neutralising of CR/LF that came from clients or file names. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/buf.h"
#include "ferry/reply.h"

static char *text(struct buf *b)
{
    static char out[1024];
    size_t n = buf_used(b) < sizeof(out) - 1 ? buf_used(b) : sizeof(out) - 1;
    memcpy(out, buf_rptr(b), n);
    out[n] = '\0';
    return out;
}

START_TEST(single_line)
{
    struct buf b = BUF_INIT;
    ck_assert_int_eq(reply_line(&b, 200, "NOOP ok."), 0);
    ck_assert_str_eq(text(&b), "200 NOOP ok.\r\n");
    buf_free(&b);
}
END_TEST

START_TEST(injection_is_neutralised)
{
    struct buf b = BUF_INIT;
    ck_assert_int_eq(reply_line(&b, 550, "%s: no", "evil\r\n230 Logged in"), 0);
    ck_assert_str_eq(text(&b), "550 evil??230 Logged in: no\r\n");
    buf_free(&b);
}
END_TEST

START_TEST(multi_line)
{
    struct buf b = BUF_INIT;
    ck_assert_int_eq(reply_first(&b, 211, "Features:"), 0);
    ck_assert_int_eq(reply_inner(&b, "SIZE"), 0);
    ck_assert_int_eq(reply_inner(&b, "211 looks final"), 0);
    ck_assert_int_eq(reply_line(&b, 211, "End"), 0);
    /* An inner line starts with a space, so it can never read as the
     * final "211 " line. */
    ck_assert_str_eq(text(&b), "211-Features:\r\n SIZE\r\n 211 looks final\r\n211 End\r\n");
    buf_free(&b);
}
END_TEST

START_TEST(quote_path)
{
    char q[32];
    ck_assert_str_eq(reply_quote_path(q, sizeof(q), "/a\"b"), "/a\"\"b");
    ck_assert_str_eq(reply_quote_path(q, sizeof(q), "/x\r\ny"), "/x??y");
    ck_assert_str_eq(reply_quote_path(q, 4, "/abcdef"), "/ab");
    ck_assert_str_eq(reply_quote_path(q, 3, "\"\"\""), "\"\"");   /* one doubled quote fits, a half never */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reply");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, single_line);
    tcase_add_test(tc, injection_is_neutralised);
    tcase_add_test(tc, multi_line);
    tcase_add_test(tc, quote_path);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
