/*
 * event_rows.c: a batch of task-events records into rows (see event_rows.h).
 *
 * Owns: one array literal per column, grown record by record, and the scan buffer the
 * records share (grown to the largest record of the batch).
 */
#include "shared/event_rows.h"

#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "shared/pg_array.h"
#include "shared/strbuf.h"
#include "shared/task_model.h"
#include "shared/uuid7.h"
#include "shared/time_util.h"

const char *event_str(const json_scan_field *f, bool (*check)(const char *)) {
    if (f->type != JSON_SCAN_STRING || (check != NULL && !check(f->str))) {
        return NULL;
    }
    return f->str;
}

bool event_envelope_of(const json_scan_field *f, event_envelope *out) {
    out->id = event_str(&f[EVENT_F_ID], uuid_is_valid);
    out->user = event_str(&f[EVENT_F_USER], uuid_is_valid);
    return out->id != NULL && out->user != NULL;
}

bool event_envelope_v2_of(const json_scan_field *f, event_envelope *out, const char **project) {
    *project = event_str(&f[EVENT_F_PROJECT], uuid_is_valid);
    return event_envelope_of(f, out) && *project != NULL;
}

event_col event_col_str(const char *s) {
    return (event_col){.text = s, .len = s != NULL ? strlen(s) : 0};
}

bool event_is_time(const char *s) {
    return time_parse_rfc3339_ms(s, NULL) == 0;
}

/* The batch being built. */
typedef struct batch_rows {
    strbuf cols[EVENT_ROWS_MAX_COLS];
    size_t rows;
    char *scratch; /* json_scan's buffer */
    size_t scratch_cap;
} batch_rows;

/* Reads one record's wanted members into fields. 0, 1 when unreadable, -1 out of memory. */
static int scan_record(const event_rows_spec *spec, const kafka_record *r, batch_rows *b,
                       json_scan_field *fields) {
    if (r->value == NULL) {
        return 1;
    }
    size_t need = json_scan_buffer_size(r->value_len);
    if (need > b->scratch_cap) {
        char *grown = realloc(b->scratch, need);
        if (grown == NULL) {
            return -1;
        }
        b->scratch = grown;
        b->scratch_cap = need;
    }
    memcpy(fields, spec->fields, spec->nfields * sizeof *fields);
    return json_scan(r->value, r->value_len, fields, spec->nfields, b->scratch, b->scratch_cap) == 0
               ? 0
               : 1;
}

/* Adds the row of one record to the columns, or skips the record (logged). 0, or -1 when
 * out of memory. */
static int collect_one(const event_rows_spec *spec, const kafka_record *r, batch_rows *b) {
    if (r->topic == NULL || strcmp(r->topic, spec->topic) != 0) {
        return 0; /* another spec's */
    }
    json_scan_field fields[EVENT_ROWS_MAX_FIELDS];
    int rc = scan_record(spec, r, b, fields);
    if (rc < 0) {
        return -1;
    }
    const char *type = rc == 0 ? event_str(&fields[spec->type_field], NULL) : NULL;
    if (type != NULL && !spec->wants(type)) {
        return 0; /* a readable event of a type this consumer does not keep */
    }
    event_col cols[EVENT_ROWS_MAX_COLS] = {{0}};
    if (type == NULL || !spec->row_of(fields, type, cols)) {
        LOG_WARNF("%s: skipped an unreadable record at %s[%d]@%lld", spec->who, r->topic,
                  (int)r->partition, (long long)r->offset);
        return 0;
    }
    for (int c = 0; c < spec->ncols; c++) {
        pg_array_addn(&b->cols[c], cols[c].text, cols[c].len);
    }
    b->rows++;
    return 0;
}

static int store(const event_rows_spec *spec, pg_conn *conn, const batch_rows *b) {
    const char *values[EVENT_ROWS_MAX_COLS];
    for (int c = 0; c < spec->ncols; c++) {
        values[c] = b->cols[c].data;
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
    if (spec->ncols < 1 || spec->ncols > EVENT_ROWS_MAX_COLS ||
        spec->nfields > EVENT_ROWS_MAX_FIELDS || spec->type_field < 0 ||
        (size_t)spec->type_field >= spec->nfields) {
        LOG_ERRORF("%s: the row description is inconsistent", spec->who);
        return -1;
    }
    batch_rows b = {0};
    for (int c = 0; c < spec->ncols; c++) {
        pg_array_open(&b.cols[c]);
    }
    bool failed = false;
    for (size_t i = 0; !failed && i < count; i++) {
        failed = collect_one(spec, &records[i], &b) != 0;
    }
    for (int c = 0; c < spec->ncols; c++) {
        pg_array_close(&b.cols[c]);
        failed = failed || b.cols[c].failed;
    }
    int rc = 0;
    if (failed) {
        LOG_ERRORF("%s: out of memory reading a batch", spec->who);
        rc = -1;
    } else if (b.rows > 0) {
        rc = store(spec, conn, &b);
    }
    if (rc == 0) {
        LOG_DEBUGF("%s: batch of %zu record(s), %zu row(s) stored or already there", spec->who,
                   count, b.rows);
    }
    for (int c = 0; c < spec->ncols; c++) {
        free(b.cols[c].data);
    }
    free(b.scratch);
    return rc;
}
