/*
 * activity_batch.c: one batch of task-events into the activity log.
 *
 * Owns: the row of one event and the one statement that stores a batch (see
 * activity_batch.h). Rules: the batch goes to Postgres as one array per column (one round
 * trip; measured against one jsonb array of row objects read by jsonb_to_recordset, which
 * costs Postgres more: docs/decisions.md "Issue 9"); ON CONFLICT (event_id) DO NOTHING
 * removes duplicates within and across batches.
 */
#include "consumers/activity_batch.h"

#include <stdlib.h>
#include <string.h>

#include "shared/event_rows.h"
#include "shared/task_model.h"
#include "shared/uuid7.h"

static const char *const TASK_TYPES[] = {"taskbus.task.created", "taskbus.task.updated",
                                         "taskbus.task.completed", "taskbus.task.deleted", NULL};
#define TYPE_DELETED "taskbus.task.deleted"
#define TITLE_MAX_BYTES 1024 /* titles are at most 200 characters; anything longer is not ours */

static const pg_stmt STMT_STORE = {
    .name = "activity_store_batch",
    .sql = "INSERT INTO activity (event_id, user_id, task_id, type, title, occurred_at, data)"
           " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],"
           " $6::timestamptz[], $7::jsonb[])"
           " ON CONFLICT (event_id) DO NOTHING",
    .nparams = 7,
};

static bool is_task_type(const char *s) {
    for (size_t i = 0; TASK_TYPES[i] != NULL; i++) {
        if (strcmp(s, TASK_TYPES[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* The row of ev (event_rows_spec.row_of): event id, user, task, type, title, time, data. */
static int row_of(const json_t *ev, const char *type, const char **cols, char **owned) {
    const json_t *data = json_object_get(ev, "data");
    const char *id = event_member(ev, "id", uuid_is_valid);
    const char *time = event_member(ev, "time", event_is_time);
    const char *user = event_member(data, "user_id", uuid_is_valid);
    const char *task = event_member(data, "id", uuid_is_valid);
    const char *title = event_member(data, "title", NULL);
    bool title_ok = strcmp(type, TYPE_DELETED) == 0
                        ? title == NULL
                        : title != NULL && strlen(title) <= TITLE_MAX_BYTES;
    if (!json_is_object(data) || id == NULL || time == NULL || user == NULL || task == NULL ||
        !title_ok) {
        return EVENT_ROW_UNREADABLE;
    }
    *owned = json_dumps(data, JSON_COMPACT);
    if (*owned == NULL) {
        return EVENT_ROW_NO_MEMORY;
    }
    const char *row[7] = {id, user, task, type, title, time, *owned};
    memcpy(cols, row, sizeof row);
    return EVENT_ROW_OK;
}

static const event_rows_spec ACTIVITY_ROWS = {
    .who = "activity", .wants = is_task_type, .ncols = 7, .row_of = row_of, .store = &STMT_STORE};

int activity_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count) {
    (void)ctx;
    return event_rows_apply(&ACTIVITY_ROWS, conn, records, count);
}
