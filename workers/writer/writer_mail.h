/*
 * writer_mail.h: the mails an applied batch sends (docs/decisions.md, "Assignees
 * (slice 4)").
 *
 * Owns: the "task_assigned" notification: to the member an applied command newly assigned
 * a task to (writer_decision.assigned: never the actor, never an unchanged assignee),
 * naming the task as that command left it, its project and the actor. Rules: written to
 * the outbox inside the batch's transaction, so it commits exactly with the assignment:
 * a replayed or retried command is skipped by its marker and mails nobody again, and the
 * notifier sends each notification id at most once. A batch that assigns nobody costs no
 * statement. A mail that cannot be made is skipped, never the assignment.
 */
#ifndef TASKBUS_WORKERS_WRITER_WRITER_MAIL_H
#define TASKBUS_WORKERS_WRITER_WRITER_MAIL_H

#include <stddef.h>

#include "shared/pg_pool.h"
#include "workers/writer/writer_execute.h"

/* Enqueues the assignment mails of items[0..n) (decided and applied: task_text set) on
 * conn's open transaction. 0, or -1 with err and sqlstate (6 bytes: the failed
 * statement's SQLSTATE, "" when none failed); the caller rolls back. */
int writer_mail_assignments(pg_conn *conn, const writer_item *items, size_t n, char *sqlstate,
                            char *err, size_t errlen);

#endif
