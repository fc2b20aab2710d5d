/*
 * test_stack_producer.c: shared/kafka_producer.c and shared/kafka_admin.c against a real
 * Kafka broker.
 *
 * Needs KAFKA_BROKERS (tests/run exports it); without it the test FAILS rather than skips.
 * Each run creates its own uniquely named topics. Checks: topic creation is idempotent;
 * a send is acknowledged and reads back with its key, value and headers; a delivery
 * group of many messages completes; a send to a topic that does not exist fails; the
 * readiness probes answer for a live broker and fail in time for a dead address.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/kafka_admin.h"
#include "shared/kafka_producer.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"

#define GROUP_MESSAGES 200

static const char *g_brokers;
static char g_topic[128];

static int setup(void **state) {
    (void)state;
    g_brokers = getenv("KAFKA_BROKERS");
    if (g_brokers == NULL || g_brokers[0] == '\0') {
        fprintf(stderr, "test_stack_producer: KAFKA_BROKERS is not set; this test needs Kafka\n");
        return -1;
    }
    char id[UUID_STR_LEN];
    uuid7_generate(id);
    snprintf(g_topic, sizeof g_topic, "tb-test-producer-%s", id);
    return 0;
}

static void topics_are_created_idempotently(void **state) {
    (void)state;
    const char *topics[] = {g_topic, NULL};
    char err[512] = "";
    if (kafka_admin_create_topics(g_brokers, topics, 2, 1, 15000, err, sizeof err) != 0) {
        fail_msg("create: %s", err);
    }
    /* Already there: still success. */
    if (kafka_admin_create_topics(g_brokers, topics, 2, 1, 15000, err, sizeof err) != 0) {
        fail_msg("create again: %s", err);
    }
    /* A topic name Kafka refuses is an error, not a silent success. */
    const char *bad[] = {"bad topic name with spaces", NULL};
    assert_int_equal(kafka_admin_create_topics(g_brokers, bad, 1, 1, 10000, err, sizeof err), -1);
    assert_true(strlen(err) > 0);
}

/* Reads every message of g_topic from the beginning until want arrived or 20 s passed. */
static int read_back(int want, char *first_headers, size_t hlen) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];
    char group[160];
    snprintf(group, sizeof group, "%s-reader", g_topic);
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", g_brokers, why, sizeof why),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "group.id", group, why, sizeof why), RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    for (int p = 0; p < 2; p++) {
        rd_kafka_topic_partition_list_add(parts, g_topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    int got = 0;
    int64_t deadline = time_monotonic_ns() + 20LL * 1000000000LL;
    while (got < want && time_monotonic_ns() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m == NULL) {
            continue;
        }
        if (m->err == 0) {
            if (m->key_len == 5 && memcmp(m->key, "first", 5) == 0) {
                rd_kafka_headers_t *h = NULL;
                const void *v;
                size_t vs;
                assert_int_equal(rd_kafka_message_headers(m, &h), 0);
                assert_int_equal(rd_kafka_header_get_last(h, "request_id", &v, &vs), 0);
                snprintf(first_headers, hlen, "%.*s", (int)vs, (const char *)v);
                assert_int_equal(rd_kafka_header_get_last(h, "ce_type", &v, &vs), 0);
                assert_memory_equal(v, "taskbus.test", vs);
                assert_memory_equal(m->payload, "{\"hello\":1}", m->len);
            }
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got;
}

static void sends_and_groups_are_delivered(void **state) {
    (void)state;
    char err[512] = "";
    kafka_producer *p = kafka_producer_create(g_brokers, "test-producer",
                                              KAFKA_MESSAGE_TIMEOUT_DEFAULT_MS, err, sizeof err);
    if (p == NULL) {
        fail_msg("create: %s", err);
    }
    assert_true(kafka_producer_ping(p, 5000, err, sizeof err));

    const kafka_header hdrs[] = {{"request_id", "req-123"}, {"ce_type", "taskbus.test"}};
    const char *value = "{\"hello\":1}";
    kafka_message msg = {.topic = g_topic,
                         .key = "first",
                         .key_len = 5,
                         .value = value,
                         .value_len = strlen(value),
                         .headers = hdrs,
                         .nheaders = 2};
    if (kafka_producer_send(p, &msg, 10000, err, sizeof err) != 0) {
        fail_msg("send: %s", err);
    }

    kafka_delivery_group *g = kafka_delivery_group_new();
    assert_non_null(g);
    char keys[GROUP_MESSAGES][16];
    for (int i = 0; i < GROUP_MESSAGES; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i % 17);
        kafka_message m = {.topic = g_topic,
                           .key = keys[i],
                           .key_len = strlen(keys[i]),
                           .value = "x",
                           .value_len = 1};
        assert_int_equal(kafka_producer_enqueue(p, g, &m, err, sizeof err), 0);
    }
    if (kafka_delivery_group_wait(g, 15000, err, sizeof err) != 0) {
        fail_msg("group wait: %s", err);
    }
    kafka_delivery_group_release(g);
    assert_int_equal(kafka_producer_flush(p, 5000), 0);
    kafka_producer_destroy(p, 5000);

    char rid[64] = "";
    assert_int_equal(read_back(GROUP_MESSAGES + 1, rid, sizeof rid), GROUP_MESSAGES + 1);
    assert_string_equal(rid, "req-123");
}

static void send_to_missing_topic_fails(void **state) {
    (void)state;
    char err[512] = "";
    kafka_producer *p = kafka_producer_create(g_brokers, "test-producer",
                                              KAFKA_MESSAGE_TIMEOUT_DEFAULT_MS, err, sizeof err);
    assert_non_null(p);
    char topic[160];
    snprintf(topic, sizeof topic, "%s-missing", g_topic);
    kafka_message msg = {.topic = topic, .value = "x", .value_len = 1};
    int64_t t0 = time_monotonic_ns();
    assert_int_equal(kafka_producer_send(p, &msg, 3000, err, sizeof err), -1);
    assert_true((time_monotonic_ns() - t0) / 1000000 < 4500);
    assert_true(strlen(err) > 0);
    kafka_producer_destroy(p, 2000);
}

static void readiness_probes(void **state) {
    (void)state;
    char err[512] = "";
    assert_int_equal(kafka_admin_wait_ready(g_brokers, 10000, err, sizeof err), 0);
    int64_t t0 = time_monotonic_ns();
    assert_int_equal(kafka_admin_wait_ready("127.0.0.1:1", 1500, err, sizeof err), -1);
    int64_t ms = (time_monotonic_ns() - t0) / 1000000;
    assert_true(ms >= 1000 && ms < 5000);
    assert_non_null(strstr(err, "not ready"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(topics_are_created_idempotently),
        cmocka_unit_test(sends_and_groups_are_delivered),
        cmocka_unit_test(send_to_missing_topic_fails),
        cmocka_unit_test(readiness_probes),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
