/*
 * reporter_job.h: building the reports named on the `reports` topic (taskbus-reporter).
 *
 * Owns: the consumer handler of group taskbus-reporter. For each message
 * (taskbus.report.requested, data.report_id) it marks the report running (committed at
 * once on a side connection, so GET /reports/:id shows it), reads the owner's tasks (their
 * Inbox, or the team project the filters name, while they are a member of it) in
 * keyset pages of REPORTER_PAGE_ROWS over (created_at, id), newest first (the task list's
 * default order), with the stored filters, inside ONE repeatable-read read-only
 * transaction (the file is one snapshot), writes the file (reporter_file.h), and then, in
 * the consumer's batch transaction, sets ready (row_count, size_bytes, finished_at) and
 * enqueues the report_ready notification, or sets failed with the reason.
 * Rules: the file is written inside on_batch, before the batch commits: a crash replays
 * the message and rewrites the same file (named by report id), so the effect is
 * idempotent; a report already ready or failed is skipped, so its notification is sent
 * once. Postgres trouble rolls the batch back (retried); a file that cannot be written
 * fails the report. A message that cannot be read, or names no report, is logged and
 * skipped (there is no dead-letter topic for reports). The page query is the reporter's
 * own (it cannot link the API's builder) but keeps the list's filter semantics and reads
 * TASK_SELECT_COLUMNS through task_from_row, so rows are the API's task JSON exactly.
 */
#ifndef TASKBUS_WORKERS_REPORTER_REPORTER_JOB_H
#define TASKBUS_WORKERS_REPORTER_REPORTER_JOB_H

#include "shared/kafka_consumer.h"
#include "shared/pg_pool.h"

#define REPORTER_PAGE_ROWS 1000

typedef struct reporter_ctx {
    pg_pool *pg;             /* the side connection comes from here (size >= 2) */
    const char *reports_dir; /* TASKBUS_REPORTS_DIR */
    int retention_s;         /* TASKBUS_REPORT_RETENTION_SECONDS */
    int retention_every_s;   /* TASKBUS_RETENTION_INTERVAL_SECONDS */
    /* The loop thread's own (on_idle runs only there): when the next retention and removals
     * passes are due (time_monotonic_ns; 0: at once). */
    long long next_retention_ns;
    long long next_removals_ns;
} reporter_ctx;

/* kafka_batch_fn: ctx is a reporter_ctx. */
int reporter_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count);

#endif
