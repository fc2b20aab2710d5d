/*
 * webhooks_ingest.c: task events to webhook deliveries (see webhooks_ingest.h).
 */
#include "workers/webhooks_ingest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "shared/task_model.h"
#include "shared/uuid7.h"
#include "workers/webhooks_sender.h"

/* Webhooks that want this event: enabled, the user's, type matching, and registered no
 * later than the event happened (a new webhook is not sent the topic's history). */
static const pg_stmt MATCHING_WEBHOOKS = {
    "webhooks_matching",
    "SELECT id FROM webhooks WHERE user_id = $1::uuid AND enabled"
    " AND ($2 = ANY (event_types) OR 'taskbus.task.*' = ANY (event_types))"
    " AND created_at <= $3::timestamptz ORDER BY id",
    3};

static const pg_stmt DELIVERY_INSERT = {
    "webhooks_delivery_insert",
    "INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, payload)"
    " VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5::jsonb)"
    " ON CONFLICT (webhook_id, event_id) DO NOTHING",
    5};

typedef struct task_event {
    char user_id[UUID_STR_LEN];
    const char *id;
    const char *type;
    const char *time;
    char *text; /* the CloudEvent, compact */
} task_event;

/* Reads a task CloudEvent from a record. 0, or -1 (not one: skip it). */
static int parse_event(const kafka_record *r, json_t **doc, task_event *ev) {
    if (r->key == NULL || r->key_len != UUID_STR_LEN - 1 || r->value == NULL) {
        return -1;
    }
    memcpy(ev->user_id, r->key, UUID_STR_LEN - 1);
    ev->user_id[UUID_STR_LEN - 1] = '\0';
    json_error_t jerr;
    *doc = json_loadb(r->value, r->value_len, JSON_REJECT_DUPLICATES, &jerr);
    if (*doc == NULL || !uuid_is_valid(ev->user_id)) {
        return -1;
    }
    ev->id = json_string_value(json_object_get(*doc, "id"));
    ev->type = json_string_value(json_object_get(*doc, "type"));
    ev->time = json_string_value(json_object_get(*doc, "time"));
    /* time goes to Postgres as timestamptz: one it cannot read would fail the batch
     * forever and stop the partition, so such a record is skipped like any malformed one. */
    long long time_ms = 0;
    if (ev->id == NULL || !uuid_is_valid(ev->id) || ev->type == NULL || ev->time == NULL ||
        strncmp(ev->type, "taskbus.task.", 13) != 0 || task_time_parse(ev->time, &time_ms) != 0) {
        return -1;
    }
    ev->text = json_dumps(*doc, JSON_COMPACT);
    return ev->text != NULL ? 0 : -1;
}

static int insert_deliveries(pg_conn *conn, const task_event *ev, const PGresult *hooks) {
    for (int i = 0; i < PQntuples(hooks); i++) {
        char id[UUID_STR_LEN];
        uuid7_generate(id);
        const char *values[5] = {id, PQgetvalue(hooks, i, 0), ev->id, ev->type, ev->text};
        PGresult *res = pg_exec_stmt(conn, &DELIVERY_INSERT, values);
        if (res == NULL || !pg_result_ok(res)) {
            LOG_ERRORF("webhooks: insert delivery: %s",
                       res != NULL ? PQresultErrorMessage(res) : "connection lost");
            PQclear(res);
            return -1;
        }
        PQclear(res);
    }
    return 0;
}

/* The deliveries of one event. 0, or -1 (roll the batch back). */
static int ingest_event(pg_conn *conn, const task_event *ev) {
    const char *values[3] = {ev->user_id, ev->type, ev->time};
    PGresult *hooks = pg_exec_stmt(conn, &MATCHING_WEBHOOKS, values);
    if (hooks == NULL || !pg_result_ok(hooks)) {
        LOG_ERRORF("webhooks: match webhooks: %s",
                   hooks != NULL ? PQresultErrorMessage(hooks) : "connection lost");
        PQclear(hooks);
        return -1;
    }
    int rc = insert_deliveries(conn, ev, hooks);
    PQclear(hooks);
    return rc;
}

int webhooks_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count) {
    (void)ctx;
    for (size_t i = 0; i < count; i++) {
        json_t *doc = NULL;
        task_event ev = {0};
        int rc = 0;
        if (parse_event(&records[i], &doc, &ev) != 0) {
            log_json(LOG_WARN, "webhooks: skipped a record that is not a task event",
                     json_pack("{s:s,s:i,s:I}", "topic", records[i].topic, "partition",
                               (int)records[i].partition, "offset", (json_int_t)records[i].offset));
        } else {
            rc = ingest_event(conn, &ev);
        }
        free(ev.text);
        json_decref(doc);
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

int webhooks_after_commit(void *ctx, const kafka_record *records, size_t count) {
    (void)records;
    (void)count;
    if (ctx != NULL) {
        webhooks_sender_wake(ctx);
    }
    return 0;
}
