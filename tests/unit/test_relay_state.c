/*
 * test_relay_state.c: the task-state record of an outbox row (workers/relay/relay_state.c):
 * created/updated/completed give the payload under the task id of the subject, deleted a
 * tombstone, data.id serves when the subject is not "tasks/<id>", other topics and unknown
 * types give nothing, unreadable payloads are told apart, task-state rows are their own
 * record (NULL payload: a tombstone), and a tombstone's headers lose content-type only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "shared/json_scan.h"
#include "workers/relay/relay_state.h"

#define TID "0190f5a4-7b1c-7cc0-8f00-0000000000aa"
#define UID "0190f5a4-7b1c-7cc0-8f00-0000000000bb"

static relay_state_kind derive(const char *topic, const char *payload, relay_state_record *out) {
    static char scratch[4096];
    size_t len = payload != NULL ? strlen(payload) : 0;
    assert_true(json_scan_buffer_size(len) <= sizeof scratch);
    return relay_state_derive(topic, UID, strlen(UID), payload, len, scratch, sizeof scratch, out);
}

static void test_existing_types_keep_the_payload(void **state) {
    (void)state;
    const char *types[] = {"taskbus.task.created", "taskbus.task.updated",
                           "taskbus.task.completed"};
    for (size_t i = 0; i < 3; i++) {
        char payload[512];
        snprintf(payload, sizeof payload,
                 "{\"id\":\"e1\",\"type\":\"%s\",\"subject\":\"tasks/" TID "\","
                 "\"data\":{\"id\":\"" TID "\",\"version\":3}}",
                 types[i]);
        relay_state_record st;
        assert_int_equal(derive("task-events", payload, &st), RELAY_STATE_VALUE);
        assert_false(st.is_row);
        assert_string_equal(st.key, TID);
        assert_int_equal(st.key_len, strlen(TID));
    }
}

static void test_deleted_is_a_tombstone(void **state) {
    (void)state;
    relay_state_record st;
    assert_int_equal(derive("task-events",
                            "{\"type\":\"taskbus.task.deleted\",\"subject\":\"tasks/" TID "\","
                            "\"data\":{\"id\":\"" TID "\"}}",
                            &st),
                     RELAY_STATE_TOMBSTONE);
    assert_string_equal(st.key, TID);
}

static void test_data_id_when_no_task_subject(void **state) {
    (void)state;
    relay_state_record st;
    /* escaped characters are decoded before they become the key */
    assert_int_equal(derive("task-events",
                            "{\"type\":\"taskbus.task.updated\",\"subject\":\"users/x\","
                            "\"data\":{\"title\":\"t\",\"id\":\"ab\\u0063\"}}",
                            &st),
                     RELAY_STATE_VALUE);
    assert_string_equal(st.key, "abc");
    assert_int_equal(
        derive("task-events", "{\"type\":\"taskbus.task.created\",\"data\":{\"id\":\"x1\"}}", &st),
        RELAY_STATE_VALUE);
    assert_string_equal(st.key, "x1");
    /* "tasks/" with nothing after it is no subject of a task */
    assert_int_equal(derive("task-events",
                            "{\"type\":\"taskbus.task.created\",\"subject\":\"tasks/\","
                            "\"data\":{\"id\":\"x2\"}}",
                            &st),
                     RELAY_STATE_VALUE);
    assert_string_equal(st.key, "x2");
}

static void test_nothing_for_other_topics_and_types(void **state) {
    (void)state;
    relay_state_record st;
    const char *ev = "{\"type\":\"taskbus.task.created\",\"subject\":\"tasks/" TID "\"}";
    assert_int_equal(derive("notifications", ev, &st), RELAY_STATE_NONE);
    assert_int_equal(derive("user-events", ev, &st), RELAY_STATE_NONE);
    assert_int_equal(derive("task-events",
                            "{\"type\":\"taskbus.task.archived\",\"subject\":\"tasks/" TID "\"}",
                            &st),
                     RELAY_STATE_NONE);
    /* a nested "type" is not the event's type */
    assert_int_equal(derive("task-events",
                            "{\"type\":\"x\",\"data\":{\"type\":\"taskbus.task.created\","
                            "\"id\":\"" TID "\"}}",
                            &st),
                     RELAY_STATE_NONE);
}

static void test_unreadable_rows(void **state) {
    (void)state;
    relay_state_record st;
    assert_int_equal(derive("task-events", "not json", &st), RELAY_STATE_UNREADABLE);
    assert_int_equal(derive("task-events", NULL, &st), RELAY_STATE_UNREADABLE);
    assert_int_equal(derive("task-events", "{\"subject\":\"tasks/" TID "\"}", &st),
                     RELAY_STATE_UNREADABLE); /* no type */
    assert_int_equal(derive("task-events", "{\"type\":\"taskbus.task.created\",\"data\":{}}", &st),
                     RELAY_STATE_UNREADABLE); /* no id */
    assert_int_equal(
        derive("task-events", "{\"type\":\"taskbus.task.created\",\"data\":{\"id\":7}}", &st),
        RELAY_STATE_UNREADABLE); /* an id that is no string */
    char longer[256];
    snprintf(longer, sizeof longer,
             "{\"type\":\"taskbus.task.created\",\"subject\":\"tasks/%0*d\"}",
             RELAY_STATE_KEY_MAX + 1, 0);
    assert_int_equal(derive("task-events", longer, &st), RELAY_STATE_UNREADABLE);
    /* a wanted key twice is refused, as the consumers refuse it */
    assert_int_equal(derive("task-events",
                            "{\"type\":\"taskbus.task.created\",\"type\":\"taskbus.task.deleted\","
                            "\"subject\":\"tasks/" TID "\"}",
                            &st),
                     RELAY_STATE_UNREADABLE);
}

static void test_task_state_rows_are_their_own_record(void **state) {
    (void)state;
    static char scratch[64];
    relay_state_record st;
    assert_int_equal(
        relay_state_derive("task-state", TID, strlen(TID), NULL, 0, scratch, sizeof scratch, &st),
        RELAY_STATE_TOMBSTONE);
    assert_true(st.is_row);
    assert_string_equal(st.key, TID);
    const char *v = "{\"type\":\"taskbus.task.updated\"}";
    assert_int_equal(relay_state_derive("task-state", TID, strlen(TID), v, strlen(v), scratch,
                                        sizeof scratch, &st),
                     RELAY_STATE_VALUE);
    assert_true(st.is_row);
    assert_int_equal(relay_state_derive("task-state", "", 0, NULL, 0, scratch, sizeof scratch, &st),
                     RELAY_STATE_UNREADABLE);
}

static void test_tombstone_headers_drop_content_type(void **state) {
    (void)state;
    const kafka_header in[] = {{"request_id", "r1"},
                               {"Content-Type", "application/cloudevents+json"},
                               {"traceparent", "00-abc"}};
    kafka_header out[3];
    size_t n = relay_state_tombstone_headers(in, 3, out);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].name, "request_id");
    assert_string_equal(out[1].name, "traceparent");
    assert_int_equal(relay_state_tombstone_headers(in, 0, out), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_existing_types_keep_the_payload),
        cmocka_unit_test(test_deleted_is_a_tombstone),
        cmocka_unit_test(test_data_id_when_no_task_subject),
        cmocka_unit_test(test_nothing_for_other_topics_and_types),
        cmocka_unit_test(test_unreadable_rows),
        cmocka_unit_test(test_task_state_rows_are_their_own_record),
        cmocka_unit_test(test_tombstone_headers_drop_content_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
