/*
 * event_rows.c: a batch of task-events records into rows (see event_rows.h).
 */
#include "shared/event_rows.h"

#include <stdlib.h>

#include "shared/log.h"
#include "shared/task_model.h"

const char *event_member(const json_t *obj, const char *key, bool (*check)(const char *)) {
    const char *s = json_string_value(json_object_get(obj, key));
    if (s == NULL || (check != NULL && !check(s))) {
        return NULL;
    }
    return s;
}

bool event_is_time(const char *s) {
    return task_time_parse(s, NULL) == 0;
}

/* The row of one record into rows. 0 (row added, ignored or skipped), -1 out of memory. */
static int collect_one(const event_rows_spec *spec, const kafka_record *r, json_t *rows) {
    json_t *ev = NULL;
    const char *type = NULL;
    if (r->value != NULL) {
        json_error_t jerr;
        ev = json_loadb(r->value, r->value_len, JSON_REJECT_DUPLICATES, &jerr);
        type = json_is_object(ev) ? event_member(ev, "type", NULL) : NULL;
    }
    int rc = 0;
    if (type != NULL && !spec->wants(type)) {
        rc = 0; /* a readable event of a type this consumer does not keep */
    } else {
        json_t *row = type != NULL ? spec->row_of(ev, type) : NULL;
        if (row == NULL) {
            LOG_WARNF("%s: skipped an unreadable record at %s[%d]@%lld", spec->who, r->topic,
                      (int)r->partition, (long long)r->offset);
        } else if (json_array_append_new(rows, row) != 0) {
            rc = -1;
        }
    }
    json_decref(ev);
    return rc;
}

static int store(const event_rows_spec *spec, pg_conn *conn, const json_t *rows) {
    char *text = json_dumps(rows, JSON_COMPACT);
    if (text == NULL) {
        LOG_ERRORF("%s: out of memory serialising a batch", spec->who);
        return -1;
    }
    const char *values[1] = {text};
    PGresult *res = pg_exec_stmt(conn, spec->store, values);
    free(text);
    int rc = 0;
    if (res == NULL) {
        LOG_WARNF("%s: postgres connection failed while storing a batch", spec->who);
        rc = -1;
    } else if (!pg_result_ok(res)) {
        LOG_ERRORF("%s: storing a batch failed (%s): %s", spec->who, pg_result_sqlstate(res),
                   PQresultErrorMessage(res));
        rc = -1;
    }
    PQclear(res);
    return rc;
}

int event_rows_apply(const event_rows_spec *spec, pg_conn *conn, const kafka_record *records,
                     size_t count) {
    json_t *rows = json_array();
    int rc = rows != NULL ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        rc = collect_one(spec, &records[i], rows);
    }
    if (rc != 0) {
        LOG_ERRORF("%s: out of memory decoding a batch", spec->who);
    } else if (json_array_size(rows) > 0) {
        rc = store(spec, conn, rows);
    }
    if (rc == 0) {
        LOG_DEBUGF("%s: batch of %zu record(s), %zu row(s) stored or already there", spec->who,
                   count, json_array_size(rows));
    }
    json_decref(rows);
    return rc;
}
