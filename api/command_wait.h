/*
 * command_wait.h: Prefer: wait (RFC 7240; the header is read by prefer.c): a task write
 * that waits for its command's outcome, and reading back the task it wrote.
 *
 * Owns: the poller that asks command_report.h until the command is reportable or the
 * wait is over, and reading a task no older than the version the writer reported.
 * Rules: the poller reads the Redis marker every COMMAND_WAIT_POLL_REDIS_MS and the full
 * report (Postgres too) every COMMAND_WAIT_POLL_PG_MS while the marker cannot decide; it
 * never answers APPLIED before command_report would. The task read back comes from the
 * cache when it is recent enough, else from the primary; every read names the user.
 */
#ifndef TASKBUS_API_COMMAND_WAIT_H
#define TASKBUS_API_COMMAND_WAIT_H

#include <jansson.h>

#include "api/command_report.h"
#include "api/http_context.h"

#define COMMAND_WAIT_POLL_REDIS_MS 5
#define COMMAND_WAIT_POLL_PG_MS 50

/* Polls command_report for up to wait_s seconds. APPLIED or REJECTED when reportable in
 * time, else PENDING (out then says pending). */
command_state command_wait(const api_app *app, const char *user_id, const char *command_id,
                           int wait_s, command_outcome *out);

/* The task as stored, at least at min_version: the cache first (task_store_get), the
 * primary when the cache is older. 1 found (*out a new reference), 0 not found (e.g.
 * deleted since), -1 unavailable. */
int task_command_read_task(const api_app *app, const char *user_id, const char *task_id,
                           long long min_version, json_t **out);

#endif
