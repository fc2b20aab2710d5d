/*
 * migrate.h: the SQL migration runner.
 *
 * Owns: applying the .sql files of schemas/migrations in file-name order, each file in its own
 * transaction, recording (version, checksum) in schema_migrations. Rules: the run holds
 * pg_advisory_lock(PG_LOCK_MIGRATE) on its connection, so concurrent runners apply each file
 * exactly once; a recorded migration whose file changed is an error, never re-applied.
 */
#ifndef TASKBUS_SHARED_MIGRATE_H
#define TASKBUS_SHARED_MIGRATE_H

#include <stddef.h>

#include "shared/pg_pool.h"

/* Applies pending migrations from dir. Returns the number applied (>= 0) or -1 with err. */
int migrate_run(pg_conn *conn, const char *dir, char *err, size_t errlen);

#endif
