/*
 * fuzz_task_validation.c: libFuzzer target for the task write rules
 * (api/task_validation.c): create bodies (recurrence rules, through shared/recurrence.c,
 * included), merge patches, the predicted task and the RFC 3339 parser behind due_at.
 *
 * Input: a JSON request body (parsed the way the API parses it); the same bytes are also
 * tried as a due_at text.
 * Invariants: a verdict of 0 comes with fields and no error, a refusal with no fields and
 * at least as many {field, message} errors as it counts; what validation returns is
 * itself valid and normalises to itself (so the writer and a re-validation agree); the
 * predicted task of a valid create or patch exists; a parsed due_at formats to text that
 * parses back to the same instant.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/request_body.h"
#include "api/task_validation.h"
#include "fuzz_util.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"

#define FUZZ_TASK_ID "01950000-0000-7000-8000-000000000001"
#define FUZZ_ISSUED_MS (FUZZ_NOW_S * 1000)

/* Every error is a {field: string, message: non-empty string}. */
static void check_errors(const json_t *errors, size_t before, int n) {
    size_t added = json_array_size(errors) - before;
    FUZZ_CHECK(n >= 0);
    FUZZ_CHECK((n == 0) == (added == 0));
    FUZZ_CHECK(added <= (size_t)n);
    for (size_t i = before; i < json_array_size(errors); i++) {
        const json_t *e = json_array_get(errors, i);
        FUZZ_CHECK(json_is_string(json_object_get(e, "field")));
        const char *msg = json_string_value(json_object_get(e, "message"));
        FUZZ_CHECK(msg != NULL && msg[0] != '\0');
    }
}

static void check_due_text(const char *text) {
    int64_t ms, again;
    if (task_parse_rfc3339(text, &ms) != 0) {
        return;
    }
    char formatted[40];
    time_format_rfc3339_ms(ms, formatted, sizeof formatted);
    FUZZ_CHECK(task_parse_rfc3339(formatted, &again) == 0);
    FUZZ_CHECK(again == ms);
}

static void check_create(const json_t *body, json_t *errors) {
    json_t *fields = NULL;
    size_t before = json_array_size(errors);
    int n = task_validate_create(body, &fields, errors);
    check_errors(errors, before, n);
    if (n > 0) {
        FUZZ_CHECK(fields == NULL);
        return;
    }
    FUZZ_CHECK(json_is_object(fields));
    /* the six fields, recurrence only when the task recurs (never null), project_id (a
     * lower-case UUID) only when the body names one, assignee_id (the same) only when the
     * body names someone (null: nobody, no member) */
    const json_t *recurrence = json_object_get(fields, "recurrence");
    FUZZ_CHECK(recurrence == NULL || json_is_object(recurrence));
    const char *project = json_string_value(json_object_get(fields, "project_id"));
    FUZZ_CHECK((project != NULL) == (json_object_get(body, "project_id") != NULL));
    char lower[UUID_STR_LEN];
    FUZZ_CHECK(project == NULL || (uuid_canonical(project, lower) && strcmp(lower, project) == 0));
    const char *assignee = json_string_value(json_object_get(fields, "assignee_id"));
    const json_t *named = json_object_get(body, "assignee_id");
    FUZZ_CHECK((assignee != NULL) == (named != NULL && !json_is_null(named)));
    FUZZ_CHECK(assignee == NULL ||
               (uuid_canonical(assignee, lower) && strcmp(lower, assignee) == 0));
    FUZZ_CHECK(json_object_size(fields) ==
               6 + (recurrence != NULL) + (project != NULL) + (assignee != NULL));
    const char *due = json_string_value(json_object_get(fields, "due_at"));
    if (due != NULL) {
        check_due_text(due);
    }
    json_t *again = NULL;
    FUZZ_CHECK(task_validate_create(fields, &again, errors) == 0);
    FUZZ_CHECK(json_equal(again, fields));
    json_decref(again);

    json_t *task = task_predict_create(FUZZ_TASK_ID, fields, FUZZ_ISSUED_MS);
    FUZZ_CHECK(task != NULL);
    FUZZ_CHECK(json_integer_value(json_object_get(task, "version")) == 1);

    /* The same body as a patch of that task: a create body is a valid patch (a project it
     * names is a move), unless it is empty. */
    json_t *patch = NULL;
    int patch_errors = task_validate_patch(body, &patch, errors);
    FUZZ_CHECK(patch_errors == 0 || json_object_size(body) == 0);
    json_t *imported = NULL; /* an import item never names a project or an assignee */
    FUZZ_CHECK((task_validate_import(body, &imported, errors) == 0) ==
               (project == NULL && named == NULL));
    json_decref(imported);
    if (patch != NULL) {
        json_t *updated = task_predict_update(task, patch, FUZZ_ISSUED_MS + 1);
        FUZZ_CHECK(updated != NULL);
        FUZZ_CHECK(json_integer_value(json_object_get(updated, "version")) == 2);
        json_decref(updated);
        json_decref(patch);
    }
    json_decref(task);
    json_decref(fields);
}

static void check_patch(const json_t *body, json_t *errors) {
    json_t *patch = NULL;
    size_t before = json_array_size(errors);
    int n = task_validate_patch(body, &patch, errors);
    check_errors(errors, before, n);
    if (n > 0) {
        FUZZ_CHECK(patch == NULL);
        return;
    }
    FUZZ_CHECK(json_is_object(patch) && json_object_size(patch) == json_object_size(body));
    json_t *again = NULL;
    FUZZ_CHECK(task_validate_patch(patch, &again, errors) == 0);
    FUZZ_CHECK(json_equal(again, patch));
    json_decref(again);

    json_t *current = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:n,s:[],s:s,s:s,s:s,s:I}", "id", FUZZ_TASK_ID, "title", "t",
        "description", "", "status", "done", "priority", "low", "due_at", "tags", "created_at",
        "2026-01-01T00:00:00.000Z", "updated_at", "2026-01-01T00:00:00.000Z", "completed_at",
        "2026-01-01T00:00:00.000Z", "version", (json_int_t)41);
    FUZZ_CHECK(current != NULL);
    json_t *updated = task_predict_update(current, patch, FUZZ_ISSUED_MS);
    FUZZ_CHECK(updated != NULL);
    FUZZ_CHECK(json_integer_value(json_object_get(updated, "version")) == 42);
    const char *status = json_string_value(json_object_get(updated, "status"));
    FUZZ_CHECK(status != NULL);
    FUZZ_CHECK(json_is_null(json_object_get(updated, "completed_at")) ==
               (strcmp(status, "done") != 0));
    json_decref(updated);
    json_decref(current);
    json_decref(patch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    size_t len;
    char *text = fuzz_take_rest(&in, &len);
    check_due_text(text);

    char detail[256];
    json_t *body = NULL;
    if (request_body_parse_object(text, len, &body, detail, sizeof detail) == BODY_OK) {
        json_t *errors = json_array();
        FUZZ_CHECK(errors != NULL);
        check_create(body, errors);
        check_patch(body, errors);
        json_decref(errors);
        json_decref(body);
    }
    free(text);
    return 0;
}
