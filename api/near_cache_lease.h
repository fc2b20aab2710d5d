/*
 * near_cache_lease.h: the thread that keeps this API instance's near cache servable.
 *
 * Owns: a subscriber connection to NEAR_CACHE_CHANNEL, a one-connection Postgres pool for
 * the journal check, a one-connection Redis pool of its own for the registry (so it can still reach
 * Redis while the request pool's breaker is open), and the lease protocol of docs/decisions.md
 * "Near cache":
 * - every invalidation is applied (the user's generation bumped) in sequence order, and
 *   acknowledged in {nc}:acks right after each burst;
 * - a gap in the sequence, a dropped subscriber connection or a lease that lapsed kill
 *   every entry (epoch bump) before anything is served again;
 * - the lease is renewed every lease/5: a Postgres check that no undelivered writer
 *   effects are older than the journal grace, then a PING through the subscriber
 *   connection (every invalidation published before it is applied), then the registry;
 *   only then is the local lease extended, to the time before the check plus the lease
 *   minus the margin;
 * - the request pool's Redis breaker opens when the registry cannot be reached and closes
 *   when it can, so a frozen Redis costs requests nothing but the fallback.
 */
#ifndef TASKBUS_API_NEAR_CACHE_LEASE_H
#define TASKBUS_API_NEAR_CACHE_LEASE_H

#include <stddef.h>

#include "api/near_cache.h"
#include "shared/config.h"
#include "shared/pg_pool.h"
#include "shared/redis_pool.h"

typedef struct near_cache_lease near_cache_lease;

/* Starts the thread (with its own Redis and Postgres connections). request_redis is the
 * pool whose breaker it drives. NULL with err on failure. */
near_cache_lease *near_cache_lease_start(const taskbus_config *cfg, near_cache *nc,
                                         redis_pool *request_redis, char *err, size_t errlen);
/* Lapses the lease at once (nothing is served from the near cache after this returns),
 * leaves the registry, stops the thread. */
void near_cache_lease_stop(near_cache_lease *lease);

#endif
