/*
 * task_store.h: reading one task, the cache first (see docs/decisions.md "Reads and cache").
 *
 * Owns: GET of a single task for any handler (the read route, and the write routes that
 * check If-Match or answer the task as it will be). Rules: the near cache first (only
 * while its lease is valid: api/near_cache.h); then Redis {u:<uid>}:task:<tid>, but only
 * while the lease is valid too (without it Redis may be frozen or miss undelivered
 * effects); a miss (or Redis down) reads Postgres, the replica only once it has replayed the
 * user's commit LSN (fetched in the same MGET as the task; api/read_replica.h), and fills the cache
 * with set-if-absent; a tombstone or another user's task is "not found". A task in a
 * team project (no owner) is not in any of those: when the Inbox path finds nothing, the
 * primary is asked for a team task whose project the user is a member of, in one
 * statement, and the answer is never cached (docs/decisions.md, "Tasks in team projects
 * (slice 3b)"). The caller owns *out.
 */
#ifndef TASKBUS_API_TASK_STORE_H
#define TASKBUS_API_TASK_STORE_H

#include <jansson.h>

#include "api/http_context.h"
#include "api/near_cache.h"

typedef enum { TASK_STORE_FOUND, TASK_STORE_NOT_FOUND, TASK_STORE_UNAVAILABLE } task_store_result;

/* Looks the task up for user_id, the near cache first. FOUND fills exactly one of *text
 * (the near cache's JSON text and version: release it) and *task (a new reference), and
 * *team_rank: 0 for the user's Inbox task, else the user's role rank in the task's team
 * project (project_role_rank: viewer 1, editor 2, owner 3). */
task_store_result task_store_lookup(const api_app *app, const char *user_id, const char *task_id,
                                    near_cache_blob **text, json_t **task, int *team_rank);

/* Looks the task up for user_id. FOUND fills *out (a new reference) and *team_rank (may
 * be NULL) as task_store_lookup. */
task_store_result task_store_get(const api_app *app, const char *user_id, const char *task_id,
                                 json_t **out, int *team_rank);

#endif
