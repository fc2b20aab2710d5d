/*
 * reporter_job.c: building the reports named on the `reports` topic (see reporter_job.h
 * for the rules it keeps). Metrics: taskbus_reports_built_total{format,result} counts each
 * build whose ready/failed row was written in the batch (a batch rolled back after it
 * builds the report again and counts it again: a build is work done).
 * Rules kept here too: when the ready row cannot be written because the report is gone
 * (deleted while its file was built: its user was deleted), the file just placed is
 * removed at once (it is named by an id no row has, and the removals pass may already have
 * run for it); when that removal fails, the file is recorded in report_file_removals in
 * the batch, for the removals pass to retry (reporter_removals.h). A report finished
 * meanwhile by another reporter keeps its file (the same name) and its notification.
 */
#include "workers/reporter/reporter_job.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/daemon_heartbeat.h"
#include "shared/daemon_startup.h"
#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/metric_families.h"
#include "shared/notification.h"
#include "shared/task_model.h"
#include "shared/uuid7.h"
#include "workers/reporter/reporter_file.h"
#include "workers/reporter/reporter_removals.h"

/* queued|running -> running; answers what the build needs. */
static const pg_stmt MARK_RUNNING = {
    "reporter_mark_running",
    "UPDATE reports r SET status = 'running' FROM users u"
    " WHERE r.id = $1::uuid AND u.id = r.user_id AND r.status IN ('queued', 'running')"
    " RETURNING r.user_id::text, r.format, r.filters::text, u.email",
    1};

static const pg_stmt MARK_READY = {
    "reporter_mark_ready",
    "UPDATE reports SET status = 'ready', row_count = $2::bigint, size_bytes = $3::bigint,"
    " error = NULL, finished_at = now() WHERE id = $1::uuid AND status = 'running'",
    3};

/* After MARK_READY updated nothing: is the report still there (finished by another
 * reporter) or gone (deleted)? A statement of its own, so in the batch's read-committed
 * transaction it sees a deletion that MARK_READY waited for. */
static const pg_stmt REPORT_EXISTS = {"reporter_report_exists",
                                      "SELECT 1 FROM reports WHERE id = $1::uuid", 1};

static const pg_stmt MARK_FAILED = {
    "reporter_mark_failed",
    "UPDATE reports SET status = 'failed', error = $2, finished_at = now()"
    " WHERE id = $1::uuid AND status = 'running'",
    2};

/* The list's filters (report_filters.h's normalised form in $2) and its default order,
 * over the tasks of SCOPE: the user's ($1) Inbox, or the team project the filters name
 * with the user's membership in the statement, so a member removed before the build gets
 * an empty report, never the project's tasks. The keyset position is the last row itself
 * ($3): inside one snapshot it always exists. */
#define PAGE_SQL(SCOPE)                                                                            \
    "SELECT " TASK_SELECT_COLUMNS " FROM tasks WHERE " SCOPE " AND (NOT ($2::jsonb ? 'status')"    \
    "      OR status IN (SELECT jsonb_array_elements_text($2::jsonb -> 'status')))"                \
    " AND (NOT ($2::jsonb ? 'priority')"                                                           \
    "      OR priority IN (SELECT jsonb_array_elements_text($2::jsonb -> 'priority')))"            \
    " AND (NOT ($2::jsonb ? 'tag')"                                                                \
    "      OR tags @> ARRAY(SELECT jsonb_array_elements_text($2::jsonb -> 'tag')))"                \
    " AND ($2::jsonb ->> 'due_before' IS NULL"                                                     \
    "      OR due_at < ($2::jsonb ->> 'due_before')::timestamptz)"                                 \
    " AND ($2::jsonb ->> 'due_after' IS NULL"                                                      \
    "      OR due_at >= ($2::jsonb ->> 'due_after')::timestamptz)"                                 \
    " AND ($2::jsonb ->> 'q' IS NULL"                                                              \
    "      OR search @@ websearch_to_tsquery('simple', $2::jsonb ->> 'q'))"                        \
    " AND ($3::uuid IS NULL OR (created_at, id) <"                                                 \
    "      (SELECT t.created_at, t.id FROM tasks t WHERE t.id = $3::uuid))"                        \
    " ORDER BY created_at DESC, id DESC LIMIT $4::int"

static const char INBOX_PAGE_SQL[] = PAGE_SQL("owner_id = $1::uuid");
static const char PROJECT_PAGE_SQL[] =
    PAGE_SQL("project_id = ($2::jsonb ->> 'project')::uuid AND owner_id IS NULL"
             " AND EXISTS (SELECT 1 FROM project_members m"
             " WHERE m.project_id = tasks.project_id AND m.user_id = $1::uuid)");

typedef struct report_job {
    char id[UUID_STR_LEN];
    char user_id[UUID_STR_LEN];
    char format[8];
    char *filters; /* jsonb text, owned */
    bool team;     /* the filters name a team project (the API kept only such a one) */
    char *email;   /* owned */
    const char *request_id;
    const char *traceparent;
    long long rows;
    long long size;
} report_job;

typedef enum { BUILD_OK, BUILD_FILE_FAILED, BUILD_DB_FAILED } build_result;

/* The report id named by a message, or false when it names none. */
static bool message_report_id(const kafka_record *rec, char id[UUID_STR_LEN]) {
    json_error_t jerr;
    json_t *ev = rec->value != NULL ? json_loadb(rec->value, rec->value_len, 0, &jerr) : NULL;
    const char *rid = json_string_value(json_object_get(json_object_get(ev, "data"), "report_id"));
    bool ok = rid != NULL && uuid_is_valid(rid);
    if (ok)
        snprintf(id, UUID_STR_LEN, "%s", rid);
    json_decref(ev);
    return ok;
}

/* -1: Postgres trouble; 0: not to build (absent or finished); 1: job filled. */
static int mark_running(pg_conn *side, report_job *job) {
    const char *values[1] = {job->id};
    PGresult *res = pg_exec_stmt(side, &MARK_RUNNING, values);
    if (res == NULL || !pg_result_ok(res)) {
        LOG_WARNF("reporter: mark running %s: %s", job->id,
                  res != NULL ? PQresultErrorMessage(res) : "connection lost");
        if (res == NULL)
            pg_conn_mark_broken(side);
        PQclear(res);
        return -1;
    }
    int rc = PQntuples(res) == 1 ? 1 : 0;
    if (rc == 1) {
        snprintf(job->user_id, sizeof job->user_id, "%s", PQgetvalue(res, 0, 0));
        snprintf(job->format, sizeof job->format, "%s", PQgetvalue(res, 0, 1));
        job->filters = strdup(PQgetvalue(res, 0, 2));
        job->email = strdup(PQgetvalue(res, 0, 3));
        json_t *filters = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
        job->team = json_is_string(json_object_get(filters, "project"));
        json_decref(filters);
        if (job->filters == NULL || job->email == NULL)
            rc = -1;
    }
    PQclear(res);
    return rc;
}

/* One page after `after` (NULL: the first) into rf. Rows read, or -1 (Postgres), -2 (file). */
static int write_page(pg_conn *side, const report_job *job, const char *after, report_file *rf,
                      char last[UUID_STR_LEN], char *err, size_t errlen) {
    char limit[16];
    snprintf(limit, sizeof limit, "%d", REPORTER_PAGE_ROWS);
    const char *values[4] = {job->user_id, job->filters, after, limit};
    PGconn *raw = pg_conn_raw(side);
    const char *sql = job->team ? PROJECT_PAGE_SQL : INBOX_PAGE_SQL;
    PGresult *res = PQexecParams(raw, sql, 4, NULL, values, NULL, NULL, 0);
    if (res == NULL || !pg_result_ok(res)) {
        errbuf_setf(err, errlen, "page query: %s",
                    res != NULL ? PQresultErrorMessage(res) : "connection lost");
        if (res == NULL || PQstatus(raw) != CONNECTION_OK)
            pg_conn_mark_broken(side);
        PQclear(res);
        return -1;
    }
    int rows = PQntuples(res), rc = rows;
    for (int i = 0; i < rows && rc >= 0; i++) {
        json_t *task = task_from_row(res, i, NULL);
        if (task == NULL) {
            errbuf_setf(err, errlen, "row %d of a page could not be mapped", i);
            rc = -1;
        } else if (report_file_add(rf, task, err, errlen) != 0) {
            rc = -2;
        }
        json_decref(task);
    }
    if (rows > 0)
        snprintf(last, UUID_STR_LEN, "%s", PQgetvalue(res, rows - 1, 0));
    PQclear(res);
    return rc;
}

/* Every page into rf inside the open snapshot. Each page is a turn of the loop for /health:
 * a large report is many bounded page queries (TASKBUS_PG_STATEMENT_TIMEOUT_MS each), not a
 * stall, so the reporter keeps the default stall limit whatever a report's size. */
static build_result write_pages(pg_conn *side, report_job *job, report_file *rf, char *err,
                                size_t errlen) {
    char last[UUID_STR_LEN] = "";
    for (;;) {
        daemon_heartbeat_touch();
        int n = write_page(side, job, last[0] != '\0' ? last : NULL, rf, last, err, errlen);
        if (n < 0)
            return n == -2 ? BUILD_FILE_FAILED : BUILD_DB_FAILED;
        if (n < REPORTER_PAGE_ROWS)
            return BUILD_OK;
    }
}

/* The file of job, from one repeatable-read snapshot on side. */
static build_result build_file(const reporter_ctx *rc, pg_conn *side, report_job *job, char *err,
                               size_t errlen) {
    report_file rf;
    if (report_file_open(&rf, rc->reports_dir, job->id, job->format, err, errlen) != 0)
        return BUILD_FILE_FAILED;
    build_result r =
        pg_run(side, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errlen) == 0
            ? write_pages(side, job, &rf, err, errlen)
            : BUILD_DB_FAILED;
    pg_rollback(side); /* read only: nothing to keep */
    if (r != BUILD_OK) {
        report_file_abort(&rf);
        return r;
    }
    job->rows = rf.rows;
    return report_file_finish(&rf, &job->size, err, errlen) == 0 ? BUILD_OK : BUILD_FILE_FAILED;
}

static int exec_ok(pg_conn *conn, const pg_stmt *stmt, const char *const *values, int *affected) {
    PGresult *res = pg_exec_stmt(conn, stmt, values);
    bool ok = res != NULL && pg_result_ok(res);
    if (!ok)
        LOG_WARNF("reporter: %s: %s", stmt->name,
                  res != NULL ? PQresultErrorMessage(res) : "connection lost");
    *affected = ok ? atoi(PQcmdTuples(res)) : 0;
    PQclear(res);
    return ok ? 0 : -1;
}

/* The report was deleted while its file was built: removes the file just placed, or
 * records it for the removals pass when it cannot be removed. 0, or -1 (roll back). */
static int remove_orphan(const reporter_ctx *rc, pg_conn *conn, const report_job *job) {
    char err[512];
    if (reporter_remove_file(rc->reports_dir, job->id, job->format, err, sizeof err) == 0) {
        log_json(LOG_INFO, "report deleted during its build; its file removed",
                 json_pack("{s:s}", "report_id", job->id));
        return 0;
    }
    LOG_WARNF("reporter: report %s deleted during its build: %s; left to the removals pass",
              job->id, err);
    if (reporter_removals_record(conn, job->id, job->format, err, sizeof err) != 0) {
        LOG_WARNF("reporter: %s", err);
        return -1;
    }
    return 0;
}

/* ready + report_ready in the batch transaction. */
static int finish_ready(const reporter_ctx *ctx, pg_conn *conn, const report_job *job) {
    char rows[32], size[32], path[96], err[256];
    snprintf(rows, sizeof rows, "%lld", job->rows);
    snprintf(size, sizeof size, "%lld", job->size);
    const char *values[3] = {job->id, rows, size};
    int affected = 0;
    if (exec_ok(conn, &MARK_READY, values, &affected) != 0)
        return -1;
    if (affected == 0) {
        int present = 0;
        if (exec_ok(conn, &REPORT_EXISTS, values, &present) != 0)
            return -1;
        if (present == 0)
            return remove_orphan(ctx, conn, job);
        return 0; /* finished meanwhile by another reporter: its notification stands */
    }
    snprintf(path, sizeof path, "/api/v1/reports/%s/download", job->id);
    json_t *data = json_pack("{s:s,s:s}", "report_id", job->id, "download_path", path);
    int rc = data != NULL
                 ? notification_enqueue(conn, "report_ready", job->user_id, job->email, data,
                                        job->request_id, job->traceparent, err, sizeof err)
                 : -1;
    if (rc != 0)
        LOG_WARNF("reporter: report_ready for %s: %s", job->id, data != NULL ? err : "no memory");
    json_decref(data);
    if (rc == 0)
        log_json(LOG_INFO, "report ready",
                 json_pack("{s:s,s:I,s:I}", "report_id", job->id, "rows", (json_int_t)job->rows,
                           "size_bytes", (json_int_t)job->size));
    return rc;
}

static int finish_failed(pg_conn *conn, const report_job *job, const char *reason) {
    const char *values[2] = {job->id, reason};
    int affected = 0;
    log_json(LOG_ERROR, "report failed",
             json_pack("{s:s,s:s}", "report_id", job->id, "error", reason));
    return exec_ok(conn, &MARK_FAILED, values, &affected);
}

/* Builds job's file on a side connection; 0 with *r set, or -1 when none could be had. */
static int run_build(const reporter_ctx *rc, report_job *job, build_result *r, char *err,
                     size_t errlen) {
    pg_conn *side = pg_pool_acquire(rc->pg, DAEMON_PG_ACQUIRE_MS, err, errlen);
    if (side == NULL)
        return -1;
    int marked = mark_running(side, job);
    *r = BUILD_OK;
    if (marked == 1)
        *r = build_file(rc, side, job, err, errlen);
    pg_pool_release(rc->pg, side);
    return marked;
}

/* One message. 0 to go on, -1 to roll the batch back. */
static int handle_record(const reporter_ctx *rc, pg_conn *conn, const kafka_record *rec) {
    report_job job = {.request_id = rec->request_id, .traceparent = rec->traceparent};
    if (!message_report_id(rec, job.id)) {
        LOG_WARNF("reporter: %s[%d]@%lld names no report; skipped", rec->topic, (int)rec->partition,
                  (long long)rec->offset);
        return 0;
    }
    char err[512] = "";
    build_result r = BUILD_OK;
    int marked = run_build(rc, &job, &r, err, sizeof err);
    int out = -1;
    if (marked == 0) {
        LOG_INFOF("reporter: report %s is absent or already finished; skipped", job.id);
        out = 0;
    } else if (marked == 1 && r == BUILD_OK) {
        out = finish_ready(rc, conn, &job);
        if (out == 0)
            metric_report_built(job.format, true);
    } else if (marked == 1 && r == BUILD_FILE_FAILED) {
        out = finish_failed(conn, &job, err);
        if (out == 0)
            metric_report_built(job.format, false);
    } else {
        LOG_WARNF("reporter: report %s: %s; the batch will be retried", job.id, err);
    }
    free(job.filters);
    free(job.email);
    return out;
}

int reporter_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count) {
    const reporter_ctx *rc = ctx;
    int out = 0;
    for (size_t i = 0; out == 0 && i < count; i++) {
        kafka_record_log_context(&records[i]); /* its lines carry its ids */
        out = handle_record(rc, conn, &records[i]);
    }
    kafka_record_log_context(NULL);
    return out;
}
