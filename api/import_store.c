/*
 * import_store.c: imports and import items in Postgres (see import_store.h).
 * Rules: the arrays travel as Postgres array literals in text parameters: uuids need no
 * quoting, each jsonb element is double-quoted with '"' and '\' escaped (the only two
 * characters an array literal's quoted element treats specially).
 */
#include "api/import_store.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http_context.h"
#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/time_util.h"

static const pg_stmt INSERT_IMPORT = {
    .name = "import_insert",
    .sql = "INSERT INTO imports (id, user_id, status, total, accepted, rejected, errors,"
           " finished_at) VALUES ($1::uuid, $2::uuid, $3::text, $4::int, $5::int, $6::int,"
           " $7::jsonb, CASE WHEN $3::text = 'done' THEN now() END)"
           " ON CONFLICT (id) DO NOTHING RETURNING 1",
    .nparams = 7,
};

static const pg_stmt INSERT_ITEMS = {
    .name = "import_insert_items",
    .sql = "INSERT INTO import_items (import_id, seq, command_id, task_id, fields)"
           " SELECT $1::uuid, u.ord::int, u.c, u.t, u.f"
           " FROM unnest($2::uuid[], $3::uuid[], $4::jsonb[]) WITH ORDINALITY AS u(c, t, f, ord)",
    .nparams = 4,
};

static const pg_stmt SELECT_IMPORT = {
    .name = "import_progress",
    .sql = "SELECT i.status, i.total, i.accepted, i.rejected, i.errors::text, p.produced,"
           " c.applied, c.failed, (extract(epoch from i.created_at) * 1000)::bigint,"
           " (extract(epoch from i.finished_at) * 1000)::bigint"
           " FROM imports i"
           " CROSS JOIN LATERAL (SELECT count(*) AS produced FROM import_items"
           "   WHERE import_id = i.id AND produced_at IS NOT NULL) p"
           " CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE status = 'applied') AS applied,"
           "   count(*) FILTER (WHERE status = 'rejected') AS failed"
           "   FROM commands WHERE import_id = i.id) c"
           " WHERE i.id = $1::uuid AND i.user_id = $2::uuid",
    .nparams = 2,
};

typedef struct text_buf {
    char *p;
    size_t len, cap;
    bool failed;
} text_buf;

static void put(text_buf *b, const char *s, size_t n) {
    if (b->failed) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 4096 : b->cap;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *grown = realloc(b->p, cap);
        if (grown == NULL) {
            b->failed = true;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void put_quoted(text_buf *b, const char *s) {
    put(b, "\"", 1);
    for (const char *run = s; *run != '\0';) {
        size_t n = strcspn(run, "\"\\");
        put(b, run, n);
        run += n;
        if (*run != '\0') {
            put(b, "\\", 1);
            put(b, run, 1);
            run++;
        }
    }
    put(b, "\"", 1);
}

/* The three array literals of the accepted items. 0, or -1 (out of memory, bad item). */
static int build_arrays(const json_t *accepted, text_buf *cids, text_buf *tids, text_buf *fields) {
    put(cids, "{", 1);
    put(tids, "{", 1);
    put(fields, "{", 1);
    size_t i;
    json_t *item;
    json_array_foreach(accepted, i, item) {
        const char *cid = json_string_value(json_object_get(item, "command_id"));
        const char *tid = json_string_value(json_object_get(item, "task_id"));
        char *text = json_dumps(json_object_get(item, "fields"), JSON_COMPACT);
        if (cid == NULL || tid == NULL || text == NULL) {
            free(text);
            return -1;
        }
        const char *sep = i > 0 ? "," : "";
        put(cids, sep, strlen(sep));
        put(cids, cid, strlen(cid));
        put(tids, sep, strlen(sep));
        put(tids, tid, strlen(tid));
        put(fields, sep, strlen(sep));
        put_quoted(fields, text);
        free(text);
    }
    put(cids, "}", 1);
    put(tids, "}", 1);
    put(fields, "}", 1);
    return cids->failed || tids->failed || fields->failed ? -1 : 0;
}

/* 0 (with *rows when rows is not NULL) or -1. */
static int run_stmt(pg_conn *conn, const pg_stmt *stmt, const char *const *values, int *rows,
                    char *err, size_t errlen) {
    PGresult *res = pg_exec_stmt_ok(conn, stmt, values, err, errlen);
    if (res != NULL && rows != NULL) {
        *rows = PQntuples(res);
    }
    int rc = res != NULL ? 0 : -1;
    PQclear(res);
    return rc;
}

static int insert_all(pg_conn *conn, const char *const *import_values, const char *const *items,
                      bool with_items, char *err, size_t errlen) {
    if (pg_begin(conn, err, errlen) != 0) {
        return -1;
    }
    /* No row back: an earlier attempt of the same idempotent request (same import id,
     * same body) stored it already, items included. */
    int inserted = 0;
    if (run_stmt(conn, &INSERT_IMPORT, import_values, &inserted, err, errlen) != 0 ||
        (with_items && inserted == 1 &&
         run_stmt(conn, &INSERT_ITEMS, items, NULL, err, errlen) != 0) ||
        pg_commit(conn, err, errlen) != 0) {
        pg_rollback(conn);
        return -1;
    }
    return 0;
}

/* Acquires a connection and writes the import with the built literals. */
static int store(pg_pool *pg, const char *import_id, const char *user_id, int total, int rejected,
                 int naccepted, const char *errors_text, const text_buf *cids, const text_buf *tids,
                 const text_buf *fields, char *err, size_t errlen) {
    char total_s[16], accepted_s[16], rejected_s[16];
    snprintf(total_s, sizeof total_s, "%d", total);
    snprintf(accepted_s, sizeof accepted_s, "%d", naccepted);
    snprintf(rejected_s, sizeof rejected_s, "%d", rejected);
    const char *import_values[7] = {import_id,  user_id,    naccepted > 0 ? "queued" : "done",
                                    total_s,    accepted_s, rejected_s,
                                    errors_text};
    const char *items[4] = {import_id, cids->p, tids->p, fields->p};
    pg_conn *conn = pg_pool_acquire(pg, API_PG_ACQUIRE_MS, err, errlen);
    if (conn == NULL) {
        return -1;
    }
    int rc = insert_all(conn, import_values, items, naccepted > 0, err, errlen);
    pg_pool_release(pg, conn);
    return rc;
}

int import_store_create(pg_pool *pg, const char *import_id, const char *user_id, int total,
                        int rejected, const json_t *accepted, const json_t *errors, char *err,
                        size_t errlen) {
    text_buf cids = {0}, tids = {0}, fields = {0};
    char *errors_text = json_dumps(errors, JSON_COMPACT);
    int rc = -1;
    if (errors_text == NULL || build_arrays(accepted, &cids, &tids, &fields) != 0) {
        errbuf_setf(err, errlen, "out of memory building the import");
    } else {
        rc = store(pg, import_id, user_id, total, rejected, (int)json_array_size(accepted),
                   errors_text, &cids, &tids, &fields, err, errlen);
    }
    free(errors_text);
    free(cids.p);
    free(tids.p);
    free(fields.p);
    return rc;
}

static json_t *time_or_null(const PGresult *res, int col) {
    if (PQgetisnull(res, 0, col)) {
        return json_null();
    }
    char text[40];
    time_format_rfc3339_ms(strtoll(PQgetvalue(res, 0, col), NULL, 10), text, sizeof text);
    return json_string(text);
}

static json_int_t int_at(const PGresult *res, int col) {
    return (json_int_t)strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

/* The progress document from the one row of SELECT_IMPORT. */
static json_t *progress_from_row(const PGresult *res, const char *import_id) {
    json_t *errors = json_loads(PQgetvalue(res, 0, 4), 0, NULL);
    if (errors == NULL) {
        return NULL;
    }
    return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:o}", "import_id", import_id,
                     "status", PQgetvalue(res, 0, 0), "total", int_at(res, 1), "accepted",
                     int_at(res, 2), "rejected", int_at(res, 3), "produced", int_at(res, 5),
                     "applied", int_at(res, 6), "failed", int_at(res, 7), "errors", errors,
                     "created_at", time_or_null(res, 8), "finished_at", time_or_null(res, 9));
}

import_store_result import_store_get(pg_pool *pg, const char *import_id, const char *user_id,
                                     json_t **out) {
    *out = NULL;
    char err[256];
    pg_conn *conn = pg_pool_acquire(pg, API_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("import progress: %s", err);
        return IMPORT_STORE_UNAVAILABLE;
    }
    const char *values[2] = {import_id, user_id};
    PGresult *res = pg_exec_stmt(conn, &SELECT_IMPORT, values);
    import_store_result rc = IMPORT_STORE_UNAVAILABLE;
    if (!pg_result_ok(res)) {
        LOG_WARNF("import progress: %s",
                  res != NULL ? PQresultErrorMessage(res) : "postgres connection failed");
        if (res == NULL) {
            pg_conn_mark_broken(conn);
        }
    } else if (PQntuples(res) == 0) {
        rc = IMPORT_STORE_NOT_FOUND;
    } else if ((*out = progress_from_row(res, import_id)) != NULL) {
        rc = IMPORT_STORE_FOUND;
    }
    PQclear(res);
    pg_pool_release(pg, conn);
    return rc;
}
