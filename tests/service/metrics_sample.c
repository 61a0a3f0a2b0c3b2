/* Prints a metrics exposition with every series populated, for the real
 * Prometheus parsers that check its syntax (promtool, the Python client). */
#include "ferry/metrics.h"

#include <stdio.h>

static char buf[METRICS_RENDER_MAX];

int main(void)
{
    unsigned i;
    size_t n;

    metrics_set_workers(3);
    for (i = 0; i < 3; i++) {
        metrics_thread_init(i);
        metrics_loop_iteration(i);
        metrics_session_opened();
    }
    metrics_session_closed();
    metrics_login_failed();
    metrics_bytes_in(4096);
    metrics_bytes_out(1u << 20);
    metrics_transfer(METRICS_RETR, METRICS_OK);
    metrics_transfer(METRICS_STOR, METRICS_FAILED);
    metrics_transfer(METRICS_LIST, METRICS_ABORTED);
    for (i = 0; i < 20; i++)
        metrics_command(50000ULL << i);
    n = metrics_render(buf, sizeof(buf));
    if (n >= sizeof(buf))
        return 1;
    return fwrite(buf, 1, n, stdout) == n ? 0 : 1;
}
