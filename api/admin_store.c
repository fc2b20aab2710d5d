/*
 * admin_store.c: the admin API's reads (see admin_store.h).
 * Rules: every result cleared, every connection given back, on each path.
 */
#include "api/admin_store.h"

#include <stdio.h>

#include "shared/log.h"

static const pg_stmt STMT_USERS = {
    .name = "admin_users_page",
    .sql = "SELECT admin_user_doc(u)::text, u.id::text FROM users u"
           " WHERE ($1::text IS NULL OR starts_with(u.email, lower($1)))"
           " AND ($2::uuid IS NULL OR u.id > $2::uuid) ORDER BY u.id LIMIT $3::int",
    .nparams = 3,
};
static const pg_stmt STMT_USER = {
    .name = "admin_user_detail",
    .sql = "SELECT admin_user_detail(u)::text FROM users u WHERE u.id = $1::uuid",
    .nparams = 1,
};
static const pg_stmt STMT_AUDIT = {
    .name = "admin_audit_page",
    .sql = "SELECT admin_audit_doc(a)::text, a.id::text FROM admin_audit a"
           " WHERE ($1::uuid IS NULL OR a.target_id = $1::uuid)"
           " AND ($2::uuid IS NULL OR a.actor_id = $2::uuid)"
           " AND ($3::uuid IS NULL OR a.id < $3::uuid) ORDER BY a.id DESC LIMIT $4::int",
    .nparams = 4,
};

/* Runs stmt on the primary: its result (caller clears), or NULL (logged). */
static PGresult *query(const api_app *app, const pg_stmt *stmt, const char *const *values,
                       pg_conn **conn) {
    char err[256];
    *conn = pg_pool_acquire(app->pg, API_PG_ACQUIRE_MS, err, sizeof err);
    if (*conn == NULL) {
        LOG_WARNF("admin: no database connection: %s", err);
        return NULL;
    }
    PGresult *res = pg_exec_stmt_ok(*conn, stmt, values, err, sizeof err);
    if (res == NULL)
        LOG_WARNF("admin: %s", err);
    return res;
}

/* A page from res (column 0 a document, column 1 its id; limit + 1 rows asked for). */
static store_result page(const PGresult *res, int limit, json_t **items, char next[UUID_STR_LEN]) {
    *items = json_array();
    next[0] = '\0';
    int n = PQntuples(res);
    for (int i = 0; *items != NULL && i < n && i < limit; i++) {
        json_t *doc = json_loads(PQgetvalue(res, i, 0), 0, NULL);
        if (doc == NULL || json_array_append_new(*items, doc) != 0) {
            json_decref(*items);
            *items = NULL;
        }
    }
    if (*items == NULL)
        return STORE_UNAVAILABLE;
    if (n > limit)
        snprintf(next, UUID_STR_LEN, "%s", PQgetvalue(res, limit - 1, 1));
    return STORE_FOUND;
}

static store_result list(const api_app *app, const pg_stmt *stmt, const char *const *values,
                         int limit, json_t **items, char next[UUID_STR_LEN]) {
    pg_conn *conn = NULL;
    PGresult *res = query(app, stmt, values, &conn);
    store_result r = res != NULL ? page(res, limit, items, next) : STORE_UNAVAILABLE;
    PQclear(res);
    if (conn != NULL)
        pg_pool_release(app->pg, conn);
    return r;
}

store_result admin_store_users(const api_app *app, const admin_user_filter *f, int limit,
                               json_t **items, char next[UUID_STR_LEN]) {
    char asked[16];
    snprintf(asked, sizeof asked, "%d", limit + 1);
    const char *values[3] = {f->email_prefix, f->after, asked};
    return list(app, &STMT_USERS, values, limit, items, next);
}

store_result admin_store_audit(const api_app *app, const admin_audit_filter *f, int limit,
                               json_t **items, char next[UUID_STR_LEN]) {
    char asked[16];
    snprintf(asked, sizeof asked, "%d", limit + 1);
    const char *values[4] = {f->target_id, f->actor_id, f->before, asked};
    return list(app, &STMT_AUDIT, values, limit, items, next);
}

store_result admin_store_user(const api_app *app, const char *id, json_t **doc) {
    *doc = NULL;
    pg_conn *conn = NULL;
    const char *values[1] = {id};
    PGresult *res = query(app, &STMT_USER, values, &conn);
    store_result r = STORE_UNAVAILABLE;
    if (res != NULL && PQntuples(res) == 0) {
        r = STORE_NOT_FOUND;
    } else if (res != NULL) {
        *doc = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
        r = *doc != NULL ? STORE_FOUND : STORE_UNAVAILABLE;
    }
    PQclear(res);
    if (conn != NULL)
        pg_pool_release(app->pg, conn);
    return r;
}
