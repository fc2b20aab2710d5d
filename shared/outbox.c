/*
 * outbox.c: writing events to the transactional outbox.
 *
 * Owns: the one statement that inserts outbox rows and notifies the relay. Rules: runs on
 * the caller's connection inside the caller's transaction (Postgres holds the NOTIFY until
 * commit and folds repeats in one transaction into one). The rows travel as parallel
 * array parameters (shared/pg_array.h) and go in in array order, so the outbox ids, which
 * the relay publishes by, follow the caller's order. The Kafka headers stored with a row
 * are request_id and traceparent (when given) and content-type
 * application/cloudevents+json on a CloudEvent (a row with a ce_type), as decisions.md
 * names them; SQL builds them, so no value is escaped twice. No ce_* header: a structured
 * message with ce_ headers reads as binary mode to the Python SDK's from_kafka
 * (decisions.md "Trace context and CloudEvents binding").
 */
#include "shared/outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/cloudevent.h"
#include "shared/errbuf.h"
#include "shared/pg_array.h"
#include "shared/strbuf.h"

/* One round trip: the CTE inserts, the outer SELECT notifies only if a row went in. */
static const pg_stmt OUTBOX_INSERT = {
    .name = "outbox_insert_many",
    .sql = "WITH ins AS ("
           " INSERT INTO outbox (event_id, topic, key, payload, headers)"
           " SELECT x.event_id, x.topic, x.key, x.payload::jsonb,"
           " jsonb_strip_nulls(jsonb_build_object('request_id', NULLIF(x.request_id, ''),"
           " 'traceparent', NULLIF(x.traceparent, ''), 'content-type',"
           " CASE WHEN x.ce_type IS NOT NULL THEN 'application/cloudevents+json' END))"
           " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
           " $7::text[])"
           " WITH ORDINALITY AS x(event_id, topic, key, payload, ce_type, request_id, traceparent,"
           " ord)"
           " ORDER BY x.ord RETURNING id)"
           " SELECT pg_notify('outbox', '') WHERE EXISTS (SELECT 1 FROM ins)",
    .nparams = 7,
};

#define OUTBOX_COLUMNS 7

static const char *column(const outbox_row *r, int c) {
    switch (c) {
    case 0:
        return r->event_id;
    case 1:
        return r->topic;
    case 2:
        return r->key;
    case 3:
        return r->payload;
    case 4:
        return r->ce_type;
    case 5:
        return r->request_id;
    default:
        return r->traceparent;
    }
}

static void set_err(char *err, size_t errlen, const PGresult *res) {
    errbuf_setf_line(err, errlen, "outbox insert: %s",
                     res != NULL ? PQresultErrorMessage(res) : "postgres connection failed");
}

int outbox_add_many(pg_conn *conn, const outbox_row *rows, size_t n, char *err, size_t errlen) {
    if (n == 0) {
        return 0;
    }
    strbuf cols[OUTBOX_COLUMNS] = {0};
    bool failed = false;
    for (int c = 0; c < OUTBOX_COLUMNS; c++) {
        pg_array_open(&cols[c]);
        for (size_t i = 0; i < n; i++) {
            pg_array_add(&cols[c], column(&rows[i], c));
        }
        pg_array_close(&cols[c]);
        failed = failed || cols[c].failed;
    }
    int rc = -1;
    if (failed) {
        errbuf_setf(err, errlen, "outbox insert: out of memory");
    } else {
        const char *vals[OUTBOX_COLUMNS];
        for (int c = 0; c < OUTBOX_COLUMNS; c++) {
            vals[c] = cols[c].data;
        }
        PGresult *res = pg_exec_stmt(conn, &OUTBOX_INSERT, vals);
        rc = pg_result_ok(res) ? 0 : -1;
        if (rc != 0) {
            set_err(err, errlen, res);
        }
        PQclear(res);
    }
    for (int c = 0; c < OUTBOX_COLUMNS; c++) {
        free(cols[c].data);
    }
    return rc;
}

int outbox_add(pg_conn *conn, const char *topic, const char *key, const json_t *event,
               const char *request_id, const char *traceparent, char *err, size_t errlen) {
    const char *event_id = json_string_value(json_object_get(event, "id"));
    if (conn == NULL || topic == NULL || key == NULL || event_id == NULL) {
        errbuf_setf(err, errlen, "outbox_add: bad arguments (an event needs an id)");
        return -1;
    }
    char *payload = json_dumps(event, JSON_COMPACT);
    if (payload == NULL) {
        errbuf_setf(err, errlen, "outbox_add: cannot serialise the event");
        return -1;
    }
    outbox_row row = {.event_id = event_id,
                      .topic = topic,
                      .key = key,
                      .payload = payload,
                      .ce_type = json_string_value(json_object_get(event, "type")),
                      .request_id = request_id,
                      .traceparent = traceparent};
    int rc = outbox_add_many(conn, &row, 1, err, errlen);
    free(payload);
    return rc;
}

int outbox_add_user_event(pg_conn *conn, const char *type, const char *user_id, json_t *data,
                          const char *request_id, const char *traceparent, char *err,
                          size_t errlen) {
    char subject[64];
    snprintf(subject, sizeof subject, "users/%s", user_id);
    json_t *event = data != NULL ? cloudevent_new(type, subject, data, traceparent, NULL) : NULL;
    if (event == NULL) {
        errbuf_setf(err, errlen, "cannot build a %s event", type);
        return -1;
    }
    int rc = outbox_add(conn, USER_EVENTS_TOPIC, user_id, event, request_id, traceparent, err,
                        errlen);
    json_decref(event);
    return rc;
}
