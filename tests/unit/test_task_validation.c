/*
 * test_task_validation.c: task create/patch validation and predicted tasks
 * (api/task_validation.c).
 *
 * Owns: the boundaries of docs/decisions.md ("Tasks") as the API applies them: title
 * 1-200 code points (not only whitespace, untrimmed), description up to 10 000, the two
 * enumerations, due_at RFC 3339 with an offset normalised to UTC milliseconds, at most 20
 * distinct tags of 1-50 characters, unknown and read-only members, every bad field
 * listed; merge-patch nulls; and that the task predicted for a 202 follows the writer's
 * rules for defaults, completed_at and version.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/task_validation.h"

static json_t *parse(const char *text) {
    json_error_t err;
    json_t *v = json_loads(text, 0, &err);
    if (v == NULL)
        print_message("bad test JSON: %s\n", err.text);
    assert_non_null(v);
    return v;
}

static bool has_error(const json_t *errors, const char *field) {
    size_t i;
    const json_t *e;
    json_array_foreach(errors, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0)
            return json_is_string(json_object_get(e, "message"));
    }
    return false;
}

/* Validates a create body; the error count, *fields (may be NULL) and *errors out. */
static int create(const char *text, json_t **fields, json_t **errors) {
    json_t *body = parse(text);
    *errors = json_array();
    json_t *f = NULL;
    int n = task_validate_create(body, &f, *errors);
    json_decref(body);
    assert_int_equal(n > 0, f == NULL);
    assert_int_equal((size_t)n, json_array_size(*errors));
    if (fields != NULL)
        *fields = f;
    else
        json_decref(f);
    return n;
}

/* True when the create body is refused with an error on field. */
static bool refused(const char *text, const char *field) {
    json_t *errors;
    int n = create(text, NULL, &errors);
    bool ok = n > 0 && has_error(errors, field);
    if (!ok)
        print_message("expected %s refused in %s\n", field, text);
    json_decref(errors);
    return ok;
}

static bool accepted(const char *text) {
    json_t *errors;
    int n = create(text, NULL, &errors);
    if (n != 0) {
        char *dump = json_dumps(errors, 0);
        print_message("expected %s accepted, got %s\n", text, dump);
        free(dump);
    }
    json_decref(errors);
    return n == 0;
}

/* A JSON string literal of n copies of unit (UTF-8). */
static char *repeat_body(const char *prefix, const char *unit, size_t n, const char *suffix) {
    size_t ulen = strlen(unit);
    size_t len = strlen(prefix) + ulen * n + strlen(suffix) + 1;
    char *s = malloc(len);
    assert_non_null(s);
    char *p = s + sprintf(s, "%s", prefix);
    for (size_t i = 0; i < n; i++, p += ulen)
        memcpy(p, unit, ulen);
    sprintf(p, "%s", suffix);
    return s;
}

static void minimal_create_gets_defaults(void **state) {
    (void)state;
    json_t *fields, *errors;
    assert_int_equal(create("{\"title\":\"Buy milk\"}", &fields, &errors), 0);
    json_t *want = parse("{\"title\":\"Buy milk\",\"description\":\"\",\"status\":\"todo\","
                         "\"priority\":\"medium\",\"due_at\":null,\"tags\":[]}");
    assert_true(json_equal(fields, want));
    json_decref(want);
    json_decref(fields);
    json_decref(errors);
}

static void full_create_is_normalised(void **state) {
    (void)state;
    json_t *fields, *errors;
    assert_int_equal(create("{\"title\":\"  Ship  \",\"description\":\"line 1\\nline 2\\t.\","
                            "\"status\":\"done\",\"priority\":\"urgent\","
                            "\"due_at\":\"2030-01-31T17:00:00.123456+02:00\","
                            "\"tags\":[\"a\",\"B\",\"b\"]}",
                            &fields, &errors),
                     0);
    /* The title is kept as sent; due_at becomes UTC with milliseconds. */
    assert_string_equal(json_string_value(json_object_get(fields, "title")), "  Ship  ");
    assert_string_equal(json_string_value(json_object_get(fields, "due_at")),
                        "2030-01-31T15:00:00.123Z");
    assert_string_equal(json_string_value(json_object_get(fields, "status")), "done");
    assert_int_equal(json_array_size(json_object_get(fields, "tags")), 3);
    json_decref(fields);
    json_decref(errors);
}

static void title_bounds_count_code_points(void **state) {
    (void)state;
    char *ok = repeat_body("{\"title\":\"", "\xc3\xa9", 200, "\"}");            /* 200 x é */
    char *long_ = repeat_body("{\"title\":\"", "\xf0\x9f\x98\x80", 201, "\"}"); /* 201 x 😀 */
    char *ascii = repeat_body("{\"title\":\"", "x", 201, "\"}");
    assert_true(accepted(ok));
    assert_true(refused(long_, "title"));
    assert_true(refused(ascii, "title"));
    free(ok);
    free(long_);
    free(ascii);
    assert_true(accepted("{\"title\":\"x\"}"));
}

static void bad_titles_are_refused(void **state) {
    (void)state;
    assert_true(refused("{}", "title"));
    assert_true(refused("{\"title\":\"\"}", "title"));
    assert_true(refused("{\"title\":\"   \"}", "title"));
    assert_true(refused("{\"title\":\"\\u00a0\\u3000\\u200b\"}", "title"));
    assert_true(refused("{\"title\":\"a\\nb\"}", "title"));
    assert_true(refused("{\"title\":\"a\\u0007\"}", "title"));
    assert_true(refused("{\"title\":null}", "title"));
    assert_true(refused("{\"title\":5}", "title"));
    assert_true(refused("{\"title\":[\"x\"]}", "title"));
}

static void description_rules(void **state) {
    (void)state;
    char *max = repeat_body("{\"title\":\"t\",\"description\":\"", "\xe2\x82\xac", 10000, "\"}");
    char *over = repeat_body("{\"title\":\"t\",\"description\":\"", "d", 10001, "\"}");
    assert_true(accepted(max));
    assert_true(refused(over, "description"));
    free(max);
    free(over);
    assert_true(accepted("{\"title\":\"t\",\"description\":\"\"}"));
    assert_true(accepted("{\"title\":\"t\",\"description\":\"a\\r\\nb\\tc\"}"));
    assert_true(refused("{\"title\":\"t\",\"description\":\"a\\u001bb\"}", "description"));
    assert_true(refused("{\"title\":\"t\",\"description\":null}", "description"));
}

static void enumerations(void **state) {
    (void)state;
    const char *statuses[] = {"todo", "in_progress", "done"};
    const char *priorities[] = {"low", "medium", "high", "urgent"};
    char body[128];
    for (size_t i = 0; i < 3; i++) {
        snprintf(body, sizeof body, "{\"title\":\"t\",\"status\":\"%s\"}", statuses[i]);
        assert_true(accepted(body));
    }
    for (size_t i = 0; i < 4; i++) {
        snprintf(body, sizeof body, "{\"title\":\"t\",\"priority\":\"%s\"}", priorities[i]);
        assert_true(accepted(body));
    }
    assert_true(refused("{\"title\":\"t\",\"status\":\"Done\"}", "status"));
    assert_true(refused("{\"title\":\"t\",\"status\":\"closed\"}", "status"));
    assert_true(refused("{\"title\":\"t\",\"status\":1}", "status"));
    assert_true(refused("{\"title\":\"t\",\"priority\":\"critical\"}", "priority"));
    assert_true(refused("{\"title\":\"t\",\"priority\":null}", "priority"));
}

static void due_at_rules(void **state) {
    (void)state;
    assert_true(accepted("{\"title\":\"t\",\"due_at\":null}"));
    assert_true(accepted("{\"title\":\"t\",\"due_at\":\"2030-01-31T17:00:00Z\"}"));
    assert_true(accepted("{\"title\":\"t\",\"due_at\":\"2030-01-31t17:00:00z\"}"));
    assert_true(accepted("{\"title\":\"t\",\"due_at\":\"2028-02-29T00:00:00-12:30\"}"));
    const char *bad[] = {"2030-01-31",
                         "2030-01-31T17:00:00",
                         "2030-01-31 17:00:00Z",
                         "2030-02-30T00:00:00Z",
                         "2029-02-29T00:00:00Z",
                         "2030-01-31T24:00:00Z",
                         "2030-01-31T23:59:60Z",
                         "2030-01-31T17:00Z",
                         "2030-01-31T17:00:00+0200",
                         "2030-01-31T17:00:00.Z",
                         "0000-01-01T00:00:00Z",
                         "0001-01-01T00:00:00+01:00",
                         "tomorrow",
                         "",
                         NULL};
    char body[128];
    for (size_t i = 0; bad[i] != NULL; i++) {
        snprintf(body, sizeof body, "{\"title\":\"t\",\"due_at\":\"%s\"}", bad[i]);
        assert_true(refused(body, "due_at"));
    }
    assert_true(refused("{\"title\":\"t\",\"due_at\":1700000000}", "due_at"));
}

static void rfc3339_values(void **state) {
    (void)state;
    int64_t ms;
    assert_int_equal(task_parse_rfc3339("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(task_parse_rfc3339("1970-01-01T01:00:00.5+01:00", &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(task_parse_rfc3339("1969-12-31T23:59:59.999Z", &ms), 0);
    assert_int_equal(ms, -1);
    assert_int_equal(task_parse_rfc3339("9999-12-31T23:59:59.999Z", &ms), 0);
    assert_int_equal(task_parse_rfc3339("9999-12-31T23:59:59-01:00", &ms), -1);
}

static void tag_rules(void **state) {
    (void)state;
    char body[1024];
    size_t n = (size_t)sprintf(body, "{\"title\":\"t\",\"tags\":[");
    for (int i = 0; i < 20; i++)
        n += (size_t)sprintf(body + n, "%s\"t%d\"", i > 0 ? "," : "", i);
    sprintf(body + n, "]}");
    assert_true(accepted(body));
    body[n] = '\0';
    sprintf(body + n, ",\"t20\"]}");
    assert_true(refused(body, "tags"));
    char *tag50 = repeat_body("{\"title\":\"t\",\"tags\":[\"", "\xc3\xbc", 50, "\"]}");
    char *tag51 = repeat_body("{\"title\":\"t\",\"tags\":[\"ok\",\"", "u", 51, "\"]}");
    assert_true(accepted(tag50));
    assert_true(refused(tag51, "tags[1]"));
    free(tag50);
    free(tag51);
    assert_true(refused("{\"title\":\"t\",\"tags\":[\"a\",\"b\",\"a\"]}", "tags[2]"));
    assert_true(refused("{\"title\":\"t\",\"tags\":[\"\"]}", "tags[0]"));
    assert_true(refused("{\"title\":\"t\",\"tags\":[\" \"]}", "tags[0]"));
    assert_true(refused("{\"title\":\"t\",\"tags\":[\"a\",3]}", "tags[1]"));
    assert_true(refused("{\"title\":\"t\",\"tags\":\"a\"}", "tags"));
    assert_true(refused("{\"title\":\"t\",\"tags\":null}", "tags"));
}

static void unknown_and_read_only_members(void **state) {
    (void)state;
    assert_true(refused("{\"title\":\"t\",\"titel\":\"x\"}", "titel"));
    assert_true(refused("{\"title\":\"t\",\"id\":\"x\"}", "id"));
    assert_true(refused("{\"title\":\"t\",\"version\":3}", "version"));
    assert_true(refused("{\"title\":\"t\",\"created_at\":null}", "created_at"));
}

static void every_bad_field_is_listed(void **state) {
    (void)state;
    json_t *errors;
    int n = create("{\"title\":\"\",\"status\":\"x\",\"priority\":\"y\",\"due_at\":\"z\","
                   "\"tags\":[\"ok\",\"\",\"ok\"],\"owner\":1}",
                   NULL, &errors);
    assert_int_equal(n, 7);
    const char *fields[] = {"title", "status", "priority", "due_at", "tags[1]", "tags[2]", "owner"};
    for (size_t i = 0; i < 7; i++)
        assert_true(has_error(errors, fields[i]));
    json_decref(errors);
}

static int patch(const char *text, json_t **out, json_t **errors) {
    json_t *body = parse(text);
    *errors = json_array();
    int n = task_validate_patch(body, out, *errors);
    json_decref(body);
    assert_int_equal(n > 0, *out == NULL);
    return n;
}

static void patch_rules(void **state) {
    (void)state;
    json_t *p, *errors;
    assert_int_equal(patch("{\"due_at\":null}", &p, &errors), 0);
    assert_true(json_is_null(json_object_get(p, "due_at")));
    assert_int_equal(json_object_size(p), 1);
    json_decref(p);
    json_decref(errors);

    assert_int_equal(
        patch("{\"due_at\":\"2030-06-01T12:00:00-02:00\",\"status\":\"done\"}", &p, &errors), 0);
    assert_string_equal(json_string_value(json_object_get(p, "due_at")),
                        "2030-06-01T14:00:00.000Z");
    assert_int_equal(json_object_size(p), 2);
    json_decref(p);
    json_decref(errors);

    assert_int_equal(patch("{}", &p, &errors), 1);
    json_decref(errors);
    assert_int_equal(
        patch("{\"title\":null,\"description\":null,\"tags\":null,\"id\":\"x\"}", &p, &errors), 4);
    assert_true(has_error(errors, "title"));
    assert_true(has_error(errors, "description"));
    assert_true(has_error(errors, "tags"));
    assert_true(has_error(errors, "id"));
    json_decref(errors);
}

static void predicted_create(void **state) {
    (void)state;
    json_t *fields, *errors;
    assert_int_equal(create("{\"title\":\"t\",\"status\":\"done\"}", &fields, &errors), 0);
    json_t *task = task_predict_create("0190a000-0000-7000-8000-000000000001", fields,
                                       1767225600000LL); /* 2026-01-01T00:00:00Z */
    assert_non_null(task);
    assert_string_equal(json_string_value(json_object_get(task, "id")),
                        "0190a000-0000-7000-8000-000000000001");
    assert_int_equal(json_integer_value(json_object_get(task, "version")), 1);
    assert_string_equal(json_string_value(json_object_get(task, "created_at")),
                        "2026-01-01T00:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(task, "updated_at")),
                        "2026-01-01T00:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(task, "completed_at")),
                        "2026-01-01T00:00:00.000Z");
    assert_int_equal(json_object_size(task), 11);
    /* Serialised in the model's member order, like a task read back later. */
    char *text = json_dumps(task, JSON_COMPACT);
    assert_non_null(strstr(text, "{\"id\":\"0190a000-0000-7000-8000-000000000001\",\"title\":"));
    assert_non_null(strstr(text, "\"completed_at\":\"2026-01-01T00:00:00.000Z\",\"version\":1}"));
    free(text);
    json_decref(task);
    json_decref(fields);
    json_decref(errors);
}

static void predicted_update(void **state) {
    (void)state;
    json_t *current = parse(
        "{\"id\":\"x\",\"title\":\"t\",\"description\":\"d\",\"status\":\"todo\","
        "\"priority\":\"low\",\"due_at\":\"2030-01-01T00:00:00.000Z\",\"tags\":[\"a\"],"
        "\"created_at\":\"2025-01-01T00:00:00.000Z\",\"updated_at\":\"2025-01-01T00:00:00.000Z\","
        "\"completed_at\":null,\"version\":4}");
    json_t *p = parse("{\"status\":\"done\",\"due_at\":null,\"tags\":[]}");
    json_t *next = task_predict_update(current, p, 1767225600000LL);
    assert_int_equal(json_integer_value(json_object_get(next, "version")), 5);
    assert_string_equal(json_string_value(json_object_get(next, "completed_at")),
                        "2026-01-01T00:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(next, "updated_at")),
                        "2026-01-01T00:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(next, "created_at")),
                        "2025-01-01T00:00:00.000Z");
    assert_true(json_is_null(json_object_get(next, "due_at")));
    assert_int_equal(json_array_size(json_object_get(next, "tags")), 0);
    assert_string_equal(json_string_value(json_object_get(next, "description")), "d");
    assert_int_equal(json_integer_value(json_object_get(current, "version")), 4);

    /* Done stays done with its first completion time; leaving done clears it. */
    json_t *again = task_predict_update(next, p, 1767312000000LL);
    assert_string_equal(json_string_value(json_object_get(again, "completed_at")),
                        "2026-01-01T00:00:00.000Z");
    json_t *reopen = parse("{\"status\":\"in_progress\"}");
    json_t *open = task_predict_update(again, reopen, 1767398400000LL);
    assert_true(json_is_null(json_object_get(open, "completed_at")));
    assert_int_equal(json_integer_value(json_object_get(open, "version")), 7);
    json_decref(open);
    json_decref(reopen);
    json_decref(again);
    json_decref(next);
    json_decref(p);
    json_decref(current);
}

#define DUE ",\"due_at\":\"2030-01-07T08:00:00Z\""

static void recurrence_rules(void **state) {
    (void)state;
    json_t *fields, *errors;
    assert_int_equal(create("{\"title\":\"t\"" DUE ",\"recurrence\":{\"rule\":\"rrule:count=3;"
                            "freq=weekly\",\"time_zone\":\"Europe/Berlin\"}}",
                            &fields, &errors),
                     0);
    json_t *r = json_object_get(fields, "recurrence");
    assert_string_equal(json_string_value(json_object_get(r, "rule")), "FREQ=WEEKLY;COUNT=3");
    assert_string_equal(json_string_value(json_object_get(r, "time_zone")), "Europe/Berlin");
    json_decref(fields);
    json_decref(errors);
    /* null means none, and a task without one has no member */
    assert_int_equal(create("{\"title\":\"t\",\"recurrence\":null}", &fields, &errors), 0);
    assert_null(json_object_get(fields, "recurrence"));
    json_decref(fields);
    json_decref(errors);

    assert_true(refused("{\"title\":\"t\",\"recurrence\":{\"rule\":\"FREQ=DAILY\","
                        "\"time_zone\":\"UTC\"}}",
                        "due_at"));
    assert_true(refused("{\"title\":\"t\"" DUE ",\"recurrence\":\"FREQ=DAILY\"}", "recurrence"));
    assert_true(refused("{\"title\":\"t\"" DUE ",\"recurrence\":{\"time_zone\":\"UTC\"}}",
                        "recurrence.rule"));
    assert_true(refused("{\"title\":\"t\"" DUE ",\"recurrence\":{\"rule\":\"FREQ=DAILY\"}}",
                        "recurrence.time_zone"));
    assert_true(refused("{\"title\":\"t\"" DUE ",\"recurrence\":{\"rule\":\"FREQ=DAILY\","
                        "\"time_zone\":\"UTC\",\"start\":1}}",
                        "recurrence.start"));
    assert_true(refused("{\"title\":\"t\"" DUE ",\"recurrence\":{\"rule\":\"FREQ=DAILY\","
                        "\"time_zone\":\"../etc/passwd\"}}",
                        "recurrence.time_zone"));
    /* a bad rule: the error names the part at the start of its message */
    assert_int_equal(create("{\"title\":\"t\"" DUE ",\"recurrence\":{\"rule\":\"FREQ=WEEKLY;"
                            "BYDAY=XX\",\"time_zone\":\"UTC\"}}",
                            NULL, &errors),
                     1);
    const char *msg = json_string_value(json_object_get(json_array_get(errors, 0), "message"));
    assert_true(has_error(errors, "recurrence.rule"));
    assert_int_equal(strncmp(msg, "BYDAY: ", 7), 0);
    json_decref(errors);

    json_t *p;
    assert_int_equal(patch("{\"recurrence\":null}", &p, &errors), 0);
    assert_true(json_is_null(json_object_get(p, "recurrence")));
    json_decref(p);
    json_decref(errors);
    /* a patch that leaves due_at alone is the writer's to judge; one that clears it is not */
    assert_int_equal(
        patch("{\"recurrence\":{\"rule\":\"FREQ=DAILY\",\"time_zone\":\"UTC\"}}", &p, &errors), 0);
    json_decref(p);
    json_decref(errors);
    assert_int_equal(patch("{\"due_at\":null,\"recurrence\":{\"rule\":\"FREQ=DAILY\","
                           "\"time_zone\":\"UTC\"}}",
                           &p, &errors),
                     1);
    assert_true(has_error(errors, "due_at"));
    json_decref(errors);
}

static void predicted_recurrence(void **state) {
    (void)state;
    json_t *current = parse(
        "{\"id\":\"x\",\"title\":\"t\",\"description\":\"\",\"status\":\"todo\","
        "\"priority\":\"low\",\"due_at\":\"2030-01-01T00:00:00.000Z\",\"tags\":[],"
        "\"recurrence\":{\"rule\":\"FREQ=DAILY\",\"time_zone\":\"UTC\"},"
        "\"created_at\":\"2025-01-01T00:00:00.000Z\",\"updated_at\":\"2025-01-01T00:00:00.000Z\","
        "\"completed_at\":null,\"version\":4}");
    json_t *title = parse("{\"title\":\"u\"}");
    json_t *done = parse("{\"status\":\"done\"}");
    json_t *stop = parse("{\"recurrence\":null}");
    json_t *kept = task_predict_update(current, title, 1767225600000LL);
    json_t *completed = task_predict_update(current, done, 1767225600000LL);
    json_t *stopped = task_predict_update(current, stop, 1767225600000LL);
    assert_non_null(json_object_get(kept, "recurrence"));
    char *text = json_dumps(kept, JSON_COMPACT);
    assert_non_null(strstr(text, "\"tags\":[],\"recurrence\":{"));
    free(text);
    assert_null(json_object_get(completed, "recurrence")); /* handed on */
    assert_null(json_object_get(stopped, "recurrence"));
    json_decref(kept);
    json_decref(completed);
    json_decref(stopped);
    json_decref(title);
    json_decref(done);
    json_decref(stop);
    json_decref(current);
}

/* A create may name a project (lower-cased), a patch moves the task to one (not null), an
 * import item may not leave the Inbox, and a project id that is not a UUID is refused. */
static void project_id_on_create_and_patch(void **state) {
    (void)state;
    json_t *fields, *errors;
    assert_int_equal(
        create("{\"title\":\"t\",\"project_id\":\"0190F5A0-0000-7000-8000-0000000000C1\"}", &fields,
               &errors),
        0);
    assert_string_equal(json_string_value(json_object_get(fields, "project_id")),
                        "0190f5a0-0000-7000-8000-0000000000c1");
    json_decref(fields);
    json_decref(errors);
    assert_true(refused("{\"title\":\"t\",\"project_id\":\"inbox\"}", "project_id"));
    assert_true(refused("{\"title\":\"t\",\"project_id\":7}", "project_id"));
    json_t *body =
        parse("{\"title\":\"t\",\"project_id\":\"0190f5a0-0000-7000-8000-0000000000c1\"}");
    errors = json_array();
    fields = NULL;
    assert_int_equal(task_validate_import(body, &fields, errors), 1);
    assert_null(fields);
    assert_true(has_error(errors, "project_id"));
    json_decref(errors);
    errors = json_array();
    json_decref(body);
    body = parse("{\"project_id\":\"0190F5A0-0000-7000-8000-0000000000C1\"}");
    assert_int_equal(task_validate_patch(body, &fields, errors), 0); /* a move */
    assert_string_equal(json_string_value(json_object_get(fields, "project_id")),
                        "0190f5a0-0000-7000-8000-0000000000c1");
    json_decref(fields);
    json_decref(body);
    body = parse("{\"project_id\":null}");
    assert_int_equal(task_validate_patch(body, &fields, errors), 1);
    assert_true(has_error(errors, "project_id"));
    json_decref(errors);
    json_decref(body);
}

/* An assignee: a user id (lower-cased) or null; null on a create leaves no member, on a
 * patch unassigns; an import item cannot assign; the prediction carries it, or not. */
static void assignee_rules(void **state) {
    (void)state;
    json_t *fields, *errors;
    assert_int_equal(
        create("{\"title\":\"t\",\"assignee_id\":\"0190F5A0-0000-7000-8000-0000000000B2\"}",
               &fields, &errors),
        0);
    assert_string_equal(json_string_value(json_object_get(fields, "assignee_id")),
                        "0190f5a0-0000-7000-8000-0000000000b2");
    json_t *predicted = task_predict_create("x", fields, 1767225600000LL);
    char *text = json_dumps(predicted, JSON_COMPACT);
    assert_non_null(strstr(text, "\"tags\":[],\"assignee_id\":\"0190f5a0-"));
    free(text);
    json_decref(fields);
    json_decref(errors);
    assert_int_equal(create("{\"title\":\"t\",\"assignee_id\":null}", &fields, &errors), 0);
    assert_null(json_object_get(fields, "assignee_id"));
    json_decref(fields);
    json_decref(errors);
    assert_true(refused("{\"title\":\"t\",\"assignee_id\":\"me\"}", "assignee_id"));
    assert_true(refused("{\"title\":\"t\",\"assignee_id\":7}", "assignee_id"));
    json_t *body =
        parse("{\"title\":\"t\",\"assignee_id\":\"0190f5a0-0000-7000-8000-0000000000b2\"}");
    errors = json_array();
    assert_int_equal(task_validate_import(body, &fields, errors), 1);
    assert_true(has_error(errors, "assignee_id"));
    json_decref(errors);
    json_decref(body);
    body = parse("{\"assignee_id\":null}");
    errors = json_array();
    assert_int_equal(task_validate_patch(body, &fields, errors), 0);
    assert_true(json_is_null(json_object_get(fields, "assignee_id")));
    json_t *unassigned = task_predict_update(predicted, fields, 1767225600000LL);
    assert_null(json_object_get(unassigned, "assignee_id"));
    assert_int_equal(json_integer_value(json_object_get(unassigned, "version")), 2);
    json_decref(unassigned);
    json_decref(fields);
    json_decref(errors);
    json_decref(body);
    json_decref(predicted);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(minimal_create_gets_defaults),
        cmocka_unit_test(project_id_on_create_and_patch),
        cmocka_unit_test(assignee_rules),
        cmocka_unit_test(full_create_is_normalised),
        cmocka_unit_test(title_bounds_count_code_points),
        cmocka_unit_test(bad_titles_are_refused),
        cmocka_unit_test(description_rules),
        cmocka_unit_test(enumerations),
        cmocka_unit_test(due_at_rules),
        cmocka_unit_test(rfc3339_values),
        cmocka_unit_test(tag_rules),
        cmocka_unit_test(unknown_and_read_only_members),
        cmocka_unit_test(every_bad_field_is_listed),
        cmocka_unit_test(patch_rules),
        cmocka_unit_test(predicted_create),
        cmocka_unit_test(predicted_update),
        cmocka_unit_test(recurrence_rules),
        cmocka_unit_test(predicted_recurrence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
