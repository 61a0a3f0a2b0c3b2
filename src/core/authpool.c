/* authpool: a few threads that check passwords for the event loops.  See
 * include/ferry/authpool.h. */
#include "ferry/authpool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/metrics.h"

struct authpool {
    pthread_mutex_t lock;
    pthread_cond_t  work;          /* a job was queued, or stop */
    pthread_cond_t  idle;          /* busy dropped to zero */
    struct authjob *head, *tail;
    unsigned        busy;          /* queued or running */
    int             stop;
    unsigned        nthreads;
    struct users_current *users;
    pthread_t       tid[];
};

struct authjob *authjob_new(const char *name, const char *password)
{
    size_t plen = strlen(password);
    struct authjob *j = calloc(1, sizeof(*j) + plen + 1);
    if (!j)
        return NULL;
    memcpy(j->password, password, plen + 1);
    /* Longer than any account name: it cannot match, and cut it cannot
     * match either (names are checked whole against the file's). */
    snprintf(j->name, sizeof(j->name), "%s", name);
    if (strlen(name) > USERS_NAME_MAX)
        j->name[0] = '\0';
    return j;
}

void authjob_free(struct authjob *j)
{
    if (!j)
        return;
    explicit_bzero(j->password, strlen(j->password));
    free(j);
}

void authjob_run(struct authjob *j, struct users_current *users)
{
    struct users *t = users_current_get(users);
    const struct ferry_user *u = NULL;

    j->result = 0;
    if (t && j->name[0])
        j->result = users_authenticate(t, j->name, j->password, &u);
    if (j->result == 1) {
        /* u points into t: copy before letting go of it. */
        snprintf(j->home, sizeof(j->home), "%s", u->home);
        j->write = u->write;
    }
    users_unref(t);
    explicit_bzero(j->password, strlen(j->password));
}

static void *pool_main(void *arg)
{
    struct authpool *p = arg;

    metrics_thread_init(0);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stop)
            pthread_cond_wait(&p->work, &p->lock);
        if (!p->head)
            break;                 /* stop, and the queue is empty */
        struct authjob *j = p->head;
        p->head = j->qnext;
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->lock);

        authjob_run(j, p->users);
        worker_post(j->w, &j->msg);

        pthread_mutex_lock(&p->lock);
        if (--p->busy == 0)
            pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

struct authpool *authpool_new(unsigned nthreads, struct users_current *users)
{
    struct authpool *p;
    sigset_t all, old;
    int r = 0;

    if (nthreads == 0)
        nthreads = 1;
    p = calloc(1, sizeof(*p) + nthreads * sizeof(p->tid[0]));
    if (!p)
        return NULL;
    p->users = users;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->idle, NULL);
    /* The pool takes no signals: they belong to the main thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (p->nthreads = 0; p->nthreads < nthreads; p->nthreads++) {
        r = pthread_create(&p->tid[p->nthreads], NULL, pool_main, p);
        if (r != 0)
            break;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (p->nthreads == 0) {
        authpool_free(p);
        errno = r;
        return NULL;
    }
    return p;
}

void authpool_submit(struct authpool *p, struct authjob *j)
{
    j->qnext = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->qnext = j;
    else
        p->head = j;
    p->tail = j;
    p->busy++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->lock);
}

void authpool_drain(struct authpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    while (p->busy > 0)
        pthread_cond_wait(&p->idle, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void authpool_free(struct authpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->tid[i], NULL);
    pthread_cond_destroy(&p->idle);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
