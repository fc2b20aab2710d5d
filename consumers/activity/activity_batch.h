/*
 * activity_batch.h: one batch of task-events, task-events.v2 and user-events into the
 * activity logs.
 *
 * Owns: turning Kafka records (CloudEvents as workers/writer/ writes them to the outbox)
 * into activity rows: a v1 event (task-events) into the log of the user who acted
 * (activity), a v2 event (task-events.v2) into the log of the task's project
 * (project_activity, with who acted: data.actor_id). Rules:
 * - Runs inside the consumer loop's ONE transaction (shared/kafka_consumer.h), so the rows
 *   and the stored offsets commit together.
 * - One row per event id (the primary key; a re-published event inserts nothing); the two
 *   twins of a fact have different ids and feed different tables.
 * - A row is a function of its event alone (type, task id, title from data, occurred_at =
 *   the event's time, data as published); deletions carry no title and keep NULL rather
 *   than a title looked up elsewhere, which would depend on what was consumed before and
 *   make a rebuild differ.
 * - Every value reaching SQL was validated here first, so Postgres never refuses a batch
 *   for its data; unreadable records and non-task event types are skipped and logged.
 * - An erased user (taskbus.user.deleted on user-events, shared/user_erasure_event.h):
 *   the user's activity rows and the Inbox's project_activity rows are deleted and the
 *   ids recorded in erased_users, before the batch's task events are stored; events of
 *   erased users and Inboxes store nothing, so a replay brings no row back.
 */
#ifndef TASKBUS_CONSUMERS_ACTIVITY_ACTIVITY_BATCH_H
#define TASKBUS_CONSUMERS_ACTIVITY_ACTIVITY_BATCH_H

#include <stddef.h>

#include "shared/kafka_consumer.h"
#include "shared/pg_pool.h"

/* kafka_batch_fn: ctx is unused (may be NULL). */
int activity_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count);

#endif
