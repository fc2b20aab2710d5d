/*
 * produce_server.c: the benchmarks' write baseline, "202 after a durable Kafka ack" with
 * nothing else: bare ulfius plus taskbus's own Kafka producer.
 *
 * Owns: POST /produce: the request body becomes one message on the bench topic
 * (BENCH_PRODUCE_TOPIC, created at start with the bus's partition count and replication),
 * keyed by the X-Bench-Key header (the bench sends the POST users' ids, as the API keys a
 * command by its user id) with a request_id header (a fresh UUIDv7, as the API's), and the
 * answer is 202 only after the message's delivery report said it is durable (503 when
 * it failed). The producer IS shared/kafka_producer.c, created as api/main.c creates the
 * API's (kafka_producer_create with TASKBUS_KAFKA_PRODUCE_TIMEOUT_MS) and used as
 * api/command_send.c uses it (kafka_producer_send, one delivery group per request), so
 * acks, idempotence, linger, batching, compression and message timeout are the API's by
 * construction, not by a copy. The server is started by bench_http.c as the API is.
 * Rules: usage `produce_server PORT`, with the API's environment (KAFKA_BROKERS,
 * TASKBUS_KAFKA_*, TASKBUS_HTTP_*); runs until SIGINT/SIGTERM, then flushes.
 */
#include <stdio.h>
#include <string.h>
#include <ulfius.h>

#include "shared/config.h"
#include "shared/kafka_admin.h"
#include "shared/kafka_producer.h"
#include "shared/log.h"
#include "shared/uuid7.h"
#include "tests/bench/bench_http.h"

#define BENCH_PRODUCE_TOPIC "bench-produce"
#define TOPIC_TIMEOUT_MS 30000
#define FLUSH_TIMEOUT_MS 10000
/* As api/command_send.h's TASK_COMMAND_REPORT_SLACK_MS: the wait for the report
 * outlasts message.timeout.ms by librdkafka's once-a-second timeout scan. */
#define REPORT_SLACK_MS 2000

typedef struct produce_ctx {
    kafka_producer *producer;
    int wait_ms;
} produce_ctx;

static int respond(struct _u_response *resp, unsigned status, const char *body) {
    if (ulfius_set_string_body_response(resp, status, body) != U_OK ||
        ulfius_add_header_to_response(resp, "Content-Type", "application/json") != U_OK) {
        return U_CALLBACK_ERROR;
    }
    return U_CALLBACK_COMPLETE;
}

static int on_produce(const struct _u_request *req, struct _u_response *resp, void *user_data) {
    const produce_ctx *pc = user_data;
    const char *key = u_map_get_case(req->map_header, "X-Bench-Key");
    if (key == NULL || key[0] == '\0' || req->binary_body_length == 0) {
        return respond(resp, 400, "{\"error\":\"X-Bench-Key and a body are required\"}");
    }
    char request_id[UUID_STR_LEN];
    uuid7_generate(request_id);
    kafka_header headers[] = {{"request_id", request_id}};
    kafka_message msg = {
        .topic = BENCH_PRODUCE_TOPIC,
        .key = key,
        .key_len = strlen(key),
        .value = req->binary_body,
        .value_len = req->binary_body_length,
        .headers = headers,
        .nheaders = 1,
    };
    char err[256];
    if (kafka_producer_send(pc->producer, &msg, pc->wait_ms, err, sizeof err) != 0) {
        fprintf(stderr, "produce_server: %s\n", err);
        return respond(resp, 503, "{\"error\":\"not acknowledged by Kafka\"}");
    }
    return respond(resp, 202, "{\"status\":\"accepted\"}");
}

static kafka_producer *open_producer(const taskbus_config *cfg) {
    static const char *const topics[] = {BENCH_PRODUCE_TOPIC, NULL};
    char err[512];
    if (kafka_admin_create_topics(cfg->kafka_brokers, topics, cfg->kafka_partitions,
                                  cfg->kafka_replication, TOPIC_TIMEOUT_MS, err, sizeof err) != 0) {
        fprintf(stderr, "produce_server: topic %s: %s\n", BENCH_PRODUCE_TOPIC, err);
        return NULL;
    }
    kafka_producer *p = kafka_producer_create(cfg->kafka_brokers, "bench-produce",
                                              cfg->kafka_produce_timeout_ms, err, sizeof err);
    if (p == NULL) {
        fprintf(stderr, "produce_server: %s\n", err);
    }
    return p;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: produce_server PORT (Kafka and HTTP settings: the API's)\n");
        return 2;
    }
    taskbus_config cfg;
    char err[512];
    if (config_load(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "produce_server: %s\n", err);
        return 2;
    }
    log_init("bench-produce", LOG_WARN);
    bench_http h;
    if (bench_http_init(&h, "produce_server", argv[1]) != 0) {
        config_free(&cfg);
        return 2;
    }
    int rc = 1;
    /* After bench_http_init: librdkafka's threads inherit the blocked stop signals. */
    produce_ctx pc = {.producer = open_producer(&cfg),
                      .wait_ms = cfg.kafka_produce_timeout_ms + REPORT_SLACK_MS};
    if (pc.producer == NULL) {
        /* open_producer said why */
    } else if (ulfius_add_endpoint_by_val(&h.inst, "POST", NULL, "/produce", 0, on_produce, &pc) !=
               U_OK) {
        fprintf(stderr, "produce_server: ulfius_add_endpoint_by_val failed\n");
    } else if (bench_http_run(&h, &cfg) == 0) {
        rc = 0;
    }
    bench_http_clean(&h);
    kafka_producer_destroy(pc.producer, FLUSH_TIMEOUT_MS);
    config_free(&cfg);
    return rc;
}
