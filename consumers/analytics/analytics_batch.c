/*
 * analytics_batch.c: one batch of task-events into the daily aggregates.
 *
 * Owns: the members read of an event, the row made of them and the one statement that
 * counts a batch (see analytics_batch.h). Rules: an event is read without a jansson tree
 * (shared/json_scan.h); the whole batch goes to Postgres as one array per column, so
 * a batch is one round trip; duplicates inside the batch and across batches are removed
 * by the analytics_seen_events insert that the counting joins on.
 */
#include "consumers/analytics/analytics_batch.h"

#include <string.h>

#include "shared/event_rows.h"
#include "shared/task_event_types.h"
#include "shared/task_model.h"

#define TYPE_CREATED TASK_EVENT_CREATED
#define TYPE_COMPLETED TASK_EVENT_COMPLETED

/* Data-modifying CTEs all run once, whether referenced or not. new_ev holds only the
 * events whose id was not yet seen; counts are grouped first because one INSERT ... ON
 * CONFLICT DO UPDATE may not touch a row twice. */
static const pg_stmt STMT_COUNT = {
    .name = "analytics_count_batch",
    .sql = "WITH ev AS ("
           " SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::timestamptz[],"
           " $5::timestamptz[]) AS x(id, type, user_id, created_at, completed_at)),"
           " fresh AS (INSERT INTO analytics_seen_events (event_id)"
           " SELECT DISTINCT id FROM ev ON CONFLICT DO NOTHING RETURNING event_id),"
           " new_ev AS (SELECT DISTINCT ON (ev.id) ev.* FROM ev"
           " JOIN fresh ON fresh.event_id = ev.id ORDER BY ev.id),"
           " comp AS (INSERT INTO analytics_completions"
           " (event_id, user_id, day, seconds_to_complete)"
           " SELECT id, user_id, (completed_at AT TIME ZONE 'UTC')::date,"
           " extract(epoch FROM completed_at - created_at)::double precision"
           " FROM new_ev WHERE type = '" TYPE_COMPLETED "' ON CONFLICT DO NOTHING),"
           " counts AS (SELECT user_id, day, sum(c)::bigint AS created, sum(d)::bigint AS completed"
           " FROM (SELECT user_id, (created_at AT TIME ZONE 'UTC')::date AS day, 1 AS c, 0 AS d"
           " FROM new_ev WHERE type = '" TYPE_CREATED "'"
           " UNION ALL SELECT user_id, (completed_at AT TIME ZONE 'UTC')::date, 0, 1"
           " FROM new_ev WHERE type = '" TYPE_COMPLETED "') s GROUP BY user_id, day)"
           " INSERT INTO analytics_daily (user_id, day, created, completed)"
           " SELECT user_id, day, created, completed FROM counts"
           " ON CONFLICT (user_id, day) DO UPDATE SET"
           " created = analytics_daily.created + EXCLUDED.created,"
           " completed = analytics_daily.completed + EXCLUDED.completed",
    .nparams = 5,
};

enum { F_CREATED = EVENT_F_OWN, F_COMPLETED, NFIELDS };

/* What a counted event must hold. */
static const json_scan_field FIELDS[NFIELDS] = {
    EVENT_ROWS_ENVELOPE,
    [F_CREATED] = {.key = "created_at", .parent = EVENT_F_DATA},
    [F_COMPLETED] = {.key = "completed_at", .parent = EVENT_F_DATA},
};

/* The row of a counted event (event_rows_spec.row_of): id, type, user, created_at and,
 * for a completion, completed_at. */
static bool row_of(const json_scan_field *f, const char *type, event_col *cols) {
    event_envelope env;
    const char *created = event_str(&f[F_CREATED], event_is_time);
    const char *completed = event_str(&f[F_COMPLETED], event_is_time);
    bool is_completion = strcmp(type, TYPE_COMPLETED) == 0;
    if (!event_envelope_of(f, &env) || created == NULL || (is_completion && completed == NULL)) {
        return false;
    }
    const event_col row[5] = {event_col_str(env.id), event_col_str(type), event_col_str(env.user),
                              event_col_str(created),
                              event_col_str(is_completion ? completed : NULL)};
    memcpy(cols, row, sizeof row);
    return true;
}

static bool counted_type(const char *type) {
    return strcmp(type, TYPE_CREATED) == 0 || strcmp(type, TYPE_COMPLETED) == 0;
}

static const event_rows_spec ANALYTICS_ROWS = {.who = "analytics",
                                               .fields = FIELDS,
                                               .nfields = NFIELDS,
                                               .type_field = EVENT_F_TYPE,
                                               .wants = counted_type,
                                               .ncols = 5,
                                               .row_of = row_of,
                                               .store = &STMT_COUNT};

int analytics_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count) {
    (void)ctx;
    return event_rows_apply(&ANALYTICS_ROWS, conn, records, count);
}
