/* timeouts: sorted-by-construction lists, see timeouts.h. */
#include "ferry/timeouts.h"

#include <stddef.h>

void tmo_init(struct tmo_lists *t)
{
    for (int k = 0; k < TMO_NKINDS; k++) {
        t->head[k].prev = t->head[k].next = &t->head[k];
        t->head[k].kind = k;
        t->head[k].deadline = 0;
        t->duration[k] = 0;
    }
}

void tmo_node_init(struct tmo_node *n)
{
    n->prev = n->next = NULL;
    n->deadline = 0;
    n->kind = TMO_NONE;
}

static void unlink_node(struct tmo_node *n)
{
    if (n->prev) {
        n->prev->next = n->next;
        n->next->prev = n->prev;
        n->prev = n->next = NULL;
    }
}

void tmo_set(struct tmo_lists *t, struct tmo_node *n, int kind, double now)
{
    unlink_node(n);
    n->kind = kind;
    if (kind < 0 || kind >= TMO_NKINDS || t->duration[kind] <= 0)
        return;
    struct tmo_node *h = &t->head[kind];
    n->deadline = now + t->duration[kind];
    /* Constant duration and a monotonic `now`: the tail always holds the
     * latest deadline, so appending keeps the list sorted. */
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}

void tmo_clear(struct tmo_node *n)
{
    unlink_node(n);
    n->kind = TMO_NONE;
}

double tmo_next(const struct tmo_lists *t)
{
    double best = -1;
    for (int k = 0; k < TMO_NKINDS; k++) {
        const struct tmo_node *first = t->head[k].next;
        if (first != &t->head[k] && (best < 0 || first->deadline < best))
            best = first->deadline;
    }
    return best;
}

struct tmo_node *tmo_expired(struct tmo_lists *t, double now)
{
    /* The earliest due head first, so that timeouts fire in time order
     * across kinds too. */
    struct tmo_node *best = NULL;
    for (int k = 0; k < TMO_NKINDS; k++) {
        struct tmo_node *first = t->head[k].next;
        if (first != &t->head[k] && first->deadline <= now &&
            (!best || first->deadline < best->deadline))
            best = first;
    }
    if (best)
        unlink_node(best);
    return best;
}
