/*
 * task_validation.c: task field rules, create/patch validation, predicted tasks.
 *
 * Owns: the checks listed in task_validation.h. Rules: no I/O; every bad member gets its
 * own error so one 422 lists them all; strings are counted by code point (jansson only
 * hands out valid UTF-8). Titles are not trimmed: what the client sent is what it reads
 * back, but a title of only whitespace says nothing and is refused. The predicted task is
 * built by the same rules the writer applies (shared/task_model.h), so the 202 answer
 * matches what GET will return once the command is applied.
 */
#include "api/task_validation.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "shared/recurrence.h"
#include "shared/task_model.h"
#include "shared/time_util.h"
#include "shared/utf8.h"
#include "shared/uuid7.h"

/* --- text --- */

/* A task's one-line fields refuse the line separators along with the C0/C1 controls. */
static bool is_control(uint32_t cp) {
    return utf8_is_control(cp) || utf8_is_line_separator(cp);
}

typedef struct text_facts {
    size_t chars;
    bool all_space;   /* also true for "" */
    bool control;     /* a control character other than tab, LF, CR */
    bool any_control; /* any control character at all */
} text_facts;

static text_facts scan_text(const char *s) {
    text_facts f = {0, true, false, false};
    for (const char *p = s; *p != '\0'; f.chars++) {
        uint32_t cp = utf8_next(&p);
        if (!utf8_is_space(cp))
            f.all_space = false;
        if (is_control(cp)) {
            f.any_control = true;
            if (cp != '\t' && cp != '\n' && cp != '\r')
                f.control = true;
        }
    }
    return f;
}

const char *text_one_line_problem(const char *text, size_t max, const char *length_message) {
    text_facts f = scan_text(text);
    if (f.chars == 0 || f.chars > max)
        return length_message;
    if (f.all_space)
        return "must not be only whitespace";
    if (f.any_control)
        return "must not contain control characters";
    return NULL;
}

const char *text_long_problem(const char *text, size_t max, const char *length_message) {
    text_facts f = scan_text(text);
    if (f.chars > max)
        return length_message;
    if (f.control)
        return "must not contain control characters other than tab and line breaks";
    return NULL;
}

static void add_error(json_t *errors, const char *field, const char *message) {
    /* Out of memory here loses one message; the count the caller returns still says the
     * body was refused. */
    json_t *e = json_pack("{s:s,s:s}", "field", field, "message", message);
    if (e != NULL && json_array_append_new(errors, e) != 0)
        return;
}

/* --- RFC 3339 --- */

/* The writer's parser (time_parse_rfc3339_ms, shared/time_util.c) decides what a
 * date-time is, so the API never accepts a due_at the writer's command decoder would send
 * to the DLQ. The range check after the offset keeps the normalised UTC text within years
 * 0001-9999 as well. */
int task_parse_rfc3339(const char *text, int64_t *unix_ms) {
    long long ms;
    if (time_parse_rfc3339_ms(text, &ms) != 0 || ms < TIME_YEAR_1_UNIX_MS ||
        ms >= TIME_YEAR_10000_UNIX_MS)
        return -1;
    *unix_ms = (int64_t)ms;
    return 0;
}

/* --- fields --- */

static const char *const STATUS_VALUES = "todo, in_progress, done";
static const char *const PRIORITY_VALUES = "low, medium, high, urgent";
static const char *const READ_ONLY[] = {"id",         "version",      "created_at",
                                        "updated_at", "completed_at", NULL};

/* Each check_* validates one present member and returns its normalised value (new
 * reference), or NULL after appending an error. */

static json_t *check_title(const json_t *v, json_t *errors) {
    if (!json_is_string(v)) {
        add_error(errors, "title", "must be a string");
        return NULL;
    }
    const char *why = text_one_line_problem(json_string_value(v), TASK_TITLE_MAX,
                                            "must be 1 to 200 characters long");
    if (why != NULL) {
        add_error(errors, "title", why);
        return NULL;
    }
    return json_copy((json_t *)v);
}

static json_t *check_description(const json_t *v, json_t *errors) {
    if (!json_is_string(v)) {
        add_error(errors, "description", "must be a string");
        return NULL;
    }
    const char *why = text_long_problem(json_string_value(v), TASK_DESCRIPTION_MAX,
                                        "must be at most 10000 characters long");
    if (why != NULL) {
        add_error(errors, "description", why);
        return NULL;
    }
    return json_copy((json_t *)v);
}

static json_t *check_enum(const char *field, const json_t *v, bool (*valid)(const char *),
                          const char *values, json_t *errors) {
    if (json_is_string(v) && valid(json_string_value(v)))
        return json_copy((json_t *)v);
    char msg[96];
    snprintf(msg, sizeof msg, "must be one of %s", values);
    add_error(errors, field, msg);
    return NULL;
}

static json_t *check_due_at(const json_t *v, json_t *errors) {
    if (json_is_null(v))
        return json_null();
    int64_t ms;
    if (!json_is_string(v) || task_parse_rfc3339(json_string_value(v), &ms) != 0) {
        add_error(errors, "due_at",
                  "must be an RFC 3339 date-time with a UTC offset, e.g. "
                  "2030-01-31T17:00:00Z, or null");
        return NULL;
    }
    char text[40];
    time_format_rfc3339_ms(ms, text, sizeof text);
    return json_string(text);
}

/* null, or {rule, time_zone}: the rule in its canonical text. A bad rule's error is on
 * recurrence.rule and its message starts with the part it is about ("BYDAY: ..."). */
static json_t *check_recurrence(const json_t *v, json_t *errors) {
    if (json_is_null(v))
        return json_null();
    if (!json_is_object(v)) {
        add_error(errors, "recurrence", "must be an object {rule, time_zone}, or null");
        return NULL;
    }
    bool ok = true;
    const char *key;
    json_t *member;
    json_object_foreach((json_t *)v, key, member) {
        if (strcmp(key, "rule") != 0 && strcmp(key, "time_zone") != 0) {
            /* jansson keys are whole UTF-8; a name too long to quote is not cut mid-way */
            char field[80];
            if (strlen(key) <= 60)
                snprintf(field, sizeof field, "recurrence.%s", key);
            add_error(errors, strlen(key) <= 60 ? field : "recurrence",
                      "is not a recurrence field (rule, time_zone)");
            ok = false;
        }
    }
    const json_t *rule_v = json_object_get(v, "rule");
    const json_t *zone_v = json_object_get(v, "time_zone");
    const char *rule = json_string_value(rule_v);
    const char *zone = json_string_value(zone_v);
    if (rule == NULL)
        add_error(errors, "recurrence.rule",
                  rule_v == NULL ? "is required: an RRULE such as FREQ=WEEKLY;BYDAY=MO"
                                 : "must be a string: an RRULE such as FREQ=WEEKLY;BYDAY=MO");
    if (zone == NULL)
        add_error(errors, "recurrence.time_zone",
                  zone_v == NULL ? "is required: an IANA time zone name such as Europe/Berlin"
                                 : "must be a string: an IANA time zone name such as "
                                   "Europe/Berlin");
    if (!ok || rule == NULL || zone == NULL)
        return NULL;
    const char *part = "rule";
    const char *why = recurrence_check(rule, zone, &part);
    char canonical[RECURRENCE_RULE_MAX + 1];
    if (why == NULL && recurrence_canonical(rule, canonical, sizeof canonical) != 0)
        why = "is not a rule taskbus can expand";
    if (why != NULL) {
        bool on_zone = strcmp(part, "time_zone") == 0;
        char msg[256];
        snprintf(msg, sizeof msg, "%s%s%s", on_zone || strcmp(part, "rule") == 0 ? "" : part,
                 on_zone || strcmp(part, "rule") == 0 ? "" : ": ", why);
        add_error(errors, on_zone ? "recurrence.time_zone" : "recurrence.rule", msg);
        return NULL;
    }
    return json_pack("{s:s,s:s}", "rule", canonical, "time_zone", zone);
}

/* One tag at index i; false after appending an error. */
static bool check_tag(const json_t *tags, size_t i, json_t *errors) {
    char field[32];
    snprintf(field, sizeof field, "tags[%zu]", i);
    const json_t *t = json_array_get(tags, i);
    if (!json_is_string(t)) {
        add_error(errors, field, "must be a string");
        return false;
    }
    const char *why = text_one_line_problem(json_string_value(t), TASK_TAG_MAX,
                                            "must be 1 to 50 characters long");
    for (size_t j = 0; why == NULL && j < i; j++) {
        if (json_equal(json_array_get(tags, j), (json_t *)t))
            why = "repeats an earlier tag";
    }
    if (why != NULL) {
        add_error(errors, field, why);
        return false;
    }
    return true;
}

static json_t *check_tags(const json_t *v, json_t *errors) {
    if (!json_is_array(v)) {
        add_error(errors, "tags", "must be an array of strings");
        return NULL;
    }
    if (json_array_size(v) > TASK_TAGS_MAX) {
        add_error(errors, "tags", "must hold at most 20 tags");
        return NULL;
    }
    bool ok = true;
    for (size_t i = 0; i < json_array_size(v); i++)
        ok = check_tag(v, i, errors) && ok;
    return ok ? json_deep_copy(v) : NULL;
}

/* What a body is validated as: a task's fields differ only in project_id and nulls. */
typedef enum { BODY_CREATE, BODY_IMPORT, BODY_PATCH } body_kind;

/* A create's project, or the project a patch moves the task to: a UUID (lower-cased),
 * whose membership the route checks. An import goes into the Inbox (docs/decisions.md,
 * "Tasks in team projects (slice 3b)", "Moving tasks (slice 5)"). */
static json_t *check_project(const json_t *v, body_kind kind, json_t *errors) {
    if (kind == BODY_IMPORT) {
        add_error(errors, "project_id",
                  "cannot be imported: an import puts every task into your Inbox");
        return NULL;
    }
    char lower[UUID_STR_LEN];
    if (!uuid_canonical(json_string_value(v), lower)) {
        add_error(errors, "project_id", "must be a project id (a UUID)");
        return NULL;
    }
    return json_string(lower);
}

/* An assignee: a user id (lower-cased) or null (nobody), whose role in the task's project
 * the route checks (it knows the project); the writer checks it again at apply. An import
 * goes into the Inbox, whose only possible assignee is the importer: nothing to say. */
static json_t *check_assignee(const json_t *v, body_kind kind, json_t *errors) {
    if (kind == BODY_IMPORT) {
        add_error(errors, "assignee_id",
                  "cannot be imported: an import puts every task into "
                  "your Inbox, unassigned");
        return NULL;
    }
    if (json_is_null(v))
        return json_null();
    char lower[UUID_STR_LEN];
    if (!uuid_canonical(json_string_value(v), lower)) {
        add_error(errors, "assignee_id", "must be a user id (a UUID) or null");
        return NULL;
    }
    return json_string(lower);
}

static bool is_read_only(const char *key) {
    for (size_t i = 0; READ_ONLY[i] != NULL; i++) {
        if (strcmp(READ_ONLY[i], key) == 0)
            return true;
    }
    return false;
}

/* The normalised value of member key, or NULL after appending an error. */
static json_t *check_member(const char *key, const json_t *v, body_kind kind, json_t *errors) {
    if (json_is_null(v) && strcmp(key, "due_at") != 0 && strcmp(key, "recurrence") != 0 &&
        strcmp(key, "assignee_id") != 0 && kind == BODY_PATCH) {
        add_error(errors, key, "cannot be removed (null); send a value");
        return NULL;
    }
    if (strcmp(key, "title") == 0)
        return check_title(v, errors);
    if (strcmp(key, "description") == 0)
        return check_description(v, errors);
    if (strcmp(key, "status") == 0)
        return check_enum(key, v, task_status_valid, STATUS_VALUES, errors);
    if (strcmp(key, "priority") == 0)
        return check_enum(key, v, task_priority_valid, PRIORITY_VALUES, errors);
    if (strcmp(key, "due_at") == 0)
        return check_due_at(v, errors);
    if (strcmp(key, "tags") == 0)
        return check_tags(v, errors);
    if (strcmp(key, "recurrence") == 0)
        return check_recurrence(v, errors);
    if (strcmp(key, "project_id") == 0)
        return check_project(v, kind, errors);
    if (strcmp(key, "assignee_id") == 0)
        return check_assignee(v, kind, errors);
    add_error(errors, key, is_read_only(key) ? "is read-only" : "is not a task field");
    return NULL;
}

/* A body that sets a recurrence and clears due_at (or, creating, leaves it null): the rule
 * has nothing to count from. Whether a patch leaves a stored rule without a due date is
 * the writer's to judge (it sees the task). 1 after appending an error, else 0. */
static int check_recurrence_due(const json_t *fields, bool creating, json_t *errors) {
    const json_t *r = json_object_get(fields, "recurrence");
    const json_t *due = json_object_get(fields, "due_at");
    if (r == NULL || json_is_null(r) || (due != NULL && !json_is_null(due)))
        return 0;
    if (due == NULL && !creating)
        return 0; /* a patch that leaves due_at alone */
    add_error(errors, "due_at", "a recurring task needs a due date: its occurrences count from it");
    return 1;
}

/* Validates every member of body into a new object; returns the error count. */
static int validate_members(const json_t *body, body_kind kind, json_t **out, json_t *errors) {
    size_t before = json_array_size(errors);
    json_t *fields = json_object();
    int bad = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v) {
        json_t *norm = check_member(key, v, kind, errors);
        if (norm == NULL) {
            bad++;
            continue;
        }
        if (fields == NULL) {
            json_decref(norm); /* out of memory earlier: keep validating, keep nothing */
            continue;
        }
        if (json_object_set_new(fields, key, norm) != 0) { /* set_new freed norm */
            json_decref(fields);
            fields = NULL;
        }
    }
    /* Counted both ways, so a message lost to a failed append still refuses the body. */
    int n = (int)(json_array_size(errors) - before);
    if (n < bad)
        n = bad;
    if (n == 0 && fields == NULL) {
        add_error(errors, "", "out of memory while validating");
        n = 1;
    }
    if (n > 0) {
        json_decref(fields);
        fields = NULL;
    }
    *out = fields;
    return n;
}

static int validate_new(const json_t *body, body_kind kind, json_t **fields_out, json_t *errors) {
    *fields_out = NULL;
    if (!json_is_object(body)) {
        add_error(errors, "", "must be a JSON object");
        return 1;
    }
    json_t *fields;
    int n = validate_members(body, kind, &fields, errors);
    if (json_object_get(body, "title") == NULL) {
        add_error(errors, "title", "is required");
        n++;
    }
    if (n == 0)
        n = check_recurrence_due(fields, true, errors);
    if (n == 0 && json_is_null(json_object_get(fields, "recurrence")))
        json_object_del(fields, "recurrence"); /* a task without one has no member */
    if (n == 0 && json_is_null(json_object_get(fields, "assignee_id")))
        json_object_del(fields, "assignee_id"); /* nor an unassigned one */
    if (n > 0) {
        json_decref(fields);
        return n;
    }
    static const char *const DEFAULTS = "{s:s,s:s,s:s,s:n,s:[]}";
    json_t *d = json_pack(DEFAULTS, "description", "", "status", "todo", "priority", "medium",
                          "due_at", "tags");
    if (d == NULL || json_object_update_missing(fields, d) != 0) {
        json_decref(d);
        json_decref(fields);
        add_error(errors, "", "out of memory while validating");
        return 1;
    }
    json_decref(d);
    *fields_out = fields;
    return 0;
}

int task_validate_create(const json_t *body, json_t **fields_out, json_t *errors) {
    return validate_new(body, BODY_CREATE, fields_out, errors);
}

int task_validate_import(const json_t *body, json_t **fields_out, json_t *errors) {
    return validate_new(body, BODY_IMPORT, fields_out, errors);
}

int task_validate_patch(const json_t *body, json_t **patch_out, json_t *errors) {
    *patch_out = NULL;
    if (!json_is_object(body)) {
        add_error(errors, "", "must be a JSON object");
        return 1;
    }
    if (json_object_size(body) == 0) {
        add_error(errors, "", "the patch must change at least one field");
        return 1;
    }
    int n = validate_members(body, BODY_PATCH, patch_out, errors);
    if (n == 0 && check_recurrence_due(*patch_out, false, errors) != 0) {
        json_decref(*patch_out);
        *patch_out = NULL;
        n = 1;
    }
    return n;
}

/* --- predicted tasks --- */

/* The members of a task in the order task_model.c writes them, so a predicted task
 * serialises like the task GET returns later. */
static const char *const TASK_KEYS[] = {"id",           "project_id",  "title",      "description",
                                        "status",       "priority",    "due_at",     "tags",
                                        "recurrence",   "assignee_id", "created_at", "updated_at",
                                        "completed_at", "version",     NULL};

/* task (stolen) with its members in TASK_KEYS order (others after them); NULL on
 * allocation failure. */
static json_t *in_task_order(json_t *task) {
    json_t *out = json_object();
    for (size_t i = 0; out != NULL && TASK_KEYS[i] != NULL; i++) {
        json_t *v = json_object_get(task, TASK_KEYS[i]);
        if (v != NULL && json_object_set(out, TASK_KEYS[i], v) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    if (out != NULL && json_object_update_missing(out, task) != 0) {
        json_decref(out);
        out = NULL;
    }
    json_decref(task);
    return out;
}

static int set_time(json_t *task, const char *key, int64_t ms) {
    char text[40];
    time_format_rfc3339_ms(ms, text, sizeof text);
    return json_object_set_new(task, key, json_string(text));
}

json_t *task_predict_create(const char *task_id, const json_t *fields, int64_t issued_ms) {
    json_t *task = json_deep_copy(fields);
    if (task == NULL)
        return NULL;
    const char *status = json_string_value(json_object_get(task, "status"));
    bool done = status != NULL && strcmp(status, "done") == 0;
    int rc = json_object_set_new(task, "id", json_string(task_id));
    rc |= set_time(task, "created_at", issued_ms);
    rc |= set_time(task, "updated_at", issued_ms);
    rc |= done ? set_time(task, "completed_at", issued_ms)
               : json_object_set_new(task, "completed_at", json_null());
    rc |= json_object_set_new(task, "version", json_integer(1));
    if (rc != 0) {
        json_decref(task);
        return NULL;
    }
    return in_task_order(task);
}

static bool is_done(const json_t *task) {
    const char *s = json_string_value(json_object_get(task, "status"));
    return s != NULL && strcmp(s, "done") == 0;
}

json_t *task_predict_update(const json_t *current, const json_t *patch, int64_t issued_ms) {
    json_t *task = json_deep_copy(current);
    if (task == NULL)
        return NULL;
    bool was_done = is_done(task);
    json_t *copy = json_deep_copy(patch);
    int rc = copy == NULL || json_object_update(task, copy) != 0;
    json_decref(copy);
    bool now_done = is_done(task);
    /* null stops the series; a completion hands the rule on to the next occurrence. */
    if (json_is_null(json_object_get(task, "recurrence")) || (now_done && !was_done))
        json_object_del(task, "recurrence");
    if (json_is_null(json_object_get(task, "assignee_id")))
        json_object_del(task, "assignee_id"); /* unassigned: no member, as task_model writes */
    if (now_done && !was_done)
        rc |= set_time(task, "completed_at", issued_ms);
    else if (!now_done)
        rc |= json_object_set_new(task, "completed_at", json_null());
    rc |= set_time(task, "updated_at", issued_ms);
    rc |= json_object_set_new(task, "version", json_integer(task_json_version(current) + 1));
    if (rc != 0) {
        json_decref(task);
        return NULL;
    }
    return in_task_order(task);
}
