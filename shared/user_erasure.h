/*
 * user_erasure.h: erasing a user (DELETE /api/v1/users/me, taskbus-admin delete-user).
 *
 * Owns: the one sequence both follow inside the caller's transaction, and the erasure of
 * the user's Redis keys afterwards (docs/decisions.md, "Issue 15", "Account deletion").
 * Rules, in this order: the user row and the user's team projects are locked and checked
 * (user_erasure_lock, migration 0029: the only owner of a team project is refused), the
 * Redis tombstone refuses every token of the user at once, taskbus.user.deleted
 * ({user_id, inbox_project_id, deleted_at}, no personal data) goes to the outbox, and the
 * users row is deleted: the cascades and the triggers of 0010 and 0029 erase the rest and
 * wake every API instance. The caller commits; when the commit fails it calls
 * user_epoch_forget (shared/user_epoch.h) if the tombstone was written.
 */
#ifndef TASKBUS_SHARED_USER_ERASURE_H
#define TASKBUS_SHARED_USER_ERASURE_H

#include <stdbool.h>
#include <stddef.h>

#include "shared/pg_pool.h"
#include "shared/redis_pool.h"

#define USER_ERASED_EVENT "taskbus.user.deleted"

typedef enum user_erasure_outcome {
    USER_ERASURE_DONE = 0,   /* deleted in the open transaction: commit it */
    USER_ERASURE_NOT_FOUND,  /* no such user */
    USER_ERASURE_CHANGED,    /* the password changed since the caller verified it */
    USER_ERASURE_SOLE_OWNER, /* the only owner of team projects (sole_owned) */
    USER_ERASURE_REDIS_DOWN, /* Redis took no tombstone: nothing was changed */
    USER_ERASURE_PG_DOWN,    /* Postgres could not answer (err) */
    USER_ERASURE_FAILED,     /* anything else (err) */
} user_erasure_outcome;

typedef struct user_erasure_request {
    const char *user_id;
    const char *expect_password_hash; /* the hash the password was verified against; NULL */
    redis_pool *redis;
    int access_ttl_s; /* TASKBUS_ACCESS_TTL_SECONDS: how long the tombstone must live */
    int lease_ms;     /* TASKBUS_NEAR_CACHE_LEASE_MS */
    const char *request_id, *traceparent; /* of the event; each may be NULL */
} user_erasure_request;

typedef struct user_erasure_result {
    bool tombstoned;  /* the tombstone is in Redis: forget it if the commit fails */
    char *sole_owned; /* USER_ERASURE_SOLE_OWNER: comma-separated project ids (caller frees) */
} user_erasure_result;

/* The sequence above in conn's open transaction. On anything but USER_ERASURE_DONE the
 * caller rolls back (and forgets the tombstone when out->tombstoned). */
user_erasure_outcome user_erase(pg_conn *conn, const user_erasure_request *req,
                                user_erasure_result *out, char *err, size_t errlen);

/* Deletes every Redis key carrying the user's hash tag except the tombstone (the user's
 * task cache, list pages, list generation, event log, command states, commit LSN, revoked
 * sessions, rate-limit bucket): after the deletion committed. The keys are found in the
 * user's one slot (CLUSTER GETKEYSINSLOT on a cluster, SCAN MATCH on a single Redis).
 * *removed counts them. 0, or -1 with err (Redis unavailable; the caller tries again). */
int user_erasure_forget_keys(redis_pool *redis, const char *user_id, long long *removed, char *err,
                             size_t errlen);

#endif
