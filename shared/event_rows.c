/*
 * event_rows.c: a batch of task-events records into rows (see event_rows.h).
 *
 * Owns: one array literal per column, grown record by record, so a record's parsed tree
 * is freed as soon as its row is copied out.
 */
#include "shared/event_rows.h"

#include <stdlib.h>

#include "shared/log.h"
#include "shared/pg_array.h"
#include "shared/strbuf.h"
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

/* The batch's columns as they grow. */
typedef struct row_arrays {
    strbuf cols[EVENT_ROWS_MAX_COLS];
    size_t rows;
} row_arrays;

/* Adds the row of one record to the columns, or skips the record (logged). 0, or -1 when
 * out of memory. */
static int collect_one(const event_rows_spec *spec, const kafka_record *r, row_arrays *out) {
    json_t *ev = NULL;
    const char *type = NULL;
    if (r->value != NULL) {
        json_error_t jerr;
        ev = json_loadb(r->value, r->value_len, JSON_REJECT_DUPLICATES, &jerr);
        type = json_is_object(ev) ? event_member(ev, "type", NULL) : NULL;
    }
    if (type != NULL && !spec->wants(type)) {
        json_decref(ev); /* a readable event of a type this consumer does not keep */
        return 0;
    }
    const char *cols[EVENT_ROWS_MAX_COLS] = {0};
    char *owned = NULL;
    int got = type != NULL ? spec->row_of(ev, type, cols, &owned) : EVENT_ROW_UNREADABLE;
    if (got == EVENT_ROW_OK) {
        for (int c = 0; c < spec->ncols; c++) {
            pg_array_add(&out->cols[c], cols[c]);
        }
        out->rows++;
    } else if (got == EVENT_ROW_UNREADABLE) {
        LOG_WARNF("%s: skipped an unreadable record at %s[%d]@%lld", spec->who, r->topic,
                  (int)r->partition, (long long)r->offset);
    }
    free(owned);
    json_decref(ev);
    return got == EVENT_ROW_NO_MEMORY ? -1 : 0;
}

static int store(const event_rows_spec *spec, pg_conn *conn, const row_arrays *rows) {
    const char *values[EVENT_ROWS_MAX_COLS];
    for (int c = 0; c < spec->ncols; c++) {
        values[c] = rows->cols[c].data;
    }
    PGresult *res = pg_exec_stmt(conn, spec->store, values);
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
    if (spec->ncols < 1 || spec->ncols > EVENT_ROWS_MAX_COLS) {
        LOG_ERRORF("%s: %d columns is not a row", spec->who, spec->ncols);
        return -1;
    }
    row_arrays rows = {0};
    for (int c = 0; c < spec->ncols; c++) {
        pg_array_open(&rows.cols[c]);
    }
    bool failed = false;
    for (size_t i = 0; !failed && i < count; i++) {
        failed = collect_one(spec, &records[i], &rows) != 0;
    }
    for (int c = 0; c < spec->ncols; c++) {
        pg_array_close(&rows.cols[c]);
        failed = failed || rows.cols[c].failed;
    }
    int rc = 0;
    if (failed) {
        LOG_ERRORF("%s: out of memory decoding a batch", spec->who);
        rc = -1;
    } else if (rows.rows > 0) {
        rc = store(spec, conn, &rows);
    }
    if (rc == 0) {
        LOG_DEBUGF("%s: batch of %zu record(s), %zu row(s) stored or already there", spec->who,
                   count, rows.rows);
    }
    for (int c = 0; c < spec->ncols; c++) {
        free(rows.cols[c].data);
    }
    return rc;
}
