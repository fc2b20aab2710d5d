/*
 * task_model.c: a task, its JSON form and its Postgres row.
 *
 * Owns: the mapping from a TASK_SELECT_COLUMNS row to the task JSON, and the enumerations.
 * Rules: keys are set in one fixed order (id, project_id, title, description, status,
 * priority, due_at, tags, recurrence (only when not NULL), assignee_id (only when not
 * NULL), created_at, updated_at, completed_at, version), so the same task always
 * serialises to the same text in the API, the cache and the events; absent times are JSON
 * null, present ones millisecond RFC 3339 UTC (shared/time_util.h, which also parses
 * them).
 */
#include "shared/task_model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shared/time_util.h"

enum {
    COL_ID,
    COL_OWNER,
    COL_TITLE,
    COL_DESCRIPTION,
    COL_STATUS,
    COL_PRIORITY,
    COL_DUE,
    COL_TAGS,
    COL_CREATED,
    COL_UPDATED,
    COL_COMPLETED,
    COL_VERSION,
    COL_RECURRENCE,
    COL_PROJECT,
    COL_ASSIGNEE,
    COL_COUNT
};
_Static_assert(COL_COUNT == TASK_SELECT_COLUMN_COUNT, "TASK_SELECT_COLUMNS and COL_* disagree");

bool task_status_valid(const char *s) {
    return s != NULL &&
           (strcmp(s, "todo") == 0 || strcmp(s, "in_progress") == 0 || strcmp(s, "done") == 0);
}

bool task_priority_valid(const char *s) {
    return s != NULL && (strcmp(s, "low") == 0 || strcmp(s, "medium") == 0 ||
                         strcmp(s, "high") == 0 || strcmp(s, "urgent") == 0);
}

long long task_json_version(const json_t *task) {
    json_t *v = json_object_get(task, "version");
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

bool task_json_strip_for_event(json_t *task) {
    bool recurrence = json_object_del(task, "recurrence") == 0;
    bool project = json_object_del(task, "project_id") == 0;
    bool assignee = json_object_del(task, "assignee_id") == 0;
    return recurrence || project || assignee;
}

/* Parses a decimal integer column; false when it is not one. */
static bool parse_ll(const char *text, long long *out) {
    if (text == NULL || *text == '\0') {
        return false;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == NULL || *end != '\0') {
        return false;
    }
    *out = v;
    return true;
}

/* A timestamp column (epoch ms or NULL) as an RFC 3339 string or JSON null. */
static json_t *time_column(const PGresult *res, int row, int col, bool *ok) {
    if (PQgetisnull(res, row, col)) {
        return json_null();
    }
    long long ms;
    if (!parse_ll(PQgetvalue(res, row, col), &ms)) {
        *ok = false;
        return NULL;
    }
    char text[32];
    time_format_rfc3339_ms((int64_t)ms, text, sizeof text);
    return json_string(text);
}

/* The tags column (array_to_json text) as a JSON array of strings, or NULL. */
static json_t *tags_column(const PGresult *res, int row) {
    json_error_t jerr;
    const char *text = PQgetvalue(res, row, COL_TAGS);
    json_t *tags = json_loads(text, 0, &jerr);
    if (!json_is_array(tags)) {
        json_decref(tags);
        return NULL;
    }
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t) {
        if (!json_is_string(t)) {
            json_decref(tags);
            return NULL;
        }
    }
    return tags;
}

/* The recurrence column (jsonb text) as {rule, time_zone}: 0 with *out NULL when the
 * column is NULL, 0 with *out set, or -1 when it is not such an object. */
static int recurrence_column(const PGresult *res, int row, json_t **out) {
    *out = NULL;
    if (PQgetisnull(res, row, COL_RECURRENCE)) {
        return 0;
    }
    json_error_t jerr;
    json_t *r = json_loads(PQgetvalue(res, row, COL_RECURRENCE), 0, &jerr);
    bool ok = json_is_object(r) && json_object_size(r) == 2 &&
              json_is_string(json_object_get(r, "rule")) &&
              json_is_string(json_object_get(r, "time_zone"));
    if (!ok) {
        json_decref(r);
        return -1;
    }
    *out = r;
    return 0;
}

static bool required_present(const PGresult *res, int row) {
    /* owner_id is NULL for a task in a team project (migration 0022). */
    static const int required[] = {COL_ID,       COL_TITLE,  COL_DESCRIPTION, COL_STATUS,
                                   COL_PRIORITY, COL_TAGS,   COL_CREATED,     COL_UPDATED,
                                   COL_VERSION,  COL_PROJECT};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (PQgetisnull(res, row, required[i])) {
            return false;
        }
    }
    return true;
}

json_t *task_from_row(const PGresult *res, int row, char *owner_out) {
    if (res == NULL || row < 0 || row >= PQntuples(res) || PQnfields(res) < COL_COUNT ||
        !required_present(res, row)) {
        return NULL;
    }
    long long version;
    if (!parse_ll(PQgetvalue(res, row, COL_VERSION), &version)) {
        return NULL;
    }
    bool ok = true;
    json_t *task = json_object();
    if (task == NULL) {
        return NULL;
    }
    int rc = json_object_set_new(task, "id", json_string(PQgetvalue(res, row, COL_ID)));
    rc |= json_object_set_new(task, "project_id", json_string(PQgetvalue(res, row, COL_PROJECT)));
    rc |= json_object_set_new(task, "title", json_string(PQgetvalue(res, row, COL_TITLE)));
    rc |= json_object_set_new(task, "description",
                              json_string(PQgetvalue(res, row, COL_DESCRIPTION)));
    rc |= json_object_set_new(task, "status", json_string(PQgetvalue(res, row, COL_STATUS)));
    rc |= json_object_set_new(task, "priority", json_string(PQgetvalue(res, row, COL_PRIORITY)));
    rc |= json_object_set_new(task, "due_at", time_column(res, row, COL_DUE, &ok));
    rc |= json_object_set_new(task, "tags", tags_column(res, row));
    json_t *recurrence;
    if (recurrence_column(res, row, &recurrence) != 0) {
        ok = false;
    } else if (recurrence != NULL) {
        rc |= json_object_set_new(task, "recurrence", recurrence);
    }
    if (!PQgetisnull(res, row, COL_ASSIGNEE)) {
        rc |= json_object_set_new(task, "assignee_id",
                                  json_string(PQgetvalue(res, row, COL_ASSIGNEE)));
    }
    rc |= json_object_set_new(task, "created_at", time_column(res, row, COL_CREATED, &ok));
    rc |= json_object_set_new(task, "updated_at", time_column(res, row, COL_UPDATED, &ok));
    rc |= json_object_set_new(task, "completed_at", time_column(res, row, COL_COMPLETED, &ok));
    rc |= json_object_set_new(task, "version", json_integer((json_int_t)version));
    /* json_object_set_new fails (and releases nothing) on a NULL value, so rc covers a
     * malformed column or an allocation failure. */
    if (rc != 0 || !ok) {
        json_decref(task);
        return NULL;
    }
    if (owner_out != NULL) {
        const char *owner = PQgetvalue(res, row, COL_OWNER);
        size_t n = strlen(owner);
        if (n >= 37) {
            json_decref(task);
            return NULL;
        }
        memcpy(owner_out, owner, n + 1);
    }
    return task;
}
