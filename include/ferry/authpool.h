/* authpool: password checks off the event loops.
 *
 * A yescrypt check costs about 0.1 s of CPU by design; run on an event
 * loop it would stall every session of that worker for as long.  So the
 * session hands the check to a few threads here and goes on serving its
 * neighbours; the answer comes back to the session's own worker as a
 * message (worker_post), which runs on the worker's thread after its next
 * wake-up, where the session resumes.
 *
 * Life of a job, each step on one thread at a time:
 *   worker:  j = authjob_new(...); w->inflight++; authpool_submit(p, w, j);
 *   pool:    users_authenticate(), result into j, worker_post(w, &j->msg)
 *   worker:  j->msg.fn(w, &j->msg): w->inflight--; if j->sess is still
 *            there, finish its login; authjob_free(j).
 * A session that ends while its job is out sets j->sess = NULL (only the
 * worker's thread touches j->sess), and the job is dropped on return.
 * worker_done() waits for w->inflight to reach zero, so no job outlives
 * its worker. */
#ifndef FERRY_AUTHPOOL_H
#define FERRY_AUTHPOOL_H

#include "ferry/users.h"
#include "ferry/vfs.h"
#include "ferry/worker.h"

struct authpool;

struct authjob {
    struct worker_msg msg;        /* posted back; fn set by the submitter */
    struct authjob *qnext;        /* [pool] queue */
    struct worker  *w;            /* [ro] where the answer goes */
    struct session *sess;         /* [w] NULL once the session is gone */
    /* Answer, written by the thread that ran the check. */
    int    result;                /* users_authenticate(): 1, 0 or -errno */
    int    write;                 /* the account's perms are rw */
    char   home[VFS_PATH_MAX];    /* the account's home, on success */
    char   name[USERS_NAME_MAX + 1];
    char   password[];            /* wiped before the job is freed */
};

/* A job for name/password (both copied; a name longer than any account's
 * cannot match and is kept cut).  NULL on ENOMEM. */
struct authjob *authjob_new(const char *name, const char *password);
void authjob_free(struct authjob *j);
/* Run the check here, on this thread, against the accounts in force. */
void authjob_run(struct authjob *j, struct users_current *users);

/* nthreads threads checking against users.  NULL with errno. */
struct authpool *authpool_new(unsigned nthreads, struct users_current *users);
/* Queue j; its answer is posted to j->w. */
void authpool_submit(struct authpool *p, struct authjob *j);
/* Wait until every job submitted so far has been answered. */
void authpool_drain(struct authpool *p);
/* Finish the queue, stop and join the threads, free.  NULL is fine. */
void authpool_free(struct authpool *p);

#endif
