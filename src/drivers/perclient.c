/* placeholder: being written */
#include "ferry/driver.h"
#include "ferry/log.h"

int perclient_run(struct server *srv, const struct model *m)
{
    (void)srv;
    log_error("event=bad-model model=%s error=\"not available yet\"", m->name);
    return 2;
}
