/*
 * reporter_retention.h: the retention of report files and rows (docs/decisions.md
 * "Retention").
 *
 * Owns: expiring finished reports and deleting expired ones. A report that finished
 * (ready or failed) more than TASKBUS_REPORT_RETENTION_SECONDS ago is expired: expired_at
 * is set and, for a ready one, its file <dir>/<id>.<format> is removed (reporter_remove_file,
 * reporter_removals.h: already absent is fine); GET /reports/:id/download then answers 410.
 * A report expired more than that period ago is deleted (then 404; being expired, it leaves
 * no row in report_file_removals). Unfinished reports are never touched.
 * Rules: a pass is ONE transaction: the rows are marked first (FOR UPDATE SKIP LOCKED, so
 * two reporters take different rows), the files removed, then the pass commits; a file
 * that cannot be removed (other than absent) rolls the pass back, so no row says expired
 * while its file stays. A crash after the removals and before the commit leaves rows that
 * are not marked but have no file: the next pass marks them (absent is fine). At most
 * REPORTER_RETENTION_BATCH rows of each kind per pass; the caller runs another pass at once when
 * one was full.
 */
#ifndef TASKBUS_WORKERS_REPORTER_REPORTER_RETENTION_H
#define TASKBUS_WORKERS_REPORTER_REPORTER_RETENTION_H

#include <stddef.h>

#include "shared/pg_pool.h"

#define REPORTER_RETENTION_BATCH 500

typedef struct reporter_retention_counts {
    int expired; /* reports marked expired in this pass (files removed) */
    int deleted; /* expired reports deleted in this pass */
} reporter_retention_counts;

/* The body of a pass inside conn's open transaction (the caller commits or rolls back).
 * 0 with *out filled, or -1 with err (then the caller must roll back). */
int reporter_retention_run(pg_conn *conn, const char *dir, int retention_s,
                           reporter_retention_counts *out, char *err, size_t errlen);

/* One whole pass on conn (no transaction open): BEGIN, the body, COMMIT. 0 with *out
 * filled, or -1 with err (rolled back). */
int reporter_retention_pass(pg_conn *conn, const char *dir, int retention_s,
                            reporter_retention_counts *out, char *err, size_t errlen);

#endif
