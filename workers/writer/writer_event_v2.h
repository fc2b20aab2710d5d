/*
 * writer_event_v2.h: the version-2 event of an applied task command (docs/event-schemas.md,
 * "Task events v2"; docs/decisions.md, "Task events v2 (slice 7)").
 *
 * Owns: the taskbus.task.*.v2 CloudEvent beside each v1 event the writer writes: type
 * "<v1 type>.v2"; data the task as stored, the API's task JSON whole (project_id,
 * assignee_id and recurrence when set: what v1 data leaves out), plus actor_id (the user
 * whose command it was) and command_id; a delete's data {id, project_id, version,
 * actor_id, command_id}, project_id being the project the task was deleted from. Rules:
 * built from the same task text as the cache value and the v1 event, so the three never
 * disagree; the subject and traceparent are the v1 event's; pure (no I/O).
 */
#ifndef TASKBUS_WORKERS_WRITER_WRITER_EVENT_V2_H
#define TASKBUS_WORKERS_WRITER_WRITER_EVENT_V2_H

#include <stddef.h>

#include "shared/task_command_codec.h"
#include "shared/uuid7.h"
#include "workers/writer/writer_decide.h"

/* "<v1 type>.v2" for the event type of an applied decision. */
#define WRITER_EVENT_V2_TYPE_MAX 48
void writer_event_v2_type(const writer_decision *d, char out[WRITER_EVENT_V2_TYPE_MAX]);

/* The v2 event (new string, or NULL when out of memory) of c decided as d: task_text is
 * the task as stored (NULL for a delete, which then names deleted_from, its project);
 * event_id receives the event's id. */
char *writer_event_v2(const task_command *c, const writer_decision *d, const char *task_text,
                      const char *deleted_from, const char *traceparent,
                      char event_id[UUID_STR_LEN]);

#endif
