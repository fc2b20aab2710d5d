/*
 * reporter_removals.h: removing report files, and the files of deleted reports
 * (report_file_removals, schemas/migrations/0029_account_erasure.sql).
 *
 * Owns: reporter_remove_file, the one way the reporter removes <dir>/<id>.<format> (the
 * retention pass, the removals pass, and a build whose report was deleted meanwhile): the
 * name is a UUID and "csv" or "json" (anything else is refused, never turned into a path);
 * already absent is fine; any other failure is an error. And the removals pass: a report
 * deleted before it expired (its user deleted: ON DELETE CASCADE) leaves a row in
 * report_file_removals (the AFTER DELETE trigger on reports); the pass unlinks its file and
 * deletes the row.
 * Rules: a pass is ONE transaction: at most REPORTER_REMOVALS_BATCH rows, oldest first, are
 * deleted (FOR UPDATE SKIP LOCKED, so two reporters take different rows) with their names
 * returned, the files removed, then the pass commits; a file that cannot be removed (other
 * than absent) rolls the pass back, so no row is gone while its file stays. A crash after
 * the removals and before the commit leaves rows whose files are absent: the next pass
 * deletes them (absent is fine). A full pass means a backlog: the next one runs at once
 * (reporter_removals_wait_ms). Only the reporter deletes the rows; besides the trigger,
 * reporter_removals_record writes one for a file the build could not remove.
 */
#ifndef TASKBUS_WORKERS_REPORTER_REPORTER_REMOVALS_H
#define TASKBUS_WORKERS_REPORTER_REPORTER_REMOVALS_H

#include <stddef.h>

#include "shared/pg_pool.h"

#define REPORTER_REMOVALS_BATCH 500

/* The removals pass runs about once a second between reports: a deleted account's report
 * files should be gone within seconds, and the pass is one DELETE on a table that is
 * almost always empty (no row: no lock held, nothing to sort), which costs next to nothing. */
#define REPORTER_REMOVALS_EVERY_MS 1000

/* Removes <dir>/<id>.<format> (id a UUID, format "csv" or "json"); absent is fine.
 * 0, or -1 with err. */
int reporter_remove_file(const char *dir, const char *id, const char *format, char *err,
                         size_t errlen);

/* The body of a pass inside conn's open transaction (the caller commits or rolls back).
 * 0 with *removed (rows taken, their files now absent), or -1 with err (then the caller
 * must roll back). */
int reporter_removals_run(pg_conn *conn, const char *dir, int *removed, char *err, size_t errlen);

/* One whole pass on conn (no transaction open): BEGIN, the body, COMMIT. 0 with *removed,
 * or -1 with err (rolled back). */
int reporter_removals_pass(pg_conn *conn, const char *dir, int *removed, char *err, size_t errlen);

/* Milliseconds until the next pass after one that returned rc (0 or -1) with removed rows:
 * 0 after a full pass (a backlog), DAEMON_RETRY_MS after a failed one, else
 * REPORTER_REMOVALS_EVERY_MS. */
long long reporter_removals_wait_ms(int rc, int removed);

/* Records <id>.<format> in report_file_removals inside conn's open transaction (already
 * recorded is fine), for a file the caller could not remove: the pass retries it.
 * 0, or -1 with err. */
int reporter_removals_record(pg_conn *conn, const char *id, const char *format, char *err,
                             size_t errlen);

#endif
