/*
 * test_metric_families.c: the daemons' metric families (shared/metric_families.c) and the
 * lag arithmetic (shared/kafka_lag.c), without a stack.
 *
 * Checks: label text is escaped and never truncated (too long: -1 and ""); attempt labels
 * cap at METRIC_ATTEMPT_CAP; a consumer batch makes one series per result with the group,
 * a duration histogram by group, and a skipped count only when there is one; each family
 * renders with its contract name and type; each service's counters exist at 0 from its
 * start; a partition's lag counts from the stored offset,
 * from the log's beginning without one or when retention passed it, never below 0; the
 * importer's sum counts only partitions with a stored offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "shared/kafka_lag.h"
#include "shared/metric_families.h"
#include "shared/metrics.h"

/* Fails unless the rendered registry holds line (a whole line). */
static void expect_line(const char *line) {
    char *text = metrics_render();
    assert_non_null(text);
    size_t n = strlen(line);
    bool found = false;
    for (const char *p = text; p != NULL && *p; p = strchr(p, '\n'), p = p != NULL ? p + 1 : p) {
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0')) {
            found = true;
            break;
        }
    }
    if (!found) {
        fail_msg("no line \"%s\" in:\n%s", line, text);
    }
    free(text);
}

static void expect_absent(const char *fragment) {
    char *text = metrics_render();
    assert_non_null(text);
    if (strstr(text, fragment) != NULL) {
        fail_msg("unexpected \"%s\" in:\n%s", fragment, text);
    }
    free(text);
}

static void labels_are_escaped(void **state) {
    (void)state;
    char out[128];
    const char *const kv[][2] = {{"group", "a\"b\\c\nd"}, {"result", "ok"}};
    assert_int_equal(metric_labels(out, sizeof out, 2, kv), 0);
    assert_string_equal(out, "group=\"a\\\"b\\\\c\\nd\",result=\"ok\"");
    assert_int_equal(metric_labels(out, sizeof out, 0, kv), 0);
    assert_string_equal(out, "");
}

static void labels_too_long_are_refused(void **state) {
    (void)state;
    char out[16];
    const char *const kv[][2] = {{"group", "taskbus-writer"}};
    assert_int_equal(metric_labels(out, sizeof out, 1, kv), -1);
    assert_string_equal(out, "");
    /* Exactly fitting: 22 characters and the NUL. */
    char fit[23];
    assert_int_equal(metric_labels(fit, sizeof fit, 1, kv), 0);
    assert_string_equal(fit, "group=\"taskbus-writer\"");
    char one_short[22];
    assert_int_equal(metric_labels(one_short, sizeof one_short, 1, kv), -1);
    /* An escape that would not fit whole is refused, not cut in half. */
    const char *const q[][2] = {{"k", "\"\""}};
    char tight[8]; /* k="\"\"" needs 9 */
    assert_int_equal(metric_labels(tight, sizeof tight, 1, q), -1);
}

static void attempts_are_capped(void **state) {
    (void)state;
    char out[8];
    assert_int_equal(metric_attempt_label(out, sizeof out, 1), 0);
    assert_string_equal(out, "1");
    assert_int_equal(metric_attempt_label(out, sizeof out, METRIC_ATTEMPT_CAP - 1), 0);
    assert_string_equal(out, "4");
    assert_int_equal(metric_attempt_label(out, sizeof out, METRIC_ATTEMPT_CAP), 0);
    assert_string_equal(out, "5+");
    assert_int_equal(metric_attempt_label(out, sizeof out, 100), 0);
    assert_string_equal(out, "5+");
    assert_int_equal(metric_attempt_label(out, sizeof out, 0), -1);
    assert_string_equal(out, "");
}

static void consumer_batches_are_counted_by_group_and_result(void **state) {
    (void)state;
    metric_consumer_labels *l = malloc(sizeof *l);
    assert_non_null(l);
    assert_int_equal(metric_consumer_labels_init(l, "tg-unit"), 0);
    assert_string_equal(l->ok, "group=\"tg-unit\",result=\"ok\"");
    metric_consumer_batch_done(l, 10, 0, 0.003);
    expect_absent("group=\"tg-unit\",result=\"skipped\"");
    metric_consumer_batch_done(l, 5, 2, 0.2);
    metric_consumer_batch_failed(l, 7);
    expect_line("# TYPE taskbus_consumer_records_total counter");
    expect_line("taskbus_consumer_records_total{group=\"tg-unit\",result=\"ok\"} 15");
    expect_line("taskbus_consumer_records_total{group=\"tg-unit\",result=\"skipped\"} 2");
    expect_line("taskbus_consumer_records_total{group=\"tg-unit\",result=\"failed\"} 7");
    expect_line("# TYPE taskbus_consumer_batches_total counter");
    expect_line("taskbus_consumer_batches_total{group=\"tg-unit\",result=\"ok\"} 2");
    expect_line("taskbus_consumer_batches_total{group=\"tg-unit\",result=\"failed\"} 1");
    expect_line("# TYPE taskbus_consumer_batch_duration_seconds histogram");
    expect_line("taskbus_consumer_batch_duration_seconds_bucket{group=\"tg-unit\",le=\"0.005\"} 1");
    expect_line("taskbus_consumer_batch_duration_seconds_count{group=\"tg-unit\"} 2");
    /* A group name that cannot be labelled is refused at creation. */
    char *huge = malloc(METRIC_LABELS_MAX + 1);
    assert_non_null(huge);
    memset(huge, 'g', METRIC_LABELS_MAX);
    huge[METRIC_LABELS_MAX] = '\0';
    assert_int_equal(metric_consumer_labels_init(l, huge), -1);
    free(huge);
    free(l);
}

static void every_family_renders_with_its_contract_name(void **state) {
    (void)state;
    metric_consumer_lag("taskbus-writer", "task-commands", 3, 42);
    metric_consumer_lag("taskbus-writer", "task-commands", 3, 7); /* a gauge: replaced */
    metric_outbox(12, 3.5);
    metric_dlq_pending("task-commands.dlq", 2);
    metric_dlq_record("task-commands.dlq");
    metric_dlq_record("task-commands.dlq");
    metric_webhook_delivery("delivered", 1);
    metric_webhook_delivery("retrying", 7);
    metric_email(true);
    metric_email(false);
    metric_reminders_fired(3);
    metric_reminders_fired(-1); /* ignored */
    metric_report_built("csv", true);
    metric_report_built("xlsx", false);
    metric_import_lines("produced", 100);
    metric_import_lines("retried", 0); /* nothing: no series */
    expect_line("# TYPE taskbus_consumer_lag gauge");
    expect_line(
        "taskbus_consumer_lag{group=\"taskbus-writer\",topic=\"task-commands\",partition=\"3\"} 7");
    expect_line("# TYPE taskbus_outbox_backlog gauge");
    expect_line("taskbus_outbox_backlog 12");
    expect_line("taskbus_outbox_oldest_age_seconds 3.5");
    expect_line("taskbus_dlq_pending{topic=\"task-commands.dlq\"} 2");
    expect_line("# TYPE taskbus_dlq_records_total counter");
    expect_line("taskbus_dlq_records_total{topic=\"task-commands.dlq\"} 2");
    expect_line("taskbus_webhook_deliveries_total{result=\"delivered\",attempt=\"1\"} 1");
    expect_line("taskbus_webhook_deliveries_total{result=\"retrying\",attempt=\"5+\"} 1");
    expect_line("taskbus_emails_total{result=\"sent\"} 1");
    expect_line("taskbus_emails_total{result=\"failed\"} 1");
    expect_line("taskbus_reminders_fired_total 3");
    expect_line("taskbus_reports_built_total{format=\"csv\",result=\"ok\"} 1");
    expect_line("taskbus_reports_built_total{format=\"other\",result=\"failed\"} 1");
    expect_line("taskbus_import_lines_total{result=\"produced\"} 100");
    expect_absent("result=\"retried\"");
    metric_outbox(0, -1); /* no row: the age is 0, never negative */
    expect_line("taskbus_outbox_oldest_age_seconds 0");
}

static void each_service_registers_its_counters_at_zero(void **state) {
    (void)state;
    metric_families_register("writer", "w-topic");
    metric_families_register("reporter", NULL);
    metric_families_register("importer", NULL);
    metric_families_register("api", NULL); /* none of these: nothing */
    metric_families_register(NULL, NULL);
    expect_line("taskbus_dlq_records_total{topic=\"w-topic.dlq\"} 0");
    expect_line("taskbus_reports_built_total{format=\"json\",result=\"failed\"} 0");
    expect_line("taskbus_import_lines_total{result=\"retried\"} 0");
    metric_consumer_labels *l = malloc(sizeof *l);
    assert_non_null(l);
    assert_int_equal(metric_consumer_labels_init(l, "tg-zero"), 0);
    metric_consumer_register(l);
    expect_line("taskbus_consumer_batches_total{group=\"tg-zero\",result=\"failed\"} 0");
    expect_line("taskbus_consumer_records_total{group=\"tg-zero\",result=\"skipped\"} 0");
    free(l);
}

static void lag_counts_from_the_stored_offset_or_the_beginning(void **state) {
    (void)state;
    kafka_lag_partition stored = {.high = 100, .low = 0, .stored = 60};
    assert_int_equal(kafka_lag_of(&stored), 40);
    kafka_lag_partition caught_up = {.high = 100, .low = 0, .stored = 100};
    assert_int_equal(kafka_lag_of(&caught_up), 0);
    kafka_lag_partition none = {.high = 100, .low = 30, .stored = KAFKA_LAG_NO_OFFSET};
    assert_int_equal(kafka_lag_of(&none), 70); /* the consumer starts at the beginning */
    kafka_lag_partition retention = {.high = 100, .low = 80, .stored = 10};
    assert_int_equal(kafka_lag_of(&retention), 20); /* what it skipped is gone, not owed */
    kafka_lag_partition ahead = {.high = 5, .low = 0, .stored = 9};
    assert_int_equal(kafka_lag_of(&ahead), 0); /* never negative (a watermark read late) */
    kafka_lag_partition empty = {.high = 0, .low = 0, .stored = KAFKA_LAG_NO_OFFSET};
    assert_int_equal(kafka_lag_of(&empty), 0);
}

static void importer_sum_counts_only_committed_partitions(void **state) {
    (void)state;
    kafka_lag_partition parts[4] = {
        {.high = 100, .stored = 60},
        {.high = 50, .stored = KAFKA_LAG_NO_OFFSET},
        {.high = 10, .stored = 12},
        {.high = 7, .stored = 0},
    };
    assert_int_equal(kafka_lag_applied_sum(parts, 4), 40 + 7);
    assert_int_equal(kafka_lag_applied_sum(parts, 0), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(labels_are_escaped),
        cmocka_unit_test(labels_too_long_are_refused),
        cmocka_unit_test(attempts_are_capped),
        cmocka_unit_test(consumer_batches_are_counted_by_group_and_result),
        cmocka_unit_test(every_family_renders_with_its_contract_name),
        cmocka_unit_test(each_service_registers_its_counters_at_zero),
        cmocka_unit_test(lag_counts_from_the_stored_offset_or_the_beginning),
        cmocka_unit_test(importer_sum_counts_only_committed_partitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
