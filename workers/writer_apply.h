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

/* Applies cmd (request_id may be NULL) in the open transaction on conn; fills *effect and
 * *out. 0 when the command was applied or rejected; -1 when a statement failed (err and
 * out->sqlstate say why; the transaction is then aborted). Call writer_outcome_clear. */
int writer_apply_command(pg_conn *conn, const task_command *cmd, const char *request_id,
                         writer_effect *effect, writer_outcome *out, char *err, size_t errlen);
void writer_outcome_clear(writer_outcome *out);

#endif
