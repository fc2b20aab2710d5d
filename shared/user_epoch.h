/*
 * user_epoch.h: the Redis copy of a user's token epoch, {u:<id>}:epoch.
 *
 * Owns: the key's TTL (its name: shared/redis_keys.h, redis_key_epoch), the only ways it
 * is written, and what its value means to
 * the auth middleware:
 * - a number: the user's token epoch, written by a set-if-greater Lua script, so a
 *   writer holding an older value (a reader refilling it from an older Postgres
 *   snapshot) can never lower it. Used by api/auth_sessions.c (logout-all, password
 *   change, the middleware's refill) and tools/admin/admin_set_role.c (role change);
 *   read by api/api_token_check.c too, so a personal API token also ends with a change
 *   that published its epoch and has not committed yet.
 * - USER_EPOCH_GONE: the tombstone of a deleted user (api/user_deletions.c,
 *   tools/admin/admin_delete_user.c). It is the greatest value the key can hold, so the
 *   set-if-greater script can never overwrite it, and every token of the user is refused
 *   by the same MGET that reads an ordinary epoch. It lives USER_EPOCH_TOMBSTONE_EXTRA_S
 *   longer than an access token, after which the key is refilled from Postgres, where the
 *   user is absent (refused again).
 * Rules: the key carries the user's {u:<id>} hash tag like every key of the user; after
 * USER_EPOCH_TTL_S an epoch expires and is read again from Postgres.
 */
#ifndef TASKBUS_SHARED_USER_EPOCH_H
#define TASKBUS_SHARED_USER_EPOCH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "shared/redis_pool.h"

#define USER_EPOCH_TTL_S 3600
/* The epoch of a user who is gone: no token carries it (users.token_epoch counts up from
 * 0 by one per logout-all, password or role change). */
#define USER_EPOCH_GONE LLONG_MAX
/* A tombstone outlives the access tokens it refuses by this much (clock skew between
 * instances, a deletion committed a little after the tombstone was written). */
#define USER_EPOCH_TOMBSTONE_EXTRA_S 60

/* Stores epoch unless Redis holds a greater one, with the TTL, then has every API
 * instance drop its near-cached verdicts for the user (shared/near_cache_bus.h; lease_ms:
 * TASKBUS_NEAR_CACHE_LEASE_MS; 0 for a refill of what Postgres holds, which needs none).
 * 0 when Redis answered (the stored value is then >= epoch) and the invalidation is safe,
 * or -1 with why not in err (then nothing of it is left in Redis, see user_epoch.c). */
int user_epoch_publish(redis_pool *redis, const char *user_id, long long epoch, int lease_ms,
                       char *err, size_t errlen);

/* Seconds a tombstone must live so that every access token of access_ttl_s issued before
 * it was written has expired when it goes. */
int user_epoch_tombstone_ttl(int access_ttl_s);

/* Stores USER_EPOCH_GONE for user_id for user_epoch_tombstone_ttl(access_ttl_s) seconds
 * (a plain SET: nothing is greater), then invalidates like user_epoch_publish. 0, or -1
 * with why not in err. */
int user_epoch_tombstone(redis_pool *redis, const char *user_id, int access_ttl_s, int lease_ms,
                         char *err, size_t errlen);

/* The number a reply of the epoch key holds (a string of at most 20 digits); false for
 * anything else (nil, an error, garbage). */
bool user_epoch_parse_reply(const redisReply *r, long long *out);

/* Drops the key (an epoch or a tombstone published for a change whose commit then
 * failed): the next reader refills it from Postgres, which knows what was committed. 0, or
 * -1 when Redis did not answer (the key then stays until its TTL: tokens stay refused,
 * which errs on the safe side). */
int user_epoch_forget(redis_pool *redis, const char *user_id);

/* What the auth middleware concludes from one MGET of the epoch and deny keys. */
typedef enum user_epoch_verdict {
    USER_EPOCH_CURRENT = 0, /* the token's epoch is current and its session not revoked */
    USER_EPOCH_REVOKED,     /* session revoked, epoch moved on, or the user is gone */
    USER_EPOCH_ASK_SOURCE,  /* Redis cannot decide: read Postgres */
} user_epoch_verdict;

/* The decision, without I/O: revoked (the deny key is there), epoch_known (the epoch key
 * held a number, epoch), trust_cache (this process has applied every recent deletion, so
 * an epoch in Redis is not a deleted user's leftover), sev (the token's epoch). */
user_epoch_verdict user_epoch_judge(bool revoked, bool epoch_known, long long epoch,
                                    bool trust_cache, long long sev);

#endif
