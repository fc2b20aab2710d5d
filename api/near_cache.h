/*
 * near_cache.h: the API's in-process cache of tasks, list pages and session verdicts.
 *
 * Owns: the entries (immutable, reference-counted blobs under string keys, each tagged
 * with its user), their bounded memory (LRU per stripe), and the three things that make
 * an entry servable:
 * - the lease: api/near_cache_lease.c extends it while this instance is registered and
 *   applies every invalidation; past it nothing is served (it is read on every lookup);
 * - the epoch: bumped when the instance may have missed invalidations (lapse, dropped
 *   subscriber, a gap in the sequence); every older entry is dead at once;
 * - the user's generation in the entry's family: bumped by an invalidation of that user
 *   (users hash into a fixed table of generations per family, so a collision only costs
 *   a miss).
 * Rules: a filler takes a ticket BEFORE it reads the source and stores under that ticket;
 * an invalidation that arrives in between makes the stored entry dead on arrival, so a
 * slow fill can never resurrect an older state. Thread-safe: striped mutexes for the
 * tables, atomics for the lease, the epoch and the generations.
 */
#ifndef TASKBUS_API_NEAR_CACHE_H
#define TASKBUS_API_NEAR_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct near_cache near_cache;

/* A cached value: bytes (NUL-terminated for convenience) and one number (a task's
 * version, an epoch). Shared: release it with near_cache_blob_release. */
typedef struct near_cache_blob near_cache_blob;
const char *near_cache_blob_data(const near_cache_blob *b);
size_t near_cache_blob_len(const near_cache_blob *b);
long long near_cache_blob_aux(const near_cache_blob *b);
void near_cache_blob_release(near_cache_blob *b);

/* What an entry is, so an invalidation can spare what it does not change: a task write
 * changes the user's tasks and pages, not their sessions. */
typedef enum near_cache_family {
    NEAR_CACHE_TASKS = 0,    /* tasks and list pages */
    NEAR_CACHE_SESSIONS = 1, /* session verdicts */
    NEAR_CACHE_FAMILIES = 2,
} near_cache_family;
#define NEAR_CACHE_ALL_FAMILIES 3u /* a mask: 1u << family */

typedef struct near_cache_ticket {
    bool usable; /* false: the lease is not valid; neither read nor store */
    near_cache_family family;
    uint64_t epoch;
    uint64_t generation;
} near_cache_ticket;

/* max_bytes bounds the stored bytes (keys and values). NULL on OOM. */
near_cache *near_cache_create(size_t max_bytes);
void near_cache_destroy(near_cache *nc);

/* True while the lease is valid (monotonic clock). */
bool near_cache_lease_valid(const near_cache *nc);
/* The lease thread: valid until the monotonic time until_ns (0: lapsed now). */
void near_cache_set_lease(near_cache *nc, int64_t until_ns);
/* Every entry dies (the instance may have missed invalidations). */
void near_cache_bump_epoch(near_cache *nc);
/* Every entry of user_id in the families of mask (1u << family) dies. */
void near_cache_invalidate_user(near_cache *nc, const char *user_id, unsigned mask);

/* Taken before reading the source of a fill; usable only while the lease is valid. */
near_cache_ticket near_cache_ticket_take(near_cache *nc, const char *user_id,
                                         near_cache_family family);
/* The live entry of key (a new reference), or NULL. Keys name their user; the entry
 * remembers the user's slot from its put. */
near_cache_blob *near_cache_get(near_cache *nc, const char *key);
/* Stores value under key if the ticket is still current. */
void near_cache_put(near_cache *nc, const near_cache_ticket *t, const char *user_id,
                    const char *key, const char *value, size_t len, long long aux);

/* Counters for /metrics. */
typedef struct near_cache_stats {
    uint64_t hits, misses, stores, evictions, bytes;
} near_cache_stats;
void near_cache_stats_read(near_cache *nc, near_cache_stats *out);

#endif
