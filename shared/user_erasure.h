/*
 * user_erasure.h: erasing a user (DELETE /api/v1/users/me, taskbus-admin delete-user).
 *
 * Owns: the one transaction both run, and the erasure of the user's Redis keys after it
 * (docs/decisions.md, "Issue 15", "Deleting the account (slice 4)").
 * Rules, in this order, in one READ COMMITTED transaction: the user row and the user's
 * team projects are locked and checked (user_erasure_lock, migration 0029: the only owner
 * of a team project is refused), the Redis tombstone refuses every token of the user at
 * once, taskbus.user.deleted ({user_id, inbox_project_id, deleted_at}, no personal data)
 * goes to the outbox, and the users row is deleted: the cascades and the triggers of 0010
 * and 0029 erase the rest and wake every API instance (which keep the tombstone). A
 * transaction that fails drops the tombstone again; one that lost a deadlock (a write of
 * the user's in flight) is tried again, up to USER_ERASURE_ATTEMPTS times. After the
 * commit, the deleter erases the user's other Redis keys; a failure there is reported,
 * never undone (the keys the writer may still land carry TTLs).
 */
#ifndef TASKBUS_SHARED_USER_ERASURE_H
#define TASKBUS_SHARED_USER_ERASURE_H

#include <stdbool.h>
#include <stddef.h>

#include "shared/pg_pool.h"
#include "shared/redis_pool.h"

#define USER_ERASED_EVENT "taskbus.user.deleted"

#define USER_ERASURE_ATTEMPTS 3

typedef enum user_erasure_outcome {
    USER_ERASURE_DONE = 0,   /* deleted and committed */
    USER_ERASURE_NOT_FOUND,  /* no such user */
    USER_ERASURE_CHANGED,    /* the password changed since the caller verified it */
    USER_ERASURE_SOLE_OWNER, /* the only owner of team projects (sole_owned) */
    USER_ERASURE_REDIS_DOWN, /* Redis took no tombstone: nothing was changed */
    USER_ERASURE_PG_DOWN,    /* Postgres could not answer (err) */
    USER_ERASURE_FAILED,     /* anything else (err) */
    USER_ERASURE_DEADLOCK,   /* internal: an attempt lost a deadlock (never returned) */
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
    bool tombstoned;        /* the last attempt wrote the tombstone */
    bool tombstone_left;    /* ... and could not drop it after a failure (it expires) */
    char *sole_owned;       /* USER_ERASURE_SOLE_OWNER: comma-separated ids (caller frees) */
    long long keys_removed; /* DONE: the user's Redis keys removed after the commit */
    bool keys_failed;       /* DONE: that erasure failed (keys_error says why) */
    char keys_error[256];
} user_erasure_result;

/* The transaction above on conn (none open) and, once committed, the key erasure.
 * Anything but USER_ERASURE_DONE changed nothing (err says why for PG_DOWN, REDIS_DOWN and
 * FAILED). */
user_erasure_outcome user_erase(pg_conn *conn, const user_erasure_request *req,
                                user_erasure_result *out, char *err, size_t errlen);

/* Deletes every Redis key carrying the user's hash tag except the tombstone (the user's
 * task cache, list pages, list generation, event log, command states, commit LSN, revoked
 * sessions, rate-limit bucket): after the deletion committed. The keys are found in the
 * user's one slot (CLUSTER GETKEYSINSLOT on a cluster: that slot holds about one in 16,384
 * of all keys; SCAN MATCH over the whole keyspace on a single Redis). *removed counts them.
 * 0, or -1 with err. */
int user_erasure_forget_keys(redis_pool *redis, const char *user_id, long long *removed, char *err,
                             size_t errlen);

#endif
