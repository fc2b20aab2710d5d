/*
 * test_task_command_codec.c: the task-commands wire form (shared/task_command_codec.c) and the
 * RFC 3339 parser it relies on (time_parse_rfc3339_ms in shared/time_util.c).
 *
 * Covers: encode/decode round trips of each type, every missing or invalid field refused
 * with a reason naming it, unknown types, duplicate keys, oversize and garbage input,
 * and the limits counted in code points like Postgres' char_length.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/task_command_codec.h"
#include "shared/task_model.h"
#include "shared/time_util.h"
#include "shared/utf8.h"

#define CID "0190f5a0-0000-7000-8000-000000000001"
#define UID "0190f5a0-0000-7000-8000-0000000000aa"
#define TID "0190f5a0-0000-7000-8000-0000000000bb"
#define IID "0190f5a0-0000-7000-8000-0000000000cc"
#define IID_UPPER "0190F5A0-0000-7000-8000-0000000000CC"

static task_command make(task_command_type type, json_t *fields) {
    task_command c = {.type = type, .expected_version = -1, .issued_at_ms = 1795341600123LL};
    strcpy(c.command_id, CID);
    strcpy(c.user_id, UID);
    strcpy(c.task_id, TID);
    c.fields = fields;
    return c;
}

/* Encodes, decodes and checks the envelope survived. Returns the decoded command. */
static task_command round_trip(const task_command *in, const char *request_id) {
    char *text = task_command_encode(in, request_id);
    assert_non_null(text);
    task_command out;
    char err[256] = "";
    if (task_command_decode(text, strlen(text), &out, err, sizeof err) != 0) {
        fail_msg("decode of %s failed: %s", text, err);
    }
    free(text);
    assert_int_equal(out.type, in->type);
    assert_string_equal(out.command_id, in->command_id);
    assert_string_equal(out.user_id, in->user_id);
    assert_string_equal(out.task_id, in->task_id);
    assert_string_equal(out.import_id, in->import_id);
    assert_string_equal(out.project_id, in->project_id);
    assert_string_equal(task_command_key(&out), task_command_key(in));
    assert_int_equal(out.expected_version, in->expected_version);
    assert_int_equal(out.issued_at_ms, in->issued_at_ms);
    return out;
}

static void test_round_trip_create(void **state) {
    (void)state;
    json_t *task = json_pack("{s:s,s:s,s:s,s:s,s:s,s:[s,s]}", "title", "Write report",
                             "description", "by Friday", "status", "in_progress", "priority",
                             "high", "due_at", "2026-11-27T17:00:00.000Z", "tags", "work", "q4");
    task_command in = make(TASK_CMD_CREATE, task);
    strcpy(in.import_id, IID);
    task_command out = round_trip(&in, "req-1");
    assert_true(json_equal(out.fields, task));
    assert_string_equal(task_command_key(&out), out.user_id); /* the Inbox: the user's key */
    task_command_clear(&out);
    task_command_clear(&in);
}

static void test_round_trip_update(void **state) {
    (void)state;
    json_t *patch = json_pack("{s:s,s:n}", "status", "done", "due_at");
    task_command in = make(TASK_CMD_UPDATE, patch);
    in.expected_version = 7;
    strcpy(in.project_id, IID); /* a team task: its project is the key */
    task_command out = round_trip(&in, NULL);
    assert_string_equal(task_command_key(&out), IID);
    assert_true(json_equal(out.fields, patch));
    assert_true(json_is_null(json_object_get(out.fields, "due_at")));
    task_command_clear(&out);
    task_command_clear(&in);
}

static void test_round_trip_delete(void **state) {
    (void)state;
    task_command in = make(TASK_CMD_DELETE, NULL);
    in.expected_version = 3;
    task_command out = round_trip(&in, "r");
    assert_null(out.fields);
    task_command_clear(&out);
}

static void test_type_names(void **state) {
    (void)state;
    assert_string_equal(task_command_type_name(TASK_CMD_CREATE), "task.create");
    assert_string_equal(task_command_type_name(TASK_CMD_UPDATE), "task.update");
    assert_string_equal(task_command_type_name(TASK_CMD_DELETE), "task.delete");
}

/* Decodes text expecting a refusal whose reason contains want. */
static void expect_refused(const char *text, const char *want) {
    task_command out;
    char err[256] = "";
    int rc = task_command_decode(text, strlen(text), &out, err, sizeof err);
    if (rc == 0) {
        task_command_clear(&out);
        fail_msg("accepted: %s", text);
    }
    if (strstr(err, want) == NULL) {
        fail_msg("reason \"%s\" does not mention \"%s\" for %s", err, want, text);
    }
    assert_null(out.fields);
}

static void expect_accepted(const char *text) {
    task_command out;
    char err[256] = "";
    if (task_command_decode(text, strlen(text), &out, err, sizeof err) != 0) {
        fail_msg("refused (%s): %s", err, text);
    }
    task_command_clear(&out);
}

#define ENV(type)                                                                                  \
    "\"command_id\":\"" CID "\",\"type\":\"" type "\",\"user_id\":\"" UID "\","                    \
    "\"task_id\":\"" TID "\",\"issued_at\":\"2026-11-22T10:00:00.000Z\""

static void test_missing_envelope_fields(void **state) {
    (void)state;
    static const char *const names[] = {"command_id", "type", "user_id", "task_id", "issued_at"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        json_error_t jerr;
        json_t *o = json_loads("{" ENV("task.delete") "}", 0, &jerr);
        assert_non_null(o);
        json_object_del(o, names[i]);
        char *text = json_dumps(o, JSON_COMPACT);
        expect_refused(text, names[i]);
        free(text);
        json_decref(o);
    }
}

static void test_invalid_envelope_fields(void **state) {
    (void)state;
    expect_refused("{" ENV("task.delete") ",\"command_id\":\"nope\"}", "");
    expect_refused("{\"command_id\":\"x\",\"type\":\"task.delete\",\"user_id\":\"" UID
                   "\",\"task_id\":\"" TID "\",\"issued_at\":\"2026-11-22T10:00:00Z\"}",
                   "command_id");
    expect_refused("{\"command_id\":\"" CID "\",\"type\":\"task.delete\",\"user_id\":7,"
                   "\"task_id\":\"" TID "\",\"issued_at\":\"2026-11-22T10:00:00Z\"}",
                   "user_id");
    expect_refused("{\"command_id\":\"" CID "\",\"type\":\"task.delete\",\"user_id\":\"" UID
                   "\",\"task_id\":\"" TID "\",\"issued_at\":\"yesterday\"}",
                   "issued_at");
    expect_refused("{" ENV("task.delete") ",\"import_id\":\"zz\"}", "import_id");
    expect_refused("{" ENV("task.delete") ",\"project_id\":\"zz\"}", "project_id");
    expect_refused("{" ENV("task.delete") ",\"request_id\":5}", "request_id");
    expect_refused("{" ENV("task.delete") ",\"expected_version\":0}", "expected_version");
    expect_refused("{" ENV("task.delete") ",\"expected_version\":\"3\"}", "expected_version");
    expect_refused("{" ENV("task.create") ",\"expected_version\":1,\"task\":{\"title\":\"a\"}}",
                   "expected_version");
}

static void test_unknown_type(void **state) {
    (void)state;
    expect_refused("{" ENV("task.archive") "}", "type");
    expect_refused("{" ENV("TASK.CREATE") ",\"task\":{\"title\":\"a\"}}", "type");
}

static void test_fields_by_type(void **state) {
    (void)state;
    expect_refused("{" ENV("task.create") "}", "task");
    expect_refused("{" ENV("task.create") ",\"task\":[]}", "task");
    expect_refused("{" ENV("task.create") ",\"task\":{}}", "task.title: missing");
    expect_refused("{" ENV("task.create") ",\"patch\":{\"title\":\"a\"}}", "patch");
    expect_refused("{" ENV("task.update") "}", "patch");
    expect_refused("{" ENV("task.update") ",\"task\":{\"title\":\"a\"}}", "task");
    expect_refused("{" ENV("task.delete") ",\"patch\":{}}", "patch");
    expect_accepted("{" ENV("task.delete") ",\"task\":null,\"patch\":null}");
    expect_accepted("{" ENV("task.update") ",\"patch\":{}}");
    /* The envelope tolerates keys a newer API may add. */
    expect_accepted("{" ENV("task.delete") ",\"trace\":{\"a\":1}}");
}

static void test_invalid_task_fields(void **state) {
    (void)state;
    expect_refused("{" ENV("task.create") ",\"task\":{\"title\":\"\"}}", "task.title");
    expect_refused("{" ENV("task.create") ",\"task\":{\"title\":null}}", "task.title");
    expect_refused("{" ENV("task.create") ",\"task\":{\"title\":\"a\",\"description\":1}}",
                   "task.description");
    expect_refused("{" ENV("task.create") ",\"task\":{\"title\":\"a\",\"status\":\"open\"}}",
                   "task.status");
    expect_refused("{" ENV("task.create") ",\"task\":{\"title\":\"a\",\"priority\":\"low \"}}",
                   "task.priority");
    expect_refused("{" ENV("task.create") ",\"task\":{\"title\":\"a\",\"due_at\":\"2026-02-30T"
                                          "00:00:00Z\"}}",
                   "task.due_at");
    expect_refused("{" ENV("task.create") ",\"task\":{\"title\":\"a\",\"tags\":\"x\"}}",
                   "task.tags");
    expect_refused("{" ENV("task.create") ",\"task\":{\"title\":\"a\",\"tags\":[\"\"]}}",
                   "task.tags[]");
    expect_refused("{" ENV("task.create") ",\"task\":{\"title\":\"a\",\"tags\":[1]}}",
                   "task.tags[]");
    expect_refused("{" ENV("task.create") ",\"task\":{\"title\":\"a\",\"owner\":\"x\"}}",
                   "task.owner: unknown field");
    expect_refused("{" ENV("task.create") ",\"task\":{\"title\":\"a\",\"assignee_id\":\"x\"}}",
                   "task.assignee_id");
    expect_refused("{" ENV("task.update") ",\"patch\":{\"assignee_id\":\"" IID_UPPER "\"}}",
                   "patch.assignee_id");
    expect_accepted("{" ENV("task.update") ",\"patch\":{\"assignee_id\":null}}");
    expect_accepted("{" ENV("task.update") ",\"patch\":{\"project_id\":\"" IID "\"}}");
    expect_refused("{" ENV("task.update") ",\"patch\":{\"project_id\":\"" IID_UPPER "\"}}",
                   "patch.project_id");
    expect_refused("{" ENV("task.update") ",\"patch\":{\"project_id\":null}}", "patch.project_id");
    expect_refused("{" ENV("task.create") ",\"task\":{\"title\":\"a\",\"project_id\":\"" IID "\"}}",
                   "task.project_id: unknown field");
    expect_accepted("{" ENV("task.create") ",\"task\":{\"title\":\"a\",\"assignee_id\":\"" UID
                                           "\"}}");
    expect_refused("{" ENV("task.update") ",\"patch\":{\"title\":null}}", "patch.title");
    expect_refused("{" ENV("task.update") ",\"patch\":{\"description\":null}}",
                   "patch.description");
    expect_refused("{" ENV("task.update") ",\"patch\":{\"status\":null}}", "patch.status");
    expect_refused("{" ENV("task.update") ",\"patch\":{\"tags\":null}}", "patch.tags");
    expect_refused("{" ENV("task.update") ",\"patch\":{\"version\":3}}", "patch.version");
}

/* A JSON string of n copies of the UTF-8 character ch. */
static char *repeat(const char *ch, size_t n) {
    size_t len = strlen(ch);
    char *s = malloc(n * len + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        memcpy(s + i * len, ch, len);
    }
    s[n * len] = '\0';
    return s;
}

static void expect_field(const char *field, const char *value_json, bool ok) {
    char *text = NULL;
    const char *base = strcmp(field, "title") == 0 ? "" : "\"title\":\"t\",";
    assert_true(asprintf(&text, "{" ENV("task.create") ",\"task\":{%s\"%s\":%s}}", base, field,
                         value_json) > 0);
    if (ok) {
        expect_accepted(text);
    } else {
        expect_refused(text, field);
    }
    free(text);
}

static void test_limits_in_code_points(void **state) {
    (void)state;
    /* 200 three-byte characters are 600 bytes but 200 characters: allowed. */
    char *title = repeat("\xe2\x82\xac", 200);
    char *json = NULL;
    assert_true(asprintf(&json, "\"%s\"", title) > 0);
    expect_field("title", json, true);
    free(json);
    free(title);
    title = repeat("a", 201);
    assert_true(asprintf(&json, "\"%s\"", title) > 0);
    expect_field("title", json, false);
    free(json);
    free(title);
    char *desc = repeat("\xc3\xa9", 10000);
    assert_true(asprintf(&json, "\"%s\"", desc) > 0);
    expect_field("description", json, true);
    free(json);
    free(desc);
    desc = repeat("d", 10001);
    assert_true(asprintf(&json, "\"%s\"", desc) > 0);
    expect_field("description", json, false);
    free(json);
    free(desc);
    char *tag = repeat("x", 50);
    assert_true(asprintf(&json, "[\"%s\"]", tag) > 0);
    expect_field("tags", json, true);
    free(json);
    free(tag);
    tag = repeat("x", 51);
    assert_true(asprintf(&json, "[\"%s\"]", tag) > 0);
    expect_field("tags", json, false);
    free(json);
    free(tag);
    char *tags = repeat("\"t\",", 20);
    tags[strlen(tags) - 1] = '\0';
    assert_true(asprintf(&json, "[%s]", tags) > 0);
    expect_field("tags", json, true);
    free(json);
    free(tags);
    tags = repeat("\"t\",", 21);
    tags[strlen(tags) - 1] = '\0';
    assert_true(asprintf(&json, "[%s]", tags) > 0);
    expect_field("tags", json, false);
    free(json);
    free(tags);
    assert_int_equal(utf8_chars("h\xc3\xa9llo \xf0\x9f\x98\x80"), 7);
}

static void test_garbage(void **state) {
    (void)state;
    task_command out;
    char err[256];
    assert_int_equal(task_command_decode(NULL, 0, &out, err, sizeof err), -1);
    assert_int_equal(task_command_decode("", 0, &out, err, sizeof err), -1);
    expect_refused("not json", "malformed JSON");
    expect_refused("[1,2,3]", "not a JSON object");
    expect_refused("\"task.create\"", "malformed JSON");
    expect_refused("42", "malformed JSON");
    expect_refused("{" ENV("task.delete"), "malformed JSON");
    expect_refused("{\"type\":\"task.delete\",\"type\":\"task.create\"}", "malformed JSON");
    static const char bad_utf8[] = "{\"type\":\"\xff\xfe\"}";
    expect_refused(bad_utf8, "malformed JSON");
    /* Binary bytes with embedded NULs. */
    char bin[64];
    for (size_t i = 0; i < sizeof bin; i++) {
        bin[i] = (char)(i * 37);
    }
    assert_int_equal(task_command_decode(bin, sizeof bin, &out, err, sizeof err), -1);
    /* Deep nesting and a huge message are refused without crashing. */
    char *deep = repeat("[", 100000);
    assert_int_equal(task_command_decode(deep, strlen(deep), &out, err, sizeof err), -1);
    free(deep);
    size_t big = 300 * 1024;
    char *huge = malloc(big + 64);
    assert_non_null(huge);
    int n = snprintf(huge, 64,
                     "{"
                     "\"pad\":\"");
    memset(huge + n, 'a', big);
    strcpy(huge + n + big, "\"}");
    assert_int_equal(task_command_decode(huge, strlen(huge), &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "exceeds"));
    free(huge);
    /* A tiny error buffer is never overrun. */
    char small[4];
    assert_int_equal(task_command_decode("x", 1, &out, small, sizeof small), -1);
    assert_true(strlen(small) < sizeof small);
}

static void test_ids_lower_cased(void **state) {
    (void)state;
    const char *text = "{\"command_id\":\"0190F5A0-0000-7000-8000-00000000000A\",\"type\":"
                       "\"task.delete\",\"user_id\":\"" UID "\",\"task_id\":\"" TID "\","
                       "\"issued_at\":\"2026-11-22T10:00:00Z\"}";
    task_command out;
    char err[256];
    assert_int_equal(task_command_decode(text, strlen(text), &out, err, sizeof err), 0);
    assert_string_equal(out.command_id, "0190f5a0-0000-7000-8000-00000000000a");
    task_command_clear(&out);
}

static void test_time_parse(void **state) {
    (void)state;
    long long ms = 0;
    assert_int_equal(time_parse_rfc3339_ms("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(time_parse_rfc3339_ms("2026-11-22T10:00:00.123Z", &ms), 0);
    assert_int_equal(ms, 1795341600123LL);
    assert_int_equal(time_parse_rfc3339_ms("2026-11-22T12:00:00.123456+02:00", &ms), 0);
    assert_int_equal(ms, 1795341600123LL);
    assert_int_equal(time_parse_rfc3339_ms("2026-11-22t05:30:00.5-04:30", &ms), 0);
    assert_int_equal(ms, 1795341600500LL);
    assert_int_equal(time_parse_rfc3339_ms("2024-02-29T00:00:00Z", &ms), 0);
    assert_int_equal(time_parse_rfc3339_ms("1969-12-31T23:59:59.500Z", &ms), 0);
    assert_int_equal(ms, -500);
    /* Rounded like Postgres: to the microsecond, then half away from zero. */
    assert_int_equal(time_parse_rfc3339_ms("2026-11-22T10:00:00.1235Z", &ms), 0);
    assert_int_equal(ms, 1795341600124LL);
    /* .1234999 is stored as .123500, which rounds up. */
    assert_int_equal(time_parse_rfc3339_ms("2026-11-22T10:00:00.1234999Z", &ms), 0);
    assert_int_equal(ms, 1795341600124LL);
    assert_int_equal(time_parse_rfc3339_ms("2026-11-22T10:00:00.1234994Z", &ms), 0);
    assert_int_equal(ms, 1795341600123LL);
    assert_int_equal(time_parse_rfc3339_ms("2026-11-22T09:59:59.9999996Z", &ms), 0);
    assert_int_equal(ms, 1795341600000LL);
    assert_int_equal(time_parse_rfc3339_ms("1969-12-31T23:59:59.9995Z", &ms), 0);
    assert_int_equal(ms, -1);
    static const char *const bad[] = {
        "",
        "2026-11-22",
        "2026-11-22 10:00:00Z",
        "2026-11-22T10:00:00",
        "2026-11-22T10:00Z",
        "2026-13-01T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2026-11-22T24:00:00Z",
        "2026-11-22T10:60:00Z",
        "2026-11-22T10:00:60Z",
        "2026-11-22T10:00:00.Z",
        "2026-11-22T10:00:00.1234567890Z",
        "2026-11-22T10:00:00+2:00",
        "2026-11-22T10:00:00+24:00",
        "2026-11-22T10:00:00Zjunk",
        "0000-01-01T00:00:00Z",
        "+2026-11-22T10:00:00Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (time_parse_rfc3339_ms(bad[i], &ms) == 0) {
            fail_msg("accepted %s", bad[i]);
        }
    }
    assert_int_equal(time_parse_rfc3339_ms(NULL, &ms), -1);
}

static void test_enums(void **state) {
    (void)state;
    assert_true(task_status_valid("todo"));
    assert_true(task_status_valid("in_progress"));
    assert_true(task_status_valid("done"));
    assert_false(task_status_valid("Done"));
    assert_false(task_status_valid(NULL));
    assert_true(task_priority_valid("urgent"));
    assert_false(task_priority_valid("critical"));
    json_t *t = json_pack("{s:I}", "version", (json_int_t)4);
    assert_int_equal(task_json_version(t), 4);
    json_object_set_new(t, "version", json_string("4"));
    assert_int_equal(task_json_version(t), -1);
    json_decref(t);
}

static void test_recurrence_field(void **state) {
    (void)state;
    expect_field("recurrence", "null", true);
    expect_field("recurrence",
                 "{\"rule\":\"FREQ=WEEKLY;BYDAY=MO\",\"time_zone\":\"Europe/Berlin\"}", true);
    expect_field("recurrence", "{\"rule\":\"FREQ=HOURLY\",\"time_zone\":\"UTC\"}", false);
    expect_field("recurrence", "{\"rule\":\"FREQ=DAILY\",\"time_zone\":\"Mars/Olympus\"}", false);
    expect_field("recurrence", "{\"rule\":\"FREQ=DAILY\"}", false);
    expect_field("recurrence", "{\"rule\":\"FREQ=DAILY\",\"time_zone\":\"UTC\",\"extra\":true}",
                 false);
    expect_field("recurrence", "\"FREQ=DAILY\"", false);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_create),
        cmocka_unit_test(test_round_trip_update),
        cmocka_unit_test(test_round_trip_delete),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_missing_envelope_fields),
        cmocka_unit_test(test_invalid_envelope_fields),
        cmocka_unit_test(test_unknown_type),
        cmocka_unit_test(test_fields_by_type),
        cmocka_unit_test(test_invalid_task_fields),
        cmocka_unit_test(test_limits_in_code_points),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_ids_lower_cased),
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_enums),
        cmocka_unit_test(test_recurrence_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
