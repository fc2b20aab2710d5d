/*
 * task_store.h: reading one task, the cache first (see docs/decisions.md "Reads and cache").
 *
 * Owns: GET of a single task for any handler (the read route, and the write routes that
 * check If-Match or answer the task as it will be). Rules: the near cache first (only
 * while its lease is valid: api/near_cache.h); then Redis {u:<uid>}:task:<tid>, but only
 * while the lease is valid too (without it Redis may be frozen or miss undelivered
 * effects); a miss (or Redis down) reads Postgres, the replica only once it has replayed the
 * user's commit LSN (fetched in the same MGET as the task; api/read_replica.h), and fills the cache
 * with set-if-absent; a tombstone or another user's task is "not found". The caller owns
 * *out.
 */
#ifndef TASKBUS_API_TASK_STORE_H
#define TASKBUS_API_TASK_STORE_H

#include <jansson.h>

#include "api/http_context.h"
#include "api/near_cache.h"

typedef enum { TASK_STORE_FOUND, TASK_STORE_NOT_FOUND, TASK_STORE_UNAVAILABLE } task_store_result;

/* Looks the task up for user_id, the near cache first. FOUND fills exactly one of *text
 * (the near cache's JSON text and version: release it) and *task (a new reference). */
task_store_result task_store_lookup(const api_app *app, const char *user_id, const char *task_id,
                                    near_cache_blob **text, json_t **task);

/* Looks the task up for user_id. FOUND fills *out (a new reference). */
task_store_result task_store_get(const api_app *app, const char *user_id, const char *task_id,
                                 json_t **out);

#endif
