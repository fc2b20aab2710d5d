/*
 * webhooks_ingest.h: task events to webhook deliveries (the consumer half of
 * taskbus-webhooks; docs/decisions.md "Webhooks").
 *
 * Owns: the batch handler of the `task-events` and `task-events.v2` consumer (group
 * taskbus-webhooks): for each v1 event, one pending delivery per enabled webhook of the
 * event's user (data.user_id) without a project whose event_types match (the exact type or
 * "taskbus.task.*"); for each v2 event, one per enabled webhook of its project
 * (data.project_id) whose event_types match (the exact type or "taskbus.task.*.v2"); in
 * both cases only webhooks that existed when the event happened. Rules: a batch costs two
 * statements whatever its size (one query matches every event of the batch, one insert adds every
 * delivery); they run in the consumer's transaction, together with the stored offsets, and unique
 * (webhook_id, event_id) makes a redelivered event add nothing, in the same batch or a later one; a
 * record that is not a task CloudEvent is skipped with a warning (there is nothing to
 * deliver); a database error rolls the batch back (-1) for the loop to retry. After the
 * commit the sender is woken (webhooks_sender_wake), so a delivery leaves at once.
 */
#ifndef TASKBUS_WORKERS_WEBHOOKS_WEBHOOKS_INGEST_H
#define TASKBUS_WORKERS_WEBHOOKS_WEBHOOKS_INGEST_H

#include <stddef.h>

#include "shared/kafka_consumer.h"
#include "shared/pg_pool.h"

/* kafka_batch_fn: ctx is the webhooks_sender (to wake), may be NULL. */
int webhooks_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count);
/* kafka_after_commit_fn: wakes the sender. */
int webhooks_after_commit(void *ctx, const kafka_record *records, size_t count);

#endif
