/*
 * test_user_erasure_event.c: reading a taskbus.user.deleted event for the erasures of the
 * read-only consumers (shared/user_erasure_event.c).
 *
 * Covers: a valid event (user id, Inbox, erased_at = data.deleted_at); an Inbox that is
 * null or absent (no Inbox); erased_at from the event's time when deleted_at is absent or
 * unreadable; what is refused (another type of user-events, a user id missing or no UUID,
 * an Inbox that is no UUID, no readable time, data that is no object); and that a batch
 * holding no erasure (other topics, other types, malformed erasures) never reaches
 * Postgres (user_erasures_apply with no connection).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/user_erasure_event.h"
#include "tests/unit/kafka_records.h"

#define EV_ID "0190f5a0-0000-7000-8000-0000000e0001"
#define USER "0190f5a0-0000-7000-8000-0000000e0a01"
#define INBOX "0190f5a0-0000-7000-8000-0000000e0b01"
#define TIME "2024-06-01T10:00:00.000Z"
#define DELETED_AT "2024-06-01T09:59:59.123Z"

/* An event of type t (suffix of taskbus.user.) with data d. */
#define EVENT(t, d)                                                                                \
    "{\"specversion\":\"1.0\",\"id\":\"" EV_ID "\",\"source\":\"/taskbus/api\","                   \
    "\"type\":\"taskbus.user." t "\",\"time\":\"" TIME "\",\"subject\":\"users/" USER "\","        \
    "\"data\":" d "}"
#define DELETED(d) EVENT("deleted", d)

typedef struct scanned {
    json_scan_field f[USER_ERASURE_NFIELDS];
    char *buf;
} scanned;

/* Scans text with USER_ERASURE_FIELDS into s (freed by the caller: s->buf). */
static void scan(const char *text, scanned *s) {
    size_t n = strlen(text);
    s->buf = malloc(json_scan_buffer_size(n));
    assert_non_null(s->buf);
    memcpy(s->f, USER_ERASURE_FIELDS, sizeof s->f);
    assert_int_equal(
        json_scan(text, n, s->f, USER_ERASURE_NFIELDS, s->buf, json_scan_buffer_size(n)), 0);
}

/* user_erasure_of of text (which must scan). */
static bool read_erasure(const char *text, user_erasure *out, scanned *s) {
    scan(text, s);
    return user_erasure_of(s->f, out);
}

static void assert_refused(const char *text) {
    scanned s;
    user_erasure e;
    if (read_erasure(text, &e, &s)) {
        free(s.buf);
        fail_msg("accepted: %s", text);
    }
    free(s.buf);
}

static void test_valid_event(void **state) {
    (void)state;
    scanned s;
    user_erasure e;
    assert_true(read_erasure(DELETED("{\"user_id\":\"" USER "\",\"inbox_project_id\":\"" INBOX
                                     "\",\"deleted_at\":\"" DELETED_AT "\"}"),
                             &e, &s));
    assert_string_equal(e.user_id, USER);
    assert_string_equal(e.inbox_project_id, INBOX);
    assert_string_equal(e.erased_at, DELETED_AT);
    free(s.buf);
    assert_true(user_erasure_wants(USER_ERASED_EVENT));
    assert_string_equal(USER_ERASED_EVENT, "taskbus.user.deleted");
}

static void test_no_inbox(void **state) {
    (void)state;
    const char *docs[] = {
        DELETED("{\"user_id\":\"" USER "\",\"inbox_project_id\":null,\"deleted_at\":\"" DELETED_AT
                "\"}"),
        DELETED("{\"user_id\":\"" USER "\",\"deleted_at\":\"" DELETED_AT "\"}"),
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        scanned s;
        user_erasure e;
        assert_true(read_erasure(docs[i], &e, &s));
        assert_string_equal(e.user_id, USER);
        assert_null(e.inbox_project_id);
        assert_string_equal(e.erased_at, DELETED_AT);
        free(s.buf);
    }
}

static void test_time_fallback(void **state) {
    (void)state;
    const char *docs[] = {
        DELETED("{\"user_id\":\"" USER "\",\"inbox_project_id\":\"" INBOX "\"}"),
        DELETED("{\"user_id\":\"" USER "\",\"inbox_project_id\":\"" INBOX
                "\",\"deleted_at\":\"yesterday\"}"),
        DELETED("{\"user_id\":\"" USER "\",\"inbox_project_id\":\"" INBOX
                "\",\"deleted_at\":null}"),
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        scanned s;
        user_erasure e;
        assert_true(read_erasure(docs[i], &e, &s));
        assert_string_equal(e.erased_at, TIME);
        free(s.buf);
    }
    /* neither deleted_at nor time */
    assert_refused("{\"id\":\"" EV_ID "\",\"type\":\"taskbus.user.deleted\",\"data\":{\"user_id\":"
                   "\"" USER "\"}}");
    assert_refused("{\"id\":\"" EV_ID "\",\"type\":\"taskbus.user.deleted\",\"time\":\"now\","
                   "\"data\":{\"user_id\":\"" USER "\"}}");
}

static void test_refused(void **state) {
    (void)state;
    /* other types of user-events */
    assert_false(user_erasure_wants("taskbus.user.registered"));
    assert_false(user_erasure_wants("taskbus.user.deleted.v2"));
    assert_false(user_erasure_wants(NULL));
    assert_refused(EVENT("registered", "{\"user_id\":\"" USER "\",\"inbox_project_id\":\"" INBOX
                                       "\",\"deleted_at\":\"" DELETED_AT "\"}"));
    assert_refused(EVENT("email_changed", "{\"user_id\":\"" USER "\"}"));
    /* the user id */
    assert_refused(DELETED("{\"inbox_project_id\":\"" INBOX "\"}"));
    assert_refused(DELETED("{\"user_id\":null,\"inbox_project_id\":\"" INBOX "\"}"));
    assert_refused(DELETED("{\"user_id\":\"not-a-uuid\",\"inbox_project_id\":\"" INBOX "\"}"));
    assert_refused(DELETED("{\"user_id\":42}"));
    /* an Inbox that is there but no UUID */
    assert_refused(DELETED("{\"user_id\":\"" USER "\",\"inbox_project_id\":\"inbox\"}"));
    assert_refused(DELETED("{\"user_id\":\"" USER "\",\"inbox_project_id\":7}"));
    /* the envelope */
    assert_refused(DELETED("[\"" USER "\"]"));
    assert_refused("{\"id\":\"1\",\"type\":\"taskbus.user.deleted\",\"time\":\"" TIME "\","
                   "\"data\":{\"user_id\":\"" USER "\"}}");
}

/* A batch with no erasure to store returns 0 without a connection (event_rows_apply only
 * reaches Postgres for rows). */
static void test_batch_without_erasures(void **state) {
    (void)state;
    static const pg_stmt never = {.name = "never", .sql = "SELECT 1", .nparams = 3};
    const char *deleted = DELETED("{\"user_id\":\"" USER "\",\"inbox_project_id\":\"" INBOX "\"}");
    const kafka_record records[] = {
        kafka_record_of(TASK_EVENTS_TOPIC, 0, USER, deleted), /* another topic */
        kafka_record_of(USER_EVENTS_TOPIC, 1, USER,
                        EVENT("registered", "{\"user_id\":\"" USER "\"}")),
        kafka_record_of(USER_EVENTS_TOPIC, 2, USER, DELETED("{\"user_id\":\"x\"}")),
        kafka_record_of(USER_EVENTS_TOPIC, 3, USER, "not json"),
        kafka_record_of(USER_EVENTS_TOPIC, 4, USER, NULL),
    };
    assert_int_equal(
        user_erasures_apply("test", &never, NULL, records, sizeof records / sizeof records[0]), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_event),
        cmocka_unit_test(test_no_inbox),
        cmocka_unit_test(test_time_fallback),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_batch_without_erasures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
