/*
 * importer_lag.c: high watermarks minus the writer's stored offsets (see importer_lag.h).
 * Rules: the handle is polled at each measurement so its error and log callbacks run;
 * connection failures are logged at debug level (the measurement reports them).
 */
#include "workers/importer/importer_lag.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/errbuf.h"
#include "shared/kafka_conf.h"
#include "shared/time_util.h"
#include "workers/importer/importer_sql.h"

#define LAG_METADATA_MS 10000
#define LAG_MAX_PARTITIONS 4096

struct importer_lag {
    rd_kafka_t *rk;
    char *topic;
    char *group;
    int partitions;         /* 0 until metadata was read */
    int64_t metadata_at_ns; /* when it was read */
};

static const pg_stmt STORED = {
    .name = "importer_writer_offsets",
    .sql = "SELECT partition, next_offset FROM kafka_consumer_offsets"
           " WHERE group_id = $1 AND topic = $2",
    .nparams = 2,
};

importer_lag *importer_lag_create(const char *brokers, const char *topic, const char *group,
                                  char *err, size_t errlen) {
    importer_lag *lag = calloc(1, sizeof *lag);
    if (lag == NULL || (lag->topic = strdup(topic)) == NULL ||
        (lag->group = strdup(group)) == NULL) {
        errbuf_setf(err, errlen, "importer lag: out of memory");
        importer_lag_destroy(lag);
        return NULL;
    }
    const char *const kv[][2] = {{"client.id", IMPORTER_LAG_CLIENT_ID}, {NULL, NULL}};
    rd_kafka_conf_t *conf = kafka_conf_new(brokers, kv, KAFKA_LOG_DEBUG, err, errlen);
    lag->rk =
        conf != NULL ? kafka_conf_open(RD_KAFKA_PRODUCER, conf, "importer lag", err, errlen) : NULL;
    if (lag->rk == NULL) {
        importer_lag_destroy(lag);
        return NULL;
    }
    return lag;
}

void importer_lag_destroy(importer_lag *lag) {
    if (lag == NULL) {
        return;
    }
    if (lag->rk != NULL) {
        rd_kafka_destroy(lag->rk);
    }
    free(lag->topic);
    free(lag->group);
    free(lag);
}

/* Reads the partition count when unknown or stale. 0, or -1 with err. */
static int refresh_partitions(importer_lag *lag, int timeout_ms, char *err, size_t errlen) {
    int64_t now = time_monotonic_ns();
    if (lag->partitions > 0 && now - lag->metadata_at_ns < (int64_t)LAG_METADATA_MS * 1000000) {
        return 0;
    }
    rd_kafka_topic_t *t = rd_kafka_topic_new(lag->rk, lag->topic, NULL);
    if (t == NULL) {
        errbuf_setf(err, errlen, "importer lag: topic handle: %s",
                    rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(lag->rk, 0, t, &md, timeout_ms);
    int rc = -1;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        errbuf_setf(err, errlen, "importer lag: metadata: %s", rd_kafka_err2str(e));
    } else if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR ||
               md->topics[0].partition_cnt < 1) {
        errbuf_setf(err, errlen, "importer lag: topic %s: %s", lag->topic,
                    md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "not listed");
    } else {
        lag->partitions = md->topics[0].partition_cnt < LAG_MAX_PARTITIONS
                              ? md->topics[0].partition_cnt
                              : LAG_MAX_PARTITIONS;
        lag->metadata_at_ns = now;
        rc = 0;
    }
    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    return rc;
}

/* The high watermark of every partition into hw[0..partitions). 0, or -1 with err. */
static int high_watermarks(importer_lag *lag, int64_t *hw, int timeout_ms, char *err,
                           size_t errlen) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(lag->partitions);
    if (list == NULL) {
        errbuf_setf(err, errlen, "importer lag: out of memory");
        return -1;
    }
    for (int p = 0; p < lag->partitions; p++) {
        /* The timestamp -1 asks ListOffsets for the latest offset: the high watermark. */
        rd_kafka_topic_partition_list_add(list, lag->topic, p)->offset = RD_KAFKA_OFFSET_END;
    }
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(lag->rk, list, timeout_ms);
    int rc = 0;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        errbuf_setf(err, errlen, "importer lag: offsets: %s", rd_kafka_err2str(e));
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &list->elems[i];
        if (tp->err != RD_KAFKA_RESP_ERR_NO_ERROR || tp->offset < 0 || tp->partition < 0 ||
            tp->partition >= lag->partitions) {
            errbuf_setf(err, errlen, "importer lag: offset of partition %d: %s", (int)tp->partition,
                        tp->err ? rd_kafka_err2str(tp->err) : "no offset answered");
            rc = -1;
        } else {
            hw[tp->partition] = tp->offset;
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (rc != 0) {
        lag->partitions = 0; /* read the metadata again next time: partitions may have moved */
    }
    return rc;
}

int importer_lag_prepare(importer_lag *lag, int timeout_ms, char *err, size_t errlen) {
    return refresh_partitions(lag, timeout_ms, err, errlen);
}

int64_t importer_lag_measure(importer_lag *lag, pg_conn *conn, int timeout_ms, char *err,
                             size_t errlen) {
    rd_kafka_poll(lag->rk, 0);
    int64_t hw[LAG_MAX_PARTITIONS];
    if (refresh_partitions(lag, timeout_ms, err, errlen) != 0 ||
        high_watermarks(lag, hw, timeout_ms, err, errlen) != 0) {
        return IMPORTER_LAG_UNKNOWN;
    }
    const char *values[2] = {lag->group, lag->topic};
    PGresult *res = importer_exec(conn, &STORED, values, err, errlen);
    if (res == NULL) {
        return IMPORTER_LAG_ERR_POSTGRES;
    }
    int64_t total = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        long p = strtol(PQgetvalue(res, r, 0), NULL, 10);
        long long next = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        if (p >= 0 && p < lag->partitions && hw[p] > next) {
            total += hw[p] - next;
        }
    }
    PQclear(res);
    return total;
}
