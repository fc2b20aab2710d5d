/*
 * test_metrics.c: the Prometheus registry and its text exposition (shared/metrics.c).
 *
 * The output is parsed back line by line: every line is a HELP, a TYPE or a sample; each
 * family has exactly one HELP and one TYPE before its samples; histogram buckets are
 * cumulative, end in +Inf equal to _count, and _sum adds up. The registry is process-wide,
 * so each test uses its own metric names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/metrics.h"

/* The value of the sample line that starts with exactly `series ` ; -1 when absent. */
static double sample(const char *text, const char *series) {
    size_t n = strlen(series);
    for (const char *line = text; line != NULL && *line;) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return -1;
}

static int count_lines_starting(const char *text, const char *prefix) {
    int count = 0;
    size_t n = strlen(prefix);
    for (const char *line = text; line != NULL && *line;) {
        if (strncmp(line, prefix, n) == 0)
            count++;
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return count;
}

/* Every line is well formed: "# HELP n t", "# TYPE n type", or "series value". */
static void check_format(const char *text) {
    assert_true(text[0] != '\0');
    assert_int_equal(text[strlen(text) - 1], '\n');
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        char buf[512];
        size_t len = (size_t)(end - line);
        assert_true(len < sizeof buf);
        memcpy(buf, line, len);
        buf[len] = '\0';
        if (strncmp(buf, "# HELP ", 7) == 0) {
            assert_non_null(strchr(buf + 7, ' '));
        } else if (strncmp(buf, "# TYPE ", 7) == 0) {
            const char *type = strrchr(buf, ' ') + 1;
            assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                        strcmp(type, "histogram") == 0);
        } else {
            char *space = strrchr(buf, ' ');
            assert_non_null(space);
            char *endp = NULL;
            strtod(space + 1, &endp);
            if (*endp != '\0')
                fail_msg("sample value does not parse: %s", buf);
            assert_true((buf[0] >= 'a' && buf[0] <= 'z') || buf[0] == '_');
            char *brace = strchr(buf, '{');
            if (brace != NULL && brace < space)
                assert_int_equal(space[-1], '}');
        }
        line = end + 1;
    }
}

static void test_counter(void **state) {
    (void)state;
    metrics_counter_add("tc_requests_total", "Requests.", "route=\"/a\",status=\"200\"", 1);
    metrics_counter_add("tc_requests_total", "Requests.", "route=\"/a\",status=\"200\"", 2);
    metrics_counter_add("tc_requests_total", "Requests.", "route=\"/b\",status=\"404\"", 1);
    metrics_counter_add("tc_plain_total", "No labels.", NULL, 5);
    metrics_counter_add("tc_plain_total", "No labels.", NULL, -3); /* ignored: counters rise */
    char *text = metrics_render();
    assert_non_null(text);
    check_format(text);
    assert_true(sample(text, "tc_requests_total{route=\"/a\",status=\"200\"}") == 3);
    assert_true(sample(text, "tc_requests_total{route=\"/b\",status=\"404\"}") == 1);
    assert_true(sample(text, "tc_plain_total") == 5);
    assert_int_equal(count_lines_starting(text, "# HELP tc_requests_total "), 1);
    assert_int_equal(count_lines_starting(text, "# TYPE tc_requests_total counter"), 1);
    assert_non_null(strstr(text, "# HELP tc_requests_total Requests.\n"));
    free(text);
}

static void test_gauge(void **state) {
    (void)state;
    metrics_gauge_set("tg_lag", "Lag.", "partition=\"0\"", 42);
    metrics_gauge_set("tg_lag", "Lag.", "partition=\"0\"", 7.5);
    char *text = metrics_render();
    assert_non_null(text);
    check_format(text);
    assert_true(sample(text, "tg_lag{partition=\"0\"}") == 7.5);
    assert_int_equal(count_lines_starting(text, "# TYPE tg_lag gauge"), 1);
    free(text);
}

static void test_histogram(void **state) {
    (void)state;
    const char *l = "route=\"/x\"";
    double values[] = {0.0001, 0.0005, 0.003, 0.2, 0.2, 7, 30};
    double sum = 0;
    for (size_t i = 0; i < 7; i++) {
        metrics_histogram_observe("th_seconds", "Latency.", l, values[i]);
        sum += values[i];
    }
    metrics_histogram_observe("th_seconds", "Latency.", NULL, 1);
    char *text = metrics_render();
    assert_non_null(text);
    check_format(text);
    assert_int_equal(count_lines_starting(text, "# TYPE th_seconds histogram"), 1);
    assert_int_equal(count_lines_starting(text, "# HELP th_seconds "), 1);
    assert_true(sample(text, "th_seconds_bucket{route=\"/x\",le=\"0.0005\"}") == 2);
    assert_true(sample(text, "th_seconds_bucket{route=\"/x\",le=\"0.001\"}") == 2);
    assert_true(sample(text, "th_seconds_bucket{route=\"/x\",le=\"0.005\"}") == 3);
    assert_true(sample(text, "th_seconds_bucket{route=\"/x\",le=\"0.25\"}") == 5);
    assert_true(sample(text, "th_seconds_bucket{route=\"/x\",le=\"10\"}") == 6);
    assert_true(sample(text, "th_seconds_bucket{route=\"/x\",le=\"+Inf\"}") == 7);
    assert_true(sample(text, "th_seconds_count{route=\"/x\"}") == 7);
    double got = sample(text, "th_seconds_sum{route=\"/x\"}");
    assert_true(got > sum - 1e-9 && got < sum + 1e-9);
    /* Unlabelled series of the same family. */
    assert_true(sample(text, "th_seconds_bucket{le=\"1\"}") == 1);
    assert_true(sample(text, "th_seconds_bucket{le=\"0.5\"}") == 0);
    assert_true(sample(text, "th_seconds_count") == 1);
    assert_true(sample(text, "th_seconds_sum") == 1);
    /* Buckets are non-decreasing in order of appearance. */
    const char *p = text;
    double prev = -1;
    while ((p = strstr(p, "th_seconds_bucket{route=\"/x\"")) != NULL) {
        double v = strtod(strchr(p, ' ') + 1, NULL);
        assert_true(v >= prev);
        prev = v;
        p++;
    }
    assert_int_equal(count_lines_starting(text, "th_seconds_bucket{route=\"/x\""), 15);
    free(text);
}

static void test_type_clash_ignored(void **state) {
    (void)state;
    metrics_counter_add("tx_thing", "A counter.", NULL, 1);
    metrics_gauge_set("tx_thing", "Now a gauge?", NULL, 99);
    char *text = metrics_render();
    assert_non_null(text);
    check_format(text);
    assert_true(sample(text, "tx_thing") == 1);
    assert_int_equal(count_lines_starting(text, "# TYPE tx_thing "), 1);
    free(text);
}

static void *hammer(void *arg) {
    (void)arg;
    for (int i = 0; i < 10000; i++) {
        metrics_counter_add("tt_ops_total", "Ops.", "worker=\"all\"", 1);
        metrics_histogram_observe("tt_op_seconds", "Op latency.", NULL, 0.001);
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    char *text = metrics_render();
    assert_non_null(text);
    check_format(text);
    assert_true(sample(text, "tt_ops_total{worker=\"all\"}") == 40000);
    assert_true(sample(text, "tt_op_seconds_count") == 40000);
    assert_true(sample(text, "tt_op_seconds_bucket{le=\"0.001\"}") == 40000);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter),   cmocka_unit_test(test_gauge),
        cmocka_unit_test(test_histogram), cmocka_unit_test(test_type_clash_ignored),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
