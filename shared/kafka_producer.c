/*
 * kafka_producer.c: the idempotent Kafka producer every writer of the bus uses.
 *
 * Owns: one rd_kafka_t (enable.idempotence=true, acks=all, linger.ms=5), the poller thread
 * that serves its delivery reports, and delivery groups.
 * Rules:
 * - A message's opaque is its delivery group. The group holds one reference per message
 *   still awaiting its report plus one for its creator, so a caller that times out can
 *   release the group while the poller still owes it reports.
 * - A group's counters are guarded by its own mutex; waiters sleep on its condvar
 *   (CLOCK_MONOTONIC).
 * - message.timeout.ms (the creator's bound) limits how long librdkafka retries a
 *   message, so every enqueued message gets a report eventually, even with the brokers
 *   down. A failed report says whether the message may still have reached the broker:
 *   callers that promised "not accepted" must then make sure it is never acted on (see
 *   api/command_send.c). "Not persisted" is believed only when a broker said so (a
 *   non-retriable broker error, with librdkafka's status NOT_PERSISTED); a local error
 *   (timed out, transport, purged) is always in doubt, whatever the status says:
 *   librdkafka 2.0 reported NOT_PERSISTED for messages timed out after their leader was
 *   killed mid-request, and those records were in the log through the new leader
 *   (tests/scale, the Kafka scenario; docs/decisions.md, "Kafka's not persisted").
 * - destroy flushes, then purges what is left (those reports say "purged"), serves the
 *   last reports and only then stops the poller, so no waiter is left hanging.
 */
#include "shared/kafka_producer.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "shared/bus.h"
#include "shared/kafka_conf.h"
#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/time_util.h"

/* How long enqueue waits for room when the local queue is full. */
#define ENQUEUE_FULL_WAIT_MS 1000

struct kafka_producer {
    rd_kafka_t *rk;
    pthread_t poller;
    atomic_bool stop_poller;
    /* Monotonic ms of the last failed delivery report (0: none yet); written by whichever
     * thread serves reports, read by anyone: atomic, no lock. */
    _Atomic int64_t last_failure_ms;
};

struct kafka_delivery_group {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;    /* creator + each message still owed a report */
    int pending; /* enqueued messages without a report */
    int failed;
    int in_doubt; /* failed reports whose message may still have reached the broker */
    char first_error[256];
};

static void group_unref(kafka_delivery_group *g) {
    pthread_mutex_lock(&g->mu);
    int left = --g->refs;
    pthread_mutex_unlock(&g->mu);
    if (left == 0) {
        pthread_mutex_destroy(&g->mu);
        pthread_cond_destroy(&g->cv);
        free(g);
    }
}

/* Whether a failed delivery may still have reached the log (see the rules above). */
static bool delivery_in_doubt(const rd_kafka_message_t *msg) {
    return msg->err < 0 || rd_kafka_message_status(msg) != RD_KAFKA_MSG_STATUS_NOT_PERSISTED;
}

/* Runs on the poller thread (or inside flush). */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    (void)rk;
    kafka_producer *p = opaque; /* rd_kafka_conf_set_opaque in create */
    kafka_delivery_group *g = msg->_private;
    if (msg->err) {
        int64_t now = time_monotonic_ns() / 1000000;
        atomic_store(&p->last_failure_ms, now > 0 ? now : 1);
        metrics_counter_add("taskbus_kafka_produce_errors_total",
                            "Kafka messages whose delivery failed", NULL, 1);
    }
    if (g == NULL) {
        return;
    }
    bool first_failure = false;
    pthread_mutex_lock(&g->mu);
    g->pending--;
    if (msg->err && delivery_in_doubt(msg)) {
        g->in_doubt++;
    }
    if (msg->err && g->failed++ == 0) {
        first_failure = true;
        snprintf(g->first_error, sizeof g->first_error, "delivery to %s failed: %s",
                 rd_kafka_topic_name(msg->rkt), rd_kafka_err2str(msg->err));
    }
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    /* One line per group, not per message: a broker outage fails whole batches. */
    if (first_failure) {
        LOG_ERRORF("kafka delivery to %s failed: %s", rd_kafka_topic_name(msg->rkt),
                   rd_kafka_err2str(msg->err));
    }
    group_unref(g);
}

static void *poller_main(void *arg) {
    kafka_producer *p = arg;
    while (!atomic_load(&p->stop_poller)) {
        rd_kafka_poll(p->rk, 100);
    }
    return NULL;
}

kafka_producer *kafka_producer_create(const char *brokers, const char *client_id,
                                      int message_timeout_ms, char *err, size_t errlen) {
    kafka_producer *p = calloc(1, sizeof *p);
    if (p == NULL) {
        errbuf_setf(err, errlen, "kafka producer: out of memory");
        return NULL;
    }
    atomic_init(&p->last_failure_ms, 0);
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d",
             message_timeout_ms > 0 ? message_timeout_ms : KAFKA_MESSAGE_TIMEOUT_DEFAULT_MS);
    const char *const kv[][2] = {
        {"client.id", client_id != NULL ? client_id : DEFAULT_CLIENT_ID},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "5"},
        {"message.timeout.ms", timeout},
        {NULL, NULL},
    };
    rd_kafka_conf_t *conf = kafka_conf_new(brokers, kv, KAFKA_LOG_PRODUCER, err, errlen);
    if (conf != NULL) {
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, p);
        p->rk = kafka_conf_open(RD_KAFKA_PRODUCER, conf, "kafka producer", err, errlen);
    }
    if (p->rk == NULL) {
        free(p);
        return NULL;
    }
    atomic_init(&p->stop_poller, false);
    if (pthread_create(&p->poller, NULL, poller_main, p) != 0) {
        errbuf_setf(err, errlen, "kafka producer: cannot start the poller thread");
        rd_kafka_destroy(p->rk);
        free(p);
        return NULL;
    }
    return p;
}

void kafka_producer_destroy(kafka_producer *p, int timeout_ms) {
    if (p == NULL) {
        return;
    }
    rd_kafka_resp_err_t ferr = rd_kafka_flush(p->rk, timeout_ms);
    if (ferr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        LOG_ERRORF("kafka producer: %d message(s) not delivered at shutdown: %s",
                   rd_kafka_outq_len(p->rk), rd_kafka_err2str(ferr));
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        /* Serve the purge reports so every waiting group is told. */
        rd_kafka_flush(p->rk, 1000);
    }
    atomic_store(&p->stop_poller, true);
    pthread_join(p->poller, NULL);
    rd_kafka_destroy(p->rk);
    free(p);
}

kafka_delivery_group *kafka_delivery_group_new(void) {
    kafka_delivery_group *g = calloc(1, sizeof *g);
    if (g == NULL) {
        return NULL;
    }
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) {
        free(g);
        return NULL;
    }
    int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0) {
        rc = pthread_cond_init(&g->cv, &ca);
    }
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        free(g);
        return NULL;
    }
    if (pthread_mutex_init(&g->mu, NULL) != 0) {
        pthread_cond_destroy(&g->cv);
        free(g);
        return NULL;
    }
    g->refs = 1;
    return g;
}

void kafka_delivery_group_release(kafka_delivery_group *g) {
    if (g != NULL) {
        group_unref(g);
    }
}

/* Headers for one message; NULL when there are none. *failed on allocation errors. */
static rd_kafka_headers_t *build_headers(const kafka_message *msg, bool *failed) {
    *failed = false;
    if (msg->nheaders == 0) {
        return NULL;
    }
    rd_kafka_headers_t *h = rd_kafka_headers_new(msg->nheaders);
    if (h == NULL) {
        *failed = true;
        return NULL;
    }
    for (size_t i = 0; i < msg->nheaders; i++) {
        const kafka_header *kh = &msg->headers[i];
        if (kh->name == NULL || kh->value == NULL) {
            continue;
        }
        if (rd_kafka_header_add(h, kh->name, -1, kh->value, -1) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_headers_destroy(h);
            *failed = true;
            return NULL;
        }
    }
    return h;
}

static rd_kafka_resp_err_t produce_once(kafka_producer *p, kafka_delivery_group *g,
                                        const kafka_message *msg) {
    bool failed;
    rd_kafka_headers_t *h = build_headers(msg, &failed);
    if (failed) {
        return RD_KAFKA_RESP_ERR__FAIL;
    }
    /* RD_KAFKA_V_HEADERS takes a header list (a variable number of RD_KAFKA_V_HEADER
     * arguments cannot be built at run time); it is ours again only on failure. */
    size_t key_len = msg->key != NULL ? msg->key_len : 0;
    size_t value_len = msg->value != NULL ? msg->value_len : 0;
    void *value = (void *)msg->value;
    rd_kafka_resp_err_t rc = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(msg->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(msg->key, key_len), RD_KAFKA_V_VALUE(value, value_len),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(g), RD_KAFKA_V_END);
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR && h != NULL) {
        rd_kafka_headers_destroy(h);
    }
    return rc;
}

int kafka_producer_enqueue(kafka_producer *p, kafka_delivery_group *g, const kafka_message *msg,
                           char *err, size_t errlen) {
    if (p == NULL || g == NULL || msg == NULL || msg->topic == NULL) {
        errbuf_setf(err, errlen, "kafka enqueue: bad arguments");
        return -1;
    }
    pthread_mutex_lock(&g->mu);
    g->refs++;
    g->pending++;
    pthread_mutex_unlock(&g->mu);
    rd_kafka_resp_err_t rc;
    int waited_ms = 0;
    /* A full local queue drains as the poller serves reports: wait a little for room. */
    while ((rc = produce_once(p, g, msg)) == RD_KAFKA_RESP_ERR__QUEUE_FULL &&
           waited_ms < ENQUEUE_FULL_WAIT_MS) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000000L};
        nanosleep(&ts, NULL);
        waited_ms += 10;
    }
    if (rc == RD_KAFKA_RESP_ERR_NO_ERROR) {
        return 0;
    }
    pthread_mutex_lock(&g->mu);
    g->pending--;
    pthread_mutex_unlock(&g->mu);
    group_unref(g);
    metrics_counter_add("taskbus_kafka_produce_errors_total",
                        "Kafka messages whose delivery failed", NULL, 1);
    errbuf_setf(err, errlen, "kafka enqueue to %s failed: %s", msg->topic, rd_kafka_err2str(rc));
    return -1;
}

int kafka_delivery_group_wait(kafka_delivery_group *g, int timeout_ms, char *err, size_t errlen) {
    return kafka_delivery_group_wait_doubt(g, timeout_ms, NULL, err, errlen);
}

int kafka_delivery_group_wait_doubt(kafka_delivery_group *g, int timeout_ms, bool *in_doubt,
                                    char *err, size_t errlen) {
    struct timespec deadline = time_monotonic_deadline_ms(timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&g->mu);
    while (g->pending > 0 && rc == 0) {
        if (pthread_cond_timedwait(&g->cv, &g->mu, &deadline) == ETIMEDOUT) {
            rc = -1;
        }
    }
    /* A message still without a report may yet be delivered: in doubt as well. */
    if (in_doubt != NULL) {
        *in_doubt = g->pending > 0 || g->in_doubt > 0;
    }
    if (g->pending > 0) {
        errbuf_setf(err, errlen, "kafka: %d message(s) not acknowledged within %d ms", g->pending,
                    timeout_ms);
        rc = -1;
    } else if (g->failed > 0) {
        errbuf_setf(err, errlen, "kafka: %d message(s) failed; first: %s", g->failed,
                    g->first_error);
        rc = -1;
    } else {
        rc = 0;
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

int kafka_producer_send(kafka_producer *p, const kafka_message *msg, int timeout_ms, char *err,
                        size_t errlen) {
    return kafka_producer_send_doubt(p, msg, timeout_ms, NULL, err, errlen);
}

int kafka_producer_send_doubt(kafka_producer *p, const kafka_message *msg, int timeout_ms,
                              bool *in_doubt, char *err, size_t errlen) {
    if (in_doubt != NULL) {
        *in_doubt = false;
    }
    kafka_delivery_group *g = kafka_delivery_group_new();
    if (g == NULL) {
        errbuf_setf(err, errlen, "kafka send: out of memory");
        return -1;
    }
    int rc = kafka_producer_enqueue(p, g, msg, err, errlen);
    if (rc == 0) {
        rc = kafka_delivery_group_wait_doubt(g, timeout_ms, in_doubt, err, errlen);
    }
    kafka_delivery_group_release(g);
    return rc;
}

int kafka_producer_flush(kafka_producer *p, int timeout_ms) {
    return rd_kafka_flush(p->rk, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

int64_t kafka_producer_last_failure_ms(kafka_producer *p) {
    return atomic_load(&p->last_failure_ms);
}

bool kafka_producer_ping(kafka_producer *p, int timeout_ms, char *err, size_t errlen) {
    return kafka_ping(p->rk, timeout_ms, err, errlen);
}
