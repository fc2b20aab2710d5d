/*
 * webhook_store.c: the Postgres side of webhooks in the API (see webhook_store.h for the
 * rules it keeps).
 */
#include "api/webhook_store.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http_context.h"
#include "shared/errbuf.h"
#include "shared/log.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#define WEBHOOK_DOC                                                                                \
    "json_build_object('id', w.id, 'url', w.url, 'event_types', w.event_types,"                    \
    " 'enabled', w.enabled, 'created_at', " TS(                                                    \
        "w.created_at") ","                                                                        \
                        " 'failing_since', " TS("w.failing_since") ", 'disabled_at', " TS(         \
                            "w.disabled_at") ","                                                   \
                                             " 'disabled_reason', w.disabled_reason)::text"

#define ATTEMPTS_DOC                                                                               \
    "(SELECT coalesce(json_agg(json_build_object('attempt', a.attempt,"                            \
    " 'started_at', " TS("a.started_at") ", 'duration_ms', a.duration_ms,"                         \
                                         " 'status_code', a.status_code, 'error', a.error) ORDER " \
                                         "BY a.attempt), '[]'::json)"                              \
                                         " FROM webhook_attempts a WHERE a.delivery_id = d.id)"

#define DELIVERY_DOC                                                                               \
    "json_build_object('id', d.id, 'event_id', d.event_id, 'event_type', d.event_type,"            \
    " 'status', d.status, 'attempts', d.attempts,"                                                 \
    " 'next_attempt_at', CASE WHEN d.status = 'pending' THEN " TS(                                 \
        "d.next_attempt_at") " END,"                                                               \
                             " 'last_status_code', d.last_status_code, 'last_error', "             \
                             "d.last_error,"                                                       \
                             " 'created_at', " TS("d.created_at") ", 'delivered_at', " TS(         \
                                 "d.delivered_at") ","                                             \
                                                   " 'attempt_log', " ATTEMPTS_DOC ")::text"

/* The count check and the insert in one statement; a concurrent pair may both pass the
 * count, which only lets a user end one webhook over the limit. */
static const pg_stmt WEBHOOK_INSERT = {
    "webhook_insert",
    "INSERT INTO webhooks AS w (id, user_id, url, event_types, secret)"
    " SELECT $1::uuid, $2::uuid, $3, ARRAY(SELECT json_array_elements_text($4::json)), $5"
    " WHERE (SELECT count(*) FROM webhooks WHERE user_id = $2::uuid) < $6::int"
    " RETURNING " WEBHOOK_DOC,
    6};

static const pg_stmt WEBHOOK_LIST = {"webhook_list",
                                     "SELECT " WEBHOOK_DOC " FROM webhooks w"
                                     " WHERE w.user_id = $1::uuid ORDER BY w.id LIMIT $2::int",
                                     2};

static const pg_stmt WEBHOOK_DELETE = {
    "webhook_delete", "DELETE FROM webhooks WHERE id = $1::uuid AND user_id = $2::uuid", 2};

static const pg_stmt WEBHOOK_OWNED = {
    "webhook_owned", "SELECT 1 FROM webhooks WHERE id = $1::uuid AND user_id = $2::uuid", 2};

static const pg_stmt DELIVERY_PAGE = {
    "webhook_delivery_page",
    "SELECT " DELIVERY_DOC ", d.id FROM webhook_deliveries d WHERE d.webhook_id = $1::uuid"
    " AND ($2::uuid IS NULL OR d.id < $2::uuid) ORDER BY d.id DESC LIMIT $3::int",
    3};

static void log_failure(const char *what, const PGresult *res) {
    log_json(LOG_ERROR, "webhook store failed",
             json_pack("{s:s,s:s}", "op", what, "error",
                       res != NULL ? PQresultErrorMessage(res) : "connection lost"));
}

/* Runs stmt on a pooled connection. The result (caller PQclear()s) or NULL; *owner_gone
 * (when not NULL) tells whether it failed on a foreign key (the user row is gone). */
static PGresult *run_noting(pg_pool *pg, const pg_stmt *stmt, const char *const *values,
                            bool *owner_gone) {
    char err[256];
    pg_conn *conn = pg_pool_acquire(pg, API_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        log_json(LOG_ERROR, "webhook store: no connection", json_pack("{s:s}", "error", err));
        return NULL;
    }
    PGresult *res = pg_exec_stmt(conn, stmt, values);
    if (res == NULL) {
        pg_conn_mark_broken(conn);
    }
    bool gone = res != NULL && !pg_result_ok(res) &&
                strcmp(pg_result_sqlstate(res), PG_SQLSTATE_FOREIGN_KEY) == 0;
    if (owner_gone != NULL) {
        *owner_gone = gone;
    }
    if (gone) {
        LOG_INFOF("webhook store: %s referenced a user who is gone", stmt->name);
    } else if (res == NULL || !pg_result_ok(res)) {
        log_failure(stmt->name, res);
    }
    if (res == NULL || !pg_result_ok(res)) {
        PQclear(res);
        res = NULL;
    }
    pg_pool_release(pg, conn);
    return res;
}

static PGresult *run(pg_pool *pg, const pg_stmt *stmt, const char *const *values) {
    return run_noting(pg, stmt, values, NULL);
}

/* Parses column col of every row into an array (new reference), or NULL. */
static json_t *rows_to_array(const PGresult *res, int col) {
    json_t *items = json_array();
    for (int i = 0; items != NULL && i < PQntuples(res); i++) {
        json_error_t jerr;
        json_t *doc = json_loads(PQgetvalue(res, i, col), 0, &jerr);
        if (doc == NULL || json_array_append_new(items, doc) != 0) {
            json_decref(items);
            return NULL;
        }
    }
    return items;
}

store_result webhook_store_create(pg_pool *pg, const char *id, const char *user_id, const char *url,
                                  const json_t *event_types, const char *secret, json_t **out,
                                  char *err, size_t errlen) {
    *out = NULL;
    char *types = json_dumps(event_types, JSON_COMPACT);
    char limit[16];
    snprintf(limit, sizeof limit, "%d", WEBHOOK_LIST_MAX);
    if (types == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return STORE_UNAVAILABLE;
    }
    const char *values[6] = {id, user_id, url, types, secret, limit};
    bool owner_gone = false;
    PGresult *res = run_noting(pg, &WEBHOOK_INSERT, values, &owner_gone);
    free(types);
    if (res == NULL) {
        errbuf_setf(err, errlen, "the webhook could not be stored");
        return owner_gone ? STORE_OWNER_GONE : STORE_UNAVAILABLE;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return STORE_LIMIT;
    }
    json_error_t jerr;
    *out = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    PQclear(res);
    return *out != NULL ? STORE_FOUND : STORE_UNAVAILABLE;
}

store_result webhook_store_list(pg_pool *pg, const char *user_id, json_t **items) {
    char limit[16];
    snprintf(limit, sizeof limit, "%d", WEBHOOK_LIST_MAX);
    const char *values[2] = {user_id, limit};
    PGresult *res = run(pg, &WEBHOOK_LIST, values);
    if (res == NULL) {
        return STORE_UNAVAILABLE;
    }
    *items = rows_to_array(res, 0);
    PQclear(res);
    return *items != NULL ? STORE_FOUND : STORE_UNAVAILABLE;
}

store_result webhook_store_delete(pg_pool *pg, const char *id, const char *user_id) {
    const char *values[2] = {id, user_id};
    PGresult *res = run(pg, &WEBHOOK_DELETE, values);
    if (res == NULL) {
        return STORE_UNAVAILABLE;
    }
    bool deleted = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    return deleted ? STORE_FOUND : STORE_NOT_FOUND;
}

store_result webhook_store_deliveries(pg_pool *pg, const char *webhook_id, const char *user_id,
                                      const char *before, int limit, json_t **items, char *next) {
    next[0] = '\0';
    const char *owned[2] = {webhook_id, user_id};
    PGresult *res = run(pg, &WEBHOOK_OWNED, owned);
    if (res == NULL) {
        return STORE_UNAVAILABLE;
    }
    int found = PQntuples(res);
    PQclear(res);
    if (found == 0) {
        return STORE_NOT_FOUND;
    }
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *values[3] = {webhook_id, before, lim};
    res = run(pg, &DELIVERY_PAGE, values);
    if (res == NULL) {
        return STORE_UNAVAILABLE;
    }
    int n = PQntuples(res);
    *items = rows_to_array(res, 0);
    if (n == limit && n > 0) {
        snprintf(next, UUID_STR_LEN, "%s", PQgetvalue(res, n - 1, 1));
    }
    PQclear(res);
    return *items != NULL ? STORE_FOUND : STORE_UNAVAILABLE;
}
