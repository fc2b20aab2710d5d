/*
 * relay_outbox.c: one publishing pass of the outbox relay.
 *
 * Owns: the SELECT of due rows, the produce of each row and the UPDATE that marks them.
 * Rules: rows go out in id order through one idempotent producer, so events of one key
 * keep their order; the UPDATE runs only after every delivery report said "delivered";
 * the headers jsonb of a row ({"request_id": ..., "ce_type": ..., "ce_id": ...}) becomes
 * Kafka headers, string values only.
 */
#include "workers/relay_outbox.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"

#define RELAY_MAX_HEADERS 16

static const pg_stmt STMT_DUE = {
    .name = "relay_due_rows",
    .sql = "SELECT id, topic, key, payload::text, headers::text FROM outbox"
           " WHERE published_at IS NULL ORDER BY id LIMIT $1::int",
    .nparams = 1,
};

static const pg_stmt STMT_MARK = {
    .name = "relay_mark_published",
    .sql = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
    .nparams = 1,
};

static void result_error(const PGresult *res, const char *what, char *err, size_t errlen) {
    snprintf(err, errlen, "%s: %s", what,
             res != NULL ? PQresultErrorMessage(res) : "postgres connection failed");
    size_t n = strlen(err);
    while (n > 0 && err[n - 1] == '\n') {
        err[--n] = '\0';
    }
}

/* Kafka headers from the row's headers object; values stay owned by obj. */
static size_t headers_from_json(const json_t *obj, kafka_header *out) {
    size_t n = 0;
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)obj, name, value) {
        if (n < RELAY_MAX_HEADERS && json_is_string(value)) {
            out[n].name = name;
            out[n].value = json_string_value(value);
            n++;
        }
    }
    return n;
}

/* Enqueues row r of res into group. 0, or -1 with err. */
static int enqueue_row(kafka_producer *producer, kafka_delivery_group *group, const PGresult *res,
                       int r, char *err, size_t errlen) {
    const char *key = PQgetvalue(res, r, 2);
    const char *payload = PQgetvalue(res, r, 3);
    json_t *headers = json_loads(PQgetvalue(res, r, 4), 0, NULL);
    kafka_header hdrs[RELAY_MAX_HEADERS];
    size_t nh = json_is_object(headers) ? headers_from_json(headers, hdrs) : 0;
    kafka_message msg = {
        .topic = PQgetvalue(res, r, 1),
        .key = key,
        .key_len = strlen(key),
        .value = payload,
        .value_len = strlen(payload),
        .headers = hdrs,
        .nheaders = nh,
    };
    int rc = kafka_producer_enqueue(producer, group, &msg, err, errlen);
    json_decref(headers);
    return rc;
}

/* "{1,2,3}" of the ids in column 0; caller frees. */
static char *id_array(const PGresult *res, int n) {
    size_t cap = (size_t)n * 21 + 3;
    char *out = malloc(cap);
    if (out == NULL) {
        return NULL;
    }
    size_t len = 0;
    out[len++] = '{';
    for (int r = 0; r < n; r++) {
        len +=
            (size_t)snprintf(out + len, cap - len, "%s%s", r > 0 ? "," : "", PQgetvalue(res, r, 0));
    }
    snprintf(out + len, cap - len, "}");
    return out;
}

/* Produces every row and waits for the reports. 0, or -1 with err. */
static int produce_rows(kafka_producer *producer, const PGresult *res, int n, int timeout_ms,
                        char *err, size_t errlen) {
    kafka_delivery_group *group = kafka_delivery_group_new();
    if (group == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (int r = 0; r < n && rc == 0; r++) {
        rc = enqueue_row(producer, group, res, r, err, errlen);
    }
    if (rc == 0) {
        rc = kafka_delivery_group_wait(group, timeout_ms, err, errlen);
    }
    kafka_delivery_group_release(group);
    return rc;
}

int relay_publish_batch(pg_conn *conn, kafka_producer *producer, int limit, int delivery_timeout_ms,
                        char *err, size_t errlen) {
    char limit_text[16];
    snprintf(limit_text, sizeof limit_text, "%d", limit);
    const char *vals[1] = {limit_text};
    PGresult *res = pg_exec_stmt(conn, &STMT_DUE, vals);
    if (!pg_result_ok(res)) {
        result_error(res, "reading the outbox", err, errlen);
        PQclear(res);
        return RELAY_ERR_POSTGRES;
    }
    int n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        return 0;
    }
    if (produce_rows(producer, res, n, delivery_timeout_ms, err, errlen) != 0) {
        PQclear(res);
        return RELAY_ERR_KAFKA;
    }
    char *ids = id_array(res, n);
    PQclear(res);
    if (ids == NULL) {
        snprintf(err, errlen, "out of memory");
        return RELAY_ERR_POSTGRES;
    }
    const char *mark_vals[1] = {ids};
    PGresult *upd = pg_exec_stmt(conn, &STMT_MARK, mark_vals);
    free(ids);
    if (!pg_result_ok(upd)) {
        /* Kafka has them; the next pass sends them again (consumers de-duplicate). */
        result_error(upd, "marking rows published", err, errlen);
        PQclear(upd);
        return RELAY_ERR_POSTGRES;
    }
    PQclear(upd);
    LOG_DEBUGF("relay: published %d event(s)", n);
    return n;
}
