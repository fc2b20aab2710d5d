/*
 * user_epoch.h: the Redis copy of a user's token epoch, {u:<id>}:epoch.
 *
 * Owns: the key's name and TTL and the only way it is written: a set-if-greater Lua
 * script, so a writer holding an older value (a reader refilling it from an older
 * Postgres snapshot) can never lower it. Used by api/auth_sessions.c (logout-all,
 * password change, the middleware's refill) and workers/admin_set_role.c (role change).
 * Rules: the key carries the user's {u:<id>} hash tag like every key of the user; after
 * USER_EPOCH_TTL_S it expires and is read again from Postgres.
 */
#ifndef TASKBUS_SHARED_USER_EPOCH_H
#define TASKBUS_SHARED_USER_EPOCH_H

#include <stddef.h>

#include "shared/redis_pool.h"

#define USER_EPOCH_TTL_S 3600
/* Room for the key of any user id the API issues (a UUID) and its NUL. */
#define USER_EPOCH_KEY_BUF 96

/* Writes "{u:<user_id>}:epoch" into out. */
void user_epoch_key(const char *user_id, char *out, size_t outlen);

/* Stores epoch unless Redis holds a greater one, with the TTL. 0 when Redis answered (the
 * stored value is then >= epoch), or -1 with why not in err (Redis' error, or
 * "unavailable"). */
int user_epoch_publish(redis_pool *redis, const char *user_id, long long epoch, char *err,
                       size_t errlen);

#endif
