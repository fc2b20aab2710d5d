/*
 * analytics_batch.h: one batch of task-events, task-events.v2 and user-events into the
 * daily aggregates.
 *
 * Owns: turning Kafka records (CloudEvents as workers/writer/ writes them to the outbox)
 * into analytics_daily and analytics_completions rows of the user who acted (v1 events:
 * data.user_id), analytics_project_daily and analytics_project_completions rows of the
 * task's project (v2 events: data.project_id), and analytics_seen_events rows. Rules:
 * - Runs inside the consumer loop's ONE transaction (shared/kafka_consumer.h), so the
 *   counts and the stored offsets commit together.
 * - An event is counted once: its id goes into analytics_seen_events in the same
 *   statement that counts it; an id already there (the relay re-published it) counts 0.
 * - Counts follow the task's own timestamps, never the time of consumption: created by
 *   the UTC day of data.created_at, completed (and seconds to complete, completed_at -
 *   created_at) by the UTC day of data.completed_at. So a rebuild gives the same rows.
 * - Every value reaching SQL was validated here first (UUIDs, RFC 3339 times): a record
 *   Postgres would refuse would otherwise fail its batch forever. Such records, and event
 *   types analytics does not count (updated, deleted, unknown), are skipped and logged.
 * - An erased user (taskbus.user.deleted on user-events, shared/user_erasure_event.h):
 *   the user's analytics_daily and analytics_completions rows and the Inbox's
 *   analytics_project_* rows are deleted and the ids recorded in erased_users, before the
 *   batch's task events are counted; events of erased users and Inboxes count nothing
 *   (their ids still go into analytics_seen_events).
 */
#ifndef TASKBUS_CONSUMERS_ANALYTICS_ANALYTICS_BATCH_H
#define TASKBUS_CONSUMERS_ANALYTICS_ANALYTICS_BATCH_H

#include <stddef.h>

#include "shared/kafka_consumer.h"
#include "shared/pg_pool.h"

/* kafka_batch_fn: ctx is unused (may be NULL). */
int analytics_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count);

#endif
