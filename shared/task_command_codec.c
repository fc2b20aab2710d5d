/*
 * task_command_codec.c: the commands on the task-commands topic (schemas/commands/
 * task-command.json).
 *
 * Owns: encoding and strict decoding of the wire form. Rules:
 * - Decoding is the writer's only defence before SQL: every value that reaches Postgres
 *   is checked here against the same limits as the tasks table (lengths counted in code
 *   points like char_length, enumerations, RFC 3339 times, at most 20 tags of 1-50
 *   characters, a recurrence rule shared/recurrence.h accepts, an assignee id that is a
 *   lower-case UUID or null, a patch's project_id (a move) a lower-case UUID), so a
 *   decoded command can
 *   never fail a constraint and stall a partition (the one rule across fields, a
 *   recurrence needs a due_at, is the writer's to judge: it depends on the stored task).
 * - task and patch objects accept only the task fields: an unknown field would be lost
 *   silently otherwise. The envelope tolerates unknown keys, so a newer API can add
 *   metadata without sending every command of an older writer to the DLQ.
 * - Ids come out lower-case, so cache keys and Postgres' uuid text agree.
 * - Messages larger than TASK_COMMAND_MAX_BYTES are refused before parsing.
 */
#include "shared/task_command_codec.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/recurrence.h"
#include "shared/task_model.h"
#include "shared/time_util.h"
#include "shared/utf8.h"

/* A full task is at most ~50 KB of UTF-8; anything far larger is not a command. */
#define TASK_COMMAND_MAX_BYTES (256 * 1024)
#define REQUEST_ID_MAX 128

static const char *const TYPE_NAMES[] = {"task.create", "task.update", "task.delete"};

const char *task_command_type_name(task_command_type type) {
    return (unsigned)type < sizeof TYPE_NAMES / sizeof TYPE_NAMES[0] ? TYPE_NAMES[type] : "unknown";
}

const char *task_command_key(const task_command *cmd) {
    return cmd->project_id[0] != '\0' ? cmd->project_id : cmd->user_id;
}

void task_command_clear(task_command *cmd) {
    if (cmd != NULL) {
        json_decref(cmd->fields);
        cmd->fields = NULL;
    }
}

/* ---- encoding ---- */

char *task_command_encode(const task_command *cmd, const char *request_id) {
    if (cmd == NULL) {
        return NULL;
    }
    char issued[32];
    time_format_rfc3339_ms((int64_t)cmd->issued_at_ms, issued, sizeof issued);
    json_t *o = json_object();
    if (o == NULL) {
        return NULL;
    }
    int rc = json_object_set_new(o, "command_id", json_string(cmd->command_id));
    rc |= json_object_set_new(o, "type", json_string(task_command_type_name(cmd->type)));
    rc |= json_object_set_new(o, "user_id", json_string(cmd->user_id));
    rc |= json_object_set_new(o, "task_id", json_string(cmd->task_id));
    rc |= json_object_set_new(o, "issued_at", json_string(issued));
    rc |= json_object_set_new(o, "request_id",
                              request_id != NULL ? json_string(request_id) : json_null());
    rc |= json_object_set_new(
        o, "expected_version",
        cmd->expected_version >= 0 ? json_integer((json_int_t)cmd->expected_version) : json_null());
    if (cmd->type == TASK_CMD_CREATE) {
        rc |= json_object_set(o, "task", cmd->fields != NULL ? cmd->fields : json_null());
    } else if (cmd->type == TASK_CMD_UPDATE) {
        rc |= json_object_set(o, "patch", cmd->fields != NULL ? cmd->fields : json_null());
    }
    if (cmd->import_id[0] != '\0') {
        rc |= json_object_set_new(o, "import_id", json_string(cmd->import_id));
    }
    if (cmd->project_id[0] != '\0') {
        rc |= json_object_set_new(o, "project_id", json_string(cmd->project_id));
    }
    char *text = rc == 0 ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

/* ---- decoding ---- */

typedef struct decode_err {
    char *buf;
    size_t len;
} decode_err;

static int fail(decode_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(decode_err *e, const char *fmt, ...) {
    if (e->buf != NULL && e->len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->buf, e->len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A required UUID member, copied lower-case into out. */
static int get_uuid(const json_t *o, const char *name, bool required, char out[UUID_STR_LEN],
                    decode_err *e) {
    json_t *v = json_object_get(o, name);
    out[0] = '\0';
    if (v == NULL || json_is_null(v)) {
        return required ? fail(e, "%s: missing", name) : 0;
    }
    const char *s = json_string_value(v);
    if (s == NULL || !uuid_is_valid(s) || strlen(s) != UUID_STR_LEN - 1) {
        return fail(e, "%s: must be a UUID", name);
    }
    for (size_t i = 0; i < UUID_STR_LEN; i++) {
        out[i] = (char)tolower((unsigned char)s[i]);
    }
    return 0;
}

static int get_type(const json_t *o, task_command_type *out, decode_err *e) {
    const char *s = json_string_value(json_object_get(o, "type"));
    if (s == NULL) {
        return fail(e, "type: missing");
    }
    for (size_t i = 0; i < sizeof TYPE_NAMES / sizeof TYPE_NAMES[0]; i++) {
        if (strcmp(s, TYPE_NAMES[i]) == 0) {
            *out = (task_command_type)i;
            return 0;
        }
    }
    return fail(e, "type: unknown command type");
}

static int get_expected_version(const json_t *o, task_command *cmd, decode_err *e) {
    json_t *v = json_object_get(o, "expected_version");
    cmd->expected_version = -1;
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        return fail(e, "expected_version: must be a positive integer or null");
    }
    if (cmd->type == TASK_CMD_CREATE) {
        return fail(e, "expected_version: must be null for task.create");
    }
    cmd->expected_version = (long long)json_integer_value(v);
    return 0;
}

static int get_envelope(const json_t *o, task_command *cmd, decode_err *e) {
    if (get_type(o, &cmd->type, e) != 0 || get_uuid(o, "command_id", true, cmd->command_id, e) ||
        get_uuid(o, "user_id", true, cmd->user_id, e) ||
        get_uuid(o, "task_id", true, cmd->task_id, e) ||
        get_uuid(o, "import_id", false, cmd->import_id, e) ||
        get_uuid(o, "project_id", false, cmd->project_id, e)) {
        return -1;
    }
    const char *issued = json_string_value(json_object_get(o, "issued_at"));
    if (issued == NULL) {
        return fail(e, "issued_at: missing");
    }
    if (time_parse_rfc3339_ms(issued, &cmd->issued_at_ms) != 0) {
        return fail(e, "issued_at: must be an RFC 3339 date-time");
    }
    json_t *rid = json_object_get(o, "request_id");
    if (rid != NULL && !json_is_null(rid) &&
        (!json_is_string(rid) || json_string_length(rid) > REQUEST_ID_MAX)) {
        return fail(e, "request_id: must be a string of at most %d characters or null",
                    REQUEST_ID_MAX);
    }
    return get_expected_version(o, cmd, e);
}

/* A string field whose length in code points lies in [min, max]. */
static int check_text(const json_t *v, const char *obj, const char *name, size_t min, size_t max,
                      decode_err *e) {
    const char *s = json_string_value(v);
    if (s == NULL) {
        return fail(e, "%s.%s: must be a string", obj, name);
    }
    size_t n = utf8_chars(s);
    if (n < min || n > max) {
        return fail(e, "%s.%s: must be %zu to %zu characters", obj, name, min, max);
    }
    return 0;
}

static int check_tags(const json_t *v, const char *obj, decode_err *e) {
    if (!json_is_array(v)) {
        return fail(e, "%s.tags: must be an array", obj);
    }
    if (json_array_size(v) > TASK_TAGS_MAX) {
        return fail(e, "%s.tags: at most %d tags", obj, TASK_TAGS_MAX);
    }
    size_t i;
    json_t *t;
    json_array_foreach(v, i, t) {
        if (check_text(t, obj, "tags[]", 1, TASK_TAG_MAX, e) != 0) {
            return -1;
        }
    }
    return 0;
}

static int check_enum(const json_t *v, const char *obj, const char *name,
                      bool (*valid)(const char *), decode_err *e) {
    if (!valid(json_string_value(v))) {
        return fail(e, "%s.%s: not an allowed value", obj, name);
    }
    return 0;
}

/* null, or {rule, time_zone} that shared/recurrence.h accepts (and nothing else). */
static int check_recurrence(const json_t *v, const char *obj, decode_err *e) {
    if (json_is_null(v)) {
        return 0;
    }
    const char *rule = json_string_value(json_object_get(v, "rule"));
    const char *zone = json_string_value(json_object_get(v, "time_zone"));
    const char *part = "rule";
    const char *why = json_is_object(v) && json_object_size(v) == 2 && rule != NULL && zone != NULL
                          ? recurrence_check(rule, zone, &part)
                          : "must be null or {rule, time_zone}";
    return why == NULL ? 0 : fail(e, "%s.recurrence: %s: %s", obj, part, why);
}

/* null, or a user id in the lower-case form Postgres writes (the API sends no other), so
 * the writer's membership lookup, keyed by Postgres' text, finds it. */
static int check_assignee(const json_t *v, const char *obj, decode_err *e) {
    if (json_is_null(v)) {
        return 0;
    }
    const char *id = json_string_value(v);
    char lower[UUID_STR_LEN];
    if (id == NULL || !uuid_canonical(id, lower) || strcmp(lower, id) != 0) {
        return fail(e, "%s.assignee_id: must be a lower-case user id (a UUID) or null", obj);
    }
    return 0;
}

/* The project a patch moves the task to: a lower-case project id (a create names its
 * project in the envelope, so task has no such member). */
static int check_move(const json_t *v, decode_err *e) {
    const char *id = json_string_value(v);
    char lower[UUID_STR_LEN];
    if (id == NULL || !uuid_canonical(id, lower) || strcmp(lower, id) != 0) {
        return fail(e, "patch.project_id: must be a lower-case project id (a UUID)");
    }
    return 0;
}

/* One member of a task or patch object. */
static int check_field(const char *obj, const char *key, const json_t *v, decode_err *e) {
    if (strcmp(key, "title") == 0) {
        return check_text(v, obj, key, 1, TASK_TITLE_MAX, e);
    }
    if (strcmp(key, "description") == 0) {
        return check_text(v, obj, key, 0, TASK_DESCRIPTION_MAX, e);
    }
    if (strcmp(key, "status") == 0) {
        return check_enum(v, obj, key, task_status_valid, e);
    }
    if (strcmp(key, "priority") == 0) {
        return check_enum(v, obj, key, task_priority_valid, e);
    }
    if (strcmp(key, "due_at") == 0) {
        if (json_is_null(v) || time_parse_rfc3339_ms(json_string_value(v), NULL) == 0) {
            return 0;
        }
        return fail(e, "%s.due_at: must be an RFC 3339 date-time or null", obj);
    }
    if (strcmp(key, "tags") == 0) {
        return check_tags(v, obj, e);
    }
    if (strcmp(key, "recurrence") == 0) {
        return check_recurrence(v, obj, e);
    }
    if (strcmp(key, "assignee_id") == 0) {
        return check_assignee(v, obj, e);
    }
    if (strcmp(key, "project_id") == 0 && strcmp(obj, "patch") == 0) {
        return check_move(v, e);
    }
    return fail(e, "%s.%s: unknown field", obj, key);
}

/* The task (create) or patch (update) object; delete carries neither. */
static int get_fields(const json_t *o, task_command *cmd, decode_err *e) {
    json_t *task = json_object_get(o, "task");
    json_t *patch = json_object_get(o, "patch");
    bool has_task = task != NULL && !json_is_null(task);
    bool has_patch = patch != NULL && !json_is_null(patch);
    const char *want = cmd->type == TASK_CMD_CREATE   ? "task"
                       : cmd->type == TASK_CMD_UPDATE ? "patch"
                                                      : NULL;
    if ((has_task && (want == NULL || strcmp(want, "task") != 0)) ||
        (has_patch && (want == NULL || strcmp(want, "patch") != 0))) {
        return fail(e, "%s: not allowed for %s", has_task ? "task" : "patch",
                    task_command_type_name(cmd->type));
    }
    if (want == NULL) {
        return 0;
    }
    json_t *fields = cmd->type == TASK_CMD_CREATE ? task : patch;
    if (!json_is_object(fields)) {
        return fail(e, "%s: missing or not an object", want);
    }
    const char *key;
    json_t *v;
    json_object_foreach(fields, key, v) {
        if (check_field(want, key, v, e) != 0) {
            return -1;
        }
    }
    if (cmd->type == TASK_CMD_CREATE && json_object_get(fields, "title") == NULL) {
        return fail(e, "task.title: missing");
    }
    cmd->fields = json_incref(fields);
    return 0;
}

int task_command_decode(const char *text, size_t len, task_command *out, char *err, size_t errlen) {
    decode_err e = {err, errlen};
    if (out == NULL) {
        return fail(&e, "no output");
    }
    memset(out, 0, sizeof *out);
    out->expected_version = -1;
    if (text == NULL || len == 0) {
        return fail(&e, "empty message");
    }
    if (len > TASK_COMMAND_MAX_BYTES) {
        return fail(&e, "message of %zu bytes exceeds %d", len, TASK_COMMAND_MAX_BYTES);
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        return fail(&e, "malformed JSON: %s (line %d column %d)", jerr.text, jerr.line,
                    jerr.column);
    }
    int rc = -1;
    if (!json_is_object(root)) {
        fail(&e, "not a JSON object");
    } else if (get_envelope(root, out, &e) == 0 && get_fields(root, out, &e) == 0) {
        rc = 0;
    }
    json_decref(root);
    if (rc != 0) {
        task_command_clear(out);
    }
    return rc;
}
