/*
 * task_store.h: reading one task, the cache first (see docs/decisions.md "Reads and cache").
 *
 * Owns: GET of a single task for any handler (the read route, and the write routes that
 * check If-Match or answer the task as it will be). Rules: Redis {u:<uid>}:task:<tid>
 * first; a miss (or Redis down) reads Postgres through app->pg_read and fills the cache
 * with set-if-absent; a tombstone or another user's task is "not found". The caller owns
 * *out.
 */
#ifndef TASKBUS_API_TASK_STORE_H
#define TASKBUS_API_TASK_STORE_H

#include <jansson.h>

#include "api/http_context.h"

typedef enum { TASK_STORE_FOUND, TASK_STORE_NOT_FOUND, TASK_STORE_UNAVAILABLE } task_store_result;

/* Looks the task up for user_id. FOUND fills *out (a new reference). */
task_store_result task_store_get(const api_app *app, const char *user_id, const char *task_id,
                                 json_t **out);

#endif
