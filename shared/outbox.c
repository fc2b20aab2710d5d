/*
 * outbox.c: writing events to the transactional outbox.
 *
 * Owns: the one statement that inserts an outbox row and notifies the relay.
 * Rules: runs on the caller's connection inside the caller's transaction (Postgres holds
 * the NOTIFY until commit and folds repeats in one transaction into one). The event id is
 * the CloudEvent's "id"; the Kafka headers stored with the row are request_id (when
 * given), ce_type and ce_id, as decisions.md names them.
 */
#include "shared/outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One round trip: the CTE inserts, the outer SELECT notifies only if a row went in. */
static const pg_stmt OUTBOX_INSERT = {
    .name = "outbox_insert",
    .sql = "WITH ins AS ("
           " INSERT INTO outbox(event_id, topic, key, payload, headers)"
           " VALUES ($1::uuid, $2, $3, $4::jsonb, $5::jsonb) RETURNING id)"
           " SELECT pg_notify('outbox', '') FROM ins",
    .nparams = 5,
};

/* {"request_id": ..., "ce_type": ..., "ce_id": ...} as compact JSON; caller frees. */
static char *headers_json(const char *request_id, const char *ce_type, const char *ce_id) {
    json_t *h = json_object();
    if (h == NULL) {
        return NULL;
    }
    int rc = 0;
    if (request_id != NULL && request_id[0] != '\0') {
        rc |= json_object_set_new(h, "request_id", json_string(request_id));
    }
    if (ce_type != NULL) {
        rc |= json_object_set_new(h, "ce_type", json_string(ce_type));
    }
    rc |= json_object_set_new(h, "ce_id", json_string(ce_id));
    char *text = rc == 0 ? json_dumps(h, JSON_COMPACT) : NULL;
    json_decref(h);
    return text;
}

int outbox_add(pg_conn *conn, const char *topic, const char *key, const json_t *event,
               const char *request_id, char *err, size_t errlen) {
    if (conn == NULL || topic == NULL || key == NULL || !json_is_object(event)) {
        snprintf(err, errlen, "outbox_add: bad arguments");
        return -1;
    }
    const char *event_id = json_string_value(json_object_get(event, "id"));
    const char *ce_type = json_string_value(json_object_get(event, "type"));
    if (event_id == NULL) {
        snprintf(err, errlen, "outbox_add: event has no id");
        return -1;
    }
    char *payload = json_dumps(event, JSON_COMPACT);
    char *headers = headers_json(request_id, ce_type, event_id);
    if (payload == NULL || headers == NULL) {
        snprintf(err, errlen, "outbox_add: cannot serialise the event");
        free(payload);
        free(headers);
        return -1;
    }
    const char *values[5] = {event_id, topic, key, payload, headers};
    PGresult *res = pg_exec_stmt(conn, &OUTBOX_INSERT, values);
    int rc = 0;
    if (res == NULL) {
        snprintf(err, errlen, "outbox_add: postgres connection failed");
        rc = -1;
    } else if (!pg_result_ok(res) || PQntuples(res) != 1) {
        snprintf(err, errlen, "outbox_add: %s", PQresultErrorMessage(res));
        size_t n = strlen(err);
        while (n > 0 && err[n - 1] == '\n') {
            err[--n] = '\0';
        }
        rc = -1;
    }
    PQclear(res);
    free(payload);
    free(headers);
    return rc;
}
