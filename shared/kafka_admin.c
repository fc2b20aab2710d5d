/*
 * kafka_admin.c: topic creation through librdkafka's Admin API.
 *
 * Owns: a short-lived rd_kafka_t per call (admin work is rare: startup jobs and tests).
 * Rules: CreateTopics for every topic, treating TOPIC_ALREADY_EXISTS as success; then
 * metadata is polled until each topic is listed with a leader for every partition, so a
 * caller can produce at once. Every wait is bounded by the caller's timeout.
 */
#include "shared/kafka_admin.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/bus.h"
#include "shared/errbuf.h"
#include "shared/kafka_conf.h"
#include "shared/log.h"
#include "shared/time_util.h"

/* "Connection refused" while waiting for a broker is expected: its log lines are debug. */
static rd_kafka_t *admin_handle(const char *brokers, char *err, size_t errlen) {
    const char *const kv[][2] = {{"client.id", ADMIN_CLIENT_ID}, {NULL, NULL}};
    rd_kafka_conf_t *conf = kafka_conf_new(brokers, kv, KAFKA_LOG_DEBUG, err, errlen);
    return conf != NULL ? kafka_conf_open(RD_KAFKA_PRODUCER, conf, "kafka admin", err, errlen)
                        : NULL;
}

static int remaining_ms(int64_t deadline_ns) {
    int64_t left = (deadline_ns - time_monotonic_ns()) / 1000000;
    return left < 0 ? 0 : (int)left;
}

static size_t count_topics(const char *const *topics) {
    size_t n = 0;
    while (topics[n] != NULL) {
        n++;
    }
    return n;
}

/* Checks the CreateTopics result: 0 when each topic was created or already existed. */
static int check_create_result(rd_kafka_event_t *ev, char *err, size_t errlen) {
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    /* A request-level failure (no broker, timeout) carries no per-topic results. */
    if (res == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        errbuf_setf(err, errlen, "kafka admin: %s",
                    rd_kafka_event_error(ev) ? rd_kafka_event_error_string(ev)
                                             : "unexpected event");
        return -1;
    }
    size_t n = 0;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            LOG_INFOF("created kafka topic %s", rd_kafka_topic_result_name(tr[i]));
        } else if (e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            const char *msg = rd_kafka_topic_result_error_string(tr[i]);
            errbuf_setf(err, errlen, "creating topic %s: %s", rd_kafka_topic_result_name(tr[i]),
                        msg != NULL ? msg : rd_kafka_err2str(e));
            return -1;
        }
    }
    return 0;
}

static int create_all(rd_kafka_t *rk, const char *const *topics, int partitions, int replication,
                      int timeout_ms, char *err, size_t errlen) {
    size_t n = count_topics(topics);
    rd_kafka_NewTopic_t **nt = calloc(n ? n : 1, sizeof *nt);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    int rc = (nt == NULL || q == NULL || opts == NULL) ? -1 : 0;
    if (rc != 0) {
        errbuf_setf(err, errlen, "kafka admin: out of memory");
    }
    char why[512];
    for (size_t i = 0; i < n && rc == 0; i++) {
        nt[i] = rd_kafka_NewTopic_new(topics[i], partitions, replication, why, sizeof why);
        if (nt[i] == NULL) {
            errbuf_setf(err, errlen, "topic %s: %s", topics[i], why);
            rc = -1;
        }
    }
    if (rc == 0 &&
        (rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, why, sizeof why) ||
         rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, why, sizeof why))) {
        errbuf_setf(err, errlen, "kafka admin options: %s", why);
        rc = -1;
    }
    if (rc == 0) {
        rd_kafka_CreateTopics(rk, nt, n, opts, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
        if (ev == NULL) {
            errbuf_setf(err, errlen, "kafka admin: no answer to CreateTopics within %d ms",
                        timeout_ms);
            rc = -1;
        } else {
            rc = check_create_result(ev, err, errlen);
            rd_kafka_event_destroy(ev);
        }
    }
    for (size_t i = 0; nt != NULL && i < n; i++) {
        if (nt[i] != NULL) {
            rd_kafka_NewTopic_destroy(nt[i]);
        }
    }
    free(nt);
    if (opts != NULL) {
        rd_kafka_AdminOptions_destroy(opts);
    }
    if (q != NULL) {
        rd_kafka_queue_destroy(q);
    }
    return rc;
}

/* True when every topic is in md with a leader for each partition. */
static bool all_visible(const struct rd_kafka_metadata *md, const char *const *topics) {
    for (size_t t = 0; topics[t] != NULL; t++) {
        bool ok = false;
        for (int i = 0; i < md->topic_cnt; i++) {
            const struct rd_kafka_metadata_topic *mt = &md->topics[i];
            if (strcmp(mt->topic, topics[t]) != 0 || mt->err || mt->partition_cnt == 0) {
                continue;
            }
            ok = true;
            for (int p = 0; p < mt->partition_cnt; p++) {
                ok = ok && mt->partitions[p].leader >= 0 && !mt->partitions[p].err;
            }
        }
        if (!ok) {
            return false;
        }
    }
    return true;
}

static int wait_visible(rd_kafka_t *rk, const char *const *topics, int64_t deadline_ns, char *err,
                        size_t errlen) {
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        int wait = remaining_ms(deadline_ns);
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, wait > 0 ? wait : 1);
        bool ok = e == RD_KAFKA_RESP_ERR_NO_ERROR && all_visible(md, topics);
        if (md != NULL) {
            rd_kafka_metadata_destroy(md);
        }
        if (ok) {
            return 0;
        }
        if (remaining_ms(deadline_ns) == 0) {
            errbuf_setf(err, errlen, "kafka: created topics not visible in metadata in time");
            return -1;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int kafka_admin_create_topics(const char *brokers, const char *const *topics, int partitions,
                              int replication, int timeout_ms, char *err, size_t errlen) {
    if (topics == NULL || partitions < 1 || replication < 1 || timeout_ms < 1) {
        errbuf_setf(err, errlen, "kafka_admin_create_topics: bad arguments");
        return -1;
    }
    int64_t deadline = time_monotonic_ns() + (int64_t)timeout_ms * 1000000;
    rd_kafka_t *rk = admin_handle(brokers, err, errlen);
    if (rk == NULL) {
        return -1;
    }
    int rc = create_all(rk, topics, partitions, replication, timeout_ms, err, errlen);
    if (rc == 0) {
        rc = wait_visible(rk, topics, deadline, err, errlen);
    }
    rd_kafka_destroy(rk);
    return rc;
}

int kafka_admin_wait_ready(const char *brokers, int timeout_ms, char *err, size_t errlen) {
    int64_t deadline = time_monotonic_ns() + (int64_t)timeout_ms * 1000000;
    rd_kafka_t *rk = admin_handle(brokers, err, errlen);
    if (rk == NULL) {
        return -1;
    }
    rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR__TIMED_OUT;
    int rc = -1;
    while (rc != 0) {
        const struct rd_kafka_metadata *md = NULL;
        int wait = remaining_ms(deadline);
        wait = wait > 1000 ? 1000 : (wait > 0 ? wait : 1);
        last = rd_kafka_metadata(rk, 0, NULL, &md, wait);
        if (last == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rc = md->broker_cnt > 0 ? 0 : -1;
            rd_kafka_metadata_destroy(md);
        }
        if (rc != 0 && remaining_ms(deadline) == 0) {
            break;
        }
        if (rc != 0) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    rd_kafka_destroy(rk);
    if (rc != 0) {
        errbuf_setf(err, errlen, "kafka at %s not ready within %d ms: %s", brokers, timeout_ms,
                    rd_kafka_err2str(last));
    }
    return rc;
}
