/* xfer: whole-file downloads and uploads on top of ftpc.
 *
 * Downloads land in "LOCAL.part" and are renamed to LOCAL only once the
 * byte count matches the size the server gave, so a LOCAL that exists is
 * always complete.  A broken download keeps its .part file; resuming
 * (REST) continues it, or continues a LOCAL left by another program.
 * Uploads resume with SIZE then APPE when the server offers SIZE, and
 * are checked with SIZE afterwards.
 */
#ifndef FERRY_CLIENT_XFER_H
#define FERRY_CLIENT_XFER_H

#include <stddef.h>

#include "ferry/ftpc.h"

struct xfer_opts {
    int resume;      /* continue a partial download or upload */
    int progress;    /* show the progress bar (stderr is a terminal) */
    int report;      /* print "NAME: N bytes received in T s" on stdout */
};

/* Download remote into local: NULL means the remote base name in the
 * current directory, an existing directory receives the base name, "-"
 * is standard output (no .part, no resume).  An ftpc status; err holds
 * the message. */
int xfer_get(struct ftpc *c, const char *remote, const char *local,
             const struct xfer_opts *o, char *err, size_t errlen);

/* Upload local ("-": standard input, no resume) as remote: NULL or ""
 * means the local base name, a remote ending in '/' receives the base
 * name. */
int xfer_put(struct ftpc *c, const char *local, const char *remote,
             const struct xfer_opts *o, char *err, size_t errlen);

/* The last component of path ("" when path ends in '/'). */
const char *xfer_basename(const char *path);

#endif
