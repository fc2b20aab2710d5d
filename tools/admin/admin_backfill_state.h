/*
 * admin_backfill_state.h: taskbus-admin backfill-task-state.
 *
 * Owns: putting the current state of every task on the compacted topic task-state, for
 * the tasks last written before the relay derived that topic (docs/decisions.md "Issue
 * 12", the backfill). Rules: one transaction holding LOCK TABLE tasks IN SHARE MODE, so
 * no writer commits in between (writers wait; readers do not): every task's record goes
 * into the outbox (topic task-state, key = the task id, a CloudEvent of the task as it is)
 * after every record of its earlier changes and before every later one, so the relay
 * publishes them in that order. Idempotent in effect: running it again only repeats the
 * current state. Exit 0 with the count printed, 1 on a failure (nothing written).
 */
#ifndef TASKBUS_TOOLS_ADMIN_ADMIN_BACKFILL_STATE_H
#define TASKBUS_TOOLS_ADMIN_ADMIN_BACKFILL_STATE_H

#include "shared/config.h"

/* Returns the exit code: 0 done (count on stdout), 1 failed (message on stderr). */
int admin_backfill_task_state(const taskbus_config *cfg);

#endif
