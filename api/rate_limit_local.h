/*
 * rate_limit_local.h: in-process GCRA buckets, one table per API instance.
 *
 * Owns: the buckets this process decides requests with, without any I/O: a hash table
 * split into stripes, each with its own mutex, its own LRU list and its own list of
 * buckets with admissions not yet pushed to the shared (Redis) bucket. Memory is bounded:
 * at most max_buckets buckets; a new key in a full stripe evicts the least recently used
 * bucket (a full one with nothing to push when there is one near the tail), and
 * local_limits_sweep drops full, clean buckets (they carry nothing a new one would not).
 * Rules: times are a caller-supplied monotonic clock in microseconds (tests inject it);
 * keys are at most LOCAL_LIMIT_KEY_MAX - 1 bytes; the reconciler (api/rate_limit_sync.c) moves
 * the pending counts out with local_limits_collect and back in with local_limits_merge
 * (the shared state) or local_limits_restore (the push failed). Every function is
 * thread-safe; none blocks on anything but a stripe's mutex.
 */
#ifndef TASKBUS_API_RATE_LIMIT_LOCAL_H
#define TASKBUS_API_RATE_LIMIT_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/config.h"
#include "shared/gcra.h"

#define LOCAL_LIMIT_KEY_MAX 96

typedef struct local_limits local_limits;

/* max_buckets >= 1. track_pending: admissions are counted for a reconciler to collect
 * (false for a table nobody reconciles). NULL when out of memory. */
local_limits *local_limits_create(size_t max_buckets, bool track_pending);
void local_limits_destroy(local_limits *ll);

/* One bucket a request pays into. A spec with count < 1 or period_s < 1 is no limit
 * (skipped: allowed, result left zeroed). */
typedef struct local_limit_take {
    const char *key;
    rate_limit_spec spec;
    ratelimit_result result; /* out */
} local_limit_take;

/* Charges one request to every bucket in takes (distinct keys) if every one allows it,
 * and to none otherwise (a refused request costs nothing). Fills each result (as of the
 * decision) and returns whether the request is allowed. A key that is too long is
 * skipped (allowed) and logged. */
bool local_limits_take(local_limits *ll, local_limit_take *takes, size_t n, int64_t now_us);

/* Decides one request without charging it or creating a bucket (an unknown key is a full
 * bucket). Returns whether it would be allowed. */
bool local_limits_peek(local_limits *ll, local_limit_take *take, int64_t now_us);

/* Charges one request decided elsewhere (the shared Redis bucket allowed it), even past the
 * local limit, so the local bucket can stand in when the shared one cannot answer. */
void local_limits_record(local_limits *ll, const char *key, rate_limit_spec spec, int64_t now_us);

/* Admissions of one bucket on their way to (and back from) the shared bucket. */
typedef struct local_limit_sync_item {
    char key[LOCAL_LIMIT_KEY_MAX];
    rate_limit_spec spec;
    int32_t n;        /* admissions since the last collect */
    int64_t first_us; /* when (local clock) the first of them was admitted */
    int64_t debt_us;  /* filled by the reconciler: the shared TAT minus the shared now */
} local_limit_sync_item;

/* Moves up to max buckets' pending admissions into out (their counts restart at 0) and
 * returns how many it moved; call again until it returns 0 for everything. */
size_t local_limits_collect(local_limits *ll, local_limit_sync_item *out, size_t max);
/* After a push answered: each bucket takes the shared state, as of sent_us (the local time
 * the push was sent, so the local view is never stricter than the shared one), plus what it
 * admitted since the collect. A bucket is never made more lenient than it is. */
void local_limits_merge(local_limits *ll, const local_limit_sync_item *items, size_t n,
                        int64_t sent_us);
/* After a push failed: the counts go back to their buckets for the next round (at most one
 * full bucket's worth each, so a long outage does not become a long lockout). */
void local_limits_restore(local_limits *ll, const local_limit_sync_item *items, size_t n);

/* Drops the full, clean buckets of one stripe (stripe is taken modulo the stripe count;
 * call with an increasing counter to walk them all). Returns how many it dropped. */
size_t local_limits_sweep(local_limits *ll, unsigned stripe, int64_t now_us);

typedef struct local_limits_stats {
    size_t buckets;         /* buckets held now */
    uint64_t evicted_dirty; /* evicted with admissions not yet pushed (lost to the shared bucket) */
    uint64_t evicted_busy;  /* evicted while not full (the key starts over locally) */
} local_limits_stats;
void local_limits_get_stats(local_limits *ll, local_limits_stats *out);

#endif
