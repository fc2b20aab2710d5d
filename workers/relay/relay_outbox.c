/*
 * relay_outbox.c: the publishing passes of the outbox relay (see relay_outbox.h).
 *
 * Owns: the SELECT of due rows, the produce of each row, the DELETE of delivered rows and
 * the in-flight batch. Rules: rows go out in id order through one idempotent producer, so
 * events of one key keep their order, across batches too (a batch is enqueued after the
 * one in flight, never before); the DELETE runs only after every delivery report of its
 * batch said "delivered"; the headers jsonb of a row ({"request_id": ..., "traceparent":
 * ..., "content-type": ...}, whatever it holds) becomes Kafka headers, string
 * values only; a settled batch is logged with its rows' ids (log_ids.h).
 */
#include "workers/relay/relay_outbox.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/strbuf.h"
#include "workers/relay/relay_ids.h"

#define RELAY_MAX_HEADERS 16

/* Due rows, leaving out the batch in flight: its id range [$2, $3] minus its holes ($4).
 * With nothing in flight the range is empty ($2 > $3). */
static const pg_stmt STMT_DUE = {
    .name = "relay_due_rows",
    .sql = "SELECT id, topic, key, payload::text, headers::text FROM outbox"
           " WHERE published_at IS NULL"
           " AND (id NOT BETWEEN $2::bigint AND $3::bigint OR id = ANY($4::bigint[]))"
           " ORDER BY id LIMIT $1::int",
    .nparams = 4,
};

static const pg_stmt STMT_DELETE = {
    .name = "relay_delete_published",
    .sql = "DELETE FROM outbox WHERE id = ANY($1::bigint[])",
    .nparams = 1,
};

static void result_error(const PGresult *res, const char *what, char *err, size_t errlen) {
    errbuf_setf_line(err, errlen, "%s: %s", what,
                     res != NULL ? PQresultErrorMessage(res) : "postgres connection failed");
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

/* Enqueues row r of res into group, noting its ids in log. 0, or -1 with err. */
static int enqueue_row(kafka_producer *producer, kafka_delivery_group *group, log_ids *log,
                       const PGresult *res, int r, char *err, size_t errlen) {
    const char *key = PQgetvalue(res, r, 2);
    const char *payload = PQgetvalue(res, r, 3);
    json_t *headers = json_loads(PQgetvalue(res, r, 4), 0, NULL);
    kafka_header hdrs[RELAY_MAX_HEADERS];
    size_t nh = json_is_object(headers) ? headers_from_json(headers, hdrs) : 0;
    kafka_message msg = {
        .topic = PQgetvalue(res, r, 1),
        .key = key,
        .key_len = (size_t)PQgetlength(res, r, 2),
        .value = payload,
        .value_len = (size_t)PQgetlength(res, r, 3),
        .headers = hdrs,
        .nheaders = nh,
    };
    int rc = kafka_producer_enqueue(producer, group, &msg, err, errlen);
    if (rc == 0) {
        log_ids_add(log, json_string_value(json_object_get(headers, "request_id")),
                    json_string_value(json_object_get(headers, "traceparent")));
    }
    json_decref(headers);
    return rc;
}

/* The due rows, leaving out the batch in flight. NULL with err on failure. */
static PGresult *read_due(pg_conn *conn, const relay_pipeline *pl, int limit, char *err,
                          size_t errlen) {
    char limit_text[16], lo[24], hi[24];
    snprintf(limit_text, sizeof limit_text, "%d", limit);
    bool busy = relay_pipeline_busy(pl);
    snprintf(lo, sizeof lo, "%" PRId64, busy ? pl->ids[0] : (int64_t)1);
    snprintf(hi, sizeof hi, "%" PRId64, busy ? pl->ids[pl->n - 1] : (int64_t)0);
    char *holes = busy ? relay_ids_holes_array(pl->ids, (size_t)pl->n) : strdup("{}");
    if (holes == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return NULL;
    }
    const char *vals[4] = {limit_text, lo, hi, holes};
    PGresult *res = pg_exec_stmt(conn, &STMT_DUE, vals);
    free(holes);
    if (!pg_result_ok(res)) {
        result_error(res, "reading the outbox", err, errlen);
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Enqueues every row of res as a new batch into *out. 0, or RELAY_ERR_KAFKA with err
 * (what was enqueued stays owed to *out's group, which the caller drops). */
static int enqueue_batch(kafka_producer *producer, const PGresult *res, int n, relay_pipeline *out,
                         char *err, size_t errlen) {
    out->group = kafka_delivery_group_new();
    out->ids = malloc((size_t)n * sizeof *out->ids);
    out->n = 0;
    if (out->group == NULL || out->ids == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return RELAY_ERR_KAFKA;
    }
    for (int r = 0; r < n; r++) {
        if (enqueue_row(producer, out->group, &out->log, res, r, err, errlen) != 0) {
            return RELAY_ERR_KAFKA;
        }
        out->ids[out->n++] = strtoll(PQgetvalue(res, r, 0), NULL, 10);
    }
    return 0;
}

/* Waits for the batch in flight and deletes its rows; nothing is in flight afterwards.
 * 0, or a relay_error with err (then nothing was deleted). */
static int settle(pg_conn *conn, relay_pipeline *pl, int timeout_ms, char *err, size_t errlen) {
    if (kafka_delivery_group_wait(pl->group, timeout_ms, err, errlen) != 0) {
        relay_pipeline_drop(pl);
        return RELAY_ERR_KAFKA;
    }
    char *ids = relay_ids_array(pl->ids, (size_t)pl->n);
    int n = pl->n;
    log_ids log = pl->log;
    pl->log = (log_ids)LOG_IDS_INIT;
    relay_pipeline_drop(pl);
    if (ids == NULL) {
        log_ids_free(&log);
        errbuf_setf(err, errlen, "out of memory");
        return RELAY_ERR_POSTGRES;
    }
    const char *vals[1] = {ids};
    PGresult *res = pg_exec_stmt(conn, &STMT_DELETE, vals);
    free(ids);
    int rc = 0;
    if (!pg_result_ok(res)) {
        /* Kafka has them; a later pass sends them again (consumers de-duplicate). */
        result_error(res, "deleting published rows", err, errlen);
        rc = RELAY_ERR_POSTGRES;
    }
    PQclear(res);
    if (rc == 0) {
        char head[32];
        snprintf(head, sizeof head, "\"events\":%d", n);
        log_ids_write(&log, LOG_INFO, "relay: published", head);
    }
    log_ids_free(&log);
    return rc;
}

bool relay_pipeline_busy(const relay_pipeline *pl) {
    return pl->group != NULL;
}

void relay_pipeline_drop(relay_pipeline *pl) {
    if (pl->group != NULL) {
        kafka_delivery_group_release(pl->group); /* reports still owed are counted, then freed */
    }
    free(pl->ids);
    log_ids_free(&pl->log);
    *pl = (relay_pipeline){0};
}

int relay_pipeline_finish(pg_conn *conn, relay_pipeline *pl, int delivery_timeout_ms, char *err,
                          size_t errlen) {
    return relay_pipeline_busy(pl) ? settle(conn, pl, delivery_timeout_ms, err, errlen) : 0;
}

int relay_publish_pass(pg_conn *conn, kafka_producer *producer, relay_pipeline *pl, int limit,
                       int delivery_timeout_ms, char *err, size_t errlen) {
    /* Too many holes to leave out one by one: no read-ahead this time. */
    if (relay_pipeline_busy(pl) && relay_ids_holes(pl->ids, (size_t)pl->n) > RELAY_HOLES_MAX) {
        int rc = settle(conn, pl, delivery_timeout_ms, err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    PGresult *res = read_due(conn, pl, limit, err, errlen);
    if (res == NULL) {
        relay_pipeline_drop(pl);
        return RELAY_ERR_POSTGRES;
    }
    int n = PQntuples(res);
    relay_pipeline next = {0};
    int rc = n > 0 ? enqueue_batch(producer, res, n, &next, err, errlen) : 0;
    PQclear(res);
    if (rc != 0) {
        /* Nothing of what is in flight is deleted; whatever the reports say, every row is
         * read and sent again after the back-off, in id order. */
        relay_pipeline_drop(&next);
        relay_pipeline_drop(pl);
        return rc;
    }
    if (relay_pipeline_busy(pl)) {
        rc = settle(conn, pl, delivery_timeout_ms, err, errlen);
        if (rc != 0) {
            relay_pipeline_drop(&next);
            return rc;
        }
    }
    *pl = next;
    return n;
}
