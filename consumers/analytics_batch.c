/*
 * analytics_batch.c: one batch of task-events into the daily aggregates.
 *
 * Owns: the decoding of a record and the one statement that counts a batch (see
 * analytics_batch.h). Rules: the whole batch goes to Postgres as one jsonb array, so a
 * batch is one round trip; duplicates inside the batch and across batches are removed by
 * the analytics_seen_events insert that the counting joins on.
 */
#include "consumers/analytics_batch.h"

#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "shared/task_model.h"
#include "shared/uuid7.h"

#define TYPE_CREATED "taskbus.task.created"
#define TYPE_COMPLETED "taskbus.task.completed"

/* Data-modifying CTEs all run once, whether referenced or not. new_ev holds only the
 * events whose id was not yet seen; counts are grouped first because one INSERT ... ON
 * CONFLICT DO UPDATE may not touch a row twice. */
static const pg_stmt STMT_COUNT = {
    .name = "analytics_count_batch",
    .sql = "WITH ev AS ("
           " SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, type text, user_id uuid,"
           " created_at timestamptz, completed_at timestamptz)),"
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
    .nparams = 1,
};

/* The string member key of obj when it passes check (NULL check: any string), else NULL. */
static const char *member(const json_t *obj, const char *key, bool (*check)(const char *)) {
    const char *s = json_string_value(json_object_get(obj, key));
    if (s == NULL || (check != NULL && !check(s))) {
        return NULL;
    }
    return s;
}

static bool is_time(const char *s) {
    return task_time_parse(s, NULL) == 0;
}

/* The row of a counted event, or NULL when a member it needs is missing or invalid. */
static json_t *row_of(const json_t *ev, const char *type) {
    const json_t *data = json_object_get(ev, "data");
    const char *id = member(ev, "id", uuid_is_valid);
    const char *user = member(data, "user_id", uuid_is_valid);
    const char *created = member(data, "created_at", is_time);
    const char *completed = member(data, "completed_at", is_time);
    bool is_completion = strcmp(type, TYPE_COMPLETED) == 0;
    if (id == NULL || user == NULL || created == NULL || (is_completion && completed == NULL)) {
        return NULL;
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:s?}", "id", id, "type", type, "user_id", user,
                     "created_at", created, "completed_at", is_completion ? completed : NULL);
}

analytics_decoded analytics_decode(const char *value, size_t len, json_t **row_out) {
    *row_out = NULL;
    if (value == NULL) {
        return ANALYTICS_MALFORMED;
    }
    json_error_t jerr;
    json_t *ev = json_loadb(value, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *type = json_is_object(ev) ? member(ev, "type", NULL) : NULL;
    analytics_decoded result = ANALYTICS_MALFORMED;
    if (type != NULL && strcmp(type, TYPE_CREATED) != 0 && strcmp(type, TYPE_COMPLETED) != 0) {
        result = ANALYTICS_IGNORED;
    } else if (type != NULL) {
        *row_out = row_of(ev, type);
        result = *row_out != NULL ? ANALYTICS_ROW : ANALYTICS_MALFORMED;
    }
    json_decref(ev);
    return result;
}

/* Decodes the batch into rows; logs what it skips. -1 when out of memory. */
static int collect_rows(const kafka_record *records, size_t count, json_t *rows) {
    for (size_t i = 0; i < count; i++) {
        json_t *row = NULL;
        analytics_decoded d = analytics_decode(records[i].value, records[i].value_len, &row);
        if (d == ANALYTICS_MALFORMED) {
            LOG_WARNF("analytics: skipped an unreadable record at %s[%d]@%lld", records[i].topic,
                      (int)records[i].partition, (long long)records[i].offset);
        } else if (d == ANALYTICS_ROW && json_array_append_new(rows, row) != 0) {
            return -1;
        }
    }
    return 0;
}

static int count_rows(pg_conn *conn, const json_t *rows) {
    char *text = json_dumps(rows, JSON_COMPACT);
    if (text == NULL) {
        LOG_ERRORF("analytics: out of memory serialising a batch");
        return -1;
    }
    const char *values[1] = {text};
    PGresult *res = pg_exec_stmt(conn, &STMT_COUNT, values);
    free(text);
    int rc = 0;
    if (res == NULL) {
        LOG_WARNF("analytics: postgres connection failed while counting a batch");
        rc = -1;
    } else if (!pg_result_ok(res)) {
        LOG_ERRORF("analytics: counting failed (%s): %s", pg_result_sqlstate(res),
                   PQresultErrorMessage(res));
        rc = -1;
    }
    PQclear(res);
    return rc;
}

int analytics_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count) {
    (void)ctx;
    json_t *rows = json_array();
    if (rows == NULL || collect_rows(records, count, rows) != 0) {
        LOG_ERRORF("analytics: out of memory decoding a batch");
        json_decref(rows);
        return -1;
    }
    int rc = json_array_size(rows) > 0 ? count_rows(conn, rows) : 0;
    if (rc == 0) {
        LOG_DEBUGF("analytics: batch of %zu record(s), %zu counted or already seen", count,
                   json_array_size(rows));
    }
    json_decref(rows);
    return rc;
}
