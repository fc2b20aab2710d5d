/*
 * near_cache_bus.h: the Redis side of the near-cache protocol (docs/decisions.md, "Near
 * cache").
 *
 * Owns: the registry keys and the invalidation channel (their names are in
 * shared/redis_keys.h), the timing constants derived from the lease length, and the only
 * ways they are written or read:
 *   {nc}:seq            a global sequence; every invalidation takes the next number and
 *                       is published with it, in the same script (so publish order is
 *                       sequence order and an instance sees a gap when it missed one);
 *                       that script (near_cache_bus_publish_users) touches only {nc}:seq,
 *                       the writer's landing calls it between its data and marks steps
 *   {nc}:leases         sorted set: API instance id -> lease expiry (Redis clock, ms)
 *   {nc}:acks           hash: API instance id -> the highest sequence it has applied with
 *                       no gap before it
 *   {nc}:born           when this registry started (Redis clock, ms); a registry younger
 *                       than a lease (Redis restarted, flushed or failed over) reports
 *                       nothing acknowledged until every lease granted before it expired
 *   {nc}:invalidations  the channel; a message is "<seq> <user id>" (all the user's
 *                       entries) or "<seq> <user id> tasks" (their tasks and pages)
 * Rules: a change is reported (a command applied, a logout answered) only after
 * near_cache_bus_acked() says every live instance applied its sequence; an instance
 * acknowledges a sequence only after it dropped what that sequence invalidates and every
 * earlier one. All keys carry the {nc} hash tag (one Redis Cluster slot).
 */
#ifndef TASKBUS_SHARED_NEAR_CACHE_BUS_H
#define TASKBUS_SHARED_NEAR_CACHE_BUS_H

#include <stdbool.h>
#include <stddef.h>

#include "shared/redis_pool.h"

/* The scope word of a writer's invalidation: only the user's tasks and pages changed. */
#define NEAR_CACHE_SCOPE_TASKS "tasks"

/* Derived from the lease length L (TASKBUS_NEAR_CACHE_LEASE_MS, the same on every API
 * instance and writer):
 * - an instance trusts its lease for L minus the margin after it asked for it (clock
 *   rates, scheduling);
 * - a journal row of undelivered effects younger than the grace is a landing in progress
 *   and does not stop renewals; an older one does;
 * - a writer releases a row it has seen pending for grace + L + margin: by then no
 *   instance holds a lease granted before it could see the row. */
int near_cache_margin_ms(int lease_ms);
int near_cache_journal_grace_ms(int lease_ms);
int near_cache_release_after_ms(int lease_ms);

/* Publishes an invalidation of everything cached for user_id; *seq_out is its sequence.
 * 0, or -1 (Redis unavailable). */
int near_cache_bus_publish(redis_pool *redis, const char *user_id, long long *seq_out);
/* Publishes one invalidation per user of user_ids[0..n), with the scope word (NULL:
 * everything), in one script: user i gets sequence *first_seq_out + i. The writer's
 * invalidation step, published after the data it covers landed and before any marker
 * reports it (workers/writer/writer_effects.h). 0, or -1 (Redis unavailable). */
int near_cache_bus_publish_users(redis_pool *redis, const char *scope, const char *const *user_ids,
                                 size_t n, long long *first_seq_out);

/* 1 when every live lease has acknowledged seq (-1: the registry's current sequence) and
 * the registry is older than a lease, 0 not yet, -1 Redis unavailable. lease_ms is this process's
 * configured lease length. */
int near_cache_bus_acked(redis_pool *redis, long long seq, int lease_ms);

/* When an invalidation published at published_ns (monotonic; any time after Redis ran
 * the PUBLISH) is safe without acknowledgements: every instance either applied it or saw
 * its lease run out by then (a renewal after the PUBLISH passes the PING barrier; a
 * dropped or silent subscriber connection stops renewals). */
int64_t near_cache_bus_safe_after_ns(int64_t published_ns, int lease_ms);

/* Returns when every live instance acknowledged seq, or at the latest when
 * near_cache_bus_safe_after_ns says it is safe anyway (Redis failing, a stalled
 * instance, a young registry). Never fails. */
void near_cache_bus_wait(redis_pool *redis, long long seq, int lease_ms, int64_t published_ns);

/* Publishes (retrying for up to a lease and its margin) and waits: what a revocation does
 * before it answers. 0 when safe, -1 when Redis never took the PUBLISH. */
int near_cache_bus_invalidate_user(redis_pool *redis, const char *user_id, int lease_ms);

/* --- an API instance's side (api/near_cache_lease.c) --- */

/* Grants or extends instance's lease to now + lease_ms (Redis clock) and records acked as
 * its acknowledgement. *current_seq: the registry's sequence now. 0, or -1. */
int near_cache_bus_renew(redis_pool *redis, const char *instance, int lease_ms, long long acked,
                         long long *current_seq);
/* Records acked as instance's acknowledgement (only while its lease is registered).
 * 0, or -1. */
int near_cache_bus_ack(redis_pool *redis, const char *instance, long long acked);
/* Removes instance from the registry (a clean shutdown). */
void near_cache_bus_leave(redis_pool *redis, const char *instance);

#endif
