/*
 * pg_pool.h: a fixed pool of libpq connections.
 *
 * Owns: N PGconn, each used by one thread at a time (a PGconn is not thread-safe).
 * Rules: acquire waits on a condvar up to a timeout; a connection that fails its health
 * check or was released broken is reset (PQreset) before reuse, so a Postgres restart
 * heals by itself. Every connection runs with statement_timeout and prepares each
 * pg_stmt lazily, the first time that connection executes it (tracked by name).
 * Whoever acquires releases, on every path.
 */
#ifndef TASKBUS_SHARED_PG_POOL_H
#define TASKBUS_SHARED_PG_POOL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct pg_pool pg_pool;
typedef struct pg_conn pg_conn;

/* A statement prepared on demand; keep these static and name them uniquely. */
typedef struct pg_stmt {
    const char *name;
    const char *sql;
    int nparams;
} pg_stmt;

/* Connects lazily: creation fails only for a malformed conninfo or bad sizes. */
pg_pool *pg_pool_create(const char *conninfo, int size, int statement_timeout_ms, char *err,
                        size_t errlen);
void pg_pool_destroy(pg_pool *pool);

/* A healthy connection, or NULL when none could be had within timeout_ms (err says why). */
pg_conn *pg_pool_acquire(pg_pool *pool, int timeout_ms, char *err, size_t errlen);
/* Returns the connection. An aborted or open transaction is rolled back first. */
void pg_pool_release(pg_pool *pool, pg_conn *conn);
/* Marks the connection for reset on release (after a connection-level failure). */
void pg_conn_mark_broken(pg_conn *conn);

PGconn *pg_conn_raw(pg_conn *conn);

/* Executes a prepared statement with text parameters (values may hold NULLs).
 * Returns the result (caller PQclear()s) or NULL when the connection failed. */
PGresult *pg_exec_stmt(pg_conn *conn, const pg_stmt *stmt, const char *const *values);
/* pg_exec_stmt for a statement that must succeed: its result (the caller clears it), or
 * NULL with "<statement>: <why>" in err (the connection marked broken when it failed). */
PGresult *pg_exec_stmt_ok(pg_conn *conn, const pg_stmt *stmt, const char *const *values, char *err,
                          size_t errlen);
/* Executes plain SQL with no parameters (BEGIN, COMMIT, ...). Caller PQclear()s. */
PGresult *pg_exec_sql(pg_conn *conn, const char *sql);
/* Runs SQL and returns 0 when it reported PGRES_COMMAND_OK or TUPLES_OK, else -1 with err. */
int pg_run(pg_conn *conn, const char *sql, char *err, size_t errlen);

int pg_begin(pg_conn *conn, char *err, size_t errlen);
int pg_commit(pg_conn *conn, char *err, size_t errlen);
void pg_rollback(pg_conn *conn);

/* True when the result is COMMAND_OK or TUPLES_OK. */
bool pg_result_ok(const PGresult *res);
/* The SQLSTATE of a failed result ("23505" unique violation), or "" */
const char *pg_result_sqlstate(const PGresult *res);
/* foreign_key_violation: the referenced row is gone (e.g. a user deleted mid-request). */
#define PG_SQLSTATE_FOREIGN_KEY "23503"
/* unique_violation: e.g. an e-mail address another account took meanwhile. */
#define PG_SQLSTATE_UNIQUE_VIOLATION "23505"
/* deadlock_detected: two transactions took the same locks in opposite orders; the one
 * aborted may simply try again. */
#define PG_SQLSTATE_DEADLOCK "40P01"
/* query_canceled (statement_timeout) and lock_not_available (lock_timeout): Postgres is
 * too busy to answer now. */
#define PG_SQLSTATE_QUERY_CANCELED "57014"
#define PG_SQLSTATE_LOCK_NOT_AVAILABLE "55P03"
/* insufficient_privilege: raised by a trigger that refuses a row its user may not make
 * (0025_project_webhooks.sql). */
#define PG_SQLSTATE_INSUFFICIENT_PRIVILEGE "42501"

/* SELECT 1 on a pooled connection; for /ready. */
bool pg_pool_ping(pg_pool *pool, int timeout_ms, char *err, size_t errlen);

/* Connects every slot now (the pool is otherwise lazy), holding each until all are taken,
 * so a process about to take traffic does not connect under it. Returns how many slots
 * hold a connection; stops at the first failure (err says which). */
int pg_pool_warm(pg_pool *pool, char *err, size_t errlen);

#endif
