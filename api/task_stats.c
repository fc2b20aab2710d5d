/*
 * task_stats.c: the task stats of a user's Inbox or of a team project, from the counters
 * (see task_stats.h).
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

/* The stats of one counter scope ($1): the boundary days' rows are the scope's tasks,
 * SCOPE_ROWS naming them (an Inbox: its owner's; a team project: its tasks without an
 * owner, which 0024's partial indexes hold). */
#define TASK_STATS_SQL(SCOPE_ROWS)                                                                 \
    "SELECT coalesce(sum(n) FILTER (WHERE counter = 'status:todo'), 0),"                           \
    " coalesce(sum(n) FILTER (WHERE counter = 'status:in_progress'), 0),"                          \
    " coalesce(sum(n) FILTER (WHERE counter = 'status:done'), 0),"                                 \
    " coalesce(sum(n) FILTER (WHERE counter = 'priority:low'), 0),"                                \
    " coalesce(sum(n) FILTER (WHERE counter = 'priority:medium'), 0),"                             \
    " coalesce(sum(n) FILTER (WHERE counter = 'priority:high'), 0),"                               \
    " coalesce(sum(n) FILTER (WHERE counter = 'priority:urgent'), 0),"                             \
    " coalesce(sum(n) FILTER (WHERE counter = 'open_due' AND day < task_count_day(now())), 0)"     \
    " + (SELECT count(*) FROM tasks WHERE " SCOPE_ROWS " AND status <> 'done'"                     \
    "    AND due_at >= task_count_day(now()) AND due_at < now()),"                                 \
    " coalesce(sum(n) FILTER (WHERE counter = 'completed'"                                         \
    "   AND day > task_count_day(now() - interval '7 days')), 0)"                                  \
    " + (SELECT count(*) FROM tasks WHERE " SCOPE_ROWS                                             \
    "    AND completed_at >= now() - interval '7 days'"                                            \
    "    AND completed_at < task_count_day(now() - interval '7 days') + interval '24 hours'),"     \
    " coalesce(sum(n) FILTER (WHERE counter LIKE 'status:%'), 0)"                                  \
    " FROM task_counts WHERE owner_id = $1::uuid"

static const pg_stmt TASK_STATS = {"task_stats_read", TASK_STATS_SQL("owner_id = $1::uuid"), 1};
static const pg_stmt PROJECT_STATS = {
    "task_stats_project", TASK_STATS_SQL("project_id = $1::uuid AND owner_id IS NULL"), 1};

static json_t *stats_from_row(const PGresult *res) {
    json_int_t v[TASK_STATS_COLUMNS];
    for (int i = 0; i < TASK_STATS_COLUMNS; i++)
        v[i] = (json_int_t)strtoll(PQgetvalue(res, 0, i), NULL, 10);
    return json_pack("{s:{s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I},s:I,s:I,s:I}", "by_status", "todo", v[0],
                     "in_progress", v[1], "done", v[2], "by_priority", "low", v[3], "medium", v[4],
                     "high", v[5], "urgent", v[6], "overdue", v[7], "done_last_7_days", v[8],
                     "total", v[9]);
}

static task_stats_result run_stats(pg_conn *conn, const pg_stmt *stmt, const char *scope,
                                   json_t **out, char *err, size_t errlen) {
    const char *values[] = {scope};
    PGresult *res = pg_exec_stmt(conn, stmt, values);
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

task_stats_result task_stats_query(pg_conn *conn, const char *user_id, json_t **out, char *err,
                                   size_t errlen) {
    return run_stats(conn, &TASK_STATS, user_id, out, err, errlen);
}

task_stats_result task_stats_query_project(pg_conn *conn, const char *project_id, json_t **out,
                                           char *err, size_t errlen) {
    return run_stats(conn, &PROJECT_STATS, project_id, out, err, errlen);
}

typedef struct stats_read {
    const pg_stmt *stmt;
    const char *scope;
    json_t *stats;
    task_stats_result rc;
    char err[256];
} stats_read;

static int read_stats_on(pg_conn *conn, void *arg) {
    stats_read *r = arg;
    r->rc = run_stats(conn, r->stmt, r->scope, &r->stats, r->err, sizeof r->err);
    return r->rc == TASK_STATS_UNAVAILABLE ? -1 : 0;
}

/* The stats of scope by stmt, on the replica once it has replayed need, else the primary. */
static task_stats_result read_stats(const api_app *app, const pg_stmt *stmt, const char *scope,
                                    read_lsn need, json_t **out) {
    stats_read r = {.stmt = stmt, .scope = scope, .stats = NULL, .rc = TASK_STATS_UNAVAILABLE};
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

task_stats_result task_stats_read(const api_app *app, const char *user_id, json_t **out) {
    /* The counters are the writer's: exact like a task (api/read_replica.h); the commit
     * LSN costs this path one Redis GET, and only with the replica configured. */
    return read_stats(app, &TASK_STATS, user_id, read_lsn_fetch(app, user_id), out);
}

task_stats_result task_stats_read_project(const api_app *app, const char *project_id,
                                          json_t **out) {
    /* A team project's writes advance no reader's commit LSN: the primary, like a team
     * task (docs/decisions.md, "Tasks in team projects (slice 3b)"). */
    read_lsn primary = {.state = READ_LSN_UNKNOWN, .lsn = 0};
    return read_stats(app, &PROJECT_STATS, project_id, primary, out);
}
