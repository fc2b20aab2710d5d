/*
 * webhooks_ingest.c: task events to webhook deliveries (see webhooks_ingest.h).
 *
 * Owns: the two statements of a batch. Rules: the batch's events travel as parallel
 * arrays (user, project, type, time, in record order) and ONE query joins them with the
 * webhooks that want them, so the matching rule is written once, in SQL, exactly as it was
 * for one event: a v1 event (task-events) goes to its user's webhooks, a v2 event
 * (task-events.v2) to its project's (docs/decisions.md, "Webhooks scoped to a project
 * (slice 8)"), so no webhook is sent both twins of one fact; the deliveries of the whole batch go
 * in with ONE insert, their ids in (event, webhook id) order, the rows in webhook id order. An
 * event is read without a jansson tree (shared/json_scan.h: one validating pass picks out id, type
 * and time); the delivery's payload is the record as it came, which that pass checked is JSON
 * Postgres reads.
 */
#include "workers/webhooks/webhooks_ingest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/json_scan.h"
#include "shared/log.h"
#include "shared/pg_array.h"
#include "shared/strbuf.h"
#include "shared/task_event_types.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"
#include "workers/webhooks/webhooks_sender.h"

/* For each event (by its 1-based place in the arrays), the webhooks that want it: enabled,
 * of its scope (a v1 event, project NULL: its user's webhooks without a project; a v2
 * event: its project's), type matching (exactly, or the scope's wildcard), and registered
 * no later than the event happened (a new webhook is not sent the topic's history); events
 * in order, each one's webhooks by id. One join per scope, so each is an equality join
 * on an indexed column (webhooks_user_idx, webhooks_project_idx). A project's webhook
 * needs no membership check here: it exists only while its user owns the project
 * (0025_project_webhooks.sql). */
static const pg_stmt MATCHING_WEBHOOKS = {
    "webhooks_matching_batch",
    "WITH e AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[])"
    " WITH ORDINALITY AS x(user_id, project_id, type, at, ord))"
    " SELECT e.ord, w.id FROM e JOIN webhooks w ON w.user_id = e.user_id"
    " AND w.project_id IS NULL AND w.enabled AND w.created_at <= e.at"
    " AND (e.type = ANY (w.event_types) OR '" TASK_EVENT_ANY "' = ANY (w.event_types))"
    " WHERE e.project_id IS NULL"
    " UNION ALL"
    " SELECT e.ord, w.id FROM e JOIN webhooks w ON w.project_id = e.project_id"
    " AND w.enabled AND w.created_at <= e.at"
    " AND (e.type = ANY (w.event_types) OR '" TASK_EVENT_ANY_V2 "' = ANY (w.event_types))"
    " ORDER BY 1, 2",
    4};

/* In webhook id order (each row's foreign key locks its webhook), the order in which a
 * project member trigger locks the webhooks it deletes (0025_project_webhooks.sql): the
 * two never deadlock. The delivery ids keep the events' order (the sender's). */
static const pg_stmt DELIVERY_INSERT = {
    "webhooks_delivery_insert_batch",
    "INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, payload)"
    " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::jsonb[])"
    " AS x(id, webhook_id, event_id, event_type, payload) ORDER BY webhook_id, id"
    " ON CONFLICT (webhook_id, event_id) DO NOTHING",
    5};

enum { F_ID, F_TYPE, F_TIME, F_DATA, F_USER, F_PROJECT, F_ACTOR, NFIELDS };

static const json_scan_field FIELDS[NFIELDS] = {
    [F_ID] = {.key = "id", .parent = -1},
    [F_TYPE] = {.key = "type", .parent = -1},
    [F_TIME] = {.key = "time", .parent = -1},
    [F_DATA] = {.key = "data", .parent = -1},
    [F_USER] = {.key = "user_id", .parent = F_DATA},
    [F_PROJECT] = {.key = "project_id", .parent = F_DATA},
    [F_ACTOR] = {.key = "actor_id", .parent = F_DATA},
};

#define V2_SUFFIX_LEN (sizeof TASK_EVENT_V2_SUFFIX - 1)

typedef struct task_event {
    char user_id[UUID_STR_LEN];    /* v1: data.user_id; v2: data.actor_id */
    char project_id[UUID_STR_LEN]; /* v2: data.project_id; v1: "" (the events carry none) */
    char *strings;                 /* the scan's buffer, owning id, type and time */
    const char *id;
    const char *type;
    const char *time;
    const kafka_record *record; /* its value is the delivery's payload */
} task_event;

/* True for a v2 task event type (NULL: no). */
static bool is_v2_type(const char *type) {
    size_t n = type != NULL ? strlen(type) : 0;
    return n > V2_SUFFIX_LEN && strcmp(type + n - V2_SUFFIX_LEN, TASK_EVENT_V2_SUFFIX) == 0;
}

/* The member's string when it is a UUID, else NULL. */
static const char *uuid_member(const json_scan_field *f) {
    return f->type == JSON_SCAN_STRING && uuid_is_valid(f->str) ? f->str : NULL;
}

/* Reads a task CloudEvent from a record. 0, -1 (not one: skip it) or -2 (out of memory);
 * ev->strings may be set either way. */
static int parse_event(const kafka_record *r, task_event *ev) {
    if (r->value == NULL) {
        return -1;
    }
    size_t cap = json_scan_buffer_size(r->value_len);
    ev->strings = malloc(cap);
    if (ev->strings == NULL) {
        return -2;
    }
    json_scan_field f[NFIELDS];
    memcpy(f, FIELDS, sizeof f);
    if (json_scan(r->value, r->value_len, f, NFIELDS, ev->strings, cap) != 0) {
        return -1;
    }
    ev->id = f[F_ID].str;
    ev->type = f[F_TYPE].str;
    ev->time = f[F_TIME].str;
    ev->record = r;
    /* The user who acted (v1 data.user_id, v2 data.actor_id) and, of a v2 event (one on
     * task-events.v2), the project: the Kafka key is the task's project's key, which for a team
     * task is the project id, not a user (docs/decisions.md, "Tasks in team projects (slice 3b)").
     */
    bool v2 = r->topic != NULL && strcmp(r->topic, TASK_EVENTS_V2_TOPIC) == 0;
    const char *user = uuid_member(&f[v2 ? F_ACTOR : F_USER]);
    const char *project = v2 ? uuid_member(&f[F_PROJECT]) : "";
    if (user == NULL || project == NULL || is_v2_type(ev->type) != v2) {
        return -1; /* a type of the other topic's version is no event of this one */
    }
    snprintf(ev->user_id, sizeof ev->user_id, "%s", user);
    snprintf(ev->project_id, sizeof ev->project_id, "%s", project);
    /* time goes to Postgres as timestamptz: one it cannot read would fail the batch
     * forever and stop the partition, so such a record is skipped like any malformed one. */
    if (ev->id == NULL || !uuid_is_valid(ev->id) || ev->type == NULL || ev->time == NULL ||
        strncmp(ev->type, "taskbus.task.", 13) != 0 || time_parse_rfc3339_ms(ev->time, NULL) != 0) {
        return -1;
    }
    return 0;
}

static void events_free(task_event *evs, size_t n) {
    for (size_t i = 0; evs != NULL && i < n; i++) {
        free(evs[i].strings);
    }
    free(evs);
}

/* The task events of the records, in order; the others are logged and skipped. NULL only
 * when out of memory. */
static task_event *parse_all(const kafka_record *records, size_t count, size_t *nout) {
    task_event *evs = calloc(count > 0 ? count : 1, sizeof *evs);
    size_t n = 0;
    for (size_t i = 0; evs != NULL && i < count; i++) {
        int rc = parse_event(&records[i], &evs[n]);
        if (rc == 0) {
            n++;
            continue;
        }
        free(evs[n].strings);
        memset(&evs[n], 0, sizeof evs[n]);
        if (rc == -2) {
            events_free(evs, n);
            return NULL;
        }
        kafka_record_log_context(&records[i]); /* the line carries the record's ids */
        log_json(LOG_WARN, "webhooks: skipped a record that is not a task event",
                 json_pack("{s:s,s:i,s:I}", "topic", records[i].topic, "partition",
                           (int)records[i].partition, "offset", (json_int_t)records[i].offset));
        kafka_record_log_context(NULL);
    }
    *nout = n;
    return evs;
}

static void log_pg_error(const char *what, const PGresult *res) {
    LOG_ERRORF("webhooks: %s: %s", what,
               res != NULL ? PQresultErrorMessage(res) : "postgres connection failed");
}

/* The matching (event place, webhook id) rows of the events. NULL (logged) on failure. */
static PGresult *match_webhooks(pg_conn *conn, const task_event *evs, size_t n) {
    enum { COLS = 4 };
    strbuf cols[COLS] = {{0}};
    for (int c = 0; c < COLS; c++) {
        pg_array_open(&cols[c]);
    }
    for (size_t i = 0; i < n; i++) {
        pg_array_add(&cols[0], evs[i].user_id);
        pg_array_add(&cols[1], evs[i].project_id[0] != '\0' ? evs[i].project_id : NULL);
        pg_array_add(&cols[2], evs[i].type);
        pg_array_add(&cols[3], evs[i].time);
    }
    bool failed = false;
    for (int c = 0; c < COLS; c++) {
        pg_array_close(&cols[c]);
        failed = failed || cols[c].failed;
    }
    PGresult *res = NULL;
    if (failed) {
        LOG_ERRORF("webhooks: out of memory building a batch");
    } else {
        const char *vals[COLS] = {cols[0].data, cols[1].data, cols[2].data, cols[3].data};
        res = pg_exec_stmt(conn, &MATCHING_WEBHOOKS, vals);
        if (!pg_result_ok(res)) {
            log_pg_error("match webhooks", res);
            PQclear(res);
            res = NULL;
        }
    }
    for (int c = 0; c < COLS; c++) {
        free(cols[c].data);
    }
    return res;
}

/* One delivery per matching row, all in one insert. 0, or -1 (roll the batch back). */
static int insert_deliveries(pg_conn *conn, const task_event *evs, size_t n,
                             const PGresult *matches) {
    enum { COLS = 5 };
    strbuf cols[COLS] = {{0}};
    for (int c = 0; c < COLS; c++) {
        pg_array_open(&cols[c]);
    }
    int rc = 0;
    for (int r = 0; rc == 0 && r < PQntuples(matches); r++) {
        long place = strtol(PQgetvalue(matches, r, 0), NULL, 10);
        if (place < 1 || (size_t)place > n) {
            LOG_ERRORF("webhooks: match row names event %ld of %zu", place, n);
            rc = -1;
            break;
        }
        const task_event *ev = &evs[place - 1];
        char id[UUID_STR_LEN];
        uuid7_generate(id);
        const char *row[COLS - 1] = {id, PQgetvalue(matches, r, 1), ev->id, ev->type};
        for (int c = 0; c < COLS - 1; c++) {
            pg_array_add(&cols[c], row[c]);
        }
        pg_array_addn(&cols[COLS - 1], ev->record->value, ev->record->value_len);
    }
    for (int c = 0; c < COLS; c++) {
        pg_array_close(&cols[c]);
        if (cols[c].failed) {
            rc = -1;
        }
    }
    if (rc != 0) {
        LOG_ERRORF("webhooks: out of memory building the deliveries of a batch");
    } else {
        const char *vals[COLS] = {cols[0].data, cols[1].data, cols[2].data, cols[3].data,
                                  cols[4].data};
        PGresult *res = pg_exec_stmt(conn, &DELIVERY_INSERT, vals);
        if (!pg_result_ok(res)) {
            log_pg_error("insert deliveries", res);
            rc = -1;
        }
        PQclear(res);
    }
    for (int c = 0; c < COLS; c++) {
        free(cols[c].data);
    }
    return rc;
}

int webhooks_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count) {
    (void)ctx;
    size_t n = 0;
    task_event *evs = parse_all(records, count, &n);
    if (evs == NULL) {
        LOG_ERRORF("webhooks: out of memory reading a batch");
        return -1;
    }
    int rc = 0;
    if (n > 0) {
        PGresult *matches = match_webhooks(conn, evs, n);
        rc = matches != NULL ? 0 : -1;
        if (rc == 0 && PQntuples(matches) > 0) {
            rc = insert_deliveries(conn, evs, n, matches);
        }
        PQclear(matches);
    }
    events_free(evs, n);
    return rc;
}

int webhooks_after_commit(void *ctx, const kafka_record *records, size_t count) {
    (void)records;
    (void)count;
    if (ctx != NULL) {
        webhooks_sender_wake(ctx);
    }
    return 0;
}
