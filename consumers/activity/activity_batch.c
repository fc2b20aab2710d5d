/*
 * activity_batch.c: one batch of task-events into the activity log.
 *
 * Owns: the members read of an event, the row made of them and the one statement that
 * stores a batch (see activity_batch.h). Rules: an event is read without a jansson tree
 * (shared/json_scan.h) and its data goes to the jsonb column as the event holds it; the batch goes
 * to Postgres as one array per column (one round trip; measured against one jsonb array of row
 * objects read by jsonb_to_recordset, which costs Postgres more: docs/decisions.md "Issue 9"); ON
 * CONFLICT (event_id) DO NOTHING removes duplicates within and across batches.
 */
#include "consumers/activity/activity_batch.h"

#include <string.h>

#include "shared/event_rows.h"
#include "shared/task_event_types.h"
#include "shared/task_model.h"
#include "shared/uuid7.h"

static const char *const TASK_TYPES[] = {TASK_EVENT_CREATED, TASK_EVENT_UPDATED,
                                         TASK_EVENT_COMPLETED, TASK_EVENT_DELETED, NULL};
#define TYPE_DELETED TASK_EVENT_DELETED
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

enum { F_TIME = EVENT_F_OWN, F_TASK, F_TITLE, NFIELDS };

/* What an activity row needs of an event. */
static const json_scan_field FIELDS[NFIELDS] = {
    EVENT_ROWS_ENVELOPE,
    [F_TIME] = {.key = "time", .parent = -1},
    [F_TASK] = {.key = "id", .parent = EVENT_F_DATA},
    [F_TITLE] = {.key = "title", .parent = EVENT_F_DATA},
};

/* The row of an event (event_rows_spec.row_of): event id, user, task, type, title, time,
 * and data as the event holds it (the scan checked it is JSON Postgres reads). */
static bool row_of(const json_scan_field *f, const char *type, event_col *cols) {
    event_envelope env;
    const char *time = event_str(&f[F_TIME], event_is_time);
    const char *task = event_str(&f[F_TASK], uuid_is_valid);
    const char *title = event_str(&f[F_TITLE], NULL);
    bool title_ok = strcmp(type, TYPE_DELETED) == 0
                        ? title == NULL
                        : title != NULL && f[F_TITLE].str_len <= TITLE_MAX_BYTES;
    if (!event_envelope_of(f, &env) || f[EVENT_F_DATA].type != JSON_SCAN_OBJECT || time == NULL ||
        task == NULL || !title_ok) {
        return false;
    }
    const event_col row[7] = {
        event_col_str(env.id),
        event_col_str(env.user),
        event_col_str(task),
        event_col_str(type),
        event_col_str(title),
        event_col_str(time),
        {.text = f[EVENT_F_DATA].raw, .len = f[EVENT_F_DATA].raw_len},
    };
    memcpy(cols, row, sizeof row);
    return true;
}

static const event_rows_spec ACTIVITY_ROWS = {.who = "activity",
                                              .fields = FIELDS,
                                              .nfields = NFIELDS,
                                              .type_field = EVENT_F_TYPE,
                                              .wants = is_task_type,
                                              .ncols = 7,
                                              .row_of = row_of,
                                              .store = &STMT_STORE};

int activity_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count) {
    (void)ctx;
    return event_rows_apply(&ACTIVITY_ROWS, conn, records, count);
}
