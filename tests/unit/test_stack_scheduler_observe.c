/*
 * test_stack_scheduler_observe.c: the lag probe (shared/kafka_lag.c) and one pass of the
 * scheduler's observer (workers/scheduler/scheduler_observe.c) against real Kafka and
 * Postgres.
 *
 * Needs KAFKA_BROKERS and DATABASE_URL (tests/run exports them); without them the test
 * FAILS. Each run makes its own topics (2 partitions, and its .dlq with 1) and works inside
 * one Postgres transaction that is rolled back, so the stored offsets, dead-letter marks
 * and outbox row it adds are seen only by itself. Checks: the watermarks agree with the
 * records produced and with librdkafka's own per-partition query; a partition's lag counts
 * from the stored offset, and from the beginning where the group stored none; the
 * importer's sum counts only the stored one; an unreachable broker answers
 * KAFKA_LAG_UNKNOWN within its bound; the observer's pass exports exactly those lags for a
 * group configured as the writer's, the outbox backlog and the age of its oldest row, and
 * the dead letters pending (produced minus replayed progress minus marks).
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

#include "shared/bus.h"
#include "shared/kafka_admin.h"
#include "shared/kafka_lag.h"
#include "shared/kafka_producer.h"
#include "shared/metrics.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"
#include "tests/unit/stack_pg.h"
#include "workers/scheduler/scheduler_observe.h"

#define RECORDS 9
#define DEAD_LETTERS 3

static const char *g_brokers;
static char g_topic[128];
static char g_dlq[140];
static char g_group[128];

static void produce(const char *topic, int n) {
    char err[512] = "";
    kafka_producer *p = kafka_producer_create(g_brokers, "tb-test-lag", 0, err, sizeof err);
    if (p == NULL) {
        fail_msg("producer: %s", err);
    }
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        kafka_message m = {
            .topic = topic, .key = key, .key_len = strlen(key), .value = "v", .value_len = 1};
        if (kafka_producer_send(p, &m, 10000, err, sizeof err) != 0) {
            fail_msg("send to %s: %s", topic, err);
        }
    }
    kafka_producer_destroy(p, 5000);
}

static int setup(void **state) {
    g_brokers = getenv("KAFKA_BROKERS");
    if (g_brokers == NULL || g_brokers[0] == '\0') {
        fprintf(stderr, "test_stack_scheduler_observe: KAFKA_BROKERS is not set\n");
        return -1;
    }
    char id[UUID_STR_LEN];
    uuid7_generate(id);
    snprintf(g_topic, sizeof g_topic, "tb-test-lag-%s", id);
    snprintf(g_group, sizeof g_group, "tb-test-lag-group-%s", id);
    if (bus_dlq_topic(g_dlq, sizeof g_dlq, g_topic) != 0) {
        return -1;
    }
    char err[512] = "";
    const char *two[] = {g_topic, NULL};
    const char *one[] = {g_dlq, NULL};
    if (kafka_admin_create_topics(g_brokers, two, 2, 1, 15000, err, sizeof err) != 0 ||
        kafka_admin_create_topics(g_brokers, one, 1, 1, 15000, err, sizeof err) != 0) {
        fprintf(stderr, "test_stack_scheduler_observe: topics: %s\n", err);
        return -1;
    }
    produce(g_topic, RECORDS);
    produce(g_dlq, DEAD_LETTERS);
    return stack_pg_open_in_txn(state, "test_stack_scheduler_observe", 30000);
}

/* librdkafka's own answer for one partition: the oracle of the watermarks. */
static int64_t oracle_high(const char *topic, int32_t partition) {
    char why[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", g_brokers, why, sizeof why),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    assert_non_null(rk);
    int64_t low = -1, high = -1;
    assert_int_equal(rd_kafka_query_watermark_offsets(rk, topic, partition, &low, &high, 10000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
    return high;
}

static void lag_is_high_watermark_minus_stored_offset(void **state) {
    stack_pg *f = *state;
    char err[512] = "";
    kafka_lag *lag = kafka_lag_create(g_brokers, "tb-test-lag", err, sizeof err);
    if (lag == NULL) {
        fail_msg("create: %s", err);
    }
    kafka_lag_partition parts[4];
    int n = kafka_lag_watermarks(lag, g_topic, true, parts, 4, 10000, err, sizeof err);
    if (n < 0) {
        fail_msg("watermarks: %s", err);
    }
    assert_int_equal(n, 2);
    assert_int_equal(parts[0].high + parts[1].high, RECORDS);
    assert_int_equal(parts[0].high, oracle_high(g_topic, 0));
    assert_int_equal(parts[1].high, oracle_high(g_topic, 1));
    assert_int_equal(parts[0].low, 0);
    assert_int_equal(parts[0].stored, KAFKA_LAG_NO_OFFSET);
    /* The group stored half of partition 0; nothing of partition 1. */
    int64_t half = parts[0].high / 2;
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO kafka_consumer_offsets (group_id, topic, partition, next_offset)"
             " VALUES ('%s', '%s', 0, %lld)",
             g_group, g_topic, (long long)half);
    stack_pg_exec(f->conn, sql);
    assert_int_equal(kafka_lag_stored(f->conn, g_group, g_topic, parts, n, err, sizeof err), 0);
    assert_int_equal(parts[0].stored, half);
    assert_int_equal(parts[1].stored, KAFKA_LAG_NO_OFFSET);
    assert_int_equal(kafka_lag_of(&parts[0]), parts[0].high - half);
    assert_int_equal(kafka_lag_of(&parts[1]), parts[1].high);
    assert_int_equal(kafka_lag_applied_sum(parts, n), parts[0].high - half);
    kafka_lag_destroy(lag);
}

static void an_unreachable_broker_answers_unknown_in_time(void **state) {
    (void)state;
    char err[512] = "";
    kafka_lag *lag = kafka_lag_create("127.0.0.1:1", "tb-test-lag-dead", err, sizeof err);
    assert_non_null(lag);
    kafka_lag_partition parts[2];
    int64_t t0 = time_monotonic_ns();
    assert_int_equal(kafka_lag_watermarks(lag, g_topic, true, parts, 2, 1000, err, sizeof err),
                     KAFKA_LAG_UNKNOWN);
    int64_t ms = (time_monotonic_ns() - t0) / 1000000;
    assert_true(strlen(err) > 0);
    /* One bounded request (metadata) failed: far below a hang; generous for a loaded box. */
    if (ms > 10000) {
        fail_msg("took %lld ms", (long long)ms);
    }
    kafka_lag_destroy(lag);
}

/* The value of the rendered series that starts with prefix (name{labels}), or -1. */
static double series_value(const char *prefix) {
    char *text = metrics_render();
    assert_non_null(text);
    double v = -1;
    size_t n = strlen(prefix);
    for (const char *p = text; p != NULL && *p; p = strchr(p, '\n'), p = p != NULL ? p + 1 : p) {
        if (strncmp(p, prefix, n) == 0 && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
    }
    free(text);
    return v;
}

static void observer_pass_exports_lag_outbox_and_dead_letters(void **state) {
    stack_pg *f = *state;
    char err[512] = "";
    taskbus_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.kafka_brokers = (char *)g_brokers;
    cfg.writer_group = g_group;
    cfg.writer_topic = g_topic;
    cfg.lag_interval_s = 1;
    /* Partition 0 stored at 1 (lag_is_high_watermark... stored half: replaced here). */
    char sql[768];
    snprintf(sql, sizeof sql,
             "INSERT INTO kafka_consumer_offsets (group_id, topic, partition, next_offset)"
             " VALUES ('%s', '%s', 0, 1) ON CONFLICT (group_id, topic, partition)"
             " DO UPDATE SET next_offset = 1",
             g_group, g_topic);
    stack_pg_exec(f->conn, sql);
    /* `dlq replay --all` passed offset 0 of the dead letters; offset 2 was skipped. */
    snprintf(sql, sizeof sql,
             "INSERT INTO kafka_consumer_offsets (group_id, topic, partition, next_offset)"
             " VALUES ('" DLQ_REPLAY_GROUP "', '%s', 0, 1);"
             " INSERT INTO dlq_marks (dlq_topic, partition, \"offset\", action)"
             " VALUES ('%s', 0, 2, 'skipped'), ('%s', 0, 0, 'replayed')",
             g_dlq, g_dlq, g_dlq);
    stack_pg_exec(f->conn, sql);
    stack_pg_exec(f->conn, "INSERT INTO outbox (event_id, topic, key, payload, created_at)"
                           " VALUES (gen_random_uuid(), 'tb-test-lag', 'k', '{}',"
                           " now() - interval '100 seconds')");
    scheduler_observer *o = scheduler_observer_create(&cfg, err, sizeof err);
    if (o == NULL) {
        fail_msg("create: %s", err);
    }
    if (scheduler_observer_pass(o, f->conn, err, sizeof err) != 0) {
        fail_msg("pass: %s", err);
    }
    int64_t high0 = oracle_high(g_topic, 0);
    int64_t high1 = oracle_high(g_topic, 1);
    char name[512];
    snprintf(name, sizeof name, "taskbus_consumer_lag{group=\"%s\",topic=\"%s\",partition=\"0\"}",
             g_group, g_topic);
    assert_true(series_value(name) == (double)(high0 > 1 ? high0 - 1 : 0));
    snprintf(name, sizeof name, "taskbus_consumer_lag{group=\"%s\",topic=\"%s\",partition=\"1\"}",
             g_group, g_topic);
    assert_true(series_value(name) == (double)high1);
    /* Every other group is measured on the stack's topics. */
    assert_true(series_value("taskbus_consumer_lag{group=\"" ACTIVITY_GROUP
                             "\",topic=\"" TASK_EVENTS_TOPIC "\",partition=\"0\"}") >= 0);
    assert_true(series_value("taskbus_consumer_lag{group=\"" NOTIFIER_GROUP
                             "\",topic=\"" NOTIFICATIONS_TOPIC "\",partition=\"0\"}") >= 0);
    assert_true(series_value("taskbus_outbox_backlog") >= 1);
    assert_true(series_value("taskbus_outbox_oldest_age_seconds") >= 100);
    /* 3 dead letters; offset 0 passed by replay --all, offset 2 skipped: 1 pending. */
    snprintf(name, sizeof name, "taskbus_dlq_pending{topic=\"%s\"}", g_dlq);
    assert_true(series_value(name) == 1);
    assert_true(series_value("taskbus_dlq_pending{topic=\"" NOTIFICATIONS_DLQ_TOPIC "\"}") >= 0);
    scheduler_observer_destroy(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lag_is_high_watermark_minus_stored_offset),
        cmocka_unit_test(an_unreachable_broker_answers_unknown_in_time),
        cmocka_unit_test(observer_pass_exports_lag_outbox_and_dead_letters),
    };
    return cmocka_run_group_tests(tests, setup, stack_pg_close);
}
