/*
 * writer_apply.h: the SQL of each task command, inside the batch transaction.
 *
 * Owns: create, update and delete against the tasks table, the decision applied or
 * rejected (404 not-found, 409 conflict, 412 precondition-failed, decisions.md "Tasks"
 * Rejections), the outbox event of an applied command, and the Redis effects it implies.
 * Rules: the task row is locked (SELECT ... FOR UPDATE) before it is judged; only the
 * owner may change it (another user's task is "not found"); expected_version, when sent,
 * must equal the current version; an update bumps version and updated_at and keeps
 * completed_at in step with status (set on entering done, cleared on leaving it); a delete
 * is a hard delete whose tombstone version is the last version + 1, so a set-if-newer
 * cache always takes it. The commands row is the caller's (one statement per batch).
 * This is the one-command-at-a-time path (each statement waits for its answer); the
 * writer uses it inside savepoints after a data error, and writer_plan.c otherwise.
 */
#ifndef TASKBUS_WORKERS_WRITER_APPLY_H
#define TASKBUS_WORKERS_WRITER_APPLY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "shared/pg_pool.h"
#include "shared/task_command.h"
#include "workers/writer_effects.h"

typedef struct writer_outcome {
    bool applied;
    long long task_version; /* applied: the new version (delete: the tombstone's) */
    json_t *problem;        /* rejected: {type, title, status, detail}; owned, may be NULL */
    char sqlstate[6];       /* after a -1: the failed statement's SQLSTATE, or "" */
} writer_outcome;

/* The statements, shared with the pipelined path (writer_plan.c) so both run the same SQL.
 * CREATE: $1 id, $2 owner, $3 title, $4 description, $5 status, $6 priority, $7 due_at,
 * $8 tags (JSON array); UPDATE: $1 id, $2 patch (JSON); DELETE, LOCK: $1 id. CREATE and
 * UPDATE return TASK_SELECT_COLUMNS. */
extern const pg_stmt WRITER_STMT_CREATE;
extern const pg_stmt WRITER_STMT_LOCK;
extern const pg_stmt WRITER_STMT_UPDATE;
extern const pg_stmt WRITER_STMT_DELETE;

/* The event (a new CloudEvent in *event_out, NULL for a rejection) and the Redis effects
 * of a decided command; task is the new task (create/update) or NULL. No SQL. 0, or -1. */
int writer_build_effects(const task_command *cmd, const writer_outcome *out, const json_t *task,
                         const char *event_type, writer_effect *effect, json_t **event_out,
                         char *err, size_t errlen);

/* Applies cmd (request_id may be NULL) in the open transaction on conn; fills *effect and
 * *out. 0 when the command was applied or rejected; -1 when a statement failed (err and
 * out->sqlstate say why; the transaction is then aborted). Call writer_outcome_clear. */
int writer_apply_command(pg_conn *conn, const task_command *cmd, const char *request_id,
                         writer_effect *effect, writer_outcome *out, char *err, size_t errlen);
void writer_outcome_clear(writer_outcome *out);
/* Marks out rejected with the problem {type: /problems/<slug>, title, status, detail}
 * (404 not-found "Not found", 409 conflict "Conflict", 412 precondition-failed
 * "Precondition failed"). 0, or -1 when out of memory. */
int writer_outcome_reject(writer_outcome *out, int status, const char *slug, const char *title,
                          const char *detail);

#endif
