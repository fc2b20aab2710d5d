/*
 * test_reporter_removals.c: what of workers/reporter/reporter_removals.c runs without
 * Postgres, in a fresh temporary folder: reporter_remove_file removes <dir>/<id>.<format>
 * and leaves every other file (the other format, the .part), takes an absent file as done
 * (also a second time), fails with the path in err when something else stands in the way (a folder
 * in its place), and refuses a name that is not a UUID with "csv" or "json" (a traversal, another
 * extension) and a path too long, touching nothing; reporter_removals_wait_ms runs the
 * next pass at once after a full one, after DAEMON_RETRY_MS after a failed one, and after
 * REPORTER_REMOVALS_EVERY_MS otherwise (also after an empty one). The pass's SQL is the
 * integration tests' (it needs Postgres).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "shared/daemon_startup.h"
#include "workers/reporter/reporter_removals.h"

#define REPORT_ID "0190f5a0-0000-7000-8000-0000000000ab"

typedef struct fixture {
    char dir[64];
} fixture;

static const char *const NAMES[] = {REPORT_ID ".csv", REPORT_ID ".json", REPORT_ID ".csv.part",
                                    "x.csv", "keep"};
#define NNAMES (sizeof NAMES / sizeof NAMES[0])

static void path_of(const fixture *f, const char *name, char *out, size_t len) {
    int n = snprintf(out, len, "%s/%s", f->dir, name);
    assert_true(n > 0 && (size_t)n < len);
}

static void write_file(const fixture *f, const char *name) {
    char path[160];
    path_of(f, name, path, sizeof path);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_true(fputs("id\r\n", fp) >= 0);
    assert_int_equal(fclose(fp), 0);
}

static bool exists(const fixture *f, const char *name) {
    char path[160];
    path_of(f, name, path, sizeof path);
    return access(path, F_OK) == 0;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/test_reporter_removals.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    char path[160];
    for (size_t i = 0; i < NNAMES; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, NAMES[i]);
        if (unlink(path) != 0)
            rmdir(path); /* the folder one test puts in a file's place */
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void test_removes_only_the_named_file(void **state) {
    fixture *f = *state;
    for (size_t i = 0; i < NNAMES; i++)
        write_file(f, NAMES[i]);
    char err[256] = "";
    assert_int_equal(reporter_remove_file(f->dir, REPORT_ID, "csv", err, sizeof err), 0);
    assert_false(exists(f, REPORT_ID ".csv"));
    for (size_t i = 1; i < NNAMES; i++)
        assert_true(exists(f, NAMES[i]));
    assert_int_equal(reporter_remove_file(f->dir, REPORT_ID, "json", err, sizeof err), 0);
    assert_false(exists(f, REPORT_ID ".json"));
    assert_true(exists(f, REPORT_ID ".csv.part"));
}

static void test_absent_is_fine(void **state) {
    fixture *f = *state;
    char err[256] = "";
    assert_int_equal(reporter_remove_file(f->dir, REPORT_ID, "csv", err, sizeof err), 0);
    assert_string_equal(err, "");
    /* twice, as the build and the removals pass may both remove it */
    write_file(f, REPORT_ID ".json");
    assert_int_equal(reporter_remove_file(f->dir, REPORT_ID, "json", err, sizeof err), 0);
    assert_int_equal(reporter_remove_file(f->dir, REPORT_ID, "json", err, sizeof err), 0);
}

static void test_other_failure_is_an_error(void **state) {
    fixture *f = *state;
    char path[160], err[512] = "";
    path_of(f, REPORT_ID ".csv", path, sizeof path);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(reporter_remove_file(f->dir, REPORT_ID, "csv", err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot remove"));
    assert_non_null(strstr(err, path));
    assert_true(exists(f, REPORT_ID ".csv"));
}

static void test_refuses_what_is_not_a_report_name(void **state) {
    fixture *f = *state;
    write_file(f, "x.csv");
    write_file(f, "keep");
    char err[256];
    static const char *const BAD_IDS[] = {"x", "../" REPORT_ID, "", REPORT_ID "/..",
                                          "0190f5a0-0000-7000-8000-0000000000a"};
    for (size_t i = 0; i < sizeof BAD_IDS / sizeof BAD_IDS[0]; i++) {
        err[0] = '\0';
        assert_int_equal(reporter_remove_file(f->dir, BAD_IDS[i], "csv", err, sizeof err), -1);
        assert_non_null(strstr(err, "not a report file name"));
    }
    static const char *const BAD_FORMATS[] = {"txt", "", "csv/../keep", "CSV", "csv.part"};
    for (size_t i = 0; i < sizeof BAD_FORMATS / sizeof BAD_FORMATS[0]; i++) {
        err[0] = '\0';
        assert_int_equal(reporter_remove_file(f->dir, REPORT_ID, BAD_FORMATS[i], err, sizeof err),
                         -1);
        assert_non_null(strstr(err, "not a report file name"));
    }
    assert_true(exists(f, "x.csv"));
    assert_true(exists(f, "keep"));
}

static void test_path_too_long(void **state) {
    (void)state;
    size_t len = 5000;
    char *dir = malloc(len + 1);
    assert_non_null(dir);
    memset(dir, 'd', len);
    dir[0] = '/';
    dir[len] = '\0';
    char err[256] = "";
    assert_int_equal(reporter_remove_file(dir, REPORT_ID, "csv", err, sizeof err), -1);
    assert_string_equal(err, "report path too long");
    free(dir);
}

static void test_wait_between_passes(void **state) {
    (void)state;
    assert_int_equal(reporter_removals_wait_ms(0, REPORTER_REMOVALS_BATCH), 0);
    assert_int_equal(reporter_removals_wait_ms(0, REPORTER_REMOVALS_BATCH - 1),
                     REPORTER_REMOVALS_EVERY_MS);
    assert_int_equal(reporter_removals_wait_ms(0, 1), REPORTER_REMOVALS_EVERY_MS);
    assert_int_equal(reporter_removals_wait_ms(0, 0), REPORTER_REMOVALS_EVERY_MS);
    assert_int_equal(reporter_removals_wait_ms(-1, 0), DAEMON_RETRY_MS);
    assert_int_equal(reporter_removals_wait_ms(-1, REPORTER_REMOVALS_BATCH), DAEMON_RETRY_MS);
    /* "within seconds": the cadence stays a short one */
    assert_true(REPORTER_REMOVALS_EVERY_MS > 0 && REPORTER_REMOVALS_EVERY_MS <= 5000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_removes_only_the_named_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absent_is_fine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_failure_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_what_is_not_a_report_name, setup, teardown),
        cmocka_unit_test(test_path_too_long),
        cmocka_unit_test(test_wait_between_passes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
