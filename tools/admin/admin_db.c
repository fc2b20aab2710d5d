/*
 * admin_db.c: the Postgres connection of a taskbus-admin job (see admin_db.h).
 */
#include "tools/admin/admin_db.h"

#include <stdio.h>
#include <string.h>

pg_conn *admin_db_open(const taskbus_config *cfg, pg_pool **pool) {
    char err[512];
    *pool = pg_pool_create(cfg->database_url, 1, cfg->pg_statement_timeout_ms, err, sizeof err);
    if (*pool == NULL) {
        fprintf(stderr, "taskbus-admin: DATABASE_URL: %s\n", err);
        return NULL;
    }
    pg_conn *c = pg_pool_acquire(*pool, ADMIN_PG_ACQUIRE_MS, err, sizeof err);
    if (c == NULL) {
        fprintf(stderr, "taskbus-admin: %s\n", err);
        pg_pool_destroy(*pool);
        *pool = NULL;
    }
    return c;
}

void admin_db_close(pg_pool *pool, pg_conn *c) {
    pg_pool_release(pool, c);
    pg_pool_destroy(pool);
}

void admin_db_print_error(const char *who, const char *what, const PGresult *res) {
    const char *why = res != NULL ? PQresultErrorMessage(res) : "postgres connection failed";
    size_t len = strlen(why);
    while (len > 0 && why[len - 1] == '\n') {
        len--;
    }
    fprintf(stderr, "%s: %s%s%.*s\n", who, what != NULL ? what : "", what != NULL ? ": " : "",
            (int)len, why);
}

int admin_db_one_row(pg_conn *c, const pg_stmt *stmt, const char *const *values, const char *who,
                     const char *what, PGresult **row) {
    *row = NULL;
    PGresult *res = pg_exec_stmt(c, stmt, values);
    if (!pg_result_ok(res)) {
        admin_db_print_error(who, what, res);
        PQclear(res);
        return -1;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }
    *row = res;
    return 1;
}

static const pg_stmt STMT_USER_ID = {
    .name = "admin_user_id",
    .sql = "SELECT id::text FROM users WHERE email = lower($1)",
    .nparams = 1,
};

int admin_db_user_id(pg_conn *c, const char *email, const char *who, char id[UUID_STR_LEN]) {
    const char *vals[1] = {email};
    PGresult *row = NULL;
    int found = admin_db_one_row(c, &STMT_USER_ID, vals, who, "looking the user up", &row);
    if (found == 1)
        snprintf(id, UUID_STR_LEN, "%s", PQgetvalue(row, 0, 0));
    PQclear(row);
    return found;
}
