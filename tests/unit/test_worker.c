/* Unit tests for the worker's connection table, ready list and the
 * timeout lists, through a recording fake driver. */
#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/config.h"
#include "ferry/driver.h"
#include "ferry/timeouts.h"
#include "ferry/worker.h"

static int adds, dels, interests;

static int fk_init(struct worker *w) { w->drv_state = NULL; return 0; }
static void fk_fini(struct worker *w) { (void)w; }
static int fk_add(struct worker *w, struct conn *c) { (void)w; (void)c; adds++; return 0; }
static void fk_del(struct worker *w, struct conn *c) { (void)w; (void)c; dels++; }
static void fk_interest(struct worker *w, struct conn *c) { (void)w; (void)c; interests++; }
static int fk_run(struct worker *w) { (void)w; return 0; }
static void fk_wake(struct worker *w) { (void)w; }

static const struct driver_ops fake_lt = {
    .name = "fake", .edge = 0, .init = fk_init, .fini = fk_fini, .add = fk_add,
    .del = fk_del, .interest = fk_interest, .run = fk_run, .wake = fk_wake,
};

static struct ferry_config cfg;
static struct server srv;
static struct worker w;

static void setup(void)
{
    config_defaults(&cfg);
    memset(&srv, 0, sizeof(srv));
    srv.cfg = &cfg;
    adds = dels = interests = 0;
    ck_assert_int_eq(worker_init(&w, 0, &srv, &fake_lt, NULL, 0), 0);
}

static void teardown(void)
{
    worker_fini(&w);
}

static void conn_make(struct conn *c, int fd)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->kind = CONN_DATA;
}

START_TEST(stale_event_after_fd_reuse)
{
    struct conn a, b;
    int fd = open("/dev/null", O_RDONLY);
    ck_assert_int_ge(fd, 0);
    conn_make(&a, fd);
    ck_assert_int_eq(worker_conn_add(&w, &a), 0);
    uint32_t old_gen = a.gen;
    ck_assert_ptr_eq(worker_lookup(&w, fd, old_gen), &a);

    /* Close the fd and let the kernel hand the same number to another
     * connection, as happens between an event being queued and its
     * dispatch in one epoll_wait batch. */
    worker_conn_del(&w, &a);
    close(fd);
    int fd2 = open("/dev/null", O_RDONLY);
    ck_assert_int_eq(fd2, fd);
    conn_make(&b, fd2);
    ck_assert_int_eq(worker_conn_add(&w, &b), 0);
    ck_assert_uint_ne(b.gen, old_gen);

    unsigned long stale = w.stats.stale_events;
    ck_assert_ptr_null(worker_lookup(&w, fd, old_gen));
    ck_assert_uint_eq(w.stats.stale_events, stale + 1);
    ck_assert_ptr_eq(worker_lookup(&w, fd, b.gen), &b);
    worker_conn_del(&w, &b);
    ck_assert_ptr_null(worker_lookup(&w, fd, b.gen));
    close(fd2);
    ck_assert_int_eq(adds, 2);
    ck_assert_int_eq(dels, 2);
}
END_TEST

START_TEST(table_grows_for_high_fds)
{
    struct conn c;
    int fd = open("/dev/null", O_RDONLY);
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 900);
    ck_assert_int_ge(high, 900);
    conn_make(&c, high);
    ck_assert_int_eq(worker_conn_add(&w, &c), 0);
    ck_assert_int_gt(w.table_size, high);
    ck_assert_ptr_eq(worker_lookup(&w, high, c.gen), &c);
    ck_assert_ptr_null(worker_lookup(&w, -1, c.gen));
    ck_assert_ptr_null(worker_lookup(&w, w.table_size + 5, c.gen));
    worker_conn_del(&w, &c);
    close(high);
    close(fd);
}
END_TEST

START_TEST(ready_list_order_and_removal)
{
    struct conn c[3];
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = open("/dev/null", O_RDONLY);
        conn_make(&c[i], fds[i]);
        ck_assert_int_eq(worker_conn_add(&w, &c[i]), 0);
        worker_defer(&w, &c[i]);
    }
    worker_defer(&w, &c[1]);           /* already queued: no duplicate */
    ck_assert_uint_eq(w.nready, 3);
    ck_assert_ptr_eq(w.ready_head, &c[0]);
    ck_assert_ptr_eq(w.ready_tail, &c[2]);

    worker_conn_del(&w, &c[1]);        /* closing takes it off the list */
    ck_assert_uint_eq(w.nready, 2);
    ck_assert_ptr_eq(w.ready_head->ready_next, &c[2]);
    worker_conn_del(&w, &c[2]);        /* the tail, too */
    ck_assert_ptr_eq(w.ready_tail, &c[0]);
    ck_assert_int_eq(c[2].queued, 0);
    worker_conn_del(&w, &c[0]);
    ck_assert_ptr_null(w.ready_head);
    ck_assert_ptr_null(w.ready_tail);
    ck_assert_uint_eq(w.nready, 0);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
}
END_TEST

START_TEST(interest_only_on_change_for_lt)
{
    struct conn c;
    int fd = open("/dev/null", O_RDONLY);
    conn_make(&c, fd);
    ck_assert_int_eq(worker_conn_add(&w, &c), 0);
    worker_conn_interest(&w, &c, 1, 0);
    worker_conn_interest(&w, &c, 1, 0);
    ck_assert_int_eq(interests, 1);
    worker_conn_interest(&w, &c, 1, 1);
    ck_assert_int_eq(interests, 2);
    ck_assert_int_eq(c.want_write, 1);
    worker_conn_del(&w, &c);
    close(fd);
}
END_TEST

START_TEST(timeouts_sorted_by_construction)
{
    struct tmo_lists t;
    struct tmo_node n[4];
    tmo_init(&t);
    t.duration[TMO_IDLE] = 10;
    t.duration[TMO_DATA] = 2;
    for (int i = 0; i < 4; i++)
        tmo_node_init(&n[i]);
    ck_assert(tmo_next(&t) < 0);

    tmo_set(&t, &n[0], TMO_IDLE, 100);   /* 110 */
    tmo_set(&t, &n[1], TMO_IDLE, 101);   /* 111 */
    tmo_set(&t, &n[2], TMO_DATA, 105);   /* 107 */
    ck_assert(tmo_next(&t) == 107);
    tmo_set(&t, &n[0], TMO_IDLE, 103);   /* touched: 113, now last */
    ck_assert(tmo_next(&t) == 107);

    ck_assert_ptr_null(tmo_expired(&t, 106.9));
    ck_assert_ptr_eq(tmo_expired(&t, 111), &n[2]);
    ck_assert_int_eq(n[2].kind, TMO_DATA);   /* tells which fired */
    ck_assert_ptr_eq(tmo_expired(&t, 111), &n[1]);
    ck_assert_ptr_null(tmo_expired(&t, 111));
    ck_assert(tmo_next(&t) == 113);

    tmo_clear(&n[0]);
    ck_assert(tmo_next(&t) < 0);
    ck_assert_int_eq(n[0].kind, TMO_NONE);

    /* A disabled kind (duration 0) arms nothing. */
    tmo_set(&t, &n[3], TMO_LOGIN, 100);
    ck_assert(tmo_next(&t) < 0);
    ck_assert_ptr_null(n[3].prev);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("worker");
    TCase *tc = tcase_create("table");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, stale_event_after_fd_reuse);
    tcase_add_test(tc, table_grows_for_high_fds);
    tcase_add_test(tc, ready_list_order_and_removal);
    tcase_add_test(tc, interest_only_on_change_for_lt);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("timeouts");
    tcase_add_test(tt, timeouts_sorted_by_construction);
    suite_add_tcase(s, tt);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
