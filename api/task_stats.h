/*
 * task_stats.h: GET /api/v1/tasks/stats, the counts of one user's Inbox or of one team
 * project (docs/decisions.md "Stats at scale", "Stats per project (slice 6)").
 *
 * Owns: the stats query and its JSON {by_status{todo,in_progress,done},
 * by_priority{low,medium,high,urgent}, overdue, done_last_7_days, total}.
 * Rules: exact and uncached, yet its cost does not grow with the user's tasks: the counts
 * by status and priority are the task_counts rows that the triggers of
 * schemas/migrations/0011_task_counts.sql keep in the transaction of every write to
 * tasks; "overdue" (due_at < now(), not done) and "done in the last 7 days"
 * (completed_at >= now() - 7 days) add whole days of the day counters and count from the
 * tasks table (index-only, through partial indexes) only the one day that holds the
 * boundary. One statement, so every figure comes from one snapshot.
 */
#ifndef TASKBUS_API_TASK_STATS_H
#define TASKBUS_API_TASK_STATS_H

#include <jansson.h>
#include <stddef.h>

#include "api/http_context.h"
#include "shared/pg_pool.h"

typedef enum { TASK_STATS_OK, TASK_STATS_UNAVAILABLE, TASK_STATS_NO_MEMORY } task_stats_result;

/* The stats of user_id (a UUID) on conn. OK fills *out (a new reference); UNAVAILABLE
 * when the query failed (err says why; a broken connection is marked for reset). */
task_stats_result task_stats_query(pg_conn *conn, const char *user_id, json_t **out, char *err,
                                   size_t errlen);

/* task_stats_query on the read replica once it has replayed the user's commit LSN, else on
 * the primary (api/read_replica.h; logs what went wrong). */
task_stats_result task_stats_read(const api_app *app, const char *user_id, json_t **out);

/* The same for a team project's tasks (its counters: migration 0024), whose membership the
 * caller checked; always on the primary, like every team read. */
task_stats_result task_stats_query_project(pg_conn *conn, const char *project_id, json_t **out,
                                           char *err, size_t errlen);
task_stats_result task_stats_read_project(const api_app *app, const char *project_id, json_t **out);

#endif
