/* Unit tests for metrics: exact exposition lines after known updates,
 * exact totals after concurrent updates from several threads, and the
 * HTTP responder.  The exposition's syntax is checked separately by real
 * Prometheus parsers (promtool, the Python client) on metrics_sample. */
#include "ferry/metrics.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char buf[METRICS_RENDER_MAX];
static char resp[METRICS_RENDER_MAX + METRICS_HTTP_HEADER_MAX];

static void has_line(const char *text, const char *line)
{
    char want[512];

    snprintf(want, sizeof(want), "\n%s\n", line);
    ck_assert_msg(strstr(text, want) != NULL, "missing line '%s' in:\n%s", line, text);
}

START_TEST(test_render_after_updates)
{
    size_t n;

    metrics_reset();
    metrics_set_workers(2);
    metrics_session_opened();
    metrics_session_opened();
    metrics_session_opened();
    metrics_session_closed();
    metrics_login_failed();
    metrics_bytes_in(100);
    metrics_bytes_out(5000);
    metrics_bytes_out(5000);
    metrics_transfer(METRICS_RETR, METRICS_OK);
    metrics_transfer(METRICS_RETR, METRICS_OK);
    metrics_transfer(METRICS_STOR, METRICS_ABORTED);
    metrics_transfer(METRICS_LIST, METRICS_FAILED);
    metrics_command(50000);            /* 50 µs: first bucket */
    metrics_command(100000);           /* exactly 100 µs: le is inclusive */
    metrics_command(3000000);          /* 3 ms: le 0.005 */
    metrics_command(20000000000ULL);   /* 20 s: only +Inf */
    metrics_loop_iteration(0);
    metrics_loop_iteration(1);
    metrics_loop_iteration(1);
    metrics_loop_iteration(5);         /* beyond the workers set: not shown */

    n = metrics_render(buf, sizeof(buf));
    ck_assert_uint_eq(n, strlen(buf));
    ck_assert_int_eq(strncmp(buf, "# HELP ferry_sessions ", 22), 0);
    has_line(buf, "# TYPE ferry_sessions gauge");
    has_line(buf, "ferry_sessions 2");
    has_line(buf, "# TYPE ferry_sessions_total counter");
    has_line(buf, "ferry_sessions_total 3");
    has_line(buf, "ferry_logins_failed_total 1");
    has_line(buf, "ferry_bytes_in_total 100");
    has_line(buf, "ferry_bytes_out_total 10000");
    has_line(buf, "# TYPE ferry_transfers_total counter");
    has_line(buf, "ferry_transfers_total{result=\"ok\",kind=\"retr\"} 2");
    has_line(buf, "ferry_transfers_total{result=\"aborted\",kind=\"stor\"} 1");
    has_line(buf, "ferry_transfers_total{result=\"failed\",kind=\"list\"} 1");
    has_line(buf, "ferry_transfers_total{result=\"ok\",kind=\"list\"} 0");
    has_line(buf, "# TYPE ferry_command_duration_seconds histogram");
    has_line(buf, "ferry_command_duration_seconds_bucket{le=\"0.0001\"} 2");
    has_line(buf, "ferry_command_duration_seconds_bucket{le=\"0.0025\"} 2");
    has_line(buf, "ferry_command_duration_seconds_bucket{le=\"0.005\"} 3");
    has_line(buf, "ferry_command_duration_seconds_bucket{le=\"10\"} 3");
    has_line(buf, "ferry_command_duration_seconds_bucket{le=\"+Inf\"} 4");
    has_line(buf, "ferry_command_duration_seconds_sum 20.003150000");
    has_line(buf, "ferry_command_duration_seconds_count 4");
    has_line(buf, "# TYPE ferry_worker_loop_iterations_total counter");
    has_line(buf, "ferry_worker_loop_iterations_total{worker=\"0\"} 1");
    has_line(buf, "ferry_worker_loop_iterations_total{worker=\"1\"} 2");
    ck_assert_ptr_null(strstr(buf, "worker=\"2\""));
    ck_assert_int_eq(buf[n - 1], '\n');
}
END_TEST

START_TEST(test_render_reports_size_needed)
{
    char small[100];
    size_t full, n;

    metrics_reset();
    metrics_set_workers(3);
    full = metrics_render(buf, sizeof(buf));
    n = metrics_render(small, sizeof(small));
    ck_assert_uint_eq(n, full);
    ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
    ck_assert_int_eq(strncmp(small, buf, sizeof(small) - 1), 0);
    ck_assert_uint_eq(metrics_render(NULL, 0), full);
}
END_TEST

START_TEST(test_render_max_workers_fits)
{
    unsigned w;

    metrics_reset();
    metrics_set_workers(METRICS_MAX_WORKERS + 5);       /* clamped */
    for (w = 0; w < METRICS_MAX_WORKERS; w++)
        metrics_loop_iteration(w);
    for (w = 0; w < 1000; w++)
        metrics_command(123456789012ULL);
    metrics_bytes_out(UINT64_MAX);
    ck_assert_uint_lt(metrics_render(buf, sizeof(buf)), sizeof(buf));
    has_line(buf, "ferry_worker_loop_iterations_total{worker=\"1023\"} 1");
    has_line(buf, "ferry_bytes_out_total 18446744073709551615");
}
END_TEST

#define THREADS 4
#define ROUNDS 100000

static void *hammer(void *arg)
{
    unsigned w = (unsigned)(size_t)arg;
    int i;

    metrics_thread_init(w);
    for (i = 0; i < ROUNDS; i++) {
        metrics_bytes_out(3);
        metrics_command(1000);
        metrics_loop_iteration(w);
        if (i % 10 == 0) {
            metrics_session_opened();
            metrics_session_closed();
        }
    }
    return NULL;
}

START_TEST(test_concurrent_updates_are_exact)
{
    pthread_t th[THREADS];
    char line[128];
    size_t i;

    metrics_reset();
    metrics_set_workers(THREADS);
    for (i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, (void *)i), 0);
    for (i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    metrics_render(buf, sizeof(buf));
    snprintf(line, sizeof(line), "ferry_bytes_out_total %d", 3 * THREADS * ROUNDS);
    has_line(buf, line);
    snprintf(line, sizeof(line), "ferry_command_duration_seconds_count %d", THREADS * ROUNDS);
    has_line(buf, line);
    snprintf(line, sizeof(line), "ferry_sessions_total %d", THREADS * ROUNDS / 10);
    has_line(buf, line);
    has_line(buf, "ferry_sessions 0");
    for (i = 0; i < THREADS; i++) {
        snprintf(line, sizeof(line), "ferry_worker_loop_iterations_total{worker=\"%zu\"} %d",
                 i, ROUNDS);
        has_line(buf, line);
    }
}
END_TEST

/* The fork model: children count, the parent renders. */
START_TEST(test_shared_counters_across_fork)
{
    int status;

    metrics_reset();
    metrics_set_workers(0);
    metrics_bytes_in(7);                          /* before: kept */
    ck_assert_int_eq(metrics_share(), 0);
    ck_assert_int_eq(metrics_share(), 0);         /* idempotent */
    for (int i = 0; i < 5; i++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            metrics_session_opened();
            metrics_bytes_out(100);
            metrics_transfer(METRICS_RETR, METRICS_OK);
            metrics_session_closed();
            _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    metrics_render(buf, sizeof(buf));
    has_line(buf, "ferry_sessions_total 5");
    has_line(buf, "ferry_sessions 0");
    has_line(buf, "ferry_bytes_out_total 500");
    has_line(buf, "ferry_bytes_in_total 7");
    has_line(buf, "ferry_transfers_total{result=\"ok\",kind=\"retr\"} 5");
}
END_TEST

/* ---- HTTP ---- */

static ssize_t respond(const char *req)
{
    return metrics_http_respond(req, strlen(req), resp, sizeof(resp));
}

START_TEST(test_http_get_metrics)
{
    const char *req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n";
    ssize_t n;
    char *body;
    size_t clen;

    metrics_reset();
    metrics_set_workers(1);
    metrics_session_opened();
    n = respond(req);
    ck_assert_int_gt(n, 0);
    resp[n] = '\0';
    ck_assert_int_eq(strncmp(resp, "HTTP/1.0 200 OK\r\n", 17), 0);
    ck_assert_ptr_nonnull(strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    ck_assert_ptr_nonnull(strstr(resp, "\r\nConnection: close\r\n"));
    body = strstr(resp, "\r\n\r\n");
    ck_assert_ptr_nonnull(body);
    body += 4;
    ck_assert_int_eq(sscanf(strstr(resp, "Content-Length: "), "Content-Length: %zu", &clen), 1);
    ck_assert_uint_eq(clen, strlen(body));
    ck_assert_uint_eq(clen, metrics_render(buf, sizeof(buf)));
    ck_assert_str_eq(body, buf);
    has_line(body, "ferry_sessions_total 1");

    /* Bare LF line ends and a query string are accepted too. */
    ck_assert_int_gt(respond("GET /metrics?x=1 HTTP/1.0\n\n"), 0);
    ck_assert_int_eq(strncmp(resp, "HTTP/1.0 200 OK\r\n", 17), 0);
}
END_TEST

START_TEST(test_http_head)
{
    ssize_t n = respond("HEAD /metrics HTTP/1.0\r\n\r\n");

    ck_assert_int_gt(n, 0);
    resp[n] = '\0';
    ck_assert_int_eq(strncmp(resp, "HTTP/1.0 200 OK\r\n", 17), 0);
    ck_assert_int_eq(strcmp(resp + n - 4, "\r\n\r\n"), 0);      /* headers only */
}
END_TEST

START_TEST(test_http_incomplete_needs_more)
{
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t i;

    for (i = 0; i < strlen(req); i++)
        ck_assert_int_eq(metrics_http_respond(req, i, resp, sizeof(resp)), 0);
    ck_assert_int_gt(metrics_http_respond(req, strlen(req), resp, sizeof(resp)), 0);
}
END_TEST

static void expect_status(const char *req, size_t len, const char *status)
{
    ssize_t n = metrics_http_respond(req, len, resp, sizeof(resp));
    char *body;
    size_t clen;

    ck_assert_int_gt(n, 0);
    resp[n] = '\0';
    ck_assert_msg(strncmp(resp, status, strlen(status)) == 0, "got %s", resp);
    body = strstr(resp, "\r\n\r\n") + 4;
    ck_assert_int_eq(sscanf(strstr(resp, "Content-Length: "), "Content-Length: %zu", &clen), 1);
    ck_assert_uint_eq(clen, strlen(body));
}

#define STATUS(req, status) expect_status(req, sizeof(req) - 1, status)

START_TEST(test_http_errors)
{
    static char big[METRICS_HTTP_REQUEST_MAX + 10];

    STATUS("GET / HTTP/1.0\r\n\r\n", "HTTP/1.0 404 Not Found\r\n");
    STATUS("GET /metricsx HTTP/1.0\r\n\r\n", "HTTP/1.0 404 Not Found\r\n");
    STATUS("GET /metrics/ HTTP/1.0\r\n\r\n", "HTTP/1.0 404 Not Found\r\n");
    STATUS("POST /metrics HTTP/1.0\r\n\r\n", "HTTP/1.0 405 Method Not Allowed\r\n");
    ck_assert_ptr_nonnull(strstr(resp, "\r\nAllow: GET, HEAD\r\n"));
    STATUS("GETT /metrics HTTP/1.0\r\n\r\n", "HTTP/1.0 405 Method Not Allowed\r\n");
    STATUS("hello\r\n\r\n", "HTTP/1.0 400 Bad Request\r\n");
    STATUS("GET /metrics\r\n\r\n", "HTTP/1.0 400 Bad Request\r\n");
    STATUS("GET /metrics FTP/1.0\r\n\r\n", "HTTP/1.0 400 Bad Request\r\n");
    STATUS("\r\n\r\n", "HTTP/1.0 400 Bad Request\r\n");
    STATUS("GET /metrics HTTP/1.0\0\r\n\r\n", "HTTP/1.0 200 OK\r\n");
    /* Headers that never end: refused once past the limit, not buffered. */
    memset(big, 'a', sizeof(big));
    ck_assert_int_eq(metrics_http_respond(big, METRICS_HTTP_REQUEST_MAX - 1, resp,
                                          sizeof(resp)), 0);
    expect_status(big, sizeof(big), "HTTP/1.0 400 Bad Request\r\n");
}
END_TEST

START_TEST(test_http_small_output)
{
    char small[METRICS_HTTP_HEADER_MAX + 50];
    const char *req = "GET /metrics HTTP/1.0\r\n\r\n";

    errno = 0;
    ck_assert_int_eq(metrics_http_respond(req, strlen(req), small, sizeof(small)), -1);
    ck_assert_int_eq(errno, ENOBUFS);
    errno = 0;
    ck_assert_int_eq(metrics_http_respond("GET / HTTP/1.0\r\n\r\n", 18, small, 10), -1);
    ck_assert_int_eq(errno, ENOBUFS);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("render");
    TCase *http = tcase_create("http");

    tcase_add_test(tc, test_render_after_updates);
    tcase_add_test(tc, test_shared_counters_across_fork);
    tcase_add_test(tc, test_render_reports_size_needed);
    tcase_add_test(tc, test_render_max_workers_fits);
    tcase_add_test(tc, test_concurrent_updates_are_exact);
    suite_add_tcase(s, tc);
    tcase_add_test(http, test_http_get_metrics);
    tcase_add_test(http, test_http_head);
    tcase_add_test(http, test_http_incomplete_needs_more);
    tcase_add_test(http, test_http_errors);
    tcase_add_test(http, test_http_small_output);
    suite_add_tcase(s, http);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(metrics_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
