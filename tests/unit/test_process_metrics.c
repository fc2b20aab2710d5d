/*
 * test_process_metrics.c: the process collector (shared/process_metrics.c), the
 * collectors of the registry (shared/metrics.c) and --version's text
 * (shared/build_info.c).
 *
 * The /proc parsers are fed fixed texts, including a command name holding spaces and
 * parentheses, and malformed ones; the live collector is checked against /proc/self
 * through the rendered registry.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/build_info.h"
#include "shared/metrics.h"
#include "shared/process_metrics.h"

/* A real line of /proc/<pid>/stat (Linux 6.x), with the command renamed. */
static const char STAT[] =
    "4242 (taskbus) (w r) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 150 0 0 20 0 9 0 "
    "123456 343142400 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0 "
    "0 0 0 0 0 0 0 0\n";

static void test_stat_fields(void **state) {
    (void)state;
    process_stat st;
    assert_int_equal(process_parse_stat(STAT, 100, &st), 0);
    assert_true(st.cpu_seconds > 3.999 && st.cpu_seconds < 4.001); /* (250 + 150) / 100 */
    assert_true(st.start_ticks == 123456.0);
    assert_true(st.virtual_bytes == 343142400.0);
    assert_true(st.resident_pages == 2048.0);
}

static void test_stat_malformed(void **state) {
    (void)state;
    process_stat st;
    assert_int_equal(process_parse_stat("4242 taskbus S 1 2 3", 100, &st), -1);
    assert_int_equal(process_parse_stat("4242 (taskbus) S 1 2 3 4 5", 100, &st), -1);
    assert_int_equal(process_parse_stat("4242 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 1 0 0 20 0 1 0 "
                                        "5 6 7\n",
                                        100, &st),
                     -1);
    assert_int_equal(process_parse_stat(STAT, 0, &st), -1);
    assert_int_equal(process_parse_stat(NULL, 100, &st), -1);
}

static void test_max_fds(void **state) {
    (void)state;
    const char *limits =
        "Limit                     Soft Limit           Hard Limit           Units\n"
        "Max cpu time              unlimited            unlimited            seconds\n"
        "Max open files            1024                 524288               files\n";
    double v = 0;
    assert_int_equal(process_parse_max_fds(limits, &v), 0);
    assert_true(v == 1024.0);
    assert_int_equal(process_parse_max_fds("Max open files            unlimited            "
                                           "unlimited            files\n",
                                           &v),
                     0);
    assert_true(v == -1.0);
    assert_int_equal(process_parse_max_fds("Max processes 10 10 processes\n", &v), -1);
    assert_int_equal(process_parse_max_fds("Max open files            lots  x\n", &v), -1);
}

static void test_boot_time(void **state) {
    (void)state;
    double v = 0;
    assert_int_equal(process_parse_boot_time("cpu  1 2 3\nintr 5 6 7\nbtime 1764720000\n"
                                             "processes 9\n",
                                             &v),
                     0);
    assert_true(v == 1764720000.0);
    assert_int_equal(process_parse_boot_time("cpu 1 2 3\n", &v), -1);
    assert_int_equal(process_parse_boot_time("btime soon\n", &v), -1);
}

/* The value of the sample line that starts with exactly `series `; -1 when absent. */
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

static void test_live_collector(void **state) {
    (void)state;
    process_metrics_register();
    process_metrics_register(); /* idempotent: one set of families */
    char *text = metrics_render();
    assert_non_null(text);
    assert_true(sample(text, "process_resident_memory_bytes") > 4096);
    assert_true(sample(text, "process_virtual_memory_bytes") >=
                sample(text, "process_resident_memory_bytes"));
    assert_true(sample(text, "process_open_fds") >= 3); /* stdin, stdout, stderr */
    assert_true(sample(text, "process_max_fds") >= sample(text, "process_open_fds"));
    assert_true(sample(text, "process_cpu_seconds_total") >= 0);
    assert_true(sample(text, "process_start_time_seconds") > 1.6e9);
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    char *once = strstr(text, "# TYPE process_open_fds gauge\n");
    assert_non_null(once);
    assert_null(strstr(once + 1, "# TYPE process_open_fds gauge\n"));
    free(text);
}

static void test_counter_set_only_rises(void **state) {
    (void)state;
    metrics_counter_set("test_pm_mirror_total", "a mirrored total", NULL, 5);
    metrics_counter_set("test_pm_mirror_total", "a mirrored total", NULL, 3);
    metrics_counter_set("test_pm_mirror_total", "a mirrored total", NULL, -1);
    char *text = metrics_render();
    assert_non_null(text);
    assert_true(sample(text, "test_pm_mirror_total") == 5);
    free(text);
}

static void test_build_info(void **state) {
    (void)state;
    char *argv_version[] = {"taskbus-x", "--version", NULL};
    char *argv_other[] = {"taskbus-x", "--version", "extra", NULL};
    assert_true(build_info_asked(2, argv_version));
    assert_false(build_info_asked(3, argv_other));
    assert_false(build_info_asked(1, argv_version));
    assert_true(strlen(build_info_version()) > 0);
    assert_true(strlen(build_info_commit()) > 0);

    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    build_info_print(f, "taskbus-x");
    assert_int_equal(fclose(f), 0);
    char want[256];
    snprintf(want, sizeof want, "taskbus-x %s (%s)\n", build_info_version(), build_info_commit());
    assert_string_equal(out, want);
    free(out);

    build_info_register("unit");
    char *text = metrics_render();
    assert_non_null(text);
    char series[256];
    snprintf(series, sizeof series,
             "taskbus_build_info{service=\"unit\",version=\"%s\",commit=\"%s\"}",
             build_info_version(), build_info_commit());
    assert_true(sample(text, series) == 1);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stat_fields),    cmocka_unit_test(test_stat_malformed),
        cmocka_unit_test(test_max_fds),        cmocka_unit_test(test_boot_time),
        cmocka_unit_test(test_live_collector), cmocka_unit_test(test_counter_set_only_rises),
        cmocka_unit_test(test_build_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
