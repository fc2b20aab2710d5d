/*
 * stack_pg.h: the Postgres fixture the stack tests share (test_stack_task_*.c).
 *
 * Owns: one pool of one connection to DATABASE_URL with the repository's migrations
 * applied (idempotent), as cmocka group state. Rules: without DATABASE_URL the test FAILS
 * (it is a stack test); the teardown rolls back whatever the test left open, so a test
 * that works inside one transaction leaves nothing behind. Header-only: each test is its
 * own executable.
 */
#ifndef TASKBUS_TESTS_UNIT_STACK_PG_H
#define TASKBUS_TESTS_UNIT_STACK_PG_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/migrate.h"
#include "shared/pg_pool.h"

typedef struct stack_pg {
    pg_pool *pool;
    pg_conn *conn;
} stack_pg;

/* Runs sql; the test fails on an error. */
static inline void stack_pg_exec(pg_conn *c, const char *sql) {
    char err[512];
    if (pg_run(c, sql, err, sizeof err) != 0)
        fail_msg("%s: %s", sql, err);
}

/* The single value of sql as text (caller frees; "" for NULL); the test fails unless sql
 * returns exactly one row. */
static inline char *stack_pg_text(pg_conn *c, const char *sql) {
    PGresult *res = pg_exec_sql(c, sql);
    if (!pg_result_ok(res) || PQntuples(res) != 1) {
        char why[512];
        snprintf(why, sizeof why, "%s", res != NULL ? PQresultErrorMessage(res) : "no result");
        PQclear(res);
        fail_msg("%s: %s", sql, why);
    }
    char *v = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (v == NULL)
        fail_msg("out of memory");
    return v;
}

/* Fails the test unless sql's single value is want. */
static inline void stack_pg_expect(pg_conn *c, const char *sql, const char *want) {
    char *got = stack_pg_text(c, sql);
    if (strcmp(got, want) != 0) {
        char copy[256];
        snprintf(copy, sizeof copy, "%s", got);
        free(got);
        fail_msg("%s: got %s, want %s", sql, copy, want);
    }
    free(got);
}

/* cmocka group teardown: rolls back, gives the connection back, frees the state. */
static inline int stack_pg_close(void **state) {
    stack_pg *f = *state;
    if (f != NULL) {
        if (f->conn != NULL) {
            pg_rollback(f->conn);
            pg_pool_release(f->pool, f->conn);
        }
        pg_pool_destroy(f->pool);
        free(f);
    }
    *state = NULL;
    return 0;
}

/* For a cmocka group setup: *state becomes a migrated stack_pg whose statements may run
 * statement_timeout_ms. 0, or -1 with why on stderr (test names the test). */
static inline int stack_pg_open(void **state, const char *test, int statement_timeout_ms) {
    *state = NULL;
    const char *url = getenv("DATABASE_URL");
    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "%s: DATABASE_URL is not set; this test needs Postgres\n", test);
        return -1;
    }
    char err[512] = "out of memory";
    stack_pg *f = calloc(1, sizeof *f);
    *state = f;
    if (f == NULL ||
        (f->pool = pg_pool_create(url, 1, statement_timeout_ms, err, sizeof err)) == NULL ||
        (f->conn = pg_pool_acquire(f->pool, 5000, err, sizeof err)) == NULL) {
        fprintf(stderr, "%s: %s\n", test, err);
        stack_pg_close(state);
        return -1;
    }
    if (migrate_run(f->conn, TASKBUS_SOURCE_DIR "/schemas/migrations", err, sizeof err) < 0) {
        fprintf(stderr, "%s: migrations: %s\n", test, err);
        stack_pg_close(state);
        return -1;
    }
    return 0;
}

/* stack_pg_open, then BEGIN: the test works inside one transaction that the teardown
 * (stack_pg_close) rolls back. */
static inline int stack_pg_open_in_txn(void **state, const char *test, int statement_timeout_ms) {
    if (stack_pg_open(state, test, statement_timeout_ms) != 0)
        return -1;
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "BEGIN");
    return 0;
}

#endif
