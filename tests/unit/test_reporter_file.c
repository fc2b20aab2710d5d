/*
 * test_reporter_file.c: the report file (workers/reporter/reporter_file.c) in a fresh
 * temporary folder: CSV fields quoted exactly when they hold a comma, a quote, CR or LF
 * (quotes doubled); user text (title, description, tags) starting with each of '=', '+',
 * '-', '@', TAB and CR prefixed with a single quote and quoted, everything else (other
 * first characters, those characters later in a cell, generated columns even when they
 * start with '-') untouched; the CSV header and rows (tags joined by ';', null as an empty field,
 * integers as numbers, CRLF line ends); the JSON array with one task a line, also empty;
 * the .part file that only the finish renames into place (with the size it reports), a
 * rewrite that replaces the old file whole, and an abort that leaves nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "workers/reporter/reporter_file.h"

#define REPORT_ID "0190f5a0-0000-7000-8000-0000000000aa"

typedef struct fixture {
    char dir[64];
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/test_reporter_file.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    char path[128];
    static const char *const NAMES[] = {REPORT_ID ".csv", REPORT_ID ".json", REPORT_ID ".csv.part",
                                        REPORT_ID ".json.part"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, NAMES[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* The whole content of path (caller frees), or NULL when it does not exist. */
static char *slurp(const char *path, long *len) {
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    assert_non_null(buf);
    *len = (long)fread(buf, 1, (1 << 16) - 1, fp);
    fclose(fp);
    return buf;
}

static char *file_of(const fixture *f, const char *name, long *len) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    return slurp(path, len);
}

/* The CSV field value writes. */
static void assert_csv_field(const char *value, const char *want) {
    char buf[256] = {0};
    FILE *mem = fmemopen(buf, sizeof buf - 1, "w");
    assert_non_null(mem);
    assert_int_equal(report_csv_field(mem, value), 0);
    fclose(mem);
    assert_string_equal(buf, want);
}

static void test_csv_quotes_only_when_needed(void **state) {
    (void)state;
    assert_csv_field("plain text", "plain text");
    assert_csv_field("", "");
    assert_csv_field("a,b", "\"a,b\"");
    assert_csv_field("say \"hi\"", "\"say \"\"hi\"\"\"");
    assert_csv_field("line\nbreak", "\"line\nbreak\"");
    assert_csv_field("cr\rhere", "\"cr\rhere\"");
    assert_csv_field("semi;colon 'single'", "semi;colon 'single'");
}

/* The CSV field report_csv_text writes for user text. */
static void assert_csv_text(const char *value, const char *want) {
    char buf[256] = {0};
    FILE *mem = fmemopen(buf, sizeof buf - 1, "w");
    assert_non_null(mem);
    assert_int_equal(report_csv_text(mem, value), 0);
    fclose(mem);
    assert_string_equal(buf, want);
}

static void test_csv_formula_leads_prefixed(void **state) {
    (void)state;
    assert_csv_text("=HYPERLINK(\"http://x\")", "\"'=HYPERLINK(\"\"http://x\"\")\"");
    assert_csv_text("=1+2", "\"'=1+2\"");
    assert_csv_text("+1", "\"'+1\"");
    assert_csv_text("-1", "\"'-1\"");
    assert_csv_text("-2+3+cmd|' /C calc'!A0", "\"'-2+3+cmd|' /C calc'!A0\"");
    assert_csv_text("@SUM(A1)", "\"'@SUM(A1)\"");
    assert_csv_text("\tx", "\"'\tx\"");
    assert_csv_text("\rx", "\"'\rx\"");
    assert_csv_text("=a,b", "\"'=a,b\"");
    assert_csv_text("=", "\"'=\"");
    for (const char *lead = "=+-@\t\r"; *lead != '\0'; lead++) {
        char value[4] = {*lead, 'v', '\0', '\0'};
        assert_true(report_csv_is_formula(value));
    }
}

static void test_csv_text_untouched(void **state) {
    (void)state;
    assert_csv_text("", "");
    assert_csv_text("plain", "plain");
    assert_csv_text("a=b", "a=b");
    assert_csv_text("1-2", "1-2");
    assert_csv_text(" =x", " =x"); /* only the very first character counts */
    assert_csv_text("'=x", "'=x"); /* already a literal for the spreadsheet */
    assert_csv_text("\n=x", "\"\n=x\"");
    assert_csv_text("a,b", "\"a,b\"");
    assert_csv_text("#x", "#x");
    assert_false(report_csv_is_formula(""));
    assert_false(report_csv_is_formula("x=1"));
    /* report_csv_field stays plain RFC 4180: generated cells are never prefixed. */
    assert_csv_field("-1", "-1");
    assert_csv_field("=x", "=x");
}

static json_t *task(const char *title, const char *due, json_t *tags) {
    json_t *t = json_pack("{s:s, s:s, s:n, s:s, s:s, s:s?, s:o, s:s, s:s, s:n, s:i}", "id",
                          "0190f5a0-0000-7000-8000-000000000001", "title", title, "description",
                          "status", "todo", "priority", "high", "due_at", due, "tags", tags,
                          "created_at", "2024-05-01T10:00:00.000Z", "updated_at",
                          "2024-05-02T10:00:00.000Z", "completed_at", "version", 3);
    assert_non_null(t);
    return t;
}

static void test_csv_file(void **state) {
    fixture *f = *state;
    report_file rf;
    char err[256];
    assert_int_equal(report_file_open(&rf, f->dir, REPORT_ID, "csv", err, sizeof err), 0);
    json_t *a = task("Buy milk, eggs", "2024-06-01T09:00:00.000Z", json_pack("[ss]", "home", "x"));
    json_t *b = task("Plain", NULL, json_array());
    assert_int_equal(report_file_add(&rf, a, err, sizeof err), 0);
    assert_int_equal(report_file_add(&rf, b, err, sizeof err), 0);
    json_decref(a);
    json_decref(b);
    long len = 0;
    char *part = file_of(f, REPORT_ID ".csv.part", &len);
    assert_non_null(part); /* written to the part file while it grows */
    free(part);
    assert_null(file_of(f, REPORT_ID ".csv", &len));
    long long size = -1;
    assert_int_equal(report_file_finish(&rf, &size, err, sizeof err), 0);
    assert_null(file_of(f, REPORT_ID ".csv.part", &len));
    char *csv = file_of(f, REPORT_ID ".csv", &len);
    assert_non_null(csv);
    assert_string_equal(
        csv,
        "id,title,description,status,priority,due_at,tags,created_at,updated_at,"
        "completed_at,version\r\n"
        "0190f5a0-0000-7000-8000-000000000001,\"Buy milk, eggs\",,todo,high,"
        "2024-06-01T09:00:00.000Z,home;x,2024-05-01T10:00:00.000Z,2024-05-02T10:00:00.000Z,,3\r\n"
        "0190f5a0-0000-7000-8000-000000000001,Plain,,todo,high,,,2024-05-01T10:00:00.000Z,"
        "2024-05-02T10:00:00.000Z,,3\r\n");
    assert_int_equal(size, len);
    assert_int_equal(rf.rows, 2);
    free(csv);
}

static void test_csv_file_escapes_only_user_text(void **state) {
    fixture *f = *state;
    report_file rf;
    char err[256];
    assert_int_equal(report_file_open(&rf, f->dir, REPORT_ID, "csv", err, sizeof err), 0);
    json_t *a = task("=HYPERLINK(\"http://x\")", "-0001-01-01T00:00:00.000Z",
                     json_pack("[ss]", "@evil", "ok"));
    json_object_set_new(a, "description", json_string("-5"));
    json_object_set_new(a, "version", json_integer(-7)); /* no such version; proves the rule */
    json_t *b = task("@SUM(A1)", NULL, json_pack("[ss]", "ok", "=not-first"));
    json_object_set_new(b, "description", json_string("\tindented"));
    assert_int_equal(report_file_add(&rf, a, err, sizeof err), 0);
    assert_int_equal(report_file_add(&rf, b, err, sizeof err), 0);
    json_decref(a);
    json_decref(b);
    long long size = -1;
    assert_int_equal(report_file_finish(&rf, &size, err, sizeof err), 0);
    long len = 0;
    char *csv = file_of(f, REPORT_ID ".csv", &len);
    assert_non_null(csv);
    assert_string_equal(
        csv, "id,title,description,status,priority,due_at,tags,created_at,updated_at,"
             "completed_at,version\r\n"
             "0190f5a0-0000-7000-8000-000000000001,\"'=HYPERLINK(\"\"http://x\"\")\",\"'-5\",todo,"
             "high,-0001-01-01T00:00:00.000Z,\"'@evil;ok\",2024-05-01T10:00:00.000Z,"
             "2024-05-02T10:00:00.000Z,,-7\r\n"
             "0190f5a0-0000-7000-8000-000000000001,\"'@SUM(A1)\",\"'\tindented\",todo,high,,"
             "ok;=not-first,2024-05-01T10:00:00.000Z,2024-05-02T10:00:00.000Z,,3\r\n");
    assert_int_equal(size, len);
    free(csv);
}

static void test_json_file_and_rewrite(void **state) {
    fixture *f = *state;
    report_file rf;
    char err[256];
    long long size = -1;
    long len = 0;
    /* Empty first: an empty array. */
    assert_int_equal(report_file_open(&rf, f->dir, REPORT_ID, "json", err, sizeof err), 0);
    assert_int_equal(report_file_finish(&rf, &size, err, sizeof err), 0);
    char *text = file_of(f, REPORT_ID ".json", &len);
    assert_non_null(text);
    assert_string_equal(text, "[]\n");
    assert_int_equal(size, 3);
    free(text);
    /* A rewrite (a replayed message) replaces it whole: one task a line. */
    assert_int_equal(report_file_open(&rf, f->dir, REPORT_ID, "json", err, sizeof err), 0);
    for (int i = 0; i < 2; i++) {
        json_t *t = json_pack("{s:s, s:i}", "title", i == 0 ? "a\"b" : "c", "version", i + 1);
        assert_int_equal(report_file_add(&rf, t, err, sizeof err), 0);
        json_decref(t);
    }
    assert_int_equal(report_file_finish(&rf, &size, err, sizeof err), 0);
    text = file_of(f, REPORT_ID ".json", &len);
    assert_non_null(text);
    assert_string_equal(text, "[\n{\"title\":\"a\\\"b\",\"version\":1},\n"
                              "{\"title\":\"c\",\"version\":2}\n]\n");
    assert_int_equal(size, len);
    json_error_t jerr;
    json_t *parsed = json_loads(text, 0, &jerr);
    assert_non_null(parsed);
    assert_int_equal(json_array_size(parsed), 2);
    json_decref(parsed);
    free(text);
}

static void test_abort_leaves_nothing(void **state) {
    fixture *f = *state;
    report_file rf;
    char err[256];
    long len = 0;
    assert_int_equal(report_file_open(&rf, f->dir, REPORT_ID, "csv", err, sizeof err), 0);
    json_t *empty = json_object();
    assert_int_equal(report_file_add(&rf, empty, err, sizeof err), 0);
    json_decref(empty);
    report_file_abort(&rf);
    assert_null(file_of(f, REPORT_ID ".csv.part", &len));
    assert_null(file_of(f, REPORT_ID ".csv", &len));
}

static void test_open_in_missing_folder_fails(void **state) {
    fixture *f = *state;
    report_file rf;
    char err[256] = "";
    char dir[128];
    snprintf(dir, sizeof dir, "%s/does-not-exist", f->dir);
    assert_int_equal(report_file_open(&rf, dir, REPORT_ID, "csv", err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot create"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_quotes_only_when_needed),
        cmocka_unit_test(test_csv_formula_leads_prefixed),
        cmocka_unit_test(test_csv_text_untouched),
        cmocka_unit_test_setup_teardown(test_csv_file_escapes_only_user_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_file_and_rewrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_in_missing_folder_fails, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
