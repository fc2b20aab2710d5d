/*
 * writer_execute.h: carrying out a batch of task commands in Postgres, set-based.
 *
 * Owns: the writer's statements on tasks and the events of applied commands. Rules:
 * - Load, then decide, then execute, all in the caller's open transaction: one statement
 *   locks every task the commands name (SELECT ... ORDER BY id FOR UPDATE, so two
 *   writers never deadlock) and reads which creating users exist (FOR KEY SHARE, so
 *   none vanishes under the batch); writer_decide.h decides; then each round of the
 *   decisions runs as at most three statements (its inserts, updates, deletes), the
 *   values travelling as array parameters.
 * - A statement that does not do what was decided (a row that appeared or vanished
 *   meanwhile, a version that differs) fails the call: the caller retries the batch,
 *   whose next load sees the truth.
 * - Events: one CloudEvent per applied command (created, updated, completed, deleted;
 *   data is the task as stored, or {id, version} for a delete, plus user_id and
 *   command_id; subject tasks/<id>; topic task-events, key the user id; the command's
 *   traceparent as is, both as the CloudEvents traceparent attribute and as the Kafka
 *   header, with its request_id), and right after it its v2 event on task-events.v2 with
 *   the same key (writer_event_v2.h), inserted into the outbox in command order with one
 *   statement (shared/outbox.h).
 * - Recurring tasks (docs/decisions.md, "Recurring tasks"): the round's UPDATE clears the
 *   recurrence of a task it moves into done and returns the rule it had; for each such
 *   row the next occurrence (shared/recurrence.h) is inserted by one more statement of
 *   the round, copying the completed row's title, description, priority and tags, with
 *   status todo, the next due_at and the rule carried on; its id and its command id are
 *   derived from the completing command's id (uuid7_derive). Its event (created, data
 *   with the derived command_id and the owner as user_id) follows the completion's in
 *   the outbox. A series that ended (COUNT=1, past UNTIL) inserts nothing. Event data
 *   is the task without its recurrence (the cache value keeps it): release 0.1.0's
 *   event schemas closed data (docs/event-schemas.md).
 * - Team projects (docs/decisions.md, "Tasks in team projects (slice 3b)"): the load
 *   locks the team projects the batch touches FOR SHARE, then reads their memberships in
 *   a statement of its own; the rules check the actors' roles, and each applied team
 *   command lists the project's other members (fanout) for the copies of its event.
 * - The same call serves the fast path (the whole batch) and the careful path (slices of
 *   it inside savepoints, after a data error): there is no second copy of the rules.
 */
#ifndef TASKBUS_WORKERS_WRITER_WRITER_EXECUTE_H
#define TASKBUS_WORKERS_WRITER_WRITER_EXECUTE_H

#include <jansson.h>
#include <stddef.h>

#include "shared/pg_pool.h"
#include "shared/task_command_codec.h"
#include "workers/writer/writer_decide.h"
#include "workers/writer/writer_event_v2.h"

/* The next occurrence a completion of a recurring task inserted: the create the writer
 * made for it, as if a command (ids derived from the completing command's id, so a replay
 * makes the same ones; user_id is the task's owner; fields NULL). */
typedef struct writer_next {
    bool made;
    task_command cmd;
    writer_decision dec; /* applied, insert, version 1, created */
    char *task_text;
    char *event_text;
    char event_id[UUID_STR_LEN];
    char *event_v2_text; /* its taskbus.task.created.v2 (writer_event_v2.h) */
    char event_v2_id[UUID_STR_LEN];
    char event_v2_type[WRITER_EVENT_V2_TYPE_MAX];
} writer_next;

/* One command of a call, with what it came to. */
typedef struct writer_item {
    const task_command *cmd; /* borrowed */
    const char *request_id;  /* borrowed; may be NULL */
    const char *traceparent; /* borrowed; a valid W3C traceparent or NULL */
    writer_decision dec;
    char *task_text;  /* applied create/update: the task JSON as stored (the cache value) */
    char *event_text; /* applied: the CloudEvent JSON */
    char event_id[UUID_STR_LEN];
    char *event_v2_text; /* applied: its v2 event (task-events.v2; writer_event_v2.h) */
    char event_v2_id[UUID_STR_LEN];
    char event_v2_type[WRITER_EVENT_V2_TYPE_MAX];
    char deleted_from[UUID_STR_LEN]; /* an applied delete: the project the task was in */
    writer_next next;                /* made: the completion handed a recurrence on */
    /* applied, a team task: the project's other members at the apply, whose event logs
     * get the event too (and the next occurrence's); owned */
    char (*fanout)[UUID_STR_LEN];
    size_t nfanout;
} writer_item;

/* Decides and applies items[0..n) in order (their cmd and request_id set; results from an
 * earlier call are cleared first). 0, or -1 with err and sqlstate (6 bytes: the failed
 * statement's SQLSTATE, "" when no statement failed); the transaction must then be rolled
 * back (or rolled back to a savepoint). */
int writer_execute(pg_conn *conn, writer_item *items, size_t n, char *sqlstate, char *err,
                   size_t errlen);
/* Frees what an item holds (not cmd). */
void writer_item_clear(writer_item *item);

#endif
