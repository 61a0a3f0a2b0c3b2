/* metrics: ferryd's counters, rendered in the Prometheus text format
 * (--metrics ADDR:PORT).
 *
 * Counters are per process (or, after metrics_share(), shared with the
 * processes forked later) and updated with relaxed C11 atomics from any
 * thread or process, without locks.  To keep worker threads from fighting over one
 * cache line, each thread adds to its own shard (chosen by
 * metrics_thread_init()) and rendering sums the shards; a thread that
 * never called it (main, a per-client thread of the thread model) uses
 * shard 0, which is correct, only shared.
 *
 * Series (names and labels are the public interface: dashboards and
 * alerts use them):
 *   ferry_sessions                          gauge    control connections now
 *   ferry_sessions_total                    counter  control connections accepted
 *   ferry_logins_failed_total               counter
 *   ferry_bytes_in_total                    counter  data bytes received (uploads)
 *   ferry_bytes_out_total                   counter  data bytes sent (downloads, listings)
 *   ferry_transfers_total{result,kind}      counter  result ok|failed|aborted,
 *                                                    kind retr|stor|list
 *   ferry_command_duration_seconds          histogram  command arrival to reply
 *   ferry_worker_loop_iterations_total{worker="N"}  counter
 *
 * How ferryd uses it:
 *   main():        metrics_set_workers(nworkers);
 *   each worker thread, first thing:   metrics_thread_init(worker_index);
 *   accept / close of a control connection:
 *                  metrics_session_opened(); / metrics_session_closed();
 *   failed PASS:   metrics_login_failed();
 *   data moved:    metrics_bytes_in(n); / metrics_bytes_out(n);   per chunk
 *   transfer end:  metrics_transfer(METRICS_RETR, METRICS_OK);     (LIST,
 *                  NLST and MLSD count as METRICS_LIST; APPE as STOR)
 *   each command:  metrics_command(ns from the line's arrival to its reply)
 *   each loop turn of worker w:  metrics_loop_iteration(w);
 *   --metrics listener: the server accepts on its own event loop, reads
 *   into a buffer and calls metrics_http_respond() after every read; it
 *   writes the response (> 0) and closes, reads more (0), or closes (< 0).
 *   Reading must be bounded by a timeout like any client. */
#ifndef FERRY_METRICS_H
#define FERRY_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum metrics_kind { METRICS_RETR, METRICS_STOR, METRICS_LIST, METRICS_NKINDS };
enum metrics_result { METRICS_OK, METRICS_FAILED, METRICS_ABORTED, METRICS_NRESULTS };

#define METRICS_MAX_WORKERS 1024       /* as --workers allows */
#define METRICS_SHARDS      64         /* workers beyond this share shards */
/* Enough for any render with METRICS_MAX_WORKERS workers. */
#define METRICS_RENDER_MAX  (8192 + 80 * METRICS_MAX_WORKERS)
/* A request that has not ended within this many bytes gets 400. */
#define METRICS_HTTP_REQUEST_MAX 8192
/* Room for a response's headers, on top of the rendered body. */
#define METRICS_HTTP_HEADER_MAX 256

void metrics_set_workers(unsigned n);         /* worker series rendered */
void metrics_thread_init(unsigned worker);    /* this thread's shard */
/* Move the counters into a MAP_SHARED mapping, so that processes forked
 * afterwards (the fork model's children) count into what this process
 * renders.  Before any fork or metrics_thread_init(); 0 or -1 with errno. */
int metrics_share(void);

void metrics_session_opened(void);
void metrics_session_closed(void);
void metrics_login_failed(void);
void metrics_bytes_in(uint64_t n);
void metrics_bytes_out(uint64_t n);
void metrics_transfer(enum metrics_kind kind, enum metrics_result result);
void metrics_command(uint64_t nanoseconds);
void metrics_loop_iteration(unsigned worker);

/* Back to zero.  Not atomic as a whole: for tests and start-up only. */
void metrics_reset(void);

/* Write the exposition into buf (NUL-terminated when len > 0) and return
 * its full length, as snprintf does: a return >= len means buf was too
 * small and the text was cut.  METRICS_RENDER_MAX always suffices. */
size_t metrics_render(char *buf, size_t len);

/* Answer one HTTP request read from a metrics client.  req/len: what was
 * read so far (need not be NUL-terminated).  Returns:
 *   > 0  the length of a complete HTTP/1.0 response written to out:
 *        200 with the metrics for GET (or HEAD) /metrics (a query string
 *        is ignored), 404 for another path, 405 for another method, 400
 *        for a malformed or too long request; send it, then close;
 *   0    the headers have not ended yet: read more and call again;
 *   -1   out is too small (errno ENOBUFS): METRICS_RENDER_MAX +
 *        METRICS_HTTP_HEADER_MAX always suffices. */
ssize_t metrics_http_respond(const char *req, size_t len, char *out, size_t outlen);

#endif
