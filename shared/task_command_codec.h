/*
 * task_command_codec.h: the commands on the task-commands topic.
 *
 * Owns: the wire form of a command a client asked for (JSON, schemas/commands/
 * task-command.json): {command_id, type, user_id, task_id, issued_at, request_id,
 * expected_version, task|patch|null, import_id?, project_id?}. type is "task.create" (task:
 * the full new task fields), "task.update" (patch: only the fields to change; null clears
 * due_at), "task.delete". project_id names a team project: the one a create puts the task
 * in, or the one the task of an update or delete was in when the API read it; absent for
 * the user's Inbox. The Kafka key is task_command_key: the project's key (the project id,
 * or for the Inbox the user id), so one project's commands, and one task's, are applied in
 * order (docs/decisions.md, "Tasks in team projects (slice 3b)"). Rules: the API builds,
 * the writer parses; unknown types or missing fields are a parse error (the writer sends
 * such a message to task-commands.dlq).
 */
#ifndef TASKBUS_SHARED_TASK_COMMAND_CODEC_H
#define TASKBUS_SHARED_TASK_COMMAND_CODEC_H

#include <jansson.h>
#include <stddef.h>

#include "shared/bus.h" /* TASK_COMMANDS_TOPIC: where these commands travel */
#include "shared/uuid7.h"

typedef enum { TASK_CMD_CREATE, TASK_CMD_UPDATE, TASK_CMD_DELETE } task_command_type;

typedef struct task_command {
    task_command_type type;
    char command_id[UUID_STR_LEN];
    char user_id[UUID_STR_LEN];
    char task_id[UUID_STR_LEN];
    char import_id[UUID_STR_LEN];  /* "" unless the command came from an import */
    char project_id[UUID_STR_LEN]; /* a team project, or "" for the user's Inbox */
    long long expected_version;    /* -1 when the client sent no If-Match */
    long long issued_at_ms;
    json_t *fields; /* create: the task fields; update: the patch; delete: NULL. Owned. */
} task_command;

/* The JSON text of cmd (caller free()s), or NULL on allocation failure. */
char *task_command_encode(const task_command *cmd, const char *request_id);
/* Parses a command; 0, or -1 with a reason in err. On success the caller calls
 * task_command_clear. */
int task_command_decode(const char *text, size_t len, task_command *out, char *err, size_t errlen);
void task_command_clear(task_command *cmd);
/* The command's Kafka key: its team project, else its user (the Inbox's key). */
const char *task_command_key(const task_command *cmd);
const char *task_command_type_name(task_command_type type);

#endif
