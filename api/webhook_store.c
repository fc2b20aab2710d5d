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
    "json_build_object('id', w.id, 'project_id', w.project_id, 'url', w.url,"                      \
    " 'event_types', w.event_types,"                                                               \
    " 'enabled', w.enabled, 'created_at', " TS(                                                    \
        "w.created_at") ","                                                                        \
                        " 'failing_since', " TS("w.failing_since") ", 'disabled_at', " TS(         \
                            "w.disabled_at") ","                                                   \
                                             " 'disabled_reason', w.disabled_reason,"              \
                                             " 'previous_secret_expires_at', CASE WHEN"            \
                                             " w.previous_secret_expires_at > now() THEN " TS(     \
                                                 "w.previous_secret_expires_at") " END)::text"

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
 * count, which only lets a user end one webhook over the limit. A project's webhook ($7)
 * is refused by a trigger unless the user owns the project (0025_project_webhooks.sql). */
static const pg_stmt WEBHOOK_INSERT = {
    "webhook_insert",
    "INSERT INTO webhooks AS w (id, user_id, url, event_types, secret, project_id)"
    " SELECT $1::uuid, $2::uuid, $3, ARRAY(SELECT json_array_elements_text($4::json)), $5,"
    " $7::uuid WHERE (SELECT count(*) FROM webhooks WHERE user_id = $2::uuid) < $6::int"
    " RETURNING " WEBHOOK_DOC,
    7};

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

/* A merge patch: $3 url, $4 event types (a JSON array), $5 enabled; NULL keeps the column.
 * $6 says whether the new types are v2 types: they must be the webhook's scope's (a
 * project's webhook takes v2 types, a user's v1), else no row changes.
 * Enabling a disabled webhook clears what disabled it (disabled_at, disabled_reason and
 * failing_since, so the sweep gives it a full TASKBUS_WEBHOOK_DISABLE_AFTER_SECONDS again);
 * a new URL clears failing_since too (the failures were the old URL's). Disabling keeps an
 * earlier disabled_at and reason. In SET, w.* is the row before the update. */
static const pg_stmt WEBHOOK_PATCH = {
    "webhook_patch",
    "UPDATE webhooks AS w SET url = coalesce($3, w.url),"
    " event_types = CASE WHEN $4::json IS NULL THEN w.event_types"
    " ELSE ARRAY(SELECT json_array_elements_text($4::json)) END,"
    " enabled = coalesce($5::boolean, w.enabled),"
    " disabled_at = CASE WHEN $5::boolean IS NULL THEN w.disabled_at WHEN $5::boolean THEN NULL"
    " ELSE coalesce(w.disabled_at, now()) END,"
    " disabled_reason = CASE WHEN $5::boolean IS NULL THEN w.disabled_reason"
    " WHEN $5::boolean THEN NULL ELSE coalesce(w.disabled_reason, 'disabled by its owner') END,"
    " failing_since = CASE WHEN ($5::boolean AND NOT w.enabled) OR ($3 IS NOT NULL AND $3 <> w.url)"
    " THEN NULL ELSE w.failing_since END"
    " WHERE w.id = $1::uuid AND w.user_id = $2::uuid"
    " AND ($6::boolean IS NULL OR (w.project_id IS NOT NULL) = $6::boolean)"
    " RETURNING " WEBHOOK_DOC,
    6};

/* A rotation: the current secret becomes the previous one for $4 seconds. */
static const pg_stmt WEBHOOK_ROTATE = {
    "webhook_rotate",
    "UPDATE webhooks AS w SET previous_secret = w.secret,"
    " previous_secret_expires_at = now() + $4::int * interval '1 second', secret = $3"
    " WHERE w.id = $1::uuid AND w.user_id = $2::uuid RETURNING " WEBHOOK_DOC,
    4};

/* A ping delivery ($1 id, $4 event id, $5 the CloudEvent) for the user's enabled webhook. */
static const pg_stmt PING_INSERT = {
    "webhook_ping_insert",
    "INSERT INTO webhook_deliveries AS d (id, webhook_id, event_id, event_type, payload)"
    " SELECT $1::uuid, w.id, $4::uuid, '" WEBHOOK_PING_TYPE "', $5::jsonb FROM webhooks w"
    " WHERE w.id = $3::uuid AND w.user_id = $2::uuid AND w.enabled RETURNING " DELIVERY_DOC,
    5};

static const pg_stmt WEBHOOK_ENABLED = {
    "webhook_enabled",
    "SELECT w.enabled FROM webhooks w WHERE w.id = $1::uuid AND w.user_id = $2::uuid", 2};

/* Makes a final delivery ($1) of the user's ($3) enabled webhook ($2) due again now, with a
 * fresh retry budget (attempt_base). */
static const pg_stmt REDELIVER = {
    "webhook_redeliver",
    "UPDATE webhook_deliveries AS d SET status = 'pending', next_attempt_at = now(),"
    " attempt_base = d.attempts, delivered_at = NULL FROM webhooks w"
    " WHERE d.id = $1::uuid AND d.webhook_id = $2::uuid AND d.status <> 'pending'"
    " AND w.id = d.webhook_id AND w.user_id = $3::uuid AND w.enabled RETURNING " DELIVERY_DOC,
    3};

/* Why a redelivery changed nothing: the webhook's enabled and the delivery's status (NULL
 * when no such delivery), no row when the webhook is not the user's. */
static const pg_stmt REDELIVER_WHY = {
    "webhook_redeliver_why",
    "SELECT w.enabled, d.status FROM webhooks w LEFT JOIN webhook_deliveries d"
    " ON d.id = $1::uuid AND d.webhook_id = w.id WHERE w.id = $2::uuid AND w.user_id = $3::uuid",
    3};

static void log_failure(const char *what, const PGresult *res) {
    log_json(LOG_ERROR, "webhook store failed",
             json_pack("{s:s,s:s}", "op", what, "error",
                       res != NULL ? PQresultErrorMessage(res) : "connection lost"));
}

/* What a failed insert of a webhook means (see run_noting). */
static store_result refusal_of(const PGresult *res) {
    if (res == NULL || pg_result_ok(res)) {
        return STORE_UNAVAILABLE;
    }
    const char *state = pg_result_sqlstate(res);
    if (strcmp(state, PG_SQLSTATE_FOREIGN_KEY) == 0) {
        return STORE_OWNER_GONE; /* the user row is gone (the project's is held: 0025) */
    }
    if (strcmp(state, PG_SQLSTATE_INSUFFICIENT_PRIVILEGE) == 0) {
        const char *why = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        if (why != NULL && strcmp(why, "forbidden") == 0) {
            return STORE_FORBIDDEN;
        }
        if (why != NULL && strcmp(why, "not_found") == 0) {
            return STORE_NOT_FOUND;
        }
    }
    return STORE_UNAVAILABLE;
}

/* Runs stmt on a pooled connection. The result (caller PQclear()s) or NULL; *why (when
 * not NULL) says what a failure means: STORE_OWNER_GONE (a foreign key: the user row is
 * gone), STORE_NOT_FOUND or STORE_FORBIDDEN (a project's webhook refused by its trigger),
 * else STORE_UNAVAILABLE. */
static PGresult *run_noting(pg_pool *pg, const pg_stmt *stmt, const char *const *values,
                            store_result *why) {
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
    store_result refusal = refusal_of(res);
    if (why != NULL) {
        *why = refusal;
    }
    if (refusal != STORE_UNAVAILABLE) {
        LOG_INFOF("webhook store: %s was refused (%d): the user or their role is gone", stmt->name,
                  (int)refusal);
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

store_result webhook_store_create(pg_pool *pg, const char *id, const char *user_id,
                                  const char *project_id, const char *url,
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
    const char *values[7] = {id, user_id, url, types, secret, limit, project_id};
    store_result why = STORE_UNAVAILABLE;
    PGresult *res = run_noting(pg, &WEBHOOK_INSERT, values, &why);
    free(types);
    if (res == NULL) {
        errbuf_setf(err, errlen, "the webhook could not be stored");
        return why;
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

/* Runs a statement that answers one webhook document (or none: not found). */
static store_result run_doc(pg_pool *pg, const pg_stmt *stmt, const char *const *values,
                            json_t **out) {
    *out = NULL;
    PGresult *res = run(pg, stmt, values);
    if (res == NULL) {
        return STORE_UNAVAILABLE;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return STORE_NOT_FOUND;
    }
    json_error_t jerr;
    *out = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    PQclear(res);
    return *out != NULL ? STORE_FOUND : STORE_UNAVAILABLE;
}

store_result webhook_store_patch(pg_pool *pg, const char *id, const char *user_id, const char *url,
                                 const json_t *event_types, bool types_v2, int enabled,
                                 json_t **out) {
    *out = NULL;
    char *types = NULL;
    if (event_types != NULL && (types = json_dumps(event_types, JSON_COMPACT)) == NULL) {
        return STORE_UNAVAILABLE;
    }
    const char *on = enabled < 0 ? NULL : enabled ? "true" : "false";
    const char *v2 = types == NULL ? NULL : types_v2 ? "true" : "false";
    const char *values[6] = {id, user_id, url, types, on, v2};
    store_result rc = run_doc(pg, &WEBHOOK_PATCH, values, out);
    free(types);
    if (rc != STORE_NOT_FOUND || v2 == NULL) {
        return rc;
    }
    /* No row changed: no such webhook of the user, or types of the other scope. */
    const char *owned[2] = {id, user_id};
    PGresult *res = run(pg, &WEBHOOK_OWNED, owned);
    if (res == NULL) {
        return STORE_UNAVAILABLE;
    }
    rc = PQntuples(res) > 0 ? STORE_MISMATCH : STORE_NOT_FOUND;
    PQclear(res);
    return rc;
}

store_result webhook_store_rotate(pg_pool *pg, const char *id, const char *user_id,
                                  const char *secret, int grace_s, json_t **out) {
    char grace[16];
    snprintf(grace, sizeof grace, "%d", grace_s);
    const char *values[4] = {id, user_id, secret, grace};
    return run_doc(pg, &WEBHOOK_ROTATE, values, out);
}

store_result webhook_store_ping(pg_pool *pg, const char *webhook_id, const char *user_id,
                                const char *delivery_id, const char *event_id, const json_t *event,
                                json_t **out, bool *disabled) {
    *out = NULL;
    *disabled = false;
    char *payload = json_dumps(event, JSON_COMPACT);
    if (payload == NULL) {
        return STORE_UNAVAILABLE;
    }
    const char *values[5] = {delivery_id, user_id, webhook_id, event_id, payload};
    store_result rc = run_doc(pg, &PING_INSERT, values, out);
    free(payload);
    if (rc != STORE_NOT_FOUND) {
        return rc;
    }
    const char *owned[2] = {webhook_id, user_id};
    PGresult *res = run(pg, &WEBHOOK_ENABLED, owned);
    if (res == NULL) {
        return STORE_UNAVAILABLE;
    }
    *disabled = PQntuples(res) > 0;
    PQclear(res);
    return rc;
}

store_result webhook_store_redeliver(pg_pool *pg, const char *webhook_id, const char *user_id,
                                     const char *delivery_id, json_t **out,
                                     redeliver_refusal *why) {
    *why = REDELIVER_NO_SUCH;
    const char *values[3] = {delivery_id, webhook_id, user_id};
    store_result rc = run_doc(pg, &REDELIVER, values, out);
    if (rc != STORE_NOT_FOUND) {
        return rc;
    }
    PGresult *res = run(pg, &REDELIVER_WHY, values);
    if (res == NULL) {
        return STORE_UNAVAILABLE;
    }
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 1)) {
        *why = strcmp(PQgetvalue(res, 0, 0), "t") != 0         ? REDELIVER_DISABLED
               : strcmp(PQgetvalue(res, 0, 1), "pending") == 0 ? REDELIVER_PENDING
                                                               : REDELIVER_NO_SUCH;
    }
    PQclear(res);
    return STORE_NOT_FOUND;
}
