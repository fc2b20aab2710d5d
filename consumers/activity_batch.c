/*
 * activity_batch.c: one batch of task-events into the activity log.
 *
 * Owns: the decoding of a record and the one statement that stores a batch (see
 * activity_batch.h). Rules: the batch goes to Postgres as one jsonb array (one round
 * trip); ON CONFLICT (event_id) DO NOTHING removes duplicates within and across batches.
 */
#include "consumers/activity_batch.h"

#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
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

static bool is_task_type(const char *s) {
    for (size_t i = 0; TASK_TYPES[i] != NULL; i++) {
        if (strcmp(s, TASK_TYPES[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* The row of ev, or NULL when a member it needs is missing or invalid. */
static json_t *row_of(json_t *ev, const char *type) {
    json_t *data = json_object_get(ev, "data");
    const char *id = member(ev, "id", uuid_is_valid);
    const char *time = member(ev, "time", is_time);
    const char *user = member(data, "user_id", uuid_is_valid);
    const char *task = member(data, "id", uuid_is_valid);
    const char *title = member(data, "title", NULL);
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

activity_decoded activity_decode(const char *value, size_t len, json_t **row_out) {
    *row_out = NULL;
    if (value == NULL) {
        return ACTIVITY_MALFORMED;
    }
    json_error_t jerr;
    json_t *ev = json_loadb(value, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *type = json_is_object(ev) ? member(ev, "type", NULL) : NULL;
    activity_decoded result = ACTIVITY_MALFORMED;
    if (type != NULL && !is_task_type(type)) {
        result = ACTIVITY_IGNORED;
    } else if (type != NULL) {
        *row_out = row_of(ev, type);
        result = *row_out != NULL ? ACTIVITY_ROW : ACTIVITY_MALFORMED;
    }
    json_decref(ev);
    return result;
}

static int collect_rows(const kafka_record *records, size_t count, json_t *rows) {
    for (size_t i = 0; i < count; i++) {
        json_t *row = NULL;
        activity_decoded d = activity_decode(records[i].value, records[i].value_len, &row);
        if (d == ACTIVITY_MALFORMED) {
            LOG_WARNF("activity: skipped an unreadable record at %s[%d]@%lld", records[i].topic,
                      (int)records[i].partition, (long long)records[i].offset);
        } else if (d == ACTIVITY_ROW && json_array_append_new(rows, row) != 0) {
            return -1;
        }
    }
    return 0;
}

static int store_rows(pg_conn *conn, const json_t *rows) {
    char *text = json_dumps(rows, JSON_COMPACT);
    if (text == NULL) {
        LOG_ERRORF("activity: out of memory serialising a batch");
        return -1;
    }
    const char *values[1] = {text};
    PGresult *res = pg_exec_stmt(conn, &STMT_STORE, values);
    free(text);
    int rc = 0;
    if (res == NULL) {
        LOG_WARNF("activity: postgres connection failed while storing a batch");
        rc = -1;
    } else if (!pg_result_ok(res)) {
        LOG_ERRORF("activity: storing failed (%s): %s", pg_result_sqlstate(res),
                   PQresultErrorMessage(res));
        rc = -1;
    }
    PQclear(res);
    return rc;
}

int activity_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count) {
    (void)ctx;
    json_t *rows = json_array();
    if (rows == NULL || collect_rows(records, count, rows) != 0) {
        LOG_ERRORF("activity: out of memory decoding a batch");
        json_decref(rows);
        return -1;
    }
    int rc = json_array_size(rows) > 0 ? store_rows(conn, rows) : 0;
    if (rc == 0) {
        LOG_DEBUGF("activity: batch of %zu record(s), %zu event(s) stored or already there", count,
                   json_array_size(rows));
    }
    json_decref(rows);
    return rc;
}
