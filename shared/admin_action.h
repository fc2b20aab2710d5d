/*
 * admin_action.h: one admin action on a user (lock, unlock, sign out everywhere, set the
 * role), for the admin API (api/routes_admin.c) and taskbus-admin set-role.
 *
 * Owns: the transaction every admin action runs, in this order: admin_user_action()
 * (migration 0032: the actor and the target locked in id order, the actor still an
 * unlocked admin, the change, the token epoch moved when tokens must end, the audit row),
 * the new epoch published to Redis with the near-cache invalidation (every instance
 * refuses the user's older tokens before the answer), taskbus.admin.action (the audit
 * row's document) to the outbox, COMMIT. A failure before the COMMIT rolls back and drops
 * the epoch it published; nothing is half done.
 */
#ifndef TASKBUS_SHARED_ADMIN_ACTION_H
#define TASKBUS_SHARED_ADMIN_ACTION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "shared/pg_pool.h"
#include "shared/redis_pool.h"

#define ADMIN_ACTION_EVENT "taskbus.admin.action"

typedef enum admin_action_kind {
    ADMIN_ACTION_LOCK = 0,
    ADMIN_ACTION_UNLOCK,
    ADMIN_ACTION_LOGOUT_ALL,
    ADMIN_ACTION_SET_ROLE,
} admin_action_kind;

typedef enum admin_action_outcome {
    ADMIN_ACTION_DONE = 0,    /* committed (the audit row may say changed: false) */
    ADMIN_ACTION_NOT_ADMIN,   /* the actor is no admin any more, locked or gone */
    ADMIN_ACTION_OWN_ACCOUNT, /* an admin locking or re-roling themselves */
    ADMIN_ACTION_NOT_FOUND,   /* no such target */
    ADMIN_ACTION_REDIS_DOWN,  /* Redis took no epoch: nothing changed */
    ADMIN_ACTION_PG_DOWN,     /* Postgres could not answer (err) */
    ADMIN_ACTION_FAILED,      /* anything else (err) */
} admin_action_outcome;

typedef struct admin_action_request {
    const char *actor_id; /* the admin; NULL: taskbus-admin */
    const char *target_id;
    admin_action_kind kind;
    const char *role; /* ADMIN_ACTION_SET_ROLE: "user" or "admin" */
    redis_pool *redis;
    int lease_ms;                         /* TASKBUS_NEAR_CACHE_LEASE_MS */
    const char *request_id, *traceparent; /* the audit row's and the event's; may be NULL */
} admin_action_request;

/* What a committed action left: both documents owned by the result. */
typedef struct admin_action_result {
    json_t *audit;  /* the audit row's document (the event's data) */
    json_t *target; /* the target as the action left it (admin_user_detail of 0032) */
} admin_action_result;

/* Releases both documents (idempotent). */
void admin_action_result_clear(admin_action_result *r);

/* The action's name as the audit log spells it ("lock", "unlock", "logout_all",
 * "set_role"). */
const char *admin_action_name(admin_action_kind kind);

/* Whether role is one a user can have. */
bool admin_role_valid(const char *role);

/* The transaction above on conn (none open). DONE fills *out (the caller clears it);
 * anything else changed nothing and leaves *out empty. A lost deadlock or a timeout is
 * PG_DOWN (the caller may retry). */
admin_action_outcome admin_action_run(pg_conn *conn, const admin_action_request *req,
                                      admin_action_result *out, char *err, size_t errlen);

#endif
