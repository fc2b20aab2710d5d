/*
 * user_deletions.h: a deleted user's tokens stop working on every API instance at once.
 *
 * Owns: one thread per API process with one dedicated Postgres connection to the primary
 * (DATABASE_URL: a replica delivers no NOTIFY) that LISTENs on USER_DELETIONS_CHANNEL. The
 * trigger of schemas/migrations/0010_deleted_users.sql records every deleted user in
 * deleted_users and notifies the id at commit; for each id this thread writes the user's
 * tombstone into Redis (shared/user_epoch.h), where the auth middleware's one MGET sees it.
 * On every (re)connect, after LISTEN, it re-applies the tombstones of every deleted_users
 * row younger than the catch-up window (twice the tombstone's life), so a notification
 * missed while no instance listened, or while Redis was down, is caught up; rows older
 * than the window plus a day are pruned then.
 * Rules: a tombstone that Redis did not take is retried (a catch-up every
 * USER_DELETIONS_RETRY_MS) until it did. user_deletions_caught_up() says whether this
 * process has finished one catch-up; before that the middleware does not trust an epoch
 * read from Redis (api/auth_sessions.c asks Postgres). The flag never goes back: while the
 * connection is down, no deletion can commit unseen for longer than the reconnect takes,
 * because the catch-up after LISTEN covers it.
 */
#ifndef TASKBUS_API_USER_DELETIONS_H
#define TASKBUS_API_USER_DELETIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "api/http_context.h"
#include "shared/uuid7.h"

#define USER_DELETIONS_CHANNEL "taskbus_user_deleted"
#define USER_DELETIONS_RETRY_MS 1000

typedef struct user_deletions user_deletions;

/* Connects, LISTENs and applies the recent deletions before returning (so a freshly
 * started instance refuses a deleted user's tokens from its first request; when Postgres
 * or Redis cannot answer yet, the thread keeps trying), then follows the notifications on
 * a thread. NULL with err only when the thread or its resources cannot be had. */
user_deletions *user_deletions_start(const api_app *app, char *err, size_t errlen);

/* Stops the thread and closes its connection; NULL is a no-op. Call before the pools of
 * app are destroyed. */
void user_deletions_stop(user_deletions *ud);

/* True once this process has applied every deletion of the catch-up window. */
bool user_deletions_caught_up(void);

/* A notification's payload: true with the user id in out when it is one (a DELETE);
 * false when it asks for a catch-up from the table (a TRUNCATE, or anything else). */
bool user_deletions_payload_id(const char *payload, char out[UUID_STR_LEN]);

/* Seconds back that a catch-up looks in deleted_users for an access token lifetime. */
int user_deletions_window_s(int access_ttl_s);

#endif
