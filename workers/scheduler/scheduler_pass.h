/*
 * scheduler_pass.h: one pass of taskbus-scheduler, the due-soon reminders
 * (docs/decisions.md "Reminders").
 *
 * Owns: finding open tasks due within the lead that have no reminder for their current
 * due_at, recording the reminder and enqueueing its `due_soon` notification.
 * Rules:
 * - A pass is ONE transaction: the tasks are locked (FOR UPDATE SKIP LOCKED, so a second
 *   scheduler takes other tasks instead of waiting), reminders(task_id, due_at) are
 *   inserted ON CONFLICT DO NOTHING, and a notification goes out only for a row the
 *   INSERT actually returned; the notifications go through the outbox
 *   (shared/notification.h) in the same transaction. So a reminder and its notification
 *   commit together or not at all, and no (task_id, due_at) is ever notified twice.
 * - A new due date is a new pair: a task whose due_at moves inside the lead is reminded
 *   again; moving it back to a reminded due_at finds the old row and sends nothing.
 * - At most SCHEDULER_BATCH_MAX reminders per pass; the caller runs another pass at
 *   once when a pass was full.
 */
#ifndef TASKBUS_WORKERS_SCHEDULER_SCHEDULER_PASS_H
#define TASKBUS_WORKERS_SCHEDULER_SCHEDULER_PASS_H

#include <stddef.h>

#include "shared/pg_pool.h"

#define SCHEDULER_BATCH_MAX 500

/* Runs one pass on conn (no transaction open) with the given lead in seconds, tagging
 * the notifications with request_id. Returns the number of reminders committed (0 ..
 * SCHEDULER_BATCH_MAX), or -1 with err (the transaction was rolled back). */
int scheduler_pass(pg_conn *conn, int lead_s, const char *request_id, char *err, size_t errlen);

/* The body of a pass inside conn's open transaction (the caller commits or rolls back):
 * records the new reminders and enqueues their notifications. The number of reminders,
 * or -1 with err (then the caller must roll back). */
int scheduler_remind(pg_conn *conn, int lead_s, const char *request_id, char *err, size_t errlen);

#endif
