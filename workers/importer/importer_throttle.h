/*
 * importer_throttle.h: how many import items taskbus-importer may produce next, from
 * what the writer has to spare (docs/decisions.md, "Issue 9", "Import throttle").
 *
 * Owns: the allowed rate of one importer (tasks per second, all its imports together),
 * moved like TCP's congestion window, and the split of a grant between imports. Pure:
 * no clock, Kafka or Postgres; the caller passes the time and the measurements.
 * Rules:
 * - Congestion is the writer falling behind: the oldest produced-but-unapplied batch is
 *   older than the writer's base latency plus max_delay_ns, or the writer's consumer lag
 *   exceeds max_lag. The base latency is the lowest time from delivery to being seen
 *   applied over the last IMPORTER_THROTTLE_BASE_BUCKETS buckets of base_bucket_ns (10
 *   minutes by default: a minimum filter like LEDBAT's base delay, long enough that a
 *   writer outage does not raise it): max_delay_ns is the queueing the imports may add
 *   to what every write pays anyway. Before a first sample the base counts 0.
 * - Slow start: from start_rate the rate doubles every interval_ns while the writer keeps
 *   up, up to ssthresh (the ceiling until the first congestion). Above it, additive
 *   increase: + increase tasks/s per interval_ns. Congestion: the rate is multiplied by
 *   decrease (multiplicative decrease) and ssthresh becomes the new rate.
 * - One decrease per round trip: after a decrease, congestion counts again only once
 *   everything produced before it is applied (the oldest unapplied batch is younger than
 *   the decrease) and interval_ns has passed; until then the rate holds.
 * - The rate never grows while the importer does not use it (fewer items produced than
 *   half the rate allowed: the imports are ending or the importer is the bottleneck),
 *   nor while the lag is unknown. It stays within [min_rate, max_rate].
 * - A grant never puts more than max_lag of the importer's own items in flight
 *   (produced, not yet applied): the window that bounds what can queue ahead of
 *   interactive writes, whatever the rate. One grant covers at most max_tick_ns.
 * - Fair share: a grant is split equally between users, and a user's part equally between
 *   their imports; what one cannot use (fewer items left) goes to the others; single
 *   leftover items go round-robin from a turn the caller advances.
 */
#ifndef TASKBUS_WORKERS_IMPORTER_IMPORTER_THROTTLE_H
#define TASKBUS_WORKERS_IMPORTER_IMPORTER_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

/* importer_throttle_share splits between at most this many imports (more get nothing). */
#define IMPORTER_THROTTLE_MAX_SHARES 256
/* The base latency is the minimum over BASE_BUCKETS buckets of base_bucket_ns each. */
#define IMPORTER_THROTTLE_BASE_BUCKETS 10

typedef struct importer_throttle_config {
    double start_rate;      /* tasks/s of the first grant, and again after an idle spell */
    double min_rate;        /* floor */
    double max_rate;        /* ceiling */
    double increase;        /* additive increase: tasks/s added per interval_ns */
    double decrease;        /* multiplicative decrease factor, in (0, 1) */
    int64_t interval_ns;    /* the control round: slow start doubles per round */
    int64_t max_delay_ns;   /* oldest unapplied batch older than base + this: congestion */
    int64_t base_bucket_ns; /* one bucket of the base latency's minimum filter */
    int64_t max_lag;        /* writer lag above this: congestion; also the in-flight window */
    int64_t max_tick_ns;    /* the longest time one grant covers */
} importer_throttle_config;

typedef struct importer_signals {
    int64_t lag;                 /* the writer's consumer lag in commands; -1 unknown */
    int64_t oldest_unapplied_ns; /* when the oldest unapplied batch was produced; -1 none */
    int64_t seen_min_ns;         /* least delivery-to-seen-applied time of batches seen applied
                                  * since the previous update; -1 none */
    int64_t in_flight;           /* this importer's items produced and not yet applied */
    int64_t produced;            /* items produced since the previous update */
} importer_signals;

typedef enum {
    THROTTLE_START,    /* no update yet (or idle since) */
    THROTTLE_GROW,     /* the writer keeps up: the rate grew */
    THROTTLE_HOLD,     /* congestion already answered, the app-limited case, or lag unknown */
    THROTTLE_DECREASE, /* congestion: the rate was cut */
} importer_throttle_verdict;

typedef struct importer_throttle {
    importer_throttle_config cfg;
    double rate;     /* tasks per second allowed now */
    double ssthresh; /* slow start below, additive increase above */
    double carry;    /* the fraction of an item the previous grant could not hand out */
    int64_t last_ns; /* time of the previous update; meaningful once started */
    int64_t cut_ns;  /* time of the latest decrease; meaningful when has_cut */
    bool has_cut;    /* a decrease since the last idle spell */
    bool started;
    int64_t base_min_ns[IMPORTER_THROTTLE_BASE_BUCKETS]; /* per bucket; -1 no sample */
    int64_t base_bucket_start_ns;                        /* start of the current bucket */
    int base_current;                                    /* index of the current bucket */
    bool base_started;
    importer_throttle_verdict verdict; /* what the latest update did */
    uint64_t cuts;                     /* decreases so far */
} importer_throttle;

/* The defaults documented in docs/decisions.md for a ceiling, floor and thresholds. */
importer_throttle_config importer_throttle_defaults(double min_rate, double max_rate,
                                                    int64_t max_delay_ns, int64_t max_lag);

/* The writer's base latency as the filter holds it at its latest update; 0 before a
 * sample. */
int64_t importer_throttle_base_ns(const importer_throttle *t);

void importer_throttle_init(importer_throttle *t, const importer_throttle_config *cfg);

/* No import to produce: the next one slow-starts again from start_rate (the writer's state
 * may have changed meanwhile), with the ceiling as threshold. */
void importer_throttle_idle(importer_throttle *t);

/* Moves the rate by the measurements taken at now_ns (monotonic) and answers how many
 * items may be produced now: rate * time since the previous update (at most max_tick_ns),
 * within the in-flight window. The first update only starts the clock and answers the
 * items of one max_tick_ns at start_rate. */
int64_t importer_throttle_update(importer_throttle *t, const importer_signals *s, int64_t now_ns);

/* Splits grant between n imports: want[i] items left of import i, user[i] a number naming
 * its user (equal numbers: the same user). out[i] <= want[i], and the sum of out is
 * min(grant, sum of want). Users first get equal parts, then each user's imports; a part
 * an import or user cannot use goes to the others; leftover single items go one each,
 * in index order from turn % n. */
void importer_throttle_share(int64_t grant, const int64_t *want, const int *user, int n,
                             unsigned turn, int64_t *out);

#endif
