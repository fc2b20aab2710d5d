/*
 * test_writer_event_v2.c: the v2 event of an applied task command (workers/writer/
 * writer_event_v2.h).
 *
 * Covers: the type ("<v1 type>.v2") and its dataschema; data is the task text whole (what
 * v1 data leaves out, project_id and assignee_id, stays) plus actor_id and command_id; a
 * delete's data names the project it was deleted from; the subject and traceparent are
 * the command's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "shared/task_event_types.h"
#include "workers/writer/writer_event_v2.h"

#define UID "0190f5a0-0000-7000-8000-0000000000aa"
#define TID "0190f5a0-0000-7000-8000-000000000001"
#define CID "0190f5a0-0000-7000-8000-000000000011"
#define PID "0190f5a0-0000-7000-8000-0000000000c1"
#define TRACE "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static task_command command(void) {
    task_command c = {.type = TASK_CMD_UPDATE, .expected_version = -1};
    strcpy(c.user_id, UID);
    strcpy(c.task_id, TID);
    strcpy(c.command_id, CID);
    return c;
}

static json_t *parsed(char *text) {
    assert_non_null(text);
    json_t *ev = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(ev);
    return ev;
}

static void test_a_change_carries_the_whole_task_and_the_actor(void **state) {
    (void)state;
    task_command c = command();
    writer_decision d = {.applied = true, .task_version = 3, .event_type = TASK_EVENT_UPDATED};
    char id[UUID_STR_LEN];
    json_t *ev = parsed(writer_event_v2(&c, &d,
                                        "{\"id\":\"" TID "\",\"project_id\":\"" PID
                                        "\",\"assignee_id\":\"" UID "\","
                                        "\"version\":3}",
                                        NULL, TRACE, id));
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "taskbus.task.updated.v2");
    assert_string_equal(json_string_value(json_object_get(ev, "dataschema")),
                        "https://taskbus.example/schemas/events/taskbus.task.updated/v2.json");
    assert_string_equal(json_string_value(json_object_get(ev, "id")), id);
    assert_string_equal(json_string_value(json_object_get(ev, "subject")), "tasks/" TID);
    assert_string_equal(json_string_value(json_object_get(ev, "traceparent")), TRACE);
    json_t *data = json_object_get(ev, "data");
    assert_int_equal(json_object_size(data), 6);
    assert_string_equal(json_string_value(json_object_get(data, "project_id")), PID);
    assert_string_equal(json_string_value(json_object_get(data, "assignee_id")), UID);
    assert_string_equal(json_string_value(json_object_get(data, "actor_id")), UID);
    assert_string_equal(json_string_value(json_object_get(data, "command_id")), CID);
    assert_int_equal(json_integer_value(json_object_get(data, "version")), 3);
    json_decref(ev);
}

static void test_a_delete_names_its_project(void **state) {
    (void)state;
    task_command c = command();
    c.type = TASK_CMD_DELETE;
    writer_decision d = {.applied = true, .task_version = 5, .event_type = TASK_EVENT_DELETED};
    char id[UUID_STR_LEN], type[WRITER_EVENT_V2_TYPE_MAX];
    json_t *ev = parsed(writer_event_v2(&c, &d, NULL, PID, NULL, id));
    writer_event_v2_type(&d, type);
    assert_string_equal(type, "taskbus.task.deleted.v2");
    assert_string_equal(json_string_value(json_object_get(ev, "type")), type);
    assert_null(json_object_get(ev, "traceparent"));
    json_t *want = json_pack("{s:s,s:s,s:i,s:s,s:s}", "id", TID, "project_id", PID, "version", 5,
                             "actor_id", UID, "command_id", CID);
    assert_true(json_equal(json_object_get(ev, "data"), want));
    json_decref(want);
    json_decref(ev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_change_carries_the_whole_task_and_the_actor),
        cmocka_unit_test(test_a_delete_names_its_project),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
