/*
 * test_scheduler_observe.c: which consumer groups the scheduler's observer measures
 * (workers/scheduler/scheduler_observe.c), without a stack.
 *
 * Checks: every consumer group of shared/bus.h is observed once on its topic, the writer's
 * with the configured group and topic; groups on one topic are adjacent (the pass reads a
 * topic's watermarks once); a short output array is filled without overflow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "shared/bus.h"
#include "workers/scheduler/scheduler_observe.h"

static void every_group_is_observed_once(void **state) {
    (void)state;
    taskbus_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.writer_group = "my-writer";
    cfg.writer_topic = "my-commands";
    scheduler_observed got[OBSERVE_MAX_GROUPS + 2];
    size_t n = scheduler_observed_groups(&cfg, got, OBSERVE_MAX_GROUPS + 2);
    assert_int_equal(n, 9);
    static const char *const want[][2] = {
        {"my-writer", "my-commands"},           {NOTIFIER_GROUP, NOTIFICATIONS_TOPIC},
        {REPORTER_GROUP, REPORTS_TOPIC},        {WEBHOOKS_GROUP, TASK_EVENTS_TOPIC},
        {ANALYTICS_GROUP, TASK_EVENTS_TOPIC},   {ACTIVITY_GROUP, TASK_EVENTS_TOPIC},
        {WEBHOOKS_GROUP, TASK_EVENTS_V2_TOPIC}, {ANALYTICS_GROUP, TASK_EVENTS_V2_TOPIC},
        {ACTIVITY_GROUP, TASK_EVENTS_V2_TOPIC},
    };
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(got[i].group, want[i][0]);
        assert_string_equal(got[i].topic, want[i][1]);
    }
    /* One topic's groups are adjacent: a topic seen before never comes back later. */
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 2; j < n; j++) {
            if (strcmp(got[i].topic, got[j].topic) == 0) {
                assert_string_equal(got[j - 1].topic, got[i].topic);
            }
        }
    }
    scheduler_observed two[2];
    assert_int_equal(scheduler_observed_groups(&cfg, two, 2), 2);
    assert_string_equal(two[1].group, NOTIFIER_GROUP);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_group_is_observed_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
