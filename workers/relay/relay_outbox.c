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
 * The task-state records of a batch (relay_state.h: one per task-events row, and the
 * task-state rows themselves) go out first, in a delivery group of their own that the pass
 * waits for before it enqueues the batch, so a task-events record is produced only after
 * its task-state record was delivered (docs/decisions.md "Issue 12"); the batch in flight
 * keeps flying meanwhile. A row's headers are parsed once and serve both of its records.
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
#include "shared/time_util.h"
#include "shared/bus.h"
#include "shared/json_scan.h"
#include "workers/relay/relay_ids.h"
#include "workers/relay/relay_state.h"

#define RELAY_MAX_HEADERS 16

/* Due rows, leaving out the batch in flight: its id range [$2, $3] minus its holes ($4).
 * With nothing in flight the range is empty ($2 > $3). */
/* payload::text is NULL on a tombstone row (topic task-state, migration 0016). */
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

/* The parsed headers of every row of res (NULL where not an object), or NULL when out of
 * memory; headers_free frees them. */
static json_t **headers_parse(const PGresult *res, int n) {
    json_t **hs = calloc((size_t)n + 1, sizeof *hs);
    for (int r = 0; hs != NULL && r < n; r++) {
        hs[r] = json_loads(PQgetvalue(res, r, 4), 0, NULL);
        if (!json_is_object(hs[r])) {
            json_decref(hs[r]);
            hs[r] = NULL;
        }
    }
    return hs;
}

static void headers_free(json_t **hs, int n) {
    for (int r = 0; hs != NULL && r < n; r++) {
        json_decref(hs[r]);
    }
    free(hs);
}

/* Enqueues row r of res (headers: its parsed headers) into group, noting its ids in log
 * and counting it in *events. A task-state row is not: its record went out with the
 * batch's state records. 0, or -1 with err. */
static int enqueue_row(kafka_producer *producer, kafka_delivery_group *group, log_ids *log,
                       int *events, const PGresult *res, int r, json_t *headers, char *err,
                       size_t errlen) {
    const char *topic = PQgetvalue(res, r, 1);
    if (strcmp(topic, TASK_STATE_TOPIC) != 0) {
        kafka_header hdrs[RELAY_MAX_HEADERS];
        size_t nh = headers != NULL ? headers_from_json(headers, hdrs) : 0;
        kafka_message msg = {
            .topic = topic,
            .key = PQgetvalue(res, r, 2),
            .key_len = (size_t)PQgetlength(res, r, 2),
            .value = PQgetvalue(res, r, 3),
            .value_len = (size_t)PQgetlength(res, r, 3),
            .headers = hdrs,
            .nheaders = nh,
        };
        if (kafka_producer_enqueue(producer, group, &msg, err, errlen) != 0) {
            return -1;
        }
        (*events)++;
    }
    log_ids_add(log, json_string_value(json_object_get(headers, "request_id")),
                json_string_value(json_object_get(headers, "traceparent")));
    return 0;
}

/* Enqueues the task-state record of row r of res, if it has one, into group (*enqueued
 * counts it). 0, or -1 with err (enqueue failed or out of memory). */
static int enqueue_state(kafka_producer *producer, kafka_delivery_group *group, const PGresult *res,
                         int r, json_t *headers, char **scratch, size_t *scratch_cap, int *enqueued,
                         char *err, size_t errlen) {
    bool null_payload = PQgetisnull(res, r, 3);
    size_t len = (size_t)PQgetlength(res, r, 3);
    size_t need = json_scan_buffer_size(len);
    if (need > *scratch_cap) {
        char *grown = realloc(*scratch, need);
        if (grown == NULL) {
            errbuf_setf(err, errlen, "out of memory");
            return -1;
        }
        *scratch = grown;
        *scratch_cap = need;
    }
    relay_state_record st;
    relay_state_kind kind = relay_state_derive(
        PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), (size_t)PQgetlength(res, r, 2),
        null_payload ? NULL : PQgetvalue(res, r, 3), len, *scratch, *scratch_cap, &st);
    if (kind == RELAY_STATE_UNREADABLE) {
        /* The event still goes to task-events; only its state record is missing. */
        LOG_ERRORF("relay: outbox row %s (%s) has no readable task id or type; no %s record",
                   PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), TASK_STATE_TOPIC);
        return 0;
    }
    if (kind == RELAY_STATE_NONE) {
        return 0;
    }
    kafka_header hdrs[RELAY_MAX_HEADERS], kept[RELAY_MAX_HEADERS];
    size_t nh = headers != NULL ? headers_from_json(headers, hdrs) : 0;
    bool tomb = kind == RELAY_STATE_TOMBSTONE;
    kafka_message msg = {
        .topic = TASK_STATE_TOPIC,
        .key = st.key,
        .key_len = st.key_len,
        .value = tomb ? NULL : PQgetvalue(res, r, 3),
        .value_len = tomb ? 0 : len,
        .headers = tomb ? kept : hdrs,
        .nheaders = tomb ? relay_state_tombstone_headers(hdrs, nh, kept) : nh,
    };
    if (kafka_producer_enqueue(producer, group, &msg, err, errlen) != 0) {
        return -1;
    }
    (*enqueued)++;
    return 0;
}

/* Sends the task-state records of the n rows of res and waits until all are delivered
 * (the batch in flight keeps flying meanwhile); *sent counts them. 0, or RELAY_ERR_KAFKA
 * with err. */
static int send_state(kafka_producer *producer, const PGresult *res, int n, json_t **headers,
                      int timeout_ms, int *sent, char *err, size_t errlen) {
    kafka_delivery_group *group = kafka_delivery_group_new();
    if (group == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return RELAY_ERR_KAFKA;
    }
    char *scratch = NULL;
    size_t scratch_cap = 0;
    int enqueued = 0;
    int rc = 0;
    for (int r = 0; r < n && rc == 0; r++) {
        rc = enqueue_state(producer, group, res, r, headers[r], &scratch, &scratch_cap, &enqueued,
                           err, errlen);
    }
    free(scratch);
    *sent = enqueued;
    if (rc == 0 && enqueued > 0) {
        rc = kafka_delivery_group_wait(group, timeout_ms, err, errlen);
    }
    kafka_delivery_group_release(group);
    return rc == 0 ? 0 : RELAY_ERR_KAFKA;
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
static int enqueue_batch(kafka_producer *producer, const PGresult *res, int n, json_t **headers,
                         relay_pipeline *out, char *err, size_t errlen) {
    out->group = kafka_delivery_group_new();
    out->ids = malloc((size_t)n * sizeof *out->ids);
    out->n = 0;
    if (out->group == NULL || out->ids == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return RELAY_ERR_KAFKA;
    }
    for (int r = 0; r < n; r++) {
        if (enqueue_row(producer, out->group, &out->log, &out->events, res, r, headers[r], err,
                        errlen) != 0) {
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
    int events = pl->events, state = pl->state;
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
        char head[48];
        snprintf(head, sizeof head, "\"events\":%d,\"state\":%d", events, state);
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

/* What is left of a pass's delivery budget that began at start_ns (at least 1 ms). */
static int remaining_ms(int64_t start_ns, int budget_ms) {
    int64_t left = budget_ms - (time_monotonic_ns() - start_ns) / 1000000;
    return left > 1 ? (int)left : 1;
}

int relay_publish_pass(pg_conn *conn, kafka_producer *producer, relay_pipeline *pl, int limit,
                       int delivery_timeout_ms, char *err, size_t errlen) {
    int64_t start = time_monotonic_ns();
    /* Too many holes to leave out one by one: no read-ahead this time. */
    if (relay_pipeline_busy(pl) && relay_ids_holes(pl->ids, (size_t)pl->n) > RELAY_HOLES_MAX) {
        int rc = settle(conn, pl, remaining_ms(start, delivery_timeout_ms), err, errlen);
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
    int rc = 0;
    if (n > 0) {
        json_t **headers = headers_parse(res, n);
        if (headers == NULL) {
            errbuf_setf(err, errlen, "out of memory");
            rc = RELAY_ERR_KAFKA;
        } else {
            rc = send_state(producer, res, n, headers, remaining_ms(start, delivery_timeout_ms),
                            &next.state, err, errlen);
        }
        if (rc == 0) {
            rc = enqueue_batch(producer, res, n, headers, &next, err, errlen);
        }
        headers_free(headers, n);
    }
    PQclear(res);
    if (rc != 0) {
        /* Nothing of what is in flight is deleted; whatever the reports say, every row is
         * read and sent again after the back-off, in id order. */
        relay_pipeline_drop(&next);
        relay_pipeline_drop(pl);
        return rc;
    }
    if (relay_pipeline_busy(pl)) {
        rc = settle(conn, pl, remaining_ms(start, delivery_timeout_ms), err, errlen);
        if (rc != 0) {
            relay_pipeline_drop(&next);
            return rc;
        }
    }
    *pl = next;
    return n;
}
