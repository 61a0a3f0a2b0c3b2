/* timeouts: O(1) per-connection timers for constant durations.
 *
 * libev's manual ("Be smart about timeouts") observes that when every
 * timer of a kind has the same duration, a list in order of last activity
 * is already sorted by deadline: touching a timer moves it to the tail,
 * the earliest deadline is at the head.  So each session sits on at most
 * one of a few lists (login, idle, data connection set-up, stalled
 * transfer), touching costs O(1), and expiry looks only at list heads.
 * No heap, no scan of all connections. */
#ifndef FERRY_TIMEOUTS_H
#define FERRY_TIMEOUTS_H

enum tmo_kind { TMO_LOGIN, TMO_IDLE, TMO_DATA, TMO_STALL, TMO_NKINDS, TMO_NONE = -1 };

struct tmo_node {
    struct tmo_node *prev, *next;  /* NULL when not on a list */
    double deadline;
    int kind;                      /* enum tmo_kind, TMO_NONE when idle */
};

struct tmo_lists {
    struct tmo_node head[TMO_NKINDS];  /* sentinels of circular lists */
    double duration[TMO_NKINDS];       /* seconds; <= 0 disables the kind */
};

void tmo_init(struct tmo_lists *t);
void tmo_node_init(struct tmo_node *n);
/* Put n on list kind with deadline now + duration (moving it from any
 * list it was on).  A disabled kind just takes n off its list. */
void tmo_set(struct tmo_lists *t, struct tmo_node *n, int kind, double now);
/* Take n off its list. */
void tmo_clear(struct tmo_node *n);
/* Earliest deadline over all lists, or -1 when no timer is armed. */
double tmo_next(const struct tmo_lists *t);
/* Pop one node whose deadline is <= now, or NULL.  The node is taken off
 * its list; n->kind still tells which timeout fired. */
struct tmo_node *tmo_expired(struct tmo_lists *t, double now);

#endif
