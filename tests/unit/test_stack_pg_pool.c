/*
 * test_stack_pg_pool.c: shared/pg_pool.c against a real Postgres.
 *
 * Needs DATABASE_URL (tests/run exports it); without it the test FAILS rather than skips.
 * Covers: statement_timeout on every connection (also after a reset), lazy prepared
 * statements, rollback on release, the acquire timeout of an exhausted pool, COMMIT of an
 * aborted transaction reported as a failure, and healing after the server killed the
 * pooled backends (what a Postgres restart does to them). Uses temporary tables only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/pg_pool.h"
#include "shared/time_util.h"

static const char *g_url;

static int setup(void **state) {
    (void)state;
    g_url = getenv("DATABASE_URL");
    if (g_url == NULL || g_url[0] == '\0') {
        fprintf(stderr, "test_stack_pg_pool: DATABASE_URL is not set; this test needs Postgres\n");
        return -1;
    }
    return 0;
}

static pg_pool *new_pool(int size, int stmt_timeout_ms) {
    char err[256] = "";
    pg_pool *pool = pg_pool_create(g_url, size, stmt_timeout_ms, err, sizeof err);
    if (pool == NULL) {
        fail_msg("pg_pool_create: %s", err);
    }
    return pool;
}

static pg_conn *acquire(pg_pool *pool) {
    char err[256] = "";
    pg_conn *c = pg_pool_acquire(pool, 5000, err, sizeof err);
    if (c == NULL) {
        fail_msg("pg_pool_acquire: %s", err);
    }
    return c;
}

/* The single text value of a one-row query. */
static char *scalar(pg_conn *c, const char *sql) {
    PGresult *res = pg_exec_sql(c, sql);
    assert_true(pg_result_ok(res));
    assert_int_equal(PQntuples(res), 1);
    char *v = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

static void malformed_conninfo_is_refused(void **state) {
    (void)state;
    char err[256] = "";
    assert_null(pg_pool_create("postgresql://[broken", 2, 1000, err, sizeof err));
    assert_true(strlen(err) > 0);
    assert_null(pg_pool_create(g_url, 0, 1000, err, sizeof err));
}

static void statement_timeout_is_set_and_enforced(void **state) {
    (void)state;
    pg_pool *pool = new_pool(1, 1234);
    pg_conn *c = acquire(pool);
    char *v = scalar(c, "SHOW statement_timeout");
    assert_string_equal(v, "1234ms");
    free(v);
    PGresult *res = pg_exec_sql(c, "SELECT pg_sleep(3)");
    assert_non_null(res);
    assert_false(pg_result_ok(res));
    assert_string_equal(pg_result_sqlstate(res), "57014"); /* query_canceled */
    PQclear(res);
    pg_pool_release(pool, c);
    pg_pool_destroy(pool);
}

static const pg_stmt STMT_ADD = {
    .name = "test_pg_pool_add",
    .sql = "SELECT $1::int + $2::int",
    .nparams = 2,
};

static void prepared_statements_are_prepared_once(void **state) {
    (void)state;
    pg_pool *pool = new_pool(1, 5000);
    pg_conn *c = acquire(pool);
    for (int i = 0; i < 3; i++) {
        const char *vals[2] = {"40", "2"};
        PGresult *res = pg_exec_stmt(c, &STMT_ADD, vals);
        assert_true(pg_result_ok(res));
        assert_string_equal(PQgetvalue(res, 0, 0), "42");
        PQclear(res);
    }
    char *n = scalar(c, "SELECT count(*) FROM pg_prepared_statements "
                        "WHERE name = 'test_pg_pool_add'");
    assert_string_equal(n, "1");
    free(n);
    /* A statement whose SQL is wrong reports the error and is not remembered. */
    const pg_stmt bad = {.name = "test_pg_pool_bad", .sql = "SELEC 1", .nparams = 0};
    PGresult *res = pg_exec_stmt(c, &bad, NULL);
    assert_non_null(res);
    assert_false(pg_result_ok(res));
    assert_string_equal(pg_result_sqlstate(res), "42601");
    PQclear(res);
    pg_pool_release(pool, c);
    pg_pool_destroy(pool);
}

static void release_rolls_back_open_and_aborted_transactions(void **state) {
    (void)state;
    pg_pool *pool = new_pool(1, 5000);
    char err[256];
    pg_conn *c = acquire(pool);
    assert_int_equal(pg_run(c, "CREATE TEMP TABLE t_rb(x int)", err, sizeof err), 0);
    assert_int_equal(pg_begin(c, err, sizeof err), 0);
    assert_int_equal(pg_run(c, "INSERT INTO t_rb VALUES (1)", err, sizeof err), 0);
    pg_pool_release(pool, c); /* open transaction: rolled back */

    c = acquire(pool);
    assert_int_equal(PQtransactionStatus(pg_conn_raw(c)), PQTRANS_IDLE);
    char *n = scalar(c, "SELECT count(*) FROM t_rb");
    assert_string_equal(n, "0");
    free(n);
    assert_int_equal(pg_begin(c, err, sizeof err), 0);
    assert_int_equal(pg_run(c, "INSERT INTO t_rb VALUES (1)", err, sizeof err), 0);
    assert_int_equal(pg_run(c, "SELECT 1/0", err, sizeof err), -1);
    assert_non_null(strstr(err, "division by zero"));
    /* COMMIT of an aborted transaction must not look like success. */
    assert_int_equal(pg_commit(c, err, sizeof err), -1);
    assert_int_equal(pg_begin(c, err, sizeof err), 0);
    assert_int_equal(pg_run(c, "SELECT 1/0", err, sizeof err), -1);
    pg_pool_release(pool, c); /* aborted transaction: rolled back */

    c = acquire(pool);
    assert_int_equal(PQtransactionStatus(pg_conn_raw(c)), PQTRANS_IDLE);
    n = scalar(c, "SELECT count(*) FROM t_rb");
    assert_string_equal(n, "0");
    free(n);
    pg_pool_release(pool, c);
    pg_pool_destroy(pool);
}

static void exhausted_pool_times_out(void **state) {
    (void)state;
    pg_pool *pool = new_pool(2, 5000);
    pg_conn *a = acquire(pool);
    pg_conn *b = acquire(pool);
    assert_ptr_not_equal(a, b);
    char err[256] = "";
    int64_t t0 = time_monotonic_ns();
    assert_null(pg_pool_acquire(pool, 300, err, sizeof err));
    int64_t waited_ms = (time_monotonic_ns() - t0) / 1000000;
    assert_true(waited_ms >= 250 && waited_ms < 3000);
    assert_non_null(strstr(err, "no free connection"));
    pg_pool_release(pool, b);
    pg_conn *c = acquire(pool);
    assert_ptr_equal(c, b);
    pg_pool_release(pool, c);
    pg_pool_release(pool, a);
    assert_true(pg_pool_ping(pool, 1000, err, sizeof err));
    pg_pool_destroy(pool);
}

/* Kills the backends of every pooled connection from outside, as a restart would. */
static void terminate_backends(const char *app_pids) {
    char err[256] = "";
    pg_pool *admin = new_pool(1, 5000);
    pg_conn *c = acquire(admin);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid IN (%s)",
             app_pids);
    char *n = scalar(c, sql);
    assert_true(atoi(n) >= 1);
    free(n);
    pg_pool_release(admin, c);
    pg_pool_destroy(admin);
    (void)err;
}

static void pool_heals_after_backends_are_killed(void **state) {
    (void)state;
    pg_pool *pool = new_pool(2, 2500);
    pg_conn *a = acquire(pool);
    pg_conn *b = acquire(pool);
    const char *vals[2] = {"1", "1"};
    PGresult *res = pg_exec_stmt(a, &STMT_ADD, vals);
    assert_true(pg_result_ok(res));
    PQclear(res);
    char pids[128];
    snprintf(pids, sizeof pids, "%d,%d", PQbackendPID(pg_conn_raw(a)),
             PQbackendPID(pg_conn_raw(b)));
    pg_pool_release(pool, a);
    pg_pool_release(pool, b);

    terminate_backends(pids);
    /* Give the FATAL message and the EOF time to reach the idle sockets. */
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);

    for (int i = 0; i < 2; i++) {
        pg_conn *c = acquire(pool);
        /* A fresh session: statement_timeout again, prepared statements again. */
        char *v = scalar(c, "SHOW statement_timeout");
        assert_string_equal(v, "2500ms");
        free(v);
        res = pg_exec_stmt(c, &STMT_ADD, vals);
        assert_true(pg_result_ok(res));
        assert_string_equal(PQgetvalue(res, 0, 0), "2");
        PQclear(res);
        pg_pool_release(pool, c);
    }

    /* A connection killed while in use fails its query and is reset after release. */
    pg_conn *c = acquire(pool);
    snprintf(pids, sizeof pids, "%d", PQbackendPID(pg_conn_raw(c)));
    terminate_backends(pids);
    nanosleep(&ts, NULL);
    res = pg_exec_stmt(c, &STMT_ADD, vals);
    if (res != NULL) {
        assert_false(pg_result_ok(res));
        PQclear(res);
        pg_conn_mark_broken(c);
    }
    pg_pool_release(pool, c);
    c = acquire(pool);
    res = pg_exec_stmt(c, &STMT_ADD, vals);
    assert_true(pg_result_ok(res));
    PQclear(res);
    pg_pool_release(pool, c);
    pg_pool_destroy(pool);
}

static void unreachable_server_fails_fast(void **state) {
    (void)state;
    char err[256] = "";
    pg_pool *pool = pg_pool_create("postgresql://taskbus:taskbus@127.0.0.1:1/taskbus", 1, 1000, err,
                                   sizeof err);
    assert_non_null(pool);
    assert_null(pg_pool_acquire(pool, 1000, err, sizeof err));
    assert_non_null(strstr(err, "postgres unavailable"));
    /* The slot is free again: a second attempt fails the same way, not by timeout. */
    assert_null(pg_pool_acquire(pool, 1000, err, sizeof err));
    assert_non_null(strstr(err, "postgres unavailable"));
    assert_false(pg_pool_ping(pool, 1000, err, sizeof err));
    pg_pool_destroy(pool);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(malformed_conninfo_is_refused),
        cmocka_unit_test(statement_timeout_is_set_and_enforced),
        cmocka_unit_test(prepared_statements_are_prepared_once),
        cmocka_unit_test(release_rolls_back_open_and_aborted_transactions),
        cmocka_unit_test(exhausted_pool_times_out),
        cmocka_unit_test(pool_heals_after_backends_are_killed),
        cmocka_unit_test(unreachable_server_fails_fast),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
