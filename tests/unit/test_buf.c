/* Unit tests for buf: growth policy, limits, overflow, trimming, printf. */
#include "ferry/buf.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* Under AddressSanitizer an impossible malloc() aborts by default; ferry
 * wants to see the NULL so that the ENOMEM path is tested for real. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

/* ck_assert reports every passing check to the runner process; the model
 * test below checks millions of times, so only failures may cost that. */
#define REQUIRE(c) \
    do { \
        if (!(c)) \
            ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c); \
    } while (0)

static int buf_eq(const struct buf *b, const char *s)
{
    size_t n = strlen(s);

    return buf_used(b) == n && (n == 0 || memcmp(buf_rptr(b), s, n) == 0);
}

START_TEST(test_init_owns_nothing)
{
    struct buf b = BUF_INIT;

    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(buf_used(&b), 0);
    ck_assert_int_eq(buf_append(&b, NULL, 0), 0);
    ck_assert_ptr_null(b.data);          /* nothing to append: no memory */
    buf_free(&b);
    ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_growth_min_and_double)
{
    struct buf b = BUF_INIT;
    char chunk[100];
    int i;

    memset(chunk, 'x', sizeof(chunk));
    ck_assert_int_eq(buf_append(&b, "a", 1), 0);
    ck_assert_uint_eq(b.cap, 256);
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(buf_append(&b, chunk, sizeof(chunk)), 0);
    ck_assert_uint_eq(buf_used(&b), 201);
    ck_assert_uint_eq(b.cap, 256);
    ck_assert_int_eq(buf_append(&b, chunk, sizeof(chunk)), 0);
    ck_assert_uint_eq(buf_used(&b), 301);
    ck_assert_uint_eq(b.cap, 512);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(buf_append(&b, chunk, sizeof(chunk)), 0);
    ck_assert_uint_eq(b.cap, 1024);
    ck_assert_int_eq(b.data[0], 'a');
    ck_assert_int_eq(b.data[600], 'x');
    buf_free(&b);
}
END_TEST

START_TEST(test_reserve_big_first)
{
    struct buf b = BUF_INIT;
    char *p;

    p = buf_reserve(&b, 1000, 0);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(b.cap, 1024);
    ck_assert_uint_eq(buf_used(&b), 0);
    memcpy(p, "hello", 5);
    buf_commit(&b, 5);
    ck_assert(buf_eq(&b, "hello"));
    /* Room already there: same pointer, no growth. */
    ck_assert_ptr_eq(buf_reserve(&b, 1019, 0), b.data + 5);
    ck_assert_uint_eq(b.cap, 1024);
    buf_free(&b);
}
END_TEST

START_TEST(test_reserve_zero_allocates)
{
    struct buf b = BUF_INIT;

    ck_assert_ptr_nonnull(buf_reserve(&b, 0, 0));
    ck_assert_uint_eq(b.cap, 256);
    buf_free(&b);
}
END_TEST

START_TEST(test_overflow_enomem)
{
    struct buf b = BUF_INIT;
    char *data;

    ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
    data = b.data;

    errno = 0;
    ck_assert_ptr_null(buf_reserve(&b, SIZE_MAX, 0));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(buf_reserve(&b, SIZE_MAX - 2, 0));   /* 3 + n wraps */
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(buf_reserve(&b, SIZE_MAX - 2, 100)); /* wraps under a limit too */
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(buf_reserve(&b, (size_t)PTRDIFF_MAX, 0));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_int_eq(buf_append(&b, "x", SIZE_MAX), -1);
    ck_assert_int_eq(errno, ENOMEM);

    /* Unchanged by all of it. */
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.cap, 256);
    ck_assert(buf_eq(&b, "abc"));
    buf_free(&b);
}
END_TEST

START_TEST(test_malloc_failure_leaves_buffer)
{
    struct buf b = BUF_INIT;
    const size_t huge = (size_t)1 << 50;   /* no machine grants 1 PiB */
    char *data;

    ck_assert_int_eq(buf_append(&b, "abcdef", 6), 0);
    data = b.data;
    errno = 0;
    ck_assert_ptr_null(buf_reserve(&b, huge, 0));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_ptr_eq(b.data, data);
    ck_assert(buf_eq(&b, "abcdef"));

    /* Same with a consumed prefix (the copy-unread path). */
    buf_consume(&b, 2);
    errno = 0;
    ck_assert_ptr_null(buf_reserve(&b, huge, 0));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.rpos, 2);
    ck_assert(buf_eq(&b, "cdef"));
    buf_free(&b);
}
END_TEST

START_TEST(test_max_e2big)
{
    struct buf b = BUF_INIT;
    char *p;

    errno = 0;
    ck_assert_ptr_null(buf_reserve(&b, 101, 100));
    ck_assert_int_eq(errno, E2BIG);
    ck_assert_ptr_null(b.data);

    p = buf_reserve(&b, 100, 100);     /* exactly the limit: fine */
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(b.cap, 100);     /* clamped, not 256 */
    memset(p, 'a', 60);
    buf_commit(&b, 60);
    errno = 0;
    ck_assert_ptr_null(buf_reserve(&b, 41, 100));
    ck_assert_int_eq(errno, E2BIG);
    ck_assert_uint_eq(buf_used(&b), 60);
    ck_assert_ptr_nonnull(buf_reserve(&b, 40, 100));

    /* The limit counts unread bytes: consuming makes room again. */
    buf_consume(&b, 50);
    p = buf_reserve(&b, 90, 100);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(b.rpos, 0);      /* compacted in place */
    ck_assert_uint_eq(b.cap, 100);
    buf_free(&b);
}
END_TEST

START_TEST(test_max_clamps_growth)
{
    struct buf b = BUF_INIT;

    ck_assert_ptr_nonnull(buf_reserve(&b, 200, 300));
    ck_assert_uint_eq(b.cap, 256);
    buf_commit(&b, 200);
    ck_assert_ptr_nonnull(buf_reserve(&b, 100, 300));
    ck_assert_uint_eq(b.cap, 300);     /* 512 would pass the limit */
    buf_free(&b);
}
END_TEST

START_TEST(test_reserve_compacts_before_growing)
{
    struct buf b = BUF_INIT;
    char src[200];
    char *data;
    int i;

    for (i = 0; i < 200; i++)
        src[i] = (char)('a' + i % 26);
    ck_assert_int_eq(buf_append(&b, src, 200), 0);
    data = b.data;
    buf_consume(&b, 150);
    ck_assert_ptr_eq(buf_reserve(&b, 200, 0), data + 50);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.cap, 256);
    ck_assert_uint_eq(b.rpos, 0);
    ck_assert_uint_eq(b.len, 50);
    ck_assert_int_eq(memcmp(b.data, src + 150, 50), 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_reserve_grows_with_prefix)
{
    struct buf b = BUF_INIT;
    char src[256];
    int i;

    for (i = 0; i < 256; i++)
        src[i] = (char)i;
    ck_assert_int_eq(buf_append(&b, src, 256), 0);
    buf_consume(&b, 100);
    ck_assert_ptr_nonnull(buf_reserve(&b, 200, 0));
    ck_assert_uint_eq(b.rpos, 0);
    ck_assert_uint_eq(b.len, 156);
    ck_assert_uint_eq(b.cap, 512);
    ck_assert_int_eq(memcmp(b.data, src + 100, 156), 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_consume_all_rewinds)
{
    struct buf b = BUF_INIT;
    char *data;

    ck_assert_int_eq(buf_append(&b, "hello world", 11), 0);
    data = b.data;
    buf_consume(&b, 6);
    ck_assert(buf_eq(&b, "world"));
    buf_consume(&b, 5);
    ck_assert_uint_eq(b.rpos, 0);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_ptr_eq(b.data, data);    /* memory kept */
    buf_consume(&b, 0);
    ck_assert_uint_eq(buf_used(&b), 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_reset_keeps_memory)
{
    struct buf b = BUF_INIT;

    ck_assert_int_eq(buf_append(&b, "xyz", 3), 0);
    buf_consume(&b, 1);
    buf_reset(&b);
    ck_assert_ptr_nonnull(b.data);
    ck_assert_uint_eq(b.cap, 256);
    ck_assert_uint_eq(buf_used(&b), 0);
    ck_assert_uint_eq(b.rpos, 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_trim_frees_when_empty)
{
    struct buf b = BUF_INIT;

    buf_trim(&b);                      /* never allocated: still nothing */
    ck_assert_ptr_null(b.data);
    ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
    buf_consume(&b, 3);
    buf_trim(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.cap, 0);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.rpos, 0);
    /* And it works again afterwards. */
    ck_assert_int_eq(buf_append(&b, "de", 2), 0);
    ck_assert(buf_eq(&b, "de"));
    buf_free(&b);
}
END_TEST

START_TEST(test_trim_compacts)
{
    struct buf b = BUF_INIT;
    char *data;

    ck_assert_int_eq(buf_append(&b, "0123456789", 10), 0);
    data = b.data;
    buf_consume(&b, 4);
    buf_trim(&b);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.rpos, 0);
    ck_assert_uint_eq(b.len, 6);
    ck_assert_int_eq(memcmp(b.data, "456789", 6), 0);
    buf_trim(&b);                      /* already compact: no change */
    ck_assert_uint_eq(b.len, 6);
    ck_assert_int_eq(memcmp(b.data, "456789", 6), 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_printf_small)
{
    struct buf b = BUF_INIT;

    ck_assert_int_eq(buf_printf(&b, "%d %s\r\n", 220, "ferry ready"), 0);
    ck_assert(buf_eq(&b, "220 ferry ready\r\n"));
    ck_assert_uint_eq(b.cap, 256);
    ck_assert_int_eq(buf_printf(&b, "%s", ""), 0);
    ck_assert(buf_eq(&b, "220 ferry ready\r\n"));
    ck_assert_int_eq(buf_printf(&b, "%c", 'x'), 0);
    ck_assert(buf_eq(&b, "220 ferry ready\r\nx"));
    buf_free(&b);
}
END_TEST

START_TEST(test_printf_empty_into_empty)
{
    struct buf b = BUF_INIT;

    ck_assert_int_eq(buf_printf(&b, "%s", ""), 0);
    ck_assert_uint_eq(buf_used(&b), 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_printf_retry)
{
    struct buf b = BUF_INIT;
    char big[1000];
    char expect[1100];

    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_int_eq(buf_append(&b, "head:", 5), 0);
    ck_assert_int_eq(buf_printf(&b, "%s|%u", big, 42u), 0);
    snprintf(expect, sizeof(expect), "head:%s|42", big);
    ck_assert(buf_eq(&b, expect));
    ck_assert_uint_eq(b.cap, 1024);
    buf_free(&b);
}
END_TEST

START_TEST(test_printf_boundaries)
{
    struct buf b = BUF_INIT;
    char pad[251];

    /* 250 used of 256: five characters fit along with the NUL... */
    memset(pad, 'p', 250);
    pad[250] = '\0';
    ck_assert_int_eq(buf_append(&b, pad, 250), 0);
    ck_assert_int_eq(buf_printf(&b, "%s", "12345"), 0);
    ck_assert_uint_eq(b.cap, 256);
    ck_assert_uint_eq(buf_used(&b), 255);
    /* ...but one more does not (no room for vsnprintf's NUL): retry. */
    ck_assert_int_eq(buf_printf(&b, "%s", "6"), 0);
    ck_assert_uint_eq(b.cap, 512);
    ck_assert_uint_eq(buf_used(&b), 256);
    ck_assert_int_eq(memcmp(b.data + 250, "123456", 6), 0);

    /* Exactly filling the rest. */
    buf_reset(&b);
    ck_assert_int_eq(buf_append(&b, pad, 250), 0);
    ck_assert_int_eq(buf_printf(&b, "%s", "abcdef"), 0);
    ck_assert_uint_eq(buf_used(&b), 256);
    ck_assert_int_eq(memcmp(b.data + 250, "abcdef", 6), 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_printf_format_error)
{
    struct buf b = BUF_INIT;
    /* A wide character the C locale cannot encode: vsnprintf fails. */
    static const wchar_t wide[] = { 0x263a, 0 };

    ck_assert_int_eq(buf_append(&b, "keep", 4), 0);
    errno = 0;
    ck_assert_int_eq(buf_printf(&b, "%ls", wide), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert(buf_eq(&b, "keep"));
    buf_free(&b);
}
END_TEST

/* Random appends, printfs, reserves and consumes against a flat model. */
START_TEST(test_model)
{
    struct buf b = BUF_INIT;
    static char model[1 << 16];
    size_t mlen = 0, mpos = 0;
    unsigned long long x = 0x9e3779b97f4a7c15ULL;
    char tmp[700];
    int i;
    size_t n, k;

    for (i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        n = (size_t)(x >> 20) % sizeof(tmp);
        switch ((x >> 8) % 6) {
        case 0:
        case 1:
            if (mlen + n > sizeof(model))
                break;
            for (k = 0; k < n; k++)
                tmp[k] = (char)(x >> (k % 56));
            REQUIRE(buf_append(&b, tmp, n) == 0);
            memcpy(model + mlen, tmp, n);
            mlen += n;
            break;
        case 2:
            if (mlen + 24 > sizeof(model))
                break;
            k = (size_t)snprintf(tmp, sizeof(tmp), "%llx", x);
            REQUIRE(buf_printf(&b, "%llx", x) == 0);
            memcpy(model + mlen, tmp, k);
            mlen += k;
            break;
        case 3:
            n = n < mlen - mpos ? n : mlen - mpos;
            buf_consume(&b, n);
            mpos += n;
            break;
        case 4:
            REQUIRE(buf_reserve(&b, n, 0) != NULL);
            REQUIRE(b.cap - b.len >= n);
            break;
        default:
            buf_trim(&b);
            break;
        }
        if (mpos == mlen)
            mpos = mlen = 0;
        REQUIRE(buf_used(&b) == mlen - mpos);
        if (mlen - mpos)
            REQUIRE(memcmp(buf_rptr(&b), model + mpos, mlen - mpos) == 0);
        REQUIRE(b.len <= b.cap);
    }
    buf_free(&b);
}
END_TEST

static Suite *buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);   /* the model test, under valgrind */
    tcase_add_test(tc, test_init_owns_nothing);
    tcase_add_test(tc, test_growth_min_and_double);
    tcase_add_test(tc, test_reserve_big_first);
    tcase_add_test(tc, test_reserve_zero_allocates);
    tcase_add_test(tc, test_overflow_enomem);
    tcase_add_test(tc, test_malloc_failure_leaves_buffer);
    tcase_add_test(tc, test_max_e2big);
    tcase_add_test(tc, test_max_clamps_growth);
    tcase_add_test(tc, test_reserve_compacts_before_growing);
    tcase_add_test(tc, test_reserve_grows_with_prefix);
    tcase_add_test(tc, test_consume_all_rewinds);
    tcase_add_test(tc, test_reset_keeps_memory);
    tcase_add_test(tc, test_trim_frees_when_empty);
    tcase_add_test(tc, test_trim_compacts);
    tcase_add_test(tc, test_printf_small);
    tcase_add_test(tc, test_printf_empty_into_empty);
    tcase_add_test(tc, test_printf_retry);
    tcase_add_test(tc, test_printf_boundaries);
    tcase_add_test(tc, test_printf_format_error);
    tcase_add_test(tc, test_model);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(buf_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
