/*
 * admin_db.h: the Postgres connection of a taskbus-admin job.
 *
 * Owns: opening the one-connection pool a job works on (DATABASE_URL, acquired within
 * ADMIN_PG_ACQUIRE_MS) and closing it, and running a statement that finds at most one
 * row. Rules: every failure is printed on stderr as one line, prefixed with who says it
 * ("taskbus-admin", "taskbus-admin set-role"); nothing here exits.
 */
#ifndef TASKBUS_TOOLS_ADMIN_ADMIN_DB_H
#define TASKBUS_TOOLS_ADMIN_ADMIN_DB_H

#include "shared/config.h"
#include "shared/pg_pool.h"
#include "shared/uuid7.h"

#define ADMIN_PG_ACQUIRE_MS 10000

/* The connection of a new one-connection pool (*pool); NULL after printing why (then
 * *pool is NULL too). */
pg_conn *admin_db_open(const taskbus_config *cfg, pg_pool **pool);
/* Gives c back and destroys its pool. */
void admin_db_close(pg_pool *pool, pg_conn *c);

/* Runs stmt with values, expecting at most one row. 1: *row holds the result (caller
 * PQclear()s), 0: no row, -1: it failed, printed as "<who>: <what>: <why>" (what may be
 * NULL: "<who>: <why>"). */
int admin_db_one_row(pg_conn *c, const pg_stmt *stmt, const char *const *values, const char *who,
                     const char *what, PGresult **row);

/* The id of the user with e-mail address email (matched lower-cased, as accounts store
 * it): 1 with id filled, 0 no such user, -1 failed (printed as admin_db_one_row does). */
int admin_db_user_id(pg_conn *c, const char *email, const char *who, char id[UUID_STR_LEN]);

/* Prints "<who>: <what>: <why>" for the failed result res (NULL: the connection failed). */
void admin_db_print_error(const char *who, const char *what, const PGresult *res);

#endif
