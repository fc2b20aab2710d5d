/*
 * report_store.c: the Postgres side of reports in the API (see report_store.h for the
 * rules it keeps).
 */
#include "api/report_store.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http_context.h"
#include "shared/bus.h"
#include "shared/cloudevent.h"
#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/outbox.h"

/* The report document as JSON text, then created_at in microseconds (for the cursor). */
#define REPORT_DOC                                                                                 \
    "json_build_object('id', id, 'status', status, 'format', format, 'filters', filters,"          \
    " 'row_count', row_count, 'size_bytes', size_bytes, 'error', error,"                           \
    " 'created_at', to_char(created_at AT TIME ZONE 'UTC',"                                        \
    " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"                                                       \
    " 'finished_at', to_char(finished_at AT TIME ZONE 'UTC',"                                      \
    " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"                                                       \
    " 'expired_at', to_char(expired_at AT TIME ZONE 'UTC',"                                        \
    " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))::text,"                                                \
    " (extract(epoch from created_at) * 1000000)::bigint"

static const pg_stmt REPORT_INSERT = {
    "report_insert",
    "INSERT INTO reports (id, user_id, format, filters) VALUES ($1::uuid, $2::uuid, $3, $4::jsonb)"
    " RETURNING " REPORT_DOC,
    4};

static const pg_stmt REPORT_GET = {
    "report_get", "SELECT " REPORT_DOC " FROM reports WHERE id = $1::uuid AND user_id = $2::uuid",
    2};

static const pg_stmt REPORT_LIST = {
    "report_list",
    "SELECT " REPORT_DOC " FROM reports WHERE user_id = $1::uuid"
    " AND ($2::bigint IS NULL OR (created_at, id) <"
    " ('epoch'::timestamptz + $2::bigint * interval '1 microsecond', $3::uuid))"
    " ORDER BY created_at DESC, id DESC LIMIT $4::int",
    4};

static json_t *doc_from_row(const PGresult *res, int row) {
    json_error_t jerr;
    return json_loads(PQgetvalue(res, row, 0), 0, &jerr);
}

/* The taskbus.report.requested event (new reference), or NULL. */
static json_t *requested_event(const char *report_id, const char *user_id, const char *format,
                               const char *traceparent) {
    char subject[64];
    snprintf(subject, sizeof subject, "reports/%s", report_id);
    json_t *data =
        json_pack("{s:s,s:s,s:s}", "report_id", report_id, "user_id", user_id, "format", format);
    return data != NULL ? cloudevent_new(REPORT_REQUESTED_TYPE, subject, data, traceparent, NULL)
                        : NULL;
}

/* INSERT + outbox inside the open transaction on conn: 0, -1 with err, or -2 when the
 * user row is gone (the insert failed its foreign key). */
static int insert_in_txn(pg_conn *conn, const char *report_id, const char *user_id,
                         const char *format, const char *filters_text, const char *request_id,
                         const char *traceparent, json_t **out, char *err, size_t errlen) {
    const char *values[4] = {report_id, user_id, format, filters_text};
    PGresult *res = pg_exec_stmt(conn, &REPORT_INSERT, values);
    if (res == NULL || !pg_result_ok(res) || PQntuples(res) != 1) {
        errbuf_setf(err, errlen, "insert report: %s",
                    res != NULL ? PQresultErrorMessage(res) : "connection lost");
        if (res == NULL)
            pg_conn_mark_broken(conn);
        bool gone = res != NULL && strcmp(pg_result_sqlstate(res), PG_SQLSTATE_FOREIGN_KEY) == 0;
        PQclear(res);
        return gone ? -2 : -1;
    }
    *out = doc_from_row(res, 0);
    PQclear(res);
    json_t *event = requested_event(report_id, user_id, format, traceparent);
    int rc = *out != NULL && event != NULL ? outbox_add(conn, REPORTS_TOPIC, user_id, event,
                                                        request_id, traceparent, err, errlen)
                                           : -1;
    if (*out == NULL || event == NULL)
        errbuf_setf(err, errlen, "out of memory");
    json_decref(event);
    return rc;
}

store_result report_store_create(pg_pool *pg, const char *report_id, const char *user_id,
                                 const char *format, const json_t *filters, const char *request_id,
                                 const char *traceparent, json_t **out, char *err, size_t errlen) {
    *out = NULL;
    char *filters_text = json_dumps(filters, JSON_COMPACT);
    if (filters_text == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return STORE_UNAVAILABLE;
    }
    pg_conn *conn = pg_pool_acquire(pg, API_PG_ACQUIRE_MS, err, errlen);
    int rc = -1;
    if (conn != NULL && pg_begin(conn, err, errlen) == 0) {
        rc = insert_in_txn(conn, report_id, user_id, format, filters_text, request_id, traceparent,
                           out, err, errlen);
        if (rc == 0)
            rc = pg_commit(conn, err, errlen);
        else
            pg_rollback(conn);
    }
    if (conn != NULL)
        pg_pool_release(pg, conn);
    free(filters_text);
    if (rc != 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc == 0 ? STORE_FOUND : rc == -2 ? STORE_OWNER_GONE : STORE_UNAVAILABLE;
}

/* Runs stmt on a pooled connection. The result, or NULL when Postgres is unavailable. */
static PGresult *query(pg_pool *pg, const pg_stmt *stmt, const char *const *values) {
    char err[256];
    pg_conn *conn = pg_pool_acquire(pg, API_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("reports: no database connection: %s", err);
        return NULL;
    }
    PGresult *res = pg_exec_stmt(conn, stmt, values);
    if (res == NULL) {
        pg_conn_mark_broken(conn);
    } else if (!pg_result_ok(res)) {
        LOG_ERRORF("reports: %s failed: %s", stmt->name, PQresultErrorMessage(res));
        PQclear(res);
        res = NULL;
    }
    pg_pool_release(pg, conn);
    return res;
}

store_result report_store_get(pg_pool *pg, const char *report_id, const char *user_id,
                              json_t **out) {
    *out = NULL;
    if (!uuid_is_valid(report_id))
        return STORE_NOT_FOUND;
    const char *values[2] = {report_id, user_id};
    PGresult *res = query(pg, &REPORT_GET, values);
    if (res == NULL)
        return STORE_UNAVAILABLE;
    store_result rc = STORE_NOT_FOUND;
    if (PQntuples(res) == 1) {
        *out = doc_from_row(res, 0);
        rc = *out != NULL ? STORE_FOUND : STORE_UNAVAILABLE;
    }
    PQclear(res);
    return rc;
}

static store_result items_from_rows(const PGresult *res, int limit, json_t *items,
                                    report_position *next) {
    int rows = PQntuples(res);
    int shown = rows > limit ? limit : rows;
    for (int i = 0; i < shown; i++) {
        if (json_array_append_new(items, doc_from_row(res, i)) != 0)
            return STORE_UNAVAILABLE;
    }
    if (rows > limit && shown > 0) {
        next->present = true;
        next->created_us = strtoll(PQgetvalue(res, shown - 1, 1), NULL, 10);
        const char *id = json_string_value(json_object_get(json_array_get(items, shown - 1), "id"));
        snprintf(next->id, sizeof next->id, "%s", id != NULL ? id : "");
    }
    return STORE_FOUND;
}

store_result report_store_list(pg_pool *pg, const char *user_id, const report_position *pos,
                               int limit, json_t **items, report_position *next) {
    memset(next, 0, sizeof *next);
    *items = json_array();
    if (*items == NULL)
        return STORE_UNAVAILABLE;
    char us[32], lim[16];
    snprintf(us, sizeof us, "%lld", pos->created_us);
    snprintf(lim, sizeof lim, "%d", limit + 1);
    const char *values[4] = {user_id, pos->present ? us : NULL, pos->present ? pos->id : NULL, lim};
    PGresult *res = query(pg, &REPORT_LIST, values);
    store_result rc = res != NULL ? items_from_rows(res, limit, *items, next) : STORE_UNAVAILABLE;
    PQclear(res);
    if (rc != STORE_FOUND) {
        json_decref(*items);
        *items = NULL;
    }
    return rc;
}
