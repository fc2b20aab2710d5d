/*
 * task_stats.c: one user's task stats from the counters (see task_stats.h).
 *
 * Rules: the day bins are those of task_count_day() in 0011_task_counts.sql (absolute
 * 24-hour bins from 2000-01-01 UTC). overdue = whole days before today's bin + the open
 * tasks due in [today's bin, now()); done in the last 7 days, with w = now() - 7 days =
 * whole days after w's bin + the tasks completed in [w, w's bin + 24 h). "+ 24 hours"
 * (never "+ 1 day", which a DST session time zone stretches) keeps a bin one bin long.
 * The total is the sum of the status counters.
 */
#include "api/task_stats.h"

#include <stdio.h>
#include <stdlib.h>

#include "api/read_replica.h"
#include "shared/errbuf.h"
#include "shared/log.h"

#define TASK_STATS_COLUMNS 10

static const pg_stmt TASK_STATS = {
    "task_stats_read",
    "SELECT coalesce(sum(n) FILTER (WHERE counter = 'status:todo'), 0),"
    " coalesce(sum(n) FILTER (WHERE counter = 'status:in_progress'), 0),"
    " coalesce(sum(n) FILTER (WHERE counter = 'status:done'), 0),"
    " coalesce(sum(n) FILTER (WHERE counter = 'priority:low'), 0),"
    " coalesce(sum(n) FILTER (WHERE counter = 'priority:medium'), 0),"
    " coalesce(sum(n) FILTER (WHERE counter = 'priority:high'), 0),"
    " coalesce(sum(n) FILTER (WHERE counter = 'priority:urgent'), 0),"
    " coalesce(sum(n) FILTER (WHERE counter = 'open_due' AND day < task_count_day(now())), 0)"
    " + (SELECT count(*) FROM tasks WHERE owner_id = $1::uuid AND status <> 'done'"
    "    AND due_at >= task_count_day(now()) AND due_at < now()),"
    " coalesce(sum(n) FILTER (WHERE counter = 'completed'"
    "   AND day > task_count_day(now() - interval '7 days')), 0)"
    " + (SELECT count(*) FROM tasks WHERE owner_id = $1::uuid"
    "    AND completed_at >= now() - interval '7 days'"
    "    AND completed_at < task_count_day(now() - interval '7 days') + interval '24 hours'),"
    " coalesce(sum(n) FILTER (WHERE counter LIKE 'status:%'), 0)"
    " FROM task_counts WHERE owner_id = $1::uuid",
    1};

static json_t *stats_from_row(const PGresult *res) {
    json_int_t v[TASK_STATS_COLUMNS];
    for (int i = 0; i < TASK_STATS_COLUMNS; i++)
        v[i] = (json_int_t)strtoll(PQgetvalue(res, 0, i), NULL, 10);
    return json_pack("{s:{s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I},s:I,s:I,s:I}", "by_status", "todo", v[0],
                     "in_progress", v[1], "done", v[2], "by_priority", "low", v[3], "medium", v[4],
                     "high", v[5], "urgent", v[6], "overdue", v[7], "done_last_7_days", v[8],
                     "total", v[9]);
}

task_stats_result task_stats_query(pg_conn *conn, const char *user_id, json_t **out, char *err,
                                   size_t errlen) {
    const char *values[] = {user_id};
    PGresult *res = pg_exec_stmt(conn, &TASK_STATS, values);
    if (res == NULL || !pg_result_ok(res) || PQntuples(res) != 1 ||
        PQnfields(res) != TASK_STATS_COLUMNS) {
        errbuf_setf(err, errlen, "%s",
                    res == NULL ? "postgres connection failed" : PQresultErrorMessage(res));
        PQclear(res);
        return TASK_STATS_UNAVAILABLE;
    }
    *out = stats_from_row(res);
    PQclear(res);
    if (*out == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return TASK_STATS_NO_MEMORY;
    }
    return TASK_STATS_OK;
}

typedef struct stats_read {
    const char *user_id;
    json_t *stats;
    task_stats_result rc;
    char err[256];
} stats_read;

static int read_stats_on(pg_conn *conn, void *arg) {
    stats_read *r = arg;
    r->rc = task_stats_query(conn, r->user_id, &r->stats, r->err, sizeof r->err);
    return r->rc == TASK_STATS_UNAVAILABLE ? -1 : 0;
}

task_stats_result task_stats_read(const api_app *app, const char *user_id, json_t **out) {
    /* The counters are the writer's: exact like a task (api/read_replica.h); the commit
     * LSN costs this path one Redis GET, and only with the replica configured. */
    read_lsn need = read_lsn_fetch(app, user_id);
    stats_read r = {.user_id = user_id, .stats = NULL, .rc = TASK_STATS_UNAVAILABLE};
    char err[256];
    if (read_exact(app, need, "task stats", read_stats_on, &r, err, sizeof err) != 0) {
        LOG_WARNF("task stats: %s (%s)", err, r.err);
        return TASK_STATS_UNAVAILABLE;
    }
    if (r.rc != TASK_STATS_OK)
        LOG_ERRORF("task stats: %s", r.err);
    *out = r.stats;
    return r.rc;
}
