/*
 * importer_inflight.h: the importer's ledger of produced batches the writer has not
 * applied yet (docs/decisions.md, "Issue 9", "Import throttle").
 *
 * Owns: one entry per produced batch (when its delivery was confirmed, its item count,
 * the command id of its last item), and the check of those ids against `commands`.
 * Rules:
 * - A batch is applied when the command of its last item has a `commands` row (applied or
 *   rejected): the writer applies one user's commands in order and a batch is one
 *   import's items in seq order, so every earlier item of it is applied too.
 * - The apply latency is the age of the oldest entry; the items in flight are the sum of
 *   the entries' counts (a partly applied batch counts whole: the safe side).
 * - An entry older than IMPORTER_INFLIGHT_FORGET_MS is dropped with a warning, but only
 *   while the writer is known to keep up (its lag measured and within the window): a
 *   command that never reaches `commands` (dead-lettered) must not stop imports for good,
 *   while a writer that is down or far behind keeps every batch counted, so nothing more
 *   queues ahead of interactive writes until it catches up.
 * - The ledger is bounded (IMPORTER_INFLIGHT_MAX entries); a tick grants nothing unless
 *   every import it may produce for has room for its entry, so no batch goes unrecorded.
 */
#ifndef TASKBUS_WORKERS_IMPORTER_IMPORTER_INFLIGHT_H
#define TASKBUS_WORKERS_IMPORTER_IMPORTER_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/pg_pool.h"
#include "shared/uuid7.h"

#define IMPORTER_INFLIGHT_MAX 1024
#define IMPORTER_INFLIGHT_FORGET_MS 60000

typedef struct importer_inflight_batch {
    int64_t produced_ns; /* monotonic time its delivery was confirmed */
    int64_t count;
    char last_command_id[UUID_STR_LEN];
} importer_inflight_batch;

typedef struct importer_inflight {
    importer_inflight_batch batches[IMPORTER_INFLIGHT_MAX]; /* oldest first */
    int n;
    int64_t items; /* sum of the counts */
    /* The least time from delivery to being seen applied (at most a check interval more
     * than the truth) of the batches the latest check found applied; -1 none. */
    int64_t seen_min_ns;
    /* Batches seen applied since the caller last reset these, with the sum and largest of
     * those times (for the importer's periodic report). */
    int64_t seen_applied;
    int64_t seen_latency_max_ns;
    int64_t seen_latency_sum_ns;
} importer_inflight;

/* Records a produced batch. false (nothing recorded) when the ledger is full. */
bool importer_inflight_add(importer_inflight *f, const char *last_command_id, int64_t count,
                           int64_t produced_ns);

/* How many more batches the ledger can hold. */
int importer_inflight_room(const importer_inflight *f);

/* Drops the batches whose last command has a `commands` row, and, when may_forget, those
 * older than IMPORTER_INFLIGHT_FORGET_MS at now_ns. 0, or -1 with err (a Postgres
 * failure). */
int importer_inflight_check(importer_inflight *f, pg_conn *conn, int64_t now_ns, bool may_forget,
                            char *err, size_t errlen);

/* When the oldest unapplied batch was produced; -1 when none is in flight. */
int64_t importer_inflight_oldest_ns(const importer_inflight *f);

void importer_inflight_clear(importer_inflight *f);

#endif
