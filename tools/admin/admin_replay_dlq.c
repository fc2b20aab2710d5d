/*
 * admin_replay_dlq.c: replaying a dead-letter topic to its source topic.
 *
 * Owns: the --all replay over every partition (admin_dlq_read.h reads, admin_dlq_marks.h
 * says what to pass over) and the offset rows of group taskbus-dlq-replay. Rules: each
 * message is produced synchronously (delivery report awaited) before the partition's
 * offset row moves; every handle, message and result is released on every path.
 */
#include "tools/admin/admin_replay_dlq.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/daemon_startup.h"
#include "tools/admin/admin_db.h"
#include "tools/admin/admin_dlq_marks.h"
#include "tools/admin/admin_dlq_read.h"

static const pg_stmt REPLAY_SET = {
    .name = "replay_offset_set",
    .sql = "INSERT INTO kafka_consumer_offsets (group_id, topic, partition, next_offset)"
           " VALUES ($1, $2, $3::int, $4::bigint) ON CONFLICT (group_id, topic, partition)"
           " DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
    .nparams = 4,
};

typedef struct replay {
    admin_dlq_names names;
    rd_kafka_t *rk;
    kafka_producer *producer;
    pg_conn *conn;
    int32_t partition; /* the one being read */
    long total;
    long passed; /* skipped or replayed alone before */
} replay;

static int store_offset(replay *r, int32_t partition, int64_t next) {
    char part[16];
    char off[32];
    snprintf(part, sizeof part, "%" PRId32, partition);
    snprintf(off, sizeof off, "%" PRId64, next);
    const char *values[4] = {DLQ_REPLAY_GROUP, r->names.dlq, part, off};
    PGresult *res = pg_exec_stmt(r->conn, &REPLAY_SET, values);
    int rc = pg_result_ok(res) ? 0 : -1;
    if (rc != 0) {
        admin_db_print_error("taskbus-admin", "replay progress", res);
    }
    PQclear(res);
    return rc;
}

int admin_replay_reproduce(kafka_producer *producer, const char *topic,
                           const rd_kafka_message_t *m) {
    char request_id[129] = "";
    (void)admin_dlq_header(m, "request_id", request_id, sizeof request_id);
    char traceparent[129] = "";
    (void)admin_dlq_header(m, "traceparent", traceparent, sizeof traceparent);
    kafka_header h[2];
    size_t nh = 0;
    if (request_id[0] != '\0') {
        h[nh++] = (kafka_header){"request_id", request_id};
    }
    if (traceparent[0] != '\0') {
        h[nh++] = (kafka_header){"traceparent", traceparent};
    }
    kafka_message msg = {
        .topic = topic,
        .key = m->key,
        .key_len = m->key_len,
        .value = m->payload,
        .value_len = m->len,
        .headers = h,
        .nheaders = nh,
    };
    char err[256];
    if (kafka_producer_send(producer, &msg, ADMIN_DLQ_KAFKA_TIMEOUT_MS, err, sizeof err) != 0) {
        fprintf(stderr, "taskbus-admin: produce to %s: %s\n", topic, err);
        return -1;
    }
    return 0;
}

/* One record of the range: produced again unless an operator skipped it or replayed it
 * alone. */
static int replay_visit(void *ctx, const rd_kafka_message_t *m) {
    replay *r = ctx;
    int mark = admin_dlq_mark_get(r->conn, r->names.dlq, r->partition, m->offset);
    if (mark < 0) {
        return -1;
    }
    if (mark != DLQ_MARK_NONE) {
        r->passed++;
        return 0;
    }
    if (admin_replay_reproduce(r->producer, r->names.source, m) != 0) {
        return -1;
    }
    r->total++;
    return 0;
}

static int replay_partition(replay *r, int32_t partition) {
    int64_t lo = 0;
    int64_t hi = 0;
    if (admin_dlq_watermarks(r->rk, r->names.dlq, partition, &lo, &hi) != 0) {
        return -1;
    }
    int64_t from = admin_dlq_progress(r->conn, r->names.dlq, partition);
    if (from < 0) {
        return -1;
    }
    if (from < lo) {
        from = lo;
    }
    if (from >= hi) {
        return 0;
    }
    r->partition = partition;
    int64_t next = from;
    int rc = admin_dlq_scan(r->rk, r->names.dlq, partition, from, hi, replay_visit, r, &next);
    /* What was produced before a failure is durable: keep it as progress. */
    int stored = next > from ? store_offset(r, partition, next) : 0;
    return rc == 0 && stored == 0 ? 0 : -1;
}

static int replay_all(replay *r) {
    int32_t parts[ADMIN_DLQ_MAX_PARTITIONS];
    int n = 0;
    int rc = admin_dlq_partitions(r->rk, r->names.dlq, parts, &n);
    for (int i = 0; rc == 0 && i < n; i++) {
        rc = replay_partition(r, parts[i]);
    }
    return rc;
}

static int run(const taskbus_config *cfg, replay *r, pg_pool *pool) {
    char err[512];
    r->conn = pg_pool_acquire(pool, DAEMON_PG_ACQUIRE_MS, err, sizeof err);
    if (r->conn == NULL) {
        fprintf(stderr, "taskbus-admin: postgres: %s\n", err);
        return 1;
    }
    r->producer = kafka_producer_create(cfg->kafka_brokers, ADMIN_CLIENT_ID,
                                        KAFKA_MESSAGE_TIMEOUT_DEFAULT_MS, err, sizeof err);
    if (r->producer == NULL) {
        fprintf(stderr, "taskbus-admin: %s\n", err);
    }
    r->rk = r->producer != NULL ? admin_dlq_consumer(cfg) : NULL;
    int rc = r->rk != NULL && replay_all(r) == 0 ? 0 : 1;
    if (r->rk != NULL) {
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
    if (r->producer != NULL) {
        kafka_producer_destroy(r->producer, ADMIN_DLQ_KAFKA_TIMEOUT_MS);
    }
    pg_pool_release(pool, r->conn);
    return rc;
}

static void print_result(const replay *r, bool json) {
    if (!json) {
        printf("replayed %ld dead letter(s) from %s to %s (%ld skipped or replayed before)\n",
               r->total, r->names.dlq, r->names.source, r->passed);
        return;
    }
    json_t *o =
        json_pack("{s:s, s:s, s:I, s:I}", "dlq_topic", r->names.dlq, "topic", r->names.source,
                  "replayed", (json_int_t)r->total, "passed_over", (json_int_t)r->passed);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    printf("%s\n", text != NULL ? text : "{}");
    free(text);
    json_decref(o);
}

int admin_replay_dlq(const taskbus_config *cfg, const admin_dlq_args *args) {
    replay r = {0};
    if (admin_dlq_names_of(args->topic, &r.names) != 0) {
        fprintf(stderr, "taskbus-admin: dlq replay: bad topic name\n");
        return 2;
    }
    char err[512];
    pg_pool *pool =
        pg_pool_create(cfg->database_url, 1, cfg->pg_statement_timeout_ms, err, sizeof err);
    if (pool == NULL) {
        fprintf(stderr, "taskbus-admin: DATABASE_URL: %s\n", err);
        return 2;
    }
    int rc = run(cfg, &r, pool);
    pg_pool_destroy(pool);
    if (rc == 0) {
        print_result(&r, args->json);
    }
    return rc;
}
