/*
 * analytics_batch.c: one batch of task-events into the daily aggregates.
 *
 * Owns: the members read of an event, the row made of them and the one statement that
 * counts a batch, per user who acted (v1 events) and per project (v2 events) (see
 * analytics_batch.h), and the statement that erases a deleted user (user-events:
 * taskbus.user.deleted, read by shared/user_erasure_event.h): the user's daily and
 * completion rows, and those of the user's Inbox project. Rules: an event is read without a
 * jansson tree (shared/json_scan.h); the whole batch goes to Postgres as one array per
 * column, so a batch is one round trip; duplicates inside the batch and across batches are
 * removed by the analytics_seen_events insert that the counting joins on. The erasures of a
 * batch are applied first, and the counting skips events of erased users (erased_users: by
 * user for v1, by Inbox for v2) after recording their ids as seen, so a task event consumed
 * before or after its user's erasure, in the same batch or a replay, counts nowhere.
 */
#include "consumers/analytics/analytics_batch.h"

#include <string.h>

#include "shared/bus.h"
#include "shared/event_rows.h"
#include "shared/task_event_types.h"
#include "shared/task_model.h"
#include "shared/user_erasure_event.h"

/* The counting statement of one scope: its daily and completions tables, its key column
 * (user_id of the user who acted, for v1 events; project_id, for v2) and the column of
 * erased_users that names an erased key (user_id; inbox_project_id). $2 holds the type
 * without its version (the row function strips ".v2"), so one text serves both.
 * Data-modifying CTEs all run once, whether referenced or not. new_ev holds only the
 * events whose id was not yet seen (ids are unique across both topics, so one seen table
 * serves both scopes) and whose key is not erased (the ids of those are still recorded as
 * seen, so what is seen stays a function of the events alone); counts are grouped first
 * because one INSERT ... ON CONFLICT DO UPDATE may not touch a row twice. */
#define COUNT_SQL(daily, completions, key, erased)                                                 \
    "WITH ev AS ("                                                                                 \
    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::timestamptz[],"                 \
    " $5::timestamptz[]) AS x(id, type, " key ", created_at, completed_at)),"                      \
    " fresh AS (INSERT INTO analytics_seen_events (event_id)"                                      \
    " SELECT DISTINCT id FROM ev ON CONFLICT DO NOTHING RETURNING event_id),"                      \
    " new_ev AS (SELECT DISTINCT ON (ev.id) ev.* FROM ev"                                          \
    " JOIN fresh ON fresh.event_id = ev.id"                                                        \
    " WHERE NOT EXISTS (SELECT 1 FROM erased_users e WHERE e." erased " = ev." key ")"             \
    " ORDER BY ev.id),"                                                                            \
    " comp AS (INSERT INTO " completions " (event_id, " key ", day, seconds_to_complete)"          \
    " SELECT id, " key ", (completed_at AT TIME ZONE 'UTC')::date,"                                \
    " extract(epoch FROM completed_at - created_at)::double precision"                             \
    " FROM new_ev WHERE type = '" TASK_EVENT_COMPLETED "' ON CONFLICT DO NOTHING),"                \
    " counts AS (SELECT " key ", day, sum(c)::bigint AS created, sum(d)::bigint AS completed"      \
    " FROM (SELECT " key ", (created_at AT TIME ZONE 'UTC')::date AS day, 1 AS c, 0 AS d"          \
    " FROM new_ev WHERE type = '" TASK_EVENT_CREATED "'"                                           \
    " UNION ALL SELECT " key ", (completed_at AT TIME ZONE 'UTC')::date, 0, 1"                     \
    " FROM new_ev WHERE type = '" TASK_EVENT_COMPLETED "') s GROUP BY " key ", day)"               \
    " INSERT INTO " daily " (" key ", day, created, completed)"                                    \
    " SELECT " key ", day, created, completed FROM counts"                                         \
    " ON CONFLICT (" key ", day) DO UPDATE SET"                                                    \
    " created = " daily ".created + EXCLUDED.created,"                                             \
    " completed = " daily ".completed + EXCLUDED.completed"

static const pg_stmt STMT_COUNT = {
    .name = "analytics_count_batch",
    .sql = COUNT_SQL("analytics_daily", "analytics_completions", "user_id", "user_id"),
    .nparams = 5,
};

static const pg_stmt STMT_COUNT_V2 = {
    .name = "analytics_count_project_batch",
    .sql = COUNT_SQL("analytics_project_daily", "analytics_project_completions", "project_id",
                     "inbox_project_id"),
    .nparams = 5,
};

/* The erasures of a batch (shared/user_erasure_event.h: $1 user ids, $2 Inbox project
 * ids, $3 erased_at): the users' counts and completions and their Inboxes' (a NULL Inbox
 * matches nothing), then the erased_users rows. analytics_seen_events keeps its ids. */
static const pg_stmt STMT_ERASE = {
    .name = "analytics_erase_users",
    .sql = "WITH daily AS (DELETE FROM analytics_daily WHERE user_id = ANY($1::uuid[])),"
           " completions AS (DELETE FROM analytics_completions WHERE user_id = ANY($1::uuid[])),"
           " project_daily AS (DELETE FROM analytics_project_daily"
           " WHERE project_id = ANY($2::uuid[])),"
           " project_completions AS (DELETE FROM analytics_project_completions"
           " WHERE project_id = ANY($2::uuid[])) " USER_ERASURE_RECORD_SQL,
    .nparams = 3,
};

/* The members of a counted event besides its envelope, at these offsets from its first
 * own member (EVENT_F_OWN of v1, EVENT_F_OWN_V2 of v2). */
enum { OWN_CREATED, OWN_COMPLETED, OWN_COUNT };
#define OWN_FIELDS(first)                                                                          \
    [(first) + OWN_CREATED] = {.key = "created_at", .parent = EVENT_F_DATA},                       \
               [(first) + OWN_COMPLETED] = {.key = "completed_at", .parent = EVENT_F_DATA}

#define NFIELDS (EVENT_F_OWN + OWN_COUNT)
#define NFIELDS_V2 (EVENT_F_OWN_V2 + OWN_COUNT)

/* What a counted event must hold. */
static const json_scan_field FIELDS[NFIELDS] = {EVENT_ROWS_ENVELOPE, OWN_FIELDS(EVENT_F_OWN)};
static const json_scan_field FIELDS_V2[NFIELDS_V2] = {EVENT_ROWS_ENVELOPE_V2,
                                                      OWN_FIELDS(EVENT_F_OWN_V2)};

/* The v1 type a counted type is or is the twin of: TASK_EVENT_CREATED or _COMPLETED, or
 * NULL for a type not counted. */
static const char *counted_as(const char *type) {
    static const char *const COUNTED[][2] = {
        {TASK_EVENT_CREATED, TASK_EVENT_CREATED_V2},
        {TASK_EVENT_COMPLETED, TASK_EVENT_COMPLETED_V2},
    };
    for (size_t i = 0; i < sizeof COUNTED / sizeof COUNTED[0]; i++) {
        if (strcmp(type, COUNTED[i][0]) == 0 || strcmp(type, COUNTED[i][1]) == 0) {
            return COUNTED[i][0];
        }
    }
    return NULL;
}

/* The row of a counted event whose scope (the user or the project) is key: id, type as
 * counted, key, created_at and, for a completion, completed_at. */
static bool row_with(const json_scan_field *f, int own, const char *id, const char *key,
                     const char *type, event_col *cols) {
    const char *counted = counted_as(type);
    const char *created = event_str(&f[own + OWN_CREATED], event_is_time);
    const char *completed = event_str(&f[own + OWN_COMPLETED], event_is_time);
    bool is_completion = counted != NULL && strcmp(counted, TASK_EVENT_COMPLETED) == 0;
    if (counted == NULL || created == NULL || (is_completion && completed == NULL)) {
        return false;
    }
    const event_col row[5] = {event_col_str(id), event_col_str(counted), event_col_str(key),
                              event_col_str(created),
                              event_col_str(is_completion ? completed : NULL)};
    memcpy(cols, row, sizeof row);
    return true;
}

/* The row of a counted v1 event (event_rows_spec.row_of), counted for who acted. */
static bool row_of(const json_scan_field *f, const char *type, event_col *cols) {
    event_envelope env;
    return event_envelope_of(f, &env) && row_with(f, EVENT_F_OWN, env.id, env.user, type, cols);
}

/* The row of a counted v2 event, counted for its project. */
static bool row_of_v2(const json_scan_field *f, const char *type, event_col *cols) {
    event_envelope env;
    const char *project = NULL;
    return event_envelope_v2_of(f, &env, &project) &&
           row_with(f, EVENT_F_OWN_V2, env.id, project, type, cols);
}

static bool counted_type(const char *type) {
    return strcmp(type, TASK_EVENT_CREATED) == 0 || strcmp(type, TASK_EVENT_COMPLETED) == 0;
}

static bool counted_type_v2(const char *type) {
    return strcmp(type, TASK_EVENT_CREATED_V2) == 0 || strcmp(type, TASK_EVENT_COMPLETED_V2) == 0;
}

static const event_rows_spec ANALYTICS_ROWS = {.who = "analytics",
                                               .topic = TASK_EVENTS_TOPIC,
                                               .fields = FIELDS,
                                               .nfields = NFIELDS,
                                               .type_field = EVENT_F_TYPE,
                                               .wants = counted_type,
                                               .ncols = 5,
                                               .row_of = row_of,
                                               .store = &STMT_COUNT};

static const event_rows_spec ANALYTICS_ROWS_V2 = {.who = "analytics",
                                                  .topic = TASK_EVENTS_V2_TOPIC,
                                                  .fields = FIELDS_V2,
                                                  .nfields = NFIELDS_V2,
                                                  .type_field = EVENT_F_TYPE,
                                                  .wants = counted_type_v2,
                                                  .ncols = 5,
                                                  .row_of = row_of_v2,
                                                  .store = &STMT_COUNT_V2};

int analytics_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count) {
    (void)ctx;
    int rc = user_erasures_apply("analytics", &STMT_ERASE, conn, records, count);
    if (rc == 0) {
        rc = event_rows_apply(&ANALYTICS_ROWS, conn, records, count);
    }
    return rc == 0 ? event_rows_apply(&ANALYTICS_ROWS_V2, conn, records, count) : rc;
}
