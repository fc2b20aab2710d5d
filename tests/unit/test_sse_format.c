/*
 * test_sse_format.c: Redis stream ids (parsing, numeric not textual order), SSE frames
 * (id/event/data lines, multi-line data, refused line breaks in fields, comments), the
 * buffer's consume, the CloudEvent type to event name mapping, and the writer's pub/sub
 * message and stream entry forms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "api/sse_format.h"

static void test_ids(void **state) {
    (void)state;
    sse_id a, b;
    assert_true(sse_id_parse("1700000000000-0", &a));
    assert_true(a.ms == 1700000000000ULL && a.seq == 0);
    assert_true(sse_id_parse("1700000000000", &b));
    assert_int_equal(sse_id_compare(a, b), 0);
    /* numeric order: 9-0 < 10-0 although "9" > "1" as text; 5-9 < 5-10 */
    sse_id x, y;
    assert_true(sse_id_parse("9-0", &x) && sse_id_parse("10-0", &y));
    assert_true(sse_id_compare(x, y) < 0);
    assert_true(sse_id_parse("5-9", &x) && sse_id_parse("5-10", &y));
    assert_true(sse_id_compare(x, y) < 0);
    assert_true(sse_id_compare(y, x) > 0);
    assert_true(sse_id_parse("18446744073709551615-18446744073709551615", &x));
    char text[SSE_ID_TEXT_MAX];
    sse_id_format(x, text);
    assert_string_equal(text, "18446744073709551615-18446744073709551615");

    const char *bad[] = {"",
                         "-",
                         "1-",
                         "-1",
                         "1-2-3",
                         "a-1",
                         "1-a",
                         " 1",
                         "1 ",
                         "1.5-0",
                         "+1",
                         "0x10",
                         "18446744073709551616",
                         "1-18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(sse_id_parse(bad[i], &x));
    }
    assert_false(sse_id_parse(NULL, &x));
}

static void test_event_names(void **state) {
    (void)state;
    char name[SSE_EVENT_NAME_MAX];
    sse_event_name("taskbus.task.created", name);
    assert_string_equal(name, "task.created");
    sse_event_name("taskbus.task.deleted", name);
    assert_string_equal(name, "task.deleted");
    sse_event_name("other.thing", name);
    assert_string_equal(name, "other.thing");
    sse_event_name("taskbus.bad\nname", name);
    assert_string_equal(name, "message");
    sse_event_name("", name);
    assert_string_equal(name, "message");
    sse_event_name(NULL, name);
    assert_string_equal(name, "message");
}

static void test_frames(void **state) {
    (void)state;
    sse_buf b = {0};
    assert_int_equal(sse_buf_append_event(&b, "1-0", "task.created", "{\"a\":1}"), 0);
    assert_int_equal(sse_buf_append_comment(&b, "keepalive"), 0);
    assert_int_equal(sse_buf_append_event(&b, NULL, "reset", "two\nlines\r\nand\rthree"), 0);
    const char *want = "id: 1-0\nevent: task.created\ndata: {\"a\":1}\n\n"
                       ": keepalive\n\n"
                       "event: reset\ndata: two\ndata: lines\ndata: and\ndata: three\n\n";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);

    /* a line break in a field would forge another field: refused, buffer unchanged */
    size_t before = b.len;
    assert_int_equal(sse_buf_append_event(&b, "1-0\ndata: x", "e", "d"), -1);
    assert_int_equal(sse_buf_append_event(&b, "1-0", "e\r", "d"), -1);
    assert_int_equal(sse_buf_append_comment(&b, "a\nb"), -1);
    assert_int_equal(b.len, before);

    sse_buf_consume(&b, 8); /* "id: 1-0\n" */
    assert_memory_equal(b.data, "event: task.created\n", 20);
    sse_buf_consume(&b, b.len + 5);
    assert_int_equal(b.len, 0);
    assert_int_equal(sse_buf_append_raw(&b, "retry: 3000\n\n", 13), 0);
    assert_memory_equal(b.data, "retry: 3000\n\n", 13);
    sse_buf_free(&b);
    assert_null(b.data);
}

static void test_big_frame(void **state) {
    (void)state;
    sse_buf b = {0};
    size_t n = 100000;
    char *data = malloc(n + 1);
    assert_non_null(data);
    memset(data, 'x', n);
    data[n] = '\0';
    assert_int_equal(sse_buf_append_event(&b, "2-0", "task.updated", data), 0);
    assert_int_equal(b.len, strlen("id: 2-0\nevent: task.updated\ndata: ") + n + 2);
    free(data);
    sse_buf_free(&b);
}

static void test_messages(void **state) {
    (void)state;
    sse_event ev;
    const char *msg = "{\"id\":\"1700000000000-3\",\"event\":{\"specversion\":\"1.0\","
                      "\"type\":\"taskbus.task.updated\",\"data\":{\"title\":\"a\\nb\"}}}";
    assert_int_equal(sse_event_from_message(msg, strlen(msg), &ev), 0);
    assert_string_equal(ev.id_text, "1700000000000-3");
    assert_true(ev.id.ms == 1700000000000ULL && ev.id.seq == 3);
    assert_string_equal(ev.name, "task.updated");
    assert_null(strchr(ev.data, '\n')); /* escaped, so one data line */
    assert_non_null(strstr(ev.data, "\"type\":\"taskbus.task.updated\""));
    sse_event_clear(&ev);

    /* the CloudEvent as JSON text inside the message is accepted too */
    const char *msg2 = "{\"id\":\"5-1\",\"event\":\"{\\\"type\\\":\\\"taskbus.task.deleted\\\"}\"}";
    assert_int_equal(sse_event_from_message(msg2, strlen(msg2), &ev), 0);
    assert_string_equal(ev.name, "task.deleted");
    assert_string_equal(ev.data, "{\"type\":\"taskbus.task.deleted\"}");
    sse_event_clear(&ev);

    const char *bad[] = {"",
                         "nope",
                         "{}",
                         "{\"id\":\"5-1\"}",
                         "{\"id\":\"x\",\"event\":{}}",
                         "{\"id\":5,\"event\":{}}",
                         "{\"id\":\"5-1\",\"event\":3}",
                         "{\"id\":\"5-1\",\"event\":\"not json\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sse_event_from_message(bad[i], strlen(bad[i]), &ev), -1);
        sse_event_clear(&ev);
    }

    const char *entry = "{\"type\":\"taskbus.task.created\",\"id\":\"e1\"}";
    assert_int_equal(sse_event_from_entry("7-0", entry, strlen(entry), &ev), 0);
    assert_string_equal(ev.name, "task.created");
    assert_string_equal(ev.id_text, "7-0");
    sse_event_clear(&ev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),      cmocka_unit_test(test_event_names),
        cmocka_unit_test(test_frames),   cmocka_unit_test(test_big_frame),
        cmocka_unit_test(test_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
