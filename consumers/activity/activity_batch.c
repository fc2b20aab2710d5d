/*
 * activity_batch.c: one batch of task-events into the activity log.
 *
 * Owns: the members read of an event, the row made of them and the one statement that
 * stores a batch, for the user's log (v1 events, table activity) and the project's (v2
 * events, table project_activity) (see activity_batch.h), and the statement that erases a
 * deleted user (user-events: taskbus.user.deleted, read by shared/user_erasure_event.h): the
 * user's rows of activity and the rows of the user's Inbox in project_activity. Rules: an event
 * is read without a jansson tree (shared/json_scan.h) and its data goes to the jsonb column as
 * the event holds it; the batch goes to Postgres as one array per column (one round trip;
 * measured against one jsonb array of row objects read by jsonb_to_recordset, which costs
 * Postgres more: docs/decisions.md "Issue 9"); ON CONFLICT (event_id) DO NOTHING removes
 * duplicates within and across batches. The erasures of a batch are applied first, and the
 * store statements skip rows of erased users (erased_users: by user for activity, by Inbox
 * for project_activity), so a task event consumed before or after its user's erasure, in
 * the same batch or a replay, leaves no row.
 */
#include "consumers/activity/activity_batch.h"

#include <string.h>

#include "shared/bus.h"
#include "shared/event_rows.h"
#include "shared/task_event_types.h"
#include "shared/task_model.h"
#include "shared/user_erasure_event.h"
#include "shared/uuid7.h"

static const char *const TASK_TYPES[] = {TASK_EVENT_CREATED, TASK_EVENT_UPDATED,
                                         TASK_EVENT_COMPLETED, TASK_EVENT_DELETED, NULL};
static const char *const TASK_TYPES_V2[] = {TASK_EVENT_CREATED_V2, TASK_EVENT_UPDATED_V2,
                                            TASK_EVENT_COMPLETED_V2, TASK_EVENT_DELETED_V2, NULL};
#define TITLE_MAX_BYTES 1024 /* titles are at most 200 characters; anything longer is not ours */

static const pg_stmt STMT_STORE = {
    .name = "activity_store_batch",
    .sql = "INSERT INTO activity (event_id, user_id, task_id, type, title, occurred_at, data)"
           " SELECT x.* FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],"
           " $6::timestamptz[], $7::jsonb[])"
           " AS x(event_id, user_id, task_id, type, title, occurred_at, data)"
           " WHERE NOT EXISTS (SELECT 1 FROM erased_users e WHERE e.user_id = x.user_id)"
           " ON CONFLICT (event_id) DO NOTHING",
    .nparams = 7,
};

static const pg_stmt STMT_STORE_V2 = {
    .name = "activity_store_project_batch",
    .sql =
        "INSERT INTO project_activity (event_id, project_id, actor_id, task_id, type, title,"
        " occurred_at, data)"
        " SELECT x.* FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[],"
        " $6::text[], $7::timestamptz[], $8::jsonb[])"
        " AS x(event_id, project_id, actor_id, task_id, type, title, occurred_at, data)"
        " WHERE NOT EXISTS (SELECT 1 FROM erased_users e WHERE e.inbox_project_id = x.project_id)"
        " ON CONFLICT (event_id) DO NOTHING",
    .nparams = 8,
};

/* The erasures of a batch (shared/user_erasure_event.h: $1 user ids, $2 Inbox project
 * ids, $3 erased_at): the users' rows and their Inboxes' rows (a NULL Inbox matches
 * nothing), then the erased_users rows. */
static const pg_stmt STMT_ERASE = {
    .name = "activity_erase_users",
    .sql = "WITH user_rows AS (DELETE FROM activity WHERE user_id = ANY($1::uuid[])),"
           " inbox_rows AS (DELETE FROM project_activity"
           " WHERE project_id = ANY($2::uuid[])) " USER_ERASURE_RECORD_SQL,
    .nparams = 3,
};

/* The index of s in types (NULL-terminated), or -1. */
static int type_index(const char *const *types, const char *s) {
    for (int i = 0; types[i] != NULL; i++) {
        if (strcmp(s, types[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static bool is_task_type(const char *s) {
    return type_index(TASK_TYPES, s) >= 0;
}

static bool is_task_type_v2(const char *s) {
    return type_index(TASK_TYPES_V2, s) >= 0;
}

/* The members of an event the log keeps besides its envelope, at these offsets from its
 * first own member (EVENT_F_OWN of v1, EVENT_F_OWN_V2 of v2). */
enum { OWN_TIME, OWN_TASK, OWN_TITLE, OWN_COUNT };
#define OWN_FIELDS(first)                                                                          \
    [(first) + OWN_TIME] = {.key = "time", .parent = -1},                                          \
               [(first) + OWN_TASK] = {.key = "id", .parent = EVENT_F_DATA},                       \
               [(first) + OWN_TITLE] = {.key = "title", .parent = EVENT_F_DATA}

#define NFIELDS (EVENT_F_OWN + OWN_COUNT)
#define NFIELDS_V2 (EVENT_F_OWN_V2 + OWN_COUNT)

/* What an activity row needs of an event. */
static const json_scan_field FIELDS[NFIELDS] = {EVENT_ROWS_ENVELOPE, OWN_FIELDS(EVENT_F_OWN)};
static const json_scan_field FIELDS_V2[NFIELDS_V2] = {EVENT_ROWS_ENVELOPE_V2,
                                                      OWN_FIELDS(EVENT_F_OWN_V2)};

/* The logged members of an event (own: its first own member), or false when one is
 * missing or malformed: a deletion (is_delete) has no title, every other event one of at
 * most TITLE_MAX_BYTES. */
typedef struct logged {
    const char *time, *task, *title;
    event_col data;
} logged;

static bool logged_of(const json_scan_field *f, int own, bool is_delete, logged *out) {
    out->time = event_str(&f[own + OWN_TIME], event_is_time);
    out->task = event_str(&f[own + OWN_TASK], uuid_is_valid);
    out->title = event_str(&f[own + OWN_TITLE], NULL);
    out->data = (event_col){.text = f[EVENT_F_DATA].raw, .len = f[EVENT_F_DATA].raw_len};
    bool title_ok = is_delete ? out->title == NULL
                              : out->title != NULL && f[own + OWN_TITLE].str_len <= TITLE_MAX_BYTES;
    return f[EVENT_F_DATA].type == JSON_SCAN_OBJECT && out->time != NULL && out->task != NULL &&
           title_ok;
}

/* The row of a v1 event (event_rows_spec.row_of): event id, user, task, type, title, time,
 * and data as the event holds it (the scan checked it is JSON Postgres reads). */
static bool row_of(const json_scan_field *f, const char *type, event_col *cols) {
    event_envelope env;
    logged l;
    if (!event_envelope_of(f, &env) ||
        !logged_of(f, EVENT_F_OWN, strcmp(type, TASK_EVENT_DELETED) == 0, &l)) {
        return false;
    }
    const event_col row[7] = {
        event_col_str(env.id),
        event_col_str(env.user),
        event_col_str(l.task),
        event_col_str(type),
        event_col_str(l.title),
        event_col_str(l.time),
        l.data,
    };
    memcpy(cols, row, sizeof row);
    return true;
}

/* The row of a v2 event: event id, project, actor, task, type, title, time, data. */
static bool row_of_v2(const json_scan_field *f, const char *type, event_col *cols) {
    event_envelope env;
    const char *project = NULL;
    logged l;
    if (!event_envelope_v2_of(f, &env, &project) ||
        !logged_of(f, EVENT_F_OWN_V2, strcmp(type, TASK_EVENT_DELETED_V2) == 0, &l)) {
        return false;
    }
    const event_col row[8] = {
        event_col_str(env.id),   event_col_str(project),
        event_col_str(env.user), event_col_str(l.task),
        event_col_str(type),     event_col_str(l.title),
        event_col_str(l.time),   l.data,
    };
    memcpy(cols, row, sizeof row);
    return true;
}

static const event_rows_spec ACTIVITY_ROWS_V2 = {.who = "activity",
                                                 .topic = TASK_EVENTS_V2_TOPIC,
                                                 .fields = FIELDS_V2,
                                                 .nfields = NFIELDS_V2,
                                                 .type_field = EVENT_F_TYPE,
                                                 .wants = is_task_type_v2,
                                                 .ncols = 8,
                                                 .row_of = row_of_v2,
                                                 .store = &STMT_STORE_V2};

static const event_rows_spec ACTIVITY_ROWS = {.who = "activity",
                                              .topic = TASK_EVENTS_TOPIC,
                                              .fields = FIELDS,
                                              .nfields = NFIELDS,
                                              .type_field = EVENT_F_TYPE,
                                              .wants = is_task_type,
                                              .ncols = 7,
                                              .row_of = row_of,
                                              .store = &STMT_STORE};

int activity_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count) {
    (void)ctx;
    int rc = user_erasures_apply("activity", &STMT_ERASE, conn, records, count);
    if (rc == 0) {
        rc = event_rows_apply(&ACTIVITY_ROWS, conn, records, count);
    }
    return rc == 0 ? event_rows_apply(&ACTIVITY_ROWS_V2, conn, records, count) : rc;
}
