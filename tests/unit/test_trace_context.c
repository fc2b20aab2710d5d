/*
 * test_trace_context.c: W3C traceparent parsing (every rule of level 1, valid and not),
 * formatting, new traces and children; the trace id in log lines (log_json and
 * log_members, short and long lines); a batch's id lists (log_ids.h); the traceparent
 * attribute of a CloudEvent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/cloudevent.h"
#include "shared/log.h"
#include "shared/log_ids.h"
#include "shared/trace_context.h"

#define GOOD "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void test_parse_valid(void **state) {
    (void)state;
    trace_context tc;
    assert_true(trace_context_parse_str(GOOD, &tc));
    assert_string_equal(tc.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(tc.span_id, "00f067aa0ba902b7");
    assert_int_equal(tc.flags, 1);
    assert_true(
        trace_context_parse_str("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &tc));
    assert_int_equal(tc.flags, 0);
    /* A later version: the first 55 characters are read, more may follow after a '-'. */
    assert_true(trace_context_parse_str(
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-whatever", &tc));
    assert_int_equal(tc.flags, 9);
    assert_true(
        trace_context_parse_str("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", NULL));
    /* Not NUL-terminated: only len bytes are read. */
    char buf[TRACEPARENT_LEN + 3];
    memcpy(buf, GOOD "xx", sizeof buf);
    assert_true(trace_context_parse(buf, TRACEPARENT_LEN, NULL));
}

static void test_parse_invalid(void **state) {
    (void)state;
    const char *bad[] = {
        "",
        "00",
        /* all-zero ids */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        /* version ff is forbidden; version must be hex */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        /* upper case is not allowed */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
        /* version 00 is exactly 55 characters */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        /* a later version: what follows the 55 must start with '-' */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        /* separators and lengths */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-701",
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-\xff\xff",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        trace_context tc;
        if (trace_context_parse_str(bad[i], &tc)) {
            fail_msg("accepted %s", bad[i]);
        }
    }
    assert_false(trace_context_parse_str(NULL, NULL));
    char tid[TRACE_ID_HEX + 1];
    assert_false(trace_context_trace_id("nope", tid));
    assert_string_equal(tid, "");
    assert_false(trace_context_trace_id(NULL, tid));
}

static void test_format_round_trip(void **state) {
    (void)state;
    trace_context tc;
    assert_true(trace_context_parse_str(GOOD, &tc));
    char out[TRACEPARENT_LEN + 1];
    trace_context_format(&tc, out);
    assert_string_equal(out, GOOD);
    /* A later version is written back as 00 with its ids and flags. */
    assert_true(trace_context_parse_str(
        "7a-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff-extra", &tc));
    trace_context_format(&tc, out);
    assert_string_equal(out, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff");
}

static void test_start_and_child(void **state) {
    (void)state;
    trace_context a, b, c;
    char text[TRACEPARENT_LEN + 1];
    trace_context_start(&a);
    trace_context_start(&b);
    trace_context_format(&a, text);
    assert_true(trace_context_parse_str(text, NULL));
    assert_int_equal(a.flags, 0);
    assert_string_not_equal(a.trace_id, b.trace_id);
    trace_context_child(&a, &c);
    assert_string_equal(c.trace_id, a.trace_id);
    assert_string_not_equal(c.span_id, a.span_id);
    assert_int_equal(c.flags, a.flags);
    char tid[TRACE_ID_HEX + 1];
    trace_context_format(&c, text);
    assert_true(trace_context_trace_id(text, tid));
    assert_string_equal(tid, a.trace_id);
    /* From a header: a valid one is continued (new span), anything else starts anew. */
    trace_context h;
    trace_context_from_header(GOOD, &h);
    assert_string_equal(h.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_not_equal(h.span_id, "00f067aa0ba902b7");
    assert_int_equal(h.flags, 1);
    trace_context_from_header("00-00000000000000000000000000000000-00f067aa0ba902b7-01", &h);
    assert_string_not_equal(h.trace_id, "00000000000000000000000000000000");
    trace_context_format(&h, text);
    assert_true(trace_context_parse_str(text, NULL));
    trace_context_from_header(NULL, &h);
    trace_context_format(&h, text);
    assert_true(trace_context_parse_str(text, NULL));
}

static void test_from_uuid(void **state) {
    (void)state;
    trace_context tc;
    assert_true(trace_context_from_uuid("01906d3c-8f8e-7b5c-9d1a-3b2c4d5e6f70", &tc));
    assert_string_equal(tc.trace_id, "01906d3c8f8e7b5c9d1a3b2c4d5e6f70");
    assert_string_equal(tc.span_id, "9d1a3b2c4d5e6f70");
    assert_int_equal(tc.flags, 0);
    char text[TRACEPARENT_LEN + 1];
    trace_context_format(&tc, text);
    assert_true(trace_context_parse_str(text, NULL));
    assert_false(trace_context_from_uuid("01906D3C-8F8E-7B5C-9D1A-3B2C4D5E6F70", &tc));
    assert_false(trace_context_from_uuid("00000000-0000-0000-0000-000000000000", &tc));
    assert_false(trace_context_from_uuid("01906d3c-8f8e-7b5c-0000-000000000000", &tc));
    assert_false(trace_context_from_uuid("01906d3c8f8e7b5c9d1a3b2c4d5e6f70", &tc));
    assert_false(trace_context_from_uuid("01906d3c-8f8e-7b5c-9d1a-3b2c4d5e6f7", &tc));
    assert_false(trace_context_from_uuid("01906d3c-8f8e-7b5c-9d1a-3b2c4d5e6f700", &tc));
    assert_false(trace_context_from_uuid(NULL, &tc));
}

/* Runs fn with stderr captured; returns what was written (caller frees). */
static char *capture(void (*fn)(void)) {
    char path[] = "/tmp/test_trace_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    fn();
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    assert_true(size >= 0);
    char *text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(pread(fd, text, (size_t)size, 0), size);
    close(fd);
    unlink(path);
    return text;
}

static char g_long_members[8192];

static void write_lines(void) {
    log_set_context("req-1", GOOD);
    log_json(LOG_INFO, "a", json_pack("{s:i}", "n", 1));
    log_members(LOG_INFO, "b", "\"n\":2");
    log_members(LOG_INFO, "c", g_long_members);
    log_members(LOG_INFO, "d", "");
    log_set_context("req-2", "not a traceparent");
    log_json(LOG_INFO, "e", NULL);
    log_set_context(NULL, NULL);
    log_json(LOG_INFO, "f", NULL);
    log_set_trace_id("4bf92f3577b34da6a3ce929d0e0e4736");
    log_members(LOG_INFO, "g", "\"n\":3");
    log_set_trace_id("4BF92F3577B34DA6A3CE929D0E0E4736"); /* not lower case: cleared */
    log_members(LOG_INFO, "h", "\"n\":4");
}

static void test_log_lines_carry_the_trace_id(void **state) {
    (void)state;
    log_init("test", LOG_DEBUG);
    size_t n = (size_t)snprintf(g_long_members, sizeof g_long_members, "\"pad\":\"");
    memset(g_long_members + n, 'x', 3000);
    snprintf(g_long_members + n + 3000, sizeof g_long_members - n - 3000, "\"");
    char *text = capture(write_lines);
    const char *want_rid[] = {"req-1", "req-1", "req-1", "req-1", "req-2", NULL, NULL, NULL};
    const char *want_tid[] = {"4bf92f3577b34da6a3ce929d0e0e4736",
                              "4bf92f3577b34da6a3ce929d0e0e4736",
                              "4bf92f3577b34da6a3ce929d0e0e4736",
                              "4bf92f3577b34da6a3ce929d0e0e4736",
                              NULL,
                              NULL,
                              "4bf92f3577b34da6a3ce929d0e0e4736",
                              NULL};
    char *save = NULL;
    size_t i = 0;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save), i++) {
        assert_true(i < 8);
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        if (o == NULL) {
            fail_msg("line %zu is not JSON: %s (%s)", i, line, e.text);
        }
        const char *rid = json_string_value(json_object_get(o, "request_id"));
        const char *tid = json_string_value(json_object_get(o, "trace_id"));
        if (want_rid[i] == NULL) {
            assert_null(rid);
        } else {
            assert_non_null(rid);
            assert_string_equal(rid, want_rid[i]);
        }
        if (want_tid[i] == NULL) {
            assert_null(tid);
        } else {
            assert_non_null(tid);
            assert_string_equal(tid, want_tid[i]);
        }
        if (i == 2) {
            assert_int_equal(strlen(json_string_value(json_object_get(o, "pad"))), 3000);
        }
        json_decref(o);
    }
    assert_int_equal(i, 8);
    free(text);
}

static void test_log_ids_lists(void **state) {
    (void)state;
    log_ids ids = LOG_IDS_INIT;
    assert_string_equal(log_ids_members(&ids), "\"request_ids\":[],\"trace_ids\":[]");
    log_ids_add(&ids, "r1", GOOD);
    log_ids_add(&ids, "r1", GOOD); /* a run folds */
    log_ids_add(&ids, NULL, NULL); /* adds nothing */
    log_ids_add(&ids, "r\"2\n", "garbage");
    log_ids_add(&ids, "r1", "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-00f067aa0ba902b7-00");
    const char *m = log_ids_members(&ids);
    assert_string_equal(m, "\"request_ids\":[\"r1\",\"r?2?\",\"r1\"],"
                           "\"trace_ids\":[\"4bf92f3577b34da6a3ce929d0e0e4736\","
                           "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]");
    log_ids_reset(&ids);
    log_ids_add(&ids, "r9", NULL);
    assert_string_equal(log_ids_members(&ids), "\"request_ids\":[\"r9\"],\"trace_ids\":[]");
    log_ids_free(&ids);
}

/* A batch of 500 records with the longest request ids a client may send, each its own
 * trace: written over several lines, each under PIPE_BUF and valid JSON, together listing
 * every id in order. */
#define BIG_BATCH 500
static log_ids g_big_ids;

static void write_big_batch(void) {
    log_set_context(NULL, NULL);
    log_ids_write(&g_big_ids, LOG_INFO, "consumer: batch applied",
                  "\"group\":\"g\",\"records\":500");
}

static void test_log_ids_write_splits_long_lists(void **state) {
    (void)state;
    log_init("test", LOG_DEBUG);
    g_big_ids = (log_ids)LOG_IDS_INIT;
    char rid[129], tp[TRACEPARENT_LEN + 1];
    for (int i = 0; i < BIG_BATCH; i++) {
        memset(rid, 'r', 128);
        snprintf(rid, sizeof rid, "%04d", i);
        rid[4] = 'r'; /* snprintf's NUL overwritten: 128 characters */
        rid[128] = '\0';
        snprintf(tp, sizeof tp, "00-%032x-00f067aa0ba902b7-01", (unsigned)i + 1);
        log_ids_add(&g_big_ids, rid, tp);
    }
    char *text = capture(write_big_batch);
    size_t lines = 0, nreq = 0, ntr = 0, parts = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        lines++;
        assert_true(strlen(line) + 1 <= 4096);
        json_t *o = json_loads(line, 0, NULL);
        assert_non_null(o);
        assert_int_equal(json_integer_value(json_object_get(o, "part")), (json_int_t)lines);
        parts = (size_t)json_integer_value(json_object_get(o, "parts"));
        assert_int_equal(json_integer_value(json_object_get(o, "records")), BIG_BATCH);
        json_t *reqs = json_object_get(o, "request_ids"), *trs = json_object_get(o, "trace_ids");
        for (size_t k = 0; k < json_array_size(reqs); k++, nreq++) {
            const char *r = json_string_value(json_array_get(reqs, k));
            assert_int_equal(strlen(r), 128);
            assert_int_equal(atoi(r), (int)nreq); /* in order, none lost */
        }
        for (size_t k = 0; k < json_array_size(trs); k++, ntr++) {
            char want[TRACE_ID_HEX + 1];
            snprintf(want, sizeof want, "%032x", (unsigned)ntr + 1);
            assert_string_equal(json_string_value(json_array_get(trs, k)), want);
        }
        json_decref(o);
    }
    assert_true(lines > 1);
    assert_int_equal(parts, lines);
    assert_int_equal(nreq, BIG_BATCH);
    assert_int_equal(ntr, BIG_BATCH);
    free(text);
    log_ids_free(&g_big_ids);
}

static void test_cloudevent_traceparent(void **state) {
    (void)state;
    char id[UUID_STR_LEN];
    char *text = cloudevent_text("taskbus.task.created", "tasks/x", "{\"a\":1}", GOOD, id);
    assert_non_null(text);
    json_t *ev = json_loads(text, 0, NULL);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "traceparent")), GOOD);
    assert_string_equal(json_string_value(json_object_get(ev, "id")), id);
    json_decref(ev);
    free(text);
    /* A later version may carry more after its fields: the event gets the 00 form of
     * what it parsed, valid JSON whatever followed. */
    text = cloudevent_text(
        "taskbus.task.created", "tasks/x", NULL,
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-\",\"type\":\"x", NULL);
    assert_non_null(text);
    ev = json_loads(text, 0, NULL);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "traceparent")), GOOD);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "taskbus.task.created");
    json_decref(ev);
    free(text);
    text = cloudevent_text("taskbus.task.created", "tasks/x", NULL, NULL, NULL);
    assert_non_null(text);
    assert_null(strstr(text, "traceparent"));
    free(text);
    /* Never written unescaped when it is not a traceparent. */
    assert_null(cloudevent_text("t", "s", NULL, "00-\"}", NULL));
    json_t *tree = cloudevent_new("t", "s", json_object(), GOOD, NULL);
    assert_non_null(tree);
    assert_string_equal(json_string_value(json_object_get(tree, "traceparent")), GOOD);
    json_decref(tree);
}

/* Every envelope names its schema: dataschema = the type's family and major version. */
static void test_cloudevent_dataschema(void **state) {
    (void)state;
    char *text = cloudevent_text("taskbus.task.created", "tasks/x", NULL, NULL, NULL);
    assert_non_null(text);
    json_t *ev = json_loads(text, 0, NULL);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "dataschema")),
                        "https://taskbus.example/schemas/events/taskbus.task.created/v1.json");
    json_decref(ev);
    free(text);
    json_t *tree = cloudevent_new("taskbus.task.created.v2", "tasks/x", NULL, NULL, NULL);
    assert_non_null(tree);
    assert_string_equal(json_string_value(json_object_get(tree, "dataschema")),
                        "https://taskbus.example/schemas/events/taskbus.task.created/v2.json");
    json_decref(tree);
    static const struct {
        const char *type, *want;
    } cases[] = {
        {"taskbus.user.registered", "taskbus.user.registered/v1.json"},
        {"taskbus.project.member_role_changed", "taskbus.project.member_role_changed/v1.json"},
        {"taskbus.task.deleted.v12", "taskbus.task.deleted/v12.json"},
        {"taskbus.task.deleted.v1", "taskbus.task.deleted.v1/v1.json"}, /* v1 has no suffix */
        {"taskbus.task.deleted.v02", "taskbus.task.deleted.v02/v1.json"},
        {"taskbus.task.deleted.v", "taskbus.task.deleted.v/v1.json"},
        {"x.v2", "x/v2.json"},
        {".v2", ".v2/v1.json"},
    };
    char out[CLOUDEVENT_DATASCHEMA_LEN];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_not_equal(cloudevent_dataschema(cases[i].type, out, sizeof out), 0);
        assert_string_equal(out + strlen(CLOUDEVENT_DATASCHEMA_BASE), cases[i].want);
        assert_memory_equal(out, CLOUDEVENT_DATASCHEMA_BASE, strlen(CLOUDEVENT_DATASCHEMA_BASE));
    }
    /* No URI for no type, a type too long, or a buffer too small; no event either. */
    char long_type[CLOUDEVENT_TYPE_MAX + 2];
    memset(long_type, 'a', sizeof long_type - 1);
    long_type[sizeof long_type - 1] = '\0';
    assert_int_equal(cloudevent_dataschema(long_type, out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(cloudevent_dataschema("", out, sizeof out), 0);
    assert_int_equal(cloudevent_dataschema(NULL, out, sizeof out), 0);
    assert_int_equal(cloudevent_dataschema("taskbus.task.created", out, 10), 0);
    assert_string_equal(out, "");
    assert_null(cloudevent_text(long_type, "s", NULL, NULL, NULL));
    long_type[CLOUDEVENT_TYPE_MAX] = '\0'; /* the longest type still fits */
    assert_int_not_equal(cloudevent_dataschema(long_type, out, sizeof out), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_start_and_child),
        cmocka_unit_test(test_from_uuid),
        cmocka_unit_test(test_log_lines_carry_the_trace_id),
        cmocka_unit_test(test_log_ids_lists),
        cmocka_unit_test(test_log_ids_write_splits_long_lists),
        cmocka_unit_test(test_cloudevent_traceparent),
        cmocka_unit_test(test_cloudevent_dataschema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
