/*
 * importer_sql.h: running one of the importer's statements with its failure as text.
 *
 * Owns: the one exec-and-report helper of workers/importer/. Rules: a failure leaves
 * "<statement name>: <Postgres message>" in err (no trailing newline) and no result to
 * clear; the importer treats every Postgres failure as a lost connection.
 */
#ifndef TASKBUS_WORKERS_IMPORTER_IMPORTER_SQL_H
#define TASKBUS_WORKERS_IMPORTER_IMPORTER_SQL_H

#include <stddef.h>

#include "shared/pg_pool.h"

/* The result of stmt with values (caller PQclear()s), or NULL with err. */
PGresult *importer_exec(pg_conn *conn, const pg_stmt *stmt, const char *const *values, char *err,
                        size_t errlen);

#endif
