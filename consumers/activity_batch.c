/*
 * activity_batch.c: one batch of task-events into the activity log.
 *
 * Owns: the row of one event and the one statement that stores a batch (see
 * activity_batch.h). Rules: the batch goes to Postgres as one jsonb array (one round
 * trip); ON CONFLICT (event_id) DO NOTHING removes duplicates within and across batches.
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
           " SELECT x.id, x.user_id, x.task_id, x.type, x.title, x.time, x.data"
           " FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, user_id uuid, task_id uuid,"
           " type text, title text, time timestamptz, data jsonb)"
           " ON CONFLICT (event_id) DO NOTHING",
    .nparams = 1,
};

static bool is_task_type(const char *s) {
    for (size_t i = 0; TASK_TYPES[i] != NULL; i++) {
        if (strcmp(s, TASK_TYPES[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* The row of ev, or NULL when a member it needs is missing or invalid. */
static json_t *row_of(const json_t *ev, const char *type) {
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
        return NULL;
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s,s:O}", "id", id, "type", type, "user_id", user,
                     "task_id", task, "title", title, "time", time, "data", data);
}

static const event_rows_spec ACTIVITY_ROWS = {
    .who = "activity", .wants = is_task_type, .row_of = row_of, .store = &STMT_STORE};

int activity_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count) {
    (void)ctx;
    return event_rows_apply(&ACTIVITY_ROWS, conn, records, count);
}
