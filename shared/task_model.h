/*
 * task_model.h: a task, its JSON form and its Postgres row.
 *
 * Owns: the one representation of a task that the API answers and the writer caches in
 * Redis: {id, project_id, title, description, status, priority, due_at, tags,
 * recurrence?, assignee_id?, created_at, updated_at, completed_at, version} (timestamps
 * RFC 3339 UTC with milliseconds, null when absent; recurrence {rule, time_zone} only on a
 * task that recurs and assignee_id only on an assigned one, absent otherwise, so a task
 * cached or evented before either existed reads the same as one written since), and what of it the
 * events carry (task_json_strip_for_event). Rules: every reader of the tasks table selects
 * TASK_SELECT_COLUMNS in that order, so task_from_row can map any such row; the JSON is
 * built only here, so the API, the cache and the events can never drift apart.
 */
#ifndef TASKBUS_SHARED_TASK_MODEL_H
#define TASKBUS_SHARED_TASK_MODEL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#define TASK_TITLE_MAX 200
#define TASK_DESCRIPTION_MAX 10000
#define TASK_TAGS_MAX 20
#define TASK_TAG_MAX 50

/* The column list, in order, for SELECT and RETURNING. Timestamps come back as
 * epoch milliseconds (bigint) so no text parsing of Postgres dates is needed. */
#define TASK_SELECT_COLUMNS                                                                        \
    "id, owner_id, title, description, status, priority, "                                         \
    "(extract(epoch from due_at) * 1000)::bigint, array_to_json(tags)::text, "                     \
    "(extract(epoch from created_at) * 1000)::bigint, "                                            \
    "(extract(epoch from updated_at) * 1000)::bigint, "                                            \
    "(extract(epoch from completed_at) * 1000)::bigint, version, recurrence::text, project_id, "   \
    "assignee_id"

/* How many columns TASK_SELECT_COLUMNS lists: a statement's own columns follow them. */
#define TASK_SELECT_COLUMN_COUNT 15

/* The task JSON (new reference) from row of a result selected with TASK_SELECT_COLUMNS,
 * or NULL when the row is malformed. owner_out (may be NULL, 37 bytes) gets owner_id, "" for
 * a task in a team project (which has none). */
json_t *task_from_row(const PGresult *res, int row, char *owner_out);

/* Removes from task the members task events do not carry yet: recurrence, project_id and
 * assignee_id (release 0.1.0's event schemas closed data, so a new data field waits for
 * an open baseline: docs/event-schemas.md, docs/decisions.md "Recurring tasks"). The one place
 * that decides what an event's data leaves out. True when it removed something. */
bool task_json_strip_for_event(json_t *task);

/* Valid enumeration values. */
bool task_status_valid(const char *s);
bool task_priority_valid(const char *s);

/* The version of a task JSON (-1 when missing). */
long long task_json_version(const json_t *task);

#endif
