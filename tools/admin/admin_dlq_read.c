/*
 * admin_dlq_read.c: reading a dead-letter topic (see admin_dlq_read.h).
 *
 * Owns: the consumer configuration, metadata and watermark queries, and the assign/poll
 * loop over a range. Rules: each read assigns exactly one partition and unassigns it
 * before returning; no wait is unbounded (ADMIN_DLQ_KAFKA_TIMEOUT_MS per poll).
 */
#include "tools/admin/admin_dlq_read.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/kafka_conf.h"

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

int admin_dlq_names_of(const char *topic, admin_dlq_names *out) {
    memset(out, 0, sizeof *out);
    if (topic == NULL || !topic_name_ok(topic)) {
        return -1;
    }
    size_t n = strlen(topic);
    size_t suffix = strlen(BUS_DLQ_SUFFIX);
    if (n > suffix && strcmp(topic + n - suffix, BUS_DLQ_SUFFIX) == 0) {
        snprintf(out->dlq, sizeof out->dlq, "%s", topic);
        snprintf(out->source, sizeof out->source, "%.*s", (int)(n - suffix), topic);
        return 0;
    }
    if (strcmp(topic, BUS_DLQ_SUFFIX) == 0) {
        return -1;
    }
    snprintf(out->source, sizeof out->source, "%s", topic);
    return bus_dlq_topic(out->dlq, sizeof out->dlq, topic);
}

/* librdkafka logs to stderr here, beside the tool's own lines. */
rd_kafka_t *admin_dlq_consumer(const taskbus_config *cfg) {
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

int admin_dlq_partitions(rd_kafka_t *rk, const char *topic, int32_t *parts, int *n) {
    *n = 0;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = t != NULL ? rd_kafka_metadata(rk, 0, t, &md, ADMIN_DLQ_KAFKA_TIMEOUT_MS)
                                      : RD_KAFKA_RESP_ERR__FAIL;
    int rc = 0;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 || md->topics[0].err != 0) {
        fprintf(stderr, "taskbus-admin: no metadata for %s\n", topic);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < md->topics[0].partition_cnt && i < ADMIN_DLQ_MAX_PARTITIONS;
         i++) {
        parts[(*n)++] = md->topics[0].partitions[i].id;
    }
    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }
    if (t != NULL) {
        rd_kafka_topic_destroy(t);
    }
    /* Metadata lists partitions in no promised order; people read them sorted. */
    for (int i = 1; i < *n; i++) {
        for (int j = i; j > 0 && parts[j - 1] > parts[j]; j--) {
            int32_t tmp = parts[j];
            parts[j] = parts[j - 1];
            parts[j - 1] = tmp;
        }
    }
    return rc;
}

int admin_dlq_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t *lo,
                         int64_t *hi) {
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(rk, topic, partition, lo, hi, ADMIN_DLQ_KAFKA_TIMEOUT_MS);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "taskbus-admin: watermarks of %s[%" PRId32 "]: %s\n", topic, partition,
                rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

/* Points the consumer at topic[partition] from offset. 0, or -1 (said on stderr). */
static int assign_at(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t offset) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, partition)->offset = offset;
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "taskbus-admin: assign %s: %s\n", topic, rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

int admin_dlq_scan(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t from, int64_t to,
                   admin_dlq_visit visit, void *ctx, int64_t *next) {
    *next = from;
    if (from >= to) {
        return 0;
    }
    if (assign_at(rk, topic, partition, from) != 0) {
        return -1;
    }
    int rc = 0;
    while (rc == 0 && *next < to) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, ADMIN_DLQ_KAFKA_TIMEOUT_MS);
        if (m == NULL) {
            fprintf(stderr, "taskbus-admin: %s[%" PRId32 "]: no message at %" PRId64 "\n", topic,
                    partition, *next);
            rc = -1;
        } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            *next = to; /* compacted or deleted below the watermark */
        } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "taskbus-admin: %s: %s\n", topic, rd_kafka_message_errstr(m));
            rc = -1;
        } else if (m->partition == partition && m->offset >= *next && m->offset < to) {
            rc = visit(ctx, m);
            *next = rc == 0 ? m->offset + 1 : *next;
        } else if (m->partition == partition && m->offset >= to) {
            *next = to;
        }
        if (m != NULL) {
            rd_kafka_message_destroy(m);
        }
    }
    (void)rd_kafka_assign(rk, NULL); /* unassigning cannot fail in a way we could act on */
    return rc;
}

int admin_dlq_fetch(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t offset,
                    rd_kafka_message_t **out) {
    *out = NULL;
    int64_t lo = 0;
    int64_t hi = 0;
    if (admin_dlq_watermarks(rk, topic, partition, &lo, &hi) != 0) {
        return -1;
    }
    if (offset < lo || offset >= hi) {
        return 0;
    }
    if (assign_at(rk, topic, partition, offset) != 0) {
        return -1;
    }
    int rc = 2; /* still looking */
    while (rc == 2) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, ADMIN_DLQ_KAFKA_TIMEOUT_MS);
        if (m == NULL) {
            fprintf(stderr, "taskbus-admin: %s[%" PRId32 "]: no answer for offset %" PRId64 "\n",
                    topic, partition, offset);
            rc = -1;
        } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rc = 0;
        } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "taskbus-admin: %s: %s\n", topic, rd_kafka_message_errstr(m));
            rc = -1;
        } else if (m->partition == partition && m->offset == offset) {
            *out = m;
            m = NULL;
            rc = 1;
        } else if (m->partition == partition && m->offset > offset) {
            rc = 0; /* compacted away */
        }
        if (m != NULL) {
            rd_kafka_message_destroy(m);
        }
    }
    (void)rd_kafka_assign(rk, NULL); /* unassigning cannot fail in a way we could act on */
    return rc;
}

bool admin_dlq_header(const rd_kafka_message_t *m, const char *name, char *out, size_t outlen) {
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t size = 0;
    if (outlen == 0) {
        return false;
    }
    out[0] = '\0';
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        size >= outlen) {
        return false;
    }
    if (size > 0) {
        memcpy(out, val, size);
    }
    out[size] = '\0';
    return true;
}
