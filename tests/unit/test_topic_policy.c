/*
 * test_topic_policy.c: what each topic keeps (shared/topic_policy.c).
 *
 * Covers: every topic of BUS_TOPICS has a class, and each class maps to the configs the
 * contract of issue 12 fixes: events forever by default (retention.ms=-1), commands 7
 * days, dead letters 30 days, task-state compacted and kept forever with its tombstones
 * kept TASKBUS_STATE_TOMBSTONE_RETENTION, min.insync.replicas and retention.bytes=-1 on
 * every topic; an unknown topic has no policy; a topic with fewer replicas than
 * min.insync.replicas is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "shared/bus.h"
#include "shared/config.h"
#include "shared/topic_policy.h"

static const char *no_env(const char *name, void *ctx) {
    (void)name;
    (void)ctx;
    return NULL;
}

static void load_defaults(taskbus_config *cfg) {
    char err[256];
    if (config_load_from(cfg, no_env, NULL, err, sizeof err) != 0)
        fail_msg("config: %s", err);
}

static void expect(const topic_policy *p, const char *name, const char *value) {
    const char *got = topic_policy_value(p, name);
    if (value == NULL) {
        if (got != NULL)
            fail_msg("%s sets %s=%s, wanted unset", p->topic, name, got);
        return;
    }
    if (got == NULL || strcmp(got, value) != 0)
        fail_msg("%s: %s=%s, wanted %s", p->topic, name, got ? got : "(unset)", value);
}

static void test_every_bus_topic_has_a_class(void **state) {
    (void)state;
    taskbus_config cfg;
    load_defaults(&cfg);
    for (size_t i = 0; BUS_TOPICS[i] != NULL; i++) {
        topic_policy p;
        char err[256] = "";
        if (topic_policy_for(BUS_TOPICS[i], &cfg, &p, err, sizeof err) != 0)
            fail_msg("%s: %s", BUS_TOPICS[i], err);
        assert_string_equal(p.topic, BUS_TOPICS[i]);
        assert_true(p.n_configs <= TOPIC_POLICY_MAX_CONFIGS);
        for (size_t c = 0; c < p.n_configs; c++) {
            bool managed = false;
            for (size_t m = 0; TOPIC_MANAGED_CONFIGS[m] != NULL; m++)
                managed = managed || strcmp(TOPIC_MANAGED_CONFIGS[m], p.configs[c].name) == 0;
            assert_true(managed);
        }
    }
    config_free(&cfg);
}

static void test_default_policies(void **state) {
    (void)state;
    taskbus_config cfg;
    load_defaults(&cfg);
    static const struct {
        const char *topic, *cls, *retention, *cleanup, *tombstones;
    } want[] = {
        {TASK_EVENTS_TOPIC, "events", "-1", "delete", NULL},
        {TASK_EVENTS_V2_TOPIC, "events", "-1", "delete", NULL},
        {USER_EVENTS_TOPIC, "events", "-1", "delete", NULL},
        {PROJECT_EVENTS_TOPIC, "events", "-1", "delete", NULL},
        {TASK_COMMANDS_TOPIC, "commands", "604800000", "delete", NULL},
        {NOTIFICATIONS_TOPIC, "commands", "604800000", "delete", NULL},
        {REPORTS_TOPIC, "commands", "604800000", "delete", NULL},
        {TASK_COMMANDS_DLQ_TOPIC, "dlq", "2592000000", "delete", NULL},
        {NOTIFICATIONS_DLQ_TOPIC, "dlq", "2592000000", "delete", NULL},
        {TASK_STATE_TOPIC, "state", "-1", "compact", "86400000"},
    };
    size_t covered = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        topic_policy p;
        char err[256];
        assert_int_equal(topic_policy_for(want[i].topic, &cfg, &p, err, sizeof err), 0);
        assert_string_equal(topic_class_name(p.cls), want[i].cls);
        expect(&p, "retention.ms", want[i].retention);
        expect(&p, "cleanup.policy", want[i].cleanup);
        expect(&p, "delete.retention.ms", want[i].tombstones);
        expect(&p, "min.insync.replicas", "1");
        expect(&p, "retention.bytes", "-1"); /* time only: no size limit on any class */
        covered++;
    }
    size_t n = 0;
    while (BUS_TOPICS[n] != NULL)
        n++;
    assert_int_equal(covered, n); /* a new topic needs a row here too */
    config_free(&cfg);
}

static void test_configured_policies(void **state) {
    (void)state;
    taskbus_config cfg;
    load_defaults(&cfg);
    cfg.events_retention_ms = 90LL * 86400000;
    cfg.commands_retention_ms = CONFIG_DURATION_FOREVER;
    cfg.dlq_retention_ms = 3600000;
    cfg.state_tombstone_retention_ms = 60000;
    cfg.kafka_min_insync_replicas = 2;
    topic_policy p;
    char err[256];
    assert_int_equal(topic_policy_for(TASK_EVENTS_TOPIC, &cfg, &p, err, sizeof err), 0);
    expect(&p, "retention.ms", "7776000000");
    expect(&p, "retention.bytes", "-1");
    expect(&p, "min.insync.replicas", "2");
    assert_int_equal(topic_policy_for(TASK_COMMANDS_TOPIC, &cfg, &p, err, sizeof err), 0);
    expect(&p, "retention.ms", "-1");
    assert_int_equal(topic_policy_for(NOTIFICATIONS_DLQ_TOPIC, &cfg, &p, err, sizeof err), 0);
    expect(&p, "retention.ms", "3600000");
    assert_int_equal(topic_policy_for(TASK_STATE_TOPIC, &cfg, &p, err, sizeof err), 0);
    expect(&p, "retention.ms", "-1"); /* the state is never expired, whatever else is */
    expect(&p, "delete.retention.ms", "60000");
    expect(&p, "min.insync.replicas", "2");
    config_free(&cfg);
}

static void test_unknown_topic(void **state) {
    (void)state;
    taskbus_config cfg;
    load_defaults(&cfg);
    topic_policy p;
    char err[256] = "";
    assert_int_equal(topic_policy_for("task-events-v2", &cfg, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "task-events-v2"));
    assert_int_equal(topic_policy_for(NULL, &cfg, &p, err, sizeof err), -1);
    topic_class cls;
    assert_int_equal(topic_class_of("reports.dlq", &cls), -1);
    config_free(&cfg);
}

static void test_replicas_below_min_insync(void **state) {
    (void)state;
    taskbus_config cfg;
    load_defaults(&cfg);
    cfg.kafka_min_insync_replicas = 2;
    topic_policy p;
    char err[512] = "";
    assert_int_equal(topic_policy_for(TASK_EVENTS_TOPIC, &cfg, &p, err, sizeof err), 0);
    assert_int_equal(topic_policy_check_replicas(&p, 3, err, sizeof err), 0);
    assert_int_equal(topic_policy_check_replicas(&p, 2, err, sizeof err), 0);
    assert_int_equal(topic_policy_check_replicas(&p, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "task-events"));
    assert_non_null(strstr(err, "replication factor 1"));
    assert_non_null(strstr(err, "min.insync.replicas=2"));
    cfg.kafka_min_insync_replicas = 1;
    assert_int_equal(topic_policy_for(TASK_STATE_TOPIC, &cfg, &p, err, sizeof err), 0);
    assert_int_equal(topic_policy_check_replicas(&p, 1, err, sizeof err), 0);
    config_free(&cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_bus_topic_has_a_class),
        cmocka_unit_test(test_default_policies),
        cmocka_unit_test(test_configured_policies),
        cmocka_unit_test(test_unknown_topic),
        cmocka_unit_test(test_replicas_below_min_insync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
