/*
 * test_bus.c: the names on the Kafka bus (shared/bus.h).
 *
 * Covers: the exact topic, dead-letter, group and client names (deployments, dashboards,
 * the stored offsets in kafka_consumer_offsets and the integration tests meet on these),
 * the topic list taskbus-admin creates, the dead-letter rule "<topic>.dlq" and its
 * refusal (empty result) instead of truncation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "shared/bus.h"

static void test_topic_names(void **state) {
    (void)state;
    assert_string_equal(TASK_COMMANDS_TOPIC, "task-commands");
    assert_string_equal(TASK_COMMANDS_DLQ_TOPIC, "task-commands.dlq");
    assert_string_equal(TASK_EVENTS_TOPIC, "task-events");
    assert_string_equal(TASK_EVENTS_V2_TOPIC, "task-events.v2");
    assert_string_equal(USER_EVENTS_TOPIC, "user-events");
    assert_string_equal(PROJECT_EVENTS_TOPIC, "project-events");
    assert_string_equal(NOTIFICATIONS_TOPIC, "notifications");
    assert_string_equal(NOTIFICATIONS_DLQ_TOPIC, "notifications.dlq");
    assert_string_equal(REPORTS_TOPIC, "reports");
}

static void test_group_and_client_names(void **state) {
    (void)state;
    assert_string_equal(WRITER_GROUP, "taskbus-writer");
    assert_string_equal(NOTIFIER_GROUP, "taskbus-notifier");
    assert_string_equal(WEBHOOKS_GROUP, "taskbus-webhooks");
    assert_string_equal(REPORTER_GROUP, "taskbus-reporter");
    assert_string_equal(ANALYTICS_GROUP, "taskbus-analytics");
    assert_string_equal(ACTIVITY_GROUP, "taskbus-activity");
    assert_string_equal(DLQ_REPLAY_GROUP, "taskbus-dlq-replay");
    assert_string_equal(API_CLIENT_ID, "taskbus-api");
    assert_string_equal(RELAY_CLIENT_ID, "taskbus-relay");
    assert_string_equal(WRITER_CLIENT_ID, "taskbus-writer");
    assert_string_equal(IMPORTER_CLIENT_ID, "taskbus-importer");
    assert_string_equal(IMPORTER_LAG_CLIENT_ID, "taskbus-importer-lag");
    assert_string_equal(SCHEDULER_LAG_CLIENT_ID, "taskbus-scheduler-lag");
    assert_string_equal(NOTIFIER_CLIENT_ID, "taskbus-notifier");
    assert_string_equal(ADMIN_CLIENT_ID, "taskbus-admin");
    assert_string_equal(DEFAULT_CLIENT_ID, "taskbus");
}

static void test_topic_list(void **state) {
    (void)state;
    const char *const want[] = {
        "task-commands", "task-commands.dlq", "task-events",   "task-events.v2",    "task-state",
        "user-events",   "project-events",    "notifications", "notifications.dlq", "reports"};
    size_t n = 0;
    while (BUS_TOPICS[n] != NULL) {
        assert_true(n < sizeof want / sizeof want[0]);
        assert_string_equal(BUS_TOPICS[n], want[n]);
        n++;
    }
    assert_int_equal(n, sizeof want / sizeof want[0]);
}

static void test_dlq_topic(void **state) {
    (void)state;
    char out[32];
    assert_int_equal(bus_dlq_topic(out, sizeof out, TASK_COMMANDS_TOPIC), 0);
    assert_string_equal(out, TASK_COMMANDS_DLQ_TOPIC);
    assert_int_equal(bus_dlq_topic(out, sizeof out, "writer-test-7"), 0);
    assert_string_equal(out, "writer-test-7.dlq");
    /* The longest topic that fits is kept whole; one byte more is refused, not cut. */
    char topic[sizeof out];
    memset(topic, 't', sizeof topic);
    topic[sizeof out - 1 - strlen(BUS_DLQ_SUFFIX)] = '\0';
    assert_int_equal(bus_dlq_topic(out, sizeof out, topic), 0);
    assert_int_equal(strlen(out), sizeof out - 1);
    topic[sizeof out - 1 - strlen(BUS_DLQ_SUFFIX)] = 't';
    topic[sizeof out - strlen(BUS_DLQ_SUFFIX)] = '\0';
    assert_int_equal(bus_dlq_topic(out, sizeof out, topic), -1);
    assert_string_equal(out, "");
    assert_int_equal(bus_dlq_topic(out, sizeof out, NULL), -1);
    assert_string_equal(out, "");
    assert_int_equal(bus_dlq_topic(out, 0, "x"), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_names),
        cmocka_unit_test(test_group_and_client_names),
        cmocka_unit_test(test_topic_list),
        cmocka_unit_test(test_dlq_topic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
