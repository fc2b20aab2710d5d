/*
 * writer_plan.h: applying a batch of commands with a handful of round trips.
 *
 * Owns: the writer's fast path. Rules:
 * - Decide first: one statement locks every task row the batch names (SELECT ... ORDER
 *   BY id FOR UPDATE, so two writers never deadlock), one reads which creating users
 *   exist; then the batch is played in order in memory with exactly the rules of
 *   writer_apply.c (ownership → 404, expected_version → 412, existing id → 409, missing
 *   user → 404, version + 1 per change, a delete's tombstone is version + 1).
 * - Then execute set-based: the batch is cut into segments in which each task appears
 *   once, and each segment runs at most three statements (its creates, updates, deletes).
 *   A statement that does not do what the plan said (a row that appeared or vanished
 *   meanwhile) fails the batch, which is then retried from the start.
 * - Events go to the outbox in one statement per batch (outbox_add's row format:
 *   headers request_id, ce_type, ce_id; one NOTIFY), in batch order.
 */
#ifndef TASKBUS_WORKERS_WRITER_PLAN_H
#define TASKBUS_WORKERS_WRITER_PLAN_H

#include <jansson.h>
#include <stddef.h>

#include "shared/pg_pool.h"
#include "shared/task_command.h"
#include "workers/writer_apply.h"

typedef struct writer_planned {
    const task_command *cmd; /* borrowed */
    writer_outcome out;      /* the decision (and, on failure, the SQLSTATE) */
    json_t *task;            /* applied create/update: the new task; owned */
    const char *event_type;  /* applied: taskbus.task.* */
} writer_planned;

/* Decides and applies items[0..n) in order in the open transaction. 0, or -1 with err
 * and *sqlstate (6 bytes; "" when not a statement error). Call writer_planned_clear. */
int writer_plan_apply(pg_conn *conn, writer_planned *items, size_t n, char *sqlstate, char *err,
                      size_t errlen);
void writer_planned_clear(writer_planned *item);

/* Inserts events[0..n) (CloudEvents, borrowed) for TASK_EVENTS_TOPIC, keyed by keys[i],
 * with request_ids[i] (may be NULL) as a header; one NOTIFY. 0, or -1 with err. */
int writer_outbox_add_many(pg_conn *conn, json_t *const *events, const char *const *keys,
                           const char *const *request_ids, size_t n, char *err, size_t errlen);

#endif
