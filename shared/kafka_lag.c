/*
 * kafka_lag.c: watermarks, stored offsets and the lag arithmetic (see kafka_lag.h).
 * Rules: the handle is polled at each request so its error and log callbacks run;
 * connection failures are logged at debug level (the callers report them).
 */
#include "shared/kafka_lag.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/kafka_conf.h"
#include "shared/time_util.h"

typedef struct topic_meta {
    char *name;
    int partitions;         /* 0 until metadata was read */
    int64_t metadata_at_ns; /* when it was read */
} topic_meta;

struct kafka_lag {
    rd_kafka_t *rk;
    topic_meta topics[KAFKA_LAG_MAX_TOPICS];
    int ntopics;
};

static const pg_stmt STORED = {
    .name = "kafka_lag_stored_offsets",
    .sql = "SELECT partition, next_offset FROM kafka_consumer_offsets"
           " WHERE group_id = $1 AND topic = $2",
    .nparams = 2,
};

kafka_lag *kafka_lag_create(const char *brokers, const char *client_id, char *err, size_t errlen) {
    kafka_lag *lag = calloc(1, sizeof *lag);
    if (lag == NULL) {
        errbuf_setf(err, errlen, "kafka lag: out of memory");
        return NULL;
    }
    const char *const kv[][2] = {{"client.id", client_id}, {NULL, NULL}};
    rd_kafka_conf_t *conf = kafka_conf_new(brokers, kv, KAFKA_LOG_DEBUG, err, errlen);
    lag->rk =
        conf != NULL ? kafka_conf_open(RD_KAFKA_PRODUCER, conf, "kafka lag", err, errlen) : NULL;
    if (lag->rk == NULL) {
        free(lag);
        return NULL;
    }
    return lag;
}

void kafka_lag_destroy(kafka_lag *lag) {
    if (lag == NULL) {
        return;
    }
    rd_kafka_destroy(lag->rk);
    for (int i = 0; i < lag->ntopics; i++) {
        free(lag->topics[i].name);
    }
    free(lag);
}

/* The cache entry of topic, added when new; NULL with err when full or out of memory. */
static topic_meta *meta_of(kafka_lag *lag, const char *topic, char *err, size_t errlen) {
    for (int i = 0; i < lag->ntopics; i++) {
        if (strcmp(lag->topics[i].name, topic) == 0) {
            return &lag->topics[i];
        }
    }
    if (lag->ntopics == KAFKA_LAG_MAX_TOPICS) {
        errbuf_setf(err, errlen, "kafka lag: more than %d topics", KAFKA_LAG_MAX_TOPICS);
        return NULL;
    }
    topic_meta *m = &lag->topics[lag->ntopics];
    if ((m->name = strdup(topic)) == NULL) {
        errbuf_setf(err, errlen, "kafka lag: out of memory");
        return NULL;
    }
    m->partitions = 0;
    lag->ntopics++;
    return m;
}

int kafka_lag_partitions(kafka_lag *lag, const char *topic, int timeout_ms, char *err,
                         size_t errlen) {
    topic_meta *m = meta_of(lag, topic, err, errlen);
    if (m == NULL) {
        return -1;
    }
    int64_t now = time_monotonic_ns();
    if (m->partitions > 0 && now - m->metadata_at_ns < (int64_t)KAFKA_LAG_METADATA_MS * 1000000) {
        return m->partitions;
    }
    rd_kafka_poll(lag->rk, 0);
    rd_kafka_topic_t *t = rd_kafka_topic_new(lag->rk, topic, NULL);
    if (t == NULL) {
        errbuf_setf(err, errlen, "kafka lag: topic handle: %s",
                    rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(lag->rk, 0, t, &md, timeout_ms);
    int rc = -1;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        errbuf_setf(err, errlen, "kafka lag: metadata: %s", rd_kafka_err2str(e));
    } else if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR ||
               md->topics[0].partition_cnt < 1) {
        errbuf_setf(err, errlen, "kafka lag: topic %s: %s", topic,
                    md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "not listed");
    } else {
        m->partitions = md->topics[0].partition_cnt < KAFKA_LAG_MAX_PARTITIONS
                            ? md->topics[0].partition_cnt
                            : KAFKA_LAG_MAX_PARTITIONS;
        m->metadata_at_ns = now;
        rc = m->partitions;
    }
    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    return rc;
}

/* One ListOffsets round for every partition: offset asks for RD_KAFKA_OFFSET_END (the
 * high watermark) or RD_KAFKA_OFFSET_BEGINNING (the low one), passed as the request's
 * timestamp. Writes out[p]. 0, or -1 with err. */
static int list_offsets(kafka_lag *lag, const char *topic, int n, int64_t offset,
                        kafka_lag_partition *parts, bool high, int timeout_ms, char *err,
                        size_t errlen) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
    if (list == NULL) {
        errbuf_setf(err, errlen, "kafka lag: out of memory");
        return -1;
    }
    for (int p = 0; p < n; p++) {
        rd_kafka_topic_partition_list_add(list, topic, p)->offset = offset;
    }
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(lag->rk, list, timeout_ms);
    int rc = 0;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        errbuf_setf(err, errlen, "kafka lag: offsets of %s: %s", topic, rd_kafka_err2str(e));
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &list->elems[i];
        if (tp->err != RD_KAFKA_RESP_ERR_NO_ERROR || tp->offset < 0 || tp->partition < 0 ||
            tp->partition >= n) {
            errbuf_setf(err, errlen, "kafka lag: offset of %s[%d]: %s", topic, (int)tp->partition,
                        tp->err ? rd_kafka_err2str(tp->err) : "no offset answered");
            rc = -1;
        } else if (high) {
            parts[tp->partition].high = tp->offset;
        } else {
            parts[tp->partition].low = tp->offset;
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

int kafka_lag_watermarks(kafka_lag *lag, const char *topic, bool with_low,
                         kafka_lag_partition *parts, int max, int timeout_ms, char *err,
                         size_t errlen) {
    int n = kafka_lag_partitions(lag, topic, timeout_ms, err, errlen);
    if (n < 0) {
        return KAFKA_LAG_UNKNOWN;
    }
    n = n < max ? n : max;
    for (int p = 0; p < n; p++) {
        parts[p] = (kafka_lag_partition){.high = 0, .low = 0, .stored = KAFKA_LAG_NO_OFFSET};
    }
    rd_kafka_poll(lag->rk, 0);
    if (list_offsets(lag, topic, n, RD_KAFKA_OFFSET_END, parts, true, timeout_ms, err, errlen) !=
            0 ||
        (with_low && list_offsets(lag, topic, n, RD_KAFKA_OFFSET_BEGINNING, parts, false,
                                  timeout_ms, err, errlen) != 0)) {
        topic_meta *m = meta_of(lag, topic, NULL, 0);
        if (m != NULL) {
            m->partitions = 0; /* read the metadata again next time: partitions may have moved */
        }
        return KAFKA_LAG_UNKNOWN;
    }
    return n;
}

int kafka_lag_stored(pg_conn *conn, const char *group, const char *topic,
                     kafka_lag_partition *parts, int n, char *err, size_t errlen) {
    const char *values[2] = {group, topic};
    PGresult *res = pg_exec_stmt(conn, &STORED, values);
    if (!pg_result_ok(res)) {
        errbuf_setf_line(err, errlen, "kafka lag: stored offsets of %s: %s", group,
                         res != NULL ? PQresultErrorMessage(res) : "connection lost");
        PQclear(res);
        return KAFKA_LAG_ERR_POSTGRES;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        long p = strtol(PQgetvalue(res, r, 0), NULL, 10);
        if (p >= 0 && p < n) {
            parts[p].stored = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        }
    }
    PQclear(res);
    return 0;
}

int64_t kafka_lag_of(const kafka_lag_partition *p) {
    int64_t from = p->stored == KAFKA_LAG_NO_OFFSET || p->stored < p->low ? p->low : p->stored;
    return p->high > from ? p->high - from : 0;
}

int64_t kafka_lag_applied_sum(const kafka_lag_partition *parts, int n) {
    int64_t total = 0;
    for (int p = 0; p < n; p++) {
        if (parts[p].stored != KAFKA_LAG_NO_OFFSET && parts[p].high > parts[p].stored) {
            total += parts[p].high - parts[p].stored;
        }
    }
    return total;
}
