/*
 * writer_apply.c: the SQL of each task command, inside the batch transaction.
 *
 * Owns: the statements on tasks and the outbox event per applied command (see
 * writer_apply.h). Rules:
 * - Every value reaches SQL as a parameter; the patch travels as one jsonb parameter and
 *   SQL picks the fields it carries (a present null clears due_at), so there is one
 *   UPDATE statement whatever the patch holds.
 * - A create is INSERT ... ON CONFLICT (id) DO NOTHING; no row back means the id exists
 *   (409) or the owner does not (404), told apart by one more SELECT.
 * - Event types: created, updated, completed (an update that moves status into done),
 *   deleted; data is the task JSON (deleted: {id, version}) plus user_id and command_id;
 *   topic task-events, key the user id, subject tasks/<id>.
 */
#include "workers/writer_apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/cloudevent.h"
#include "shared/outbox.h"
#include "shared/problem.h"
#include "shared/task_model.h"

#define OWNER_LEN 37

const pg_stmt WRITER_STMT_CREATE = {
    .name = "writer_task_create",
    .sql = "INSERT INTO tasks (id, owner_id, title, description, status, priority, due_at, tags,"
           " completed_at)"
           " SELECT $1::uuid, $2::uuid, $3::text, $4::text, $5::text, $6::text, $7::timestamptz,"
           " ARRAY(SELECT jsonb_array_elements_text($8::jsonb)),"
           " CASE WHEN $5::text = 'done' THEN now() END"
           " WHERE EXISTS (SELECT 1 FROM users WHERE id = $2::uuid)"
           " ON CONFLICT (id) DO NOTHING RETURNING " TASK_SELECT_COLUMNS,
    .nparams = 8,
};
static const pg_stmt STMT_EXISTS = {
    .name = "writer_task_exists",
    .sql = "SELECT 1 FROM tasks WHERE id = $1::uuid",
    .nparams = 1,
};
const pg_stmt WRITER_STMT_LOCK = {
    .name = "writer_task_lock",
    .sql = "SELECT owner_id, version, status FROM tasks WHERE id = $1::uuid FOR UPDATE",
    .nparams = 1,
};
const pg_stmt WRITER_STMT_UPDATE = {
    .name = "writer_task_update",
    .sql = "UPDATE tasks SET"
           " title = CASE WHEN $2::jsonb ? 'title' THEN $2::jsonb->>'title' ELSE title END,"
           " description = CASE WHEN $2::jsonb ? 'description'"
           "   THEN $2::jsonb->>'description' ELSE description END,"
           " status = COALESCE($2::jsonb->>'status', status),"
           " priority = COALESCE($2::jsonb->>'priority', priority),"
           " due_at = CASE WHEN $2::jsonb ? 'due_at'"
           "   THEN ($2::jsonb->>'due_at')::timestamptz ELSE due_at END,"
           " tags = CASE WHEN $2::jsonb ? 'tags'"
           "   THEN ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'tags')) ELSE tags END,"
           " completed_at = CASE WHEN COALESCE($2::jsonb->>'status', status) = 'done'"
           "   THEN COALESCE(completed_at, now()) END,"
           " version = version + 1, updated_at = now()"
           " WHERE id = $1::uuid RETURNING " TASK_SELECT_COLUMNS,
    .nparams = 2,
};
const pg_stmt WRITER_STMT_DELETE = {
    .name = "writer_task_delete",
    .sql = "DELETE FROM tasks WHERE id = $1::uuid",
    .nparams = 1,
};

/* What a command did, before it becomes an event and effects. */
typedef struct change {
    json_t *task; /* the new task (create, update); NULL for delete or rejection */
    const char *event_type;
} change;

void writer_outcome_clear(writer_outcome *out) {
    if (out != NULL) {
        json_decref(out->problem);
        out->problem = NULL;
    }
}

/* Runs stmt; on failure fills err and the SQLSTATE and returns NULL. */
static PGresult *run(pg_conn *conn, const pg_stmt *stmt, const char *const *vals,
                     writer_outcome *out, char *err, size_t errlen) {
    PGresult *res = pg_exec_stmt(conn, stmt, vals);
    if (pg_result_ok(res)) {
        return res;
    }
    snprintf(out->sqlstate, sizeof out->sqlstate, "%s", res != NULL ? pg_result_sqlstate(res) : "");
    snprintf(err, errlen, "%s: %s", stmt->name,
             res != NULL ? PQresultErrorMessage(res) : "postgres connection failed");
    size_t n = strlen(err);
    while (n > 0 && err[n - 1] == '\n') {
        err[--n] = '\0';
    }
    PQclear(res);
    return NULL;
}

int writer_outcome_reject(writer_outcome *out, int status, const char *slug, const char *title,
                          const char *detail) {
    out->applied = false;
    out->task_version = 0;
    json_decref(out->problem);
    out->problem = problem_new(status, slug, detail, NULL);
    if (out->problem == NULL ||
        json_object_set_new(out->problem, "title", json_string(title)) != 0) {
        return -1;
    }
    return 0;
}

static int reject(writer_outcome *out, int status, const char *slug, const char *title,
                  const char *detail, char *err, size_t errlen) {
    if (writer_outcome_reject(out, status, slug, title, detail) != 0) {
        snprintf(err, errlen, "out of memory building a problem");
        return -1;
    }
    return 0;
}

static int reject_not_found(const task_command *cmd, writer_outcome *out, char *err,
                            size_t errlen) {
    char detail[96];
    snprintf(detail, sizeof detail, "task %s not found", cmd->task_id);
    return reject(out, 404, "not-found", "Not found", detail, err, errlen);
}

/* The task from a RETURNING row, as applied. */
static int take_task(PGresult *res, writer_outcome *out, change *ch, char *err, size_t errlen) {
    ch->task = task_from_row(res, 0, NULL);
    PQclear(res);
    if (ch->task == NULL) {
        snprintf(err, errlen, "tasks row could not be mapped to JSON");
        return -1;
    }
    out->applied = true;
    out->task_version = task_json_version(ch->task);
    return 0;
}

/* ---- create ---- */

static const char *opt_text(const json_t *fields, const char *name, const char *dflt) {
    const char *s = json_string_value(json_object_get(fields, name));
    return s != NULL ? s : dflt;
}

static int apply_create(pg_conn *conn, const task_command *cmd, writer_outcome *out, change *ch,
                        char *err, size_t errlen) {
    json_t *tags = json_object_get(cmd->fields, "tags");
    char *tags_text = tags != NULL ? json_dumps(tags, JSON_COMPACT) : strdup("[]");
    if (tags_text == NULL) {
        snprintf(err, errlen, "out of memory serialising tags");
        return -1;
    }
    const char *vals[8] = {
        cmd->task_id,
        cmd->user_id,
        opt_text(cmd->fields, "title", ""),
        opt_text(cmd->fields, "description", ""),
        opt_text(cmd->fields, "status", "todo"),
        opt_text(cmd->fields, "priority", "medium"),
        opt_text(cmd->fields, "due_at", NULL),
        tags_text,
    };
    PGresult *res = run(conn, &WRITER_STMT_CREATE, vals, out, err, errlen);
    free(tags_text);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) == 1) {
        ch->event_type = "taskbus.task.created";
        return take_task(res, out, ch, err, errlen);
    }
    PQclear(res);
    const char *idv[1] = {cmd->task_id};
    res = run(conn, &STMT_EXISTS, idv, out, err, errlen);
    if (res == NULL) {
        return -1;
    }
    bool exists = PQntuples(res) > 0;
    PQclear(res);
    char detail[128];
    if (exists) {
        snprintf(detail, sizeof detail, "task %s already exists", cmd->task_id);
        return reject(out, 409, "conflict", "Conflict", detail, err, errlen);
    }
    snprintf(detail, sizeof detail, "user %s not found", cmd->user_id);
    return reject(out, 404, "not-found", "Not found", detail, err, errlen);
}

/* ---- update and delete ---- */

/* Locks the task and judges it. 1 when it may be changed (*version and old_status
 * filled), 0 when rejected, -1 on failure. */
static int lock_and_check(pg_conn *conn, const task_command *cmd, long long *version,
                          char old_status[16], writer_outcome *out, char *err, size_t errlen) {
    const char *vals[1] = {cmd->task_id};
    PGresult *res = run(conn, &WRITER_STMT_LOCK, vals, out, err, errlen);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), cmd->user_id) != 0) {
        PQclear(res);
        return reject_not_found(cmd, out, err, errlen) == 0 ? 0 : -1;
    }
    *version = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    snprintf(old_status, 16, "%s", PQgetvalue(res, 0, 2));
    PQclear(res);
    if (cmd->expected_version >= 0 && cmd->expected_version != *version) {
        char detail[128];
        snprintf(detail, sizeof detail, "expected version %lld, current version %lld",
                 cmd->expected_version, *version);
        return reject(out, 412, "precondition-failed", "Precondition failed", detail, err,
                      errlen) == 0
                   ? 0
                   : -1;
    }
    return 1;
}

static int apply_update(pg_conn *conn, const task_command *cmd, writer_outcome *out, change *ch,
                        char *err, size_t errlen) {
    long long version = 0;
    char old_status[16];
    int ok = lock_and_check(conn, cmd, &version, old_status, out, err, errlen);
    if (ok <= 0) {
        return ok;
    }
    char *patch = json_dumps(cmd->fields, JSON_COMPACT);
    if (patch == NULL) {
        snprintf(err, errlen, "out of memory serialising a patch");
        return -1;
    }
    const char *vals[2] = {cmd->task_id, patch};
    PGresult *res = run(conn, &WRITER_STMT_UPDATE, vals, out, err, errlen);
    free(patch);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        snprintf(err, errlen, "update of a locked task returned no row");
        return -1;
    }
    if (take_task(res, out, ch, err, errlen) != 0) {
        return -1;
    }
    const char *status = json_string_value(json_object_get(ch->task, "status"));
    bool completes =
        strcmp(old_status, "done") != 0 && status != NULL && strcmp(status, "done") == 0;
    ch->event_type = completes ? "taskbus.task.completed" : "taskbus.task.updated";
    return 0;
}

static int apply_delete(pg_conn *conn, const task_command *cmd, writer_outcome *out, change *ch,
                        char *err, size_t errlen) {
    long long version = 0;
    char old_status[16];
    int ok = lock_and_check(conn, cmd, &version, old_status, out, err, errlen);
    if (ok <= 0) {
        return ok;
    }
    const char *vals[1] = {cmd->task_id};
    PGresult *res = run(conn, &WRITER_STMT_DELETE, vals, out, err, errlen);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    out->applied = true;
    out->task_version = version + 1;
    ch->event_type = "taskbus.task.deleted";
    return 0;
}

/* ---- event and effects ---- */

/* The event's data: the task (or {id, version} for a delete) plus user_id, command_id. */
static json_t *event_data(const task_command *cmd, const writer_outcome *out, const change *ch) {
    json_t *data = ch->task != NULL ? json_copy(ch->task)
                                    : json_pack("{s:s,s:I}", "id", cmd->task_id, "version",
                                                (json_int_t)out->task_version);
    if (data == NULL || json_object_set_new(data, "user_id", json_string(cmd->user_id)) != 0 ||
        json_object_set_new(data, "command_id", json_string(cmd->command_id)) != 0) {
        json_decref(data);
        return NULL;
    }
    return data;
}

static char *status_value(const task_command *cmd, const writer_outcome *out) {
    json_t *o = json_pack("{s:s,s:s,s:s}", "status", out->applied ? "applied" : "rejected",
                          "task_id", cmd->task_id, "type", task_command_type_name(cmd->type));
    int rc = o != NULL ? 0 : -1;
    if (rc == 0 && out->applied) {
        rc = json_object_set_new(o, "task_version", json_integer((json_int_t)out->task_version));
    } else if (rc == 0 && out->problem != NULL) {
        rc = json_object_set(o, "problem", out->problem);
    }
    char *text = rc == 0 ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

static char *task_value(const writer_outcome *out, const change *ch) {
    if (ch->task != NULL) {
        return json_dumps(ch->task, JSON_COMPACT);
    }
    char buf[64];
    snprintf(buf, sizeof buf, "{\"deleted\":true,\"version\":%lld}", out->task_version);
    return strdup(buf);
}

int writer_build_effects(const task_command *cmd, const writer_outcome *out, const json_t *task,
                         const char *event_type, writer_effect *effect, json_t **event_out,
                         char *err, size_t errlen) {
    memset(effect, 0, sizeof *effect);
    *event_out = NULL;
    memcpy(effect->user_id, cmd->user_id, UUID_STR_LEN);
    memcpy(effect->task_id, cmd->task_id, UUID_STR_LEN);
    memcpy(effect->command_id, cmd->command_id, UUID_STR_LEN);
    json_t *event = NULL;
    if (out->applied) {
        char subject[64];
        snprintf(subject, sizeof subject, "tasks/%s", cmd->task_id);
        change ch = {.task = (json_t *)task, .event_type = event_type};
        json_t *data = event_data(cmd, out, &ch);
        event = data != NULL ? cloudevent_new(event_type, subject, data, NULL) : NULL;
        effect->event_value = event != NULL ? json_dumps(event, JSON_COMPACT) : NULL;
        effect->task_value = task_value(out, &ch);
        effect->version = out->task_version;
    }
    effect->status_value = status_value(cmd, out);
    if (effect->status_value == NULL ||
        (out->applied && (effect->event_value == NULL || effect->task_value == NULL))) {
        snprintf(err, errlen, "out of memory building effects");
        json_decref(event);
        free(effect->task_value);
        free(effect->event_value);
        free(effect->status_value);
        memset(effect, 0, sizeof *effect);
        return -1;
    }
    *event_out = event;
    return 0;
}

int writer_apply_command(pg_conn *conn, const task_command *cmd, const char *request_id,
                         writer_effect *effect, writer_outcome *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    memset(effect, 0, sizeof *effect);
    change ch = {0};
    int rc = -1;
    switch (cmd->type) {
    case TASK_CMD_CREATE:
        rc = apply_create(conn, cmd, out, &ch, err, errlen);
        break;
    case TASK_CMD_UPDATE:
        rc = apply_update(conn, cmd, out, &ch, err, errlen);
        break;
    case TASK_CMD_DELETE:
        rc = apply_delete(conn, cmd, out, &ch, err, errlen);
        break;
    }
    json_t *event = NULL;
    if (rc == 0) {
        rc = writer_build_effects(cmd, out, ch.task, ch.event_type, effect, &event, err, errlen);
    }
    if (rc == 0 && event != NULL &&
        outbox_add(conn, TASK_EVENTS_TOPIC, cmd->user_id, event, request_id, err, errlen) != 0) {
        rc = -1;
    }
    json_decref(event);
    json_decref(ch.task);
    if (rc != 0) {
        free(effect->task_value);
        free(effect->event_value);
        free(effect->status_value);
        memset(effect, 0, sizeof *effect);
    }
    return rc;
}
