/*
 * admin_replay_dlq.c: replaying TOPIC.dlq to TOPIC.
 *
 * Owns: a group-less librdkafka consumer that assigns one partition at a time at the
 * stored offset and reads up to the high watermark taken before reading, and the offset
 * rows of group taskbus-dlq-replay. Rules: each message is produced synchronously
 * (delivery report awaited) before the partition's offset row moves; every handle,
 * message and result is released on every path.
 */
#include "tools/admin/admin_replay_dlq.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/daemon_startup.h"
#include "shared/kafka_conf.h"
#include "shared/kafka_producer.h"
#include "shared/pg_pool.h"

#define KAFKA_TIMEOUT_MS 10000

static const pg_stmt REPLAY_GET = {
    .name = "replay_offset_get",
    .sql = "SELECT next_offset FROM kafka_consumer_offsets"
           " WHERE group_id = $1 AND topic = $2 AND partition = $3::int",
    .nparams = 3,
};

static const pg_stmt REPLAY_SET = {
    .name = "replay_offset_set",
    .sql = "INSERT INTO kafka_consumer_offsets (group_id, topic, partition, next_offset)"
           " VALUES ($1, $2, $3::int, $4::bigint) ON CONFLICT (group_id, topic, partition)"
           " DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
    .nparams = 4,
};

typedef struct replay {
    const char *topic;
    char dlq[256];
    rd_kafka_t *rk;
    kafka_producer *producer;
    pg_conn *conn;
    long total;
} replay;

/* The stored next offset of a partition, 0 when none, -1 on error. */
static int64_t stored_offset(replay *r, int32_t partition) {
    char part[16];
    snprintf(part, sizeof part, "%" PRId32, partition);
    const char *values[3] = {DLQ_REPLAY_GROUP, r->dlq, part};
    PGresult *res = pg_exec_stmt(r->conn, &REPLAY_GET, values);
    int64_t off = -1;
    if (res != NULL && pg_result_ok(res)) {
        off = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    } else {
        fprintf(stderr, "taskbus-admin: %s",
                res != NULL ? PQresultErrorMessage(res) : "postgres connection failed\n");
    }
    PQclear(res);
    return off;
}

static int store_offset(replay *r, int32_t partition, int64_t next) {
    char part[16];
    char off[32];
    snprintf(part, sizeof part, "%" PRId32, partition);
    snprintf(off, sizeof off, "%" PRId64, next);
    const char *values[4] = {DLQ_REPLAY_GROUP, r->dlq, part, off};
    PGresult *res = pg_exec_stmt(r->conn, &REPLAY_SET, values);
    int rc = res != NULL && pg_result_ok(res) ? 0 : -1;
    if (rc != 0) {
        fprintf(stderr, "taskbus-admin: %s",
                res != NULL ? PQresultErrorMessage(res) : "postgres connection failed\n");
    }
    PQclear(res);
    return rc;
}

/* Produces one dead letter back to the topic, keeping only its request_id header. */
static int reproduce(replay *r, const rd_kafka_message_t *m) {
    char request_id[129] = "";
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t size = 0;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hdrs, "request_id", &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        val != NULL && size < sizeof request_id) {
        memcpy(request_id, val, size);
        request_id[size] = '\0';
    }
    kafka_header h[1] = {{"request_id", request_id}};
    kafka_message msg = {
        .topic = r->topic,
        .key = m->key,
        .key_len = m->key_len,
        .value = m->payload,
        .value_len = m->len,
        .headers = h,
        .nheaders = request_id[0] != '\0' ? 1 : 0,
    };
    char err[256];
    if (kafka_producer_send(r->producer, &msg, KAFKA_TIMEOUT_MS, err, sizeof err) != 0) {
        fprintf(stderr, "taskbus-admin: produce to %s: %s\n", r->topic, err);
        return -1;
    }
    return 0;
}

/* Reads [from, to) of one partition and re-produces it. 0, or -1. */
static int replay_range(replay *r, int32_t partition, int64_t from, int64_t to) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, r->dlq, partition)->offset = from;
    rd_kafka_resp_err_t e = rd_kafka_assign(r->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "taskbus-admin: assign %s: %s\n", r->dlq, rd_kafka_err2str(e));
        return -1;
    }
    int64_t next = from;
    int rc = 0;
    while (rc == 0 && next < to) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, KAFKA_TIMEOUT_MS);
        if (m == NULL) {
            fprintf(stderr, "taskbus-admin: %s[%" PRId32 "]: no message at %" PRId64 "\n", r->dlq,
                    partition, next);
            rc = -1;
        } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            next = to; /* compacted or deleted below the watermark */
        } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "taskbus-admin: %s: %s\n", r->dlq, rd_kafka_message_errstr(m));
            rc = -1;
        } else if (m->partition == partition && m->offset >= next) {
            rc = reproduce(r, m);
            next = m->offset + 1;
            r->total += rc == 0 ? 1 : 0;
        }
        if (m != NULL) {
            rd_kafka_message_destroy(m);
        }
    }
    rd_kafka_assign(r->rk, NULL);
    return rc == 0 ? store_offset(r, partition, next) : -1;
}

static int replay_partition(replay *r, int32_t partition) {
    int64_t lo = 0;
    int64_t hi = 0;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(r->rk, r->dlq, partition, &lo, &hi, KAFKA_TIMEOUT_MS);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "taskbus-admin: watermarks of %s: %s\n", r->dlq, rd_kafka_err2str(e));
        return -1;
    }
    int64_t from = stored_offset(r, partition);
    if (from < 0) {
        return -1;
    }
    if (from < lo) {
        from = lo;
    }
    return from < hi ? replay_range(r, partition, from, hi) : 0;
}

static int replay_all(replay *r) {
    rd_kafka_topic_t *t = rd_kafka_topic_new(r->rk, r->dlq, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e =
        t != NULL ? rd_kafka_metadata(r->rk, 0, t, &md, KAFKA_TIMEOUT_MS) : RD_KAFKA_RESP_ERR__FAIL;
    int rc = 0;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 || md->topics[0].err != 0) {
        fprintf(stderr, "taskbus-admin: no metadata for %s\n", r->dlq);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < md->topics[0].partition_cnt; i++) {
        rc = replay_partition(r, md->topics[0].partitions[i].id);
    }
    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }
    if (t != NULL) {
        rd_kafka_topic_destroy(t);
    }
    return rc;
}

/* librdkafka logs to stderr here, beside the tool's own lines. */
static rd_kafka_t *make_consumer(const taskbus_config *cfg) {
    char err[512];
    const char *const kv[][2] = {
        {"group.id", DLQ_REPLAY_GROUP},        {"enable.auto.commit", "false"},
        {"enable.partition.eof", "true"},      {"auto.offset.reset", "earliest"},
        {"isolation.level", "read_committed"}, {NULL, NULL},
    };
    rd_kafka_conf_t *conf =
        kafka_conf_new(cfg->kafka_brokers, kv, KAFKA_LOG_STDERR, err, sizeof err);
    rd_kafka_t *rk =
        conf != NULL ? kafka_conf_open(RD_KAFKA_CONSUMER, conf, "kafka consumer", err, sizeof err)
                     : NULL;
    if (rk == NULL) {
        fprintf(stderr, "taskbus-admin: %s\n", err);
    }
    return rk;
}

static bool topic_name_ok(const char *topic) {
    size_t n = strlen(topic);
    if (n == 0 || n > 200) {
        return false;
    }
    for (const char *p = topic; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-')) {
            return false;
        }
    }
    return true;
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
    r->rk = r->producer != NULL ? make_consumer(cfg) : NULL;
    int rc = r->rk != NULL && replay_all(r) == 0 ? 0 : 1;
    if (r->producer == NULL) {
        fprintf(stderr, "taskbus-admin: %s\n", err);
    }
    if (r->rk != NULL) {
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
    if (r->producer != NULL) {
        kafka_producer_destroy(r->producer, KAFKA_TIMEOUT_MS);
    }
    pg_pool_release(pool, r->conn);
    return rc;
}

int admin_replay_dlq(const taskbus_config *cfg, const char *topic) {
    replay r = {.topic = topic};
    if (!topic_name_ok(topic) || bus_dlq_topic(r.dlq, sizeof r.dlq, topic) != 0) {
        fprintf(stderr, "taskbus-admin: replay-dlq: bad topic name\n");
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
        printf("replayed %ld dead letter(s) from %s to %s\n", r.total, r.dlq, topic);
    }
    return rc;
}
