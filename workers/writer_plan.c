/*
 * writer_plan.c: applying a batch of commands with a handful of round trips.
 *
 * Owns: the lock-and-decide statements, the in-memory replay of the batch, the set-based
 * execution and the batch outbox insert (see writer_plan.h). Rules: the decisions here
 * must stay identical to writer_apply.c's (the savepoint path applies the same commands
 * one by one after a data error); every libpq result is cleared.
 */
#include "workers/writer_plan.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/task_model.h"

static const pg_stmt STMT_LOCK_ALL = {
    .name = "writer_plan_lock",
    .sql = "SELECT id::text, owner_id::text, version, status FROM tasks"
           " WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
    .nparams = 1,
};
static const pg_stmt STMT_USERS = {
    .name = "writer_plan_users",
    .sql = "SELECT id::text FROM users WHERE id = ANY($1::uuid[]) FOR KEY SHARE",
    .nparams = 1,
};
static const pg_stmt STMT_OUTBOX_MANY = {
    .name = "writer_outbox_many",
    .sql = "WITH ins AS ("
           " INSERT INTO outbox (event_id, topic, key, payload, headers)"
           " SELECT (e.v->>'event_id')::uuid, $2, e.v->>'key', e.v->'payload', e.v->'headers'"
           " FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(v, ord) ORDER BY e.ord"
           " RETURNING id)"
           " SELECT pg_notify('outbox', '') WHERE EXISTS (SELECT 1 FROM ins)",
    .nparams = 2,
};

/* A task as the batch sees it while it is replayed in memory. */
typedef struct task_state {
    const char *id; /* borrowed from a command */
    bool exists;
    char owner[UUID_STR_LEN];
    long long version;
    bool done;
} task_state;

typedef struct plan {
    task_state *tasks;
    size_t ntasks;
    char (*users)[UUID_STR_LEN]; /* creating users that exist */
    size_t nusers;
} plan;

void writer_planned_clear(writer_planned *item) {
    writer_outcome_clear(&item->out);
    json_decref(item->task);
    item->task = NULL;
}

static void set_err(char *err, size_t errlen, const char *what, const PGresult *res) {
    snprintf(err, errlen, "%s: %s", what,
             res != NULL ? PQresultErrorMessage(res) : "postgres connection failed");
    size_t n = strlen(err);
    while (n > 0 && err[n - 1] == '\n') {
        err[--n] = '\0';
    }
}

static task_state *find_task(plan *p, const char *id) {
    for (size_t i = 0; i < p->ntasks; i++) {
        if (strcmp(p->tasks[i].id, id) == 0) {
            return &p->tasks[i];
        }
    }
    return NULL;
}

static bool user_exists(const plan *p, const char *id) {
    for (size_t i = 0; i < p->nusers; i++) {
        if (strcmp(p->users[i], id) == 0) {
            return true;
        }
    }
    return false;
}

/* "{id,id,...}" of the distinct task ids (or, with creators, the creating users). */
static char *id_array(const writer_planned *items, size_t n, bool creators) {
    char *arr = malloc(n * UUID_STR_LEN + 3);
    if (arr == NULL) {
        return NULL;
    }
    size_t len = 0;
    arr[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        const task_command *c = items[i].cmd;
        if (creators && c->type != TASK_CMD_CREATE) {
            continue;
        }
        const char *id = creators ? c->user_id : c->task_id;
        arr[len] = '\0';
        if (strstr(arr, id) != NULL) {
            continue;
        }
        len += (size_t)sprintf(arr + len, "%s%s", len > 1 ? "," : "", id);
    }
    arr[len++] = '}';
    arr[len] = '\0';
    return arr;
}

/* Runs a one-array statement; NULL on failure (err set). */
static PGresult *query_ids(pg_conn *conn, const pg_stmt *stmt, const writer_planned *items,
                           size_t n, bool creators, char *err, size_t errlen) {
    char *arr = id_array(items, n, creators);
    if (arr == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *vals[1] = {arr};
    PGresult *res = pg_exec_stmt(conn, stmt, vals);
    free(arr);
    if (!pg_result_ok(res)) {
        set_err(err, errlen, stmt->name, res);
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Locks the batch's tasks and reads the creating users. 0, or -1. */
static int load_plan(pg_conn *conn, const writer_planned *items, size_t n, plan *p, char *err,
                     size_t errlen) {
    PGresult *res = query_ids(conn, &STMT_LOCK_ALL, items, n, false, err, errlen);
    if (res == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (find_task(p, items[i].cmd->task_id) == NULL) {
            p->tasks[p->ntasks++] = (task_state){.id = items[i].cmd->task_id};
        }
    }
    for (int r = 0; r < PQntuples(res); r++) {
        task_state *t = find_task(p, PQgetvalue(res, r, 0));
        if (t != NULL) {
            t->exists = true;
            snprintf(t->owner, sizeof t->owner, "%s", PQgetvalue(res, r, 1));
            t->version = strtoll(PQgetvalue(res, r, 2), NULL, 10);
            t->done = strcmp(PQgetvalue(res, r, 3), "done") == 0;
        }
    }
    PQclear(res);
    res = query_ids(conn, &STMT_USERS, items, n, true, err, errlen);
    if (res == NULL) {
        return -1;
    }
    for (int r = 0; r < PQntuples(res) && p->nusers < n; r++) {
        snprintf(p->users[p->nusers++], UUID_STR_LEN, "%s", PQgetvalue(res, r, 0));
    }
    PQclear(res);
    return 0;
}

/* ---- deciding ---- */

static int reject_missing(writer_planned *it, const char *what, const char *id) {
    char detail[128];
    snprintf(detail, sizeof detail, "%s %s not found", what, id);
    return writer_outcome_reject(&it->out, 404, "not-found", "Not found", detail);
}

static int decide_create(plan *p, writer_planned *it, task_state *t) {
    const task_command *c = it->cmd;
    if (t->exists) {
        char detail[128];
        snprintf(detail, sizeof detail, "task %s already exists", c->task_id);
        return writer_outcome_reject(&it->out, 409, "conflict", "Conflict", detail);
    }
    if (!user_exists(p, c->user_id)) {
        return reject_missing(it, "user", c->user_id);
    }
    const char *status = json_string_value(json_object_get(c->fields, "status"));
    t->exists = true;
    memcpy(t->owner, c->user_id, UUID_STR_LEN);
    t->version = 1;
    t->done = status != NULL && strcmp(status, "done") == 0;
    it->out.applied = true;
    it->out.task_version = 1;
    it->event_type = "taskbus.task.created";
    return 0;
}

/* Update or delete: the owner's existing task at the expected version. */
static int decide_change(writer_planned *it, task_state *t) {
    const task_command *c = it->cmd;
    if (!t->exists || strcmp(t->owner, c->user_id) != 0) {
        return reject_missing(it, "task", c->task_id);
    }
    if (c->expected_version >= 0 && c->expected_version != t->version) {
        char detail[128];
        snprintf(detail, sizeof detail, "expected version %lld, current version %lld",
                 c->expected_version, t->version);
        return writer_outcome_reject(&it->out, 412, "precondition-failed", "Precondition failed",
                                     detail);
    }
    it->out.applied = true;
    it->out.task_version = ++t->version;
    if (c->type == TASK_CMD_DELETE) {
        t->exists = false;
        it->event_type = "taskbus.task.deleted";
        return 0;
    }
    const char *status = json_string_value(json_object_get(c->fields, "status"));
    bool done = status != NULL ? strcmp(status, "done") == 0 : t->done;
    it->event_type = done && !t->done ? "taskbus.task.completed" : "taskbus.task.updated";
    t->done = done;
    return 0;
}

static int decide_all(plan *p, writer_planned *items, size_t n, char *err, size_t errlen) {
    for (size_t i = 0; i < n; i++) {
        task_state *t = find_task(p, items[i].cmd->task_id);
        int rc = t == NULL                               ? -1
                 : items[i].cmd->type == TASK_CMD_CREATE ? decide_create(p, &items[i], t)
                                                         : decide_change(&items[i], t);
        if (rc != 0) {
            snprintf(err, errlen, "out of memory deciding a batch");
            return -1;
        }
    }
    return 0;
}

static const char *opt_text(const json_t *fields, const char *name, const char *dflt) {
    const char *s = json_string_value(json_object_get(fields, name));
    return s != NULL ? s : dflt;
}

/* ---- executing ---- */

static const pg_stmt STMT_CREATE_MANY = {
    .name = "writer_plan_create",
    .sql = "INSERT INTO tasks (id, owner_id, title, description, status, priority, due_at, tags,"
           " completed_at)"
           " SELECT x.id, x.owner_id, x.title, x.description, x.status, x.priority, x.due_at,"
           " ARRAY(SELECT jsonb_array_elements_text(x.tags)),"
           " CASE WHEN x.status = 'done' THEN now() END"
           " FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, owner_id uuid, title text,"
           " description text, status text, priority text, due_at timestamptz, tags jsonb)"
           " ON CONFLICT (id) DO NOTHING RETURNING " TASK_SELECT_COLUMNS,
    .nparams = 1,
};
/* The same assignments as WRITER_STMT_UPDATE, with the patch taken from x.p. */
static const pg_stmt STMT_UPDATE_MANY = {
    .name = "writer_plan_update",
    .sql = "UPDATE tasks SET"
           " title = CASE WHEN x.p ? 'title' THEN x.p->>'title' ELSE tasks.title END,"
           " description = CASE WHEN x.p ? 'description'"
           "   THEN x.p->>'description' ELSE tasks.description END,"
           " status = COALESCE(x.p->>'status', tasks.status),"
           " priority = COALESCE(x.p->>'priority', tasks.priority),"
           " due_at = CASE WHEN x.p ? 'due_at'"
           "   THEN (x.p->>'due_at')::timestamptz ELSE tasks.due_at END,"
           " tags = CASE WHEN x.p ? 'tags'"
           "   THEN ARRAY(SELECT jsonb_array_elements_text(x.p->'tags')) ELSE tasks.tags END,"
           " completed_at = CASE WHEN COALESCE(x.p->>'status', tasks.status) = 'done'"
           "   THEN COALESCE(tasks.completed_at, now()) END,"
           " version = tasks.version + 1, updated_at = now()"
           " FROM jsonb_to_recordset($1::jsonb) AS x(tid uuid, p jsonb)"
           " WHERE tasks.id = x.tid RETURNING " TASK_SELECT_COLUMNS,
    .nparams = 1,
};
static const pg_stmt STMT_DELETE_MANY = {
    .name = "writer_plan_delete",
    .sql = "DELETE FROM tasks WHERE id = ANY($1::uuid[])",
    .nparams = 1,
};

/* One segment's statements: each task appears at most once in a segment, so its
 * creates, updates and deletes can each be one set-based statement. */
typedef struct segment {
    json_t *creates;
    json_t *updates;
    char *deletes; /* "{id,...}" */
    size_t ndeletes;
} segment;

static void segment_free(segment *sg) {
    json_decref(sg->creates);
    json_decref(sg->updates);
    free(sg->deletes);
}

static int add_create(segment *sg, const task_command *c) {
    json_t *f = c->fields;
    json_t *due = json_object_get(f, "due_at");
    json_t *tags = json_object_get(f, "tags");
    json_t *row = json_pack("{s:s,s:s,s:O,s:s,s:s,s:s,s:o,s:o}", "id", c->task_id, "owner_id",
                            c->user_id, "title", json_object_get(f, "title"), "description",
                            opt_text(f, "description", ""), "status", opt_text(f, "status", "todo"),
                            "priority", opt_text(f, "priority", "medium"), "due_at",
                            due != NULL ? json_incref(due) : json_null(), "tags",
                            tags != NULL ? json_incref(tags) : json_array());
    return row != NULL ? json_array_append_new(sg->creates, row) : -1;
}

/* Builds the statements of items[0..n). 0, or -1 (out of memory). */
static int build_segment(const writer_planned *items, size_t n, segment *sg) {
    sg->creates = json_array();
    sg->updates = json_array();
    sg->deletes = malloc(n * UUID_STR_LEN + 3);
    if (sg->creates == NULL || sg->updates == NULL || sg->deletes == NULL) {
        return -1;
    }
    size_t len = 0;
    sg->deletes[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        const task_command *c = items[i].cmd;
        int rc = 0;
        if (!items[i].out.applied) {
            continue;
        } else if (c->type == TASK_CMD_CREATE) {
            rc = add_create(sg, c);
        } else if (c->type == TASK_CMD_UPDATE) {
            rc = json_array_append_new(sg->updates,
                                       json_pack("{s:s,s:O}", "tid", c->task_id, "p", c->fields));
        } else {
            len += (size_t)sprintf(sg->deletes + len, "%s%s", sg->ndeletes ? "," : "", c->task_id);
            sg->ndeletes++;
        }
        if (rc != 0) {
            return -1;
        }
    }
    sg->deletes[len++] = '}';
    sg->deletes[len] = '\0';
    return 0;
}

static writer_planned *find_item(writer_planned *items, size_t n, task_command_type type,
                                 const char *task_id) {
    for (size_t i = 0; i < n; i++) {
        if (items[i].out.applied && items[i].cmd->type == type &&
            strcmp(items[i].cmd->task_id, task_id) == 0) {
            return &items[i];
        }
    }
    return NULL;
}

/* Runs a set-based statement and hands each returned task to its item. */
static int run_tasks(pg_conn *conn, const pg_stmt *stmt, json_t *rows, task_command_type type,
                     writer_planned *items, size_t n, char *sqlstate, char *err, size_t errlen) {
    size_t want = json_array_size(rows);
    if (want == 0) {
        return 0;
    }
    char *text = json_dumps(rows, JSON_COMPACT);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory serialising %s", stmt->name);
        return -1;
    }
    const char *vals[1] = {text};
    PGresult *res = pg_exec_stmt(conn, stmt, vals);
    free(text);
    if (!pg_result_ok(res)) {
        snprintf(sqlstate, 6, "%s", res != NULL ? pg_result_sqlstate(res) : "");
        set_err(err, errlen, stmt->name, res);
        PQclear(res);
        return -1;
    }
    int rc = (size_t)PQntuples(res) == want ? 0 : -1;
    for (int r = 0; rc == 0 && r < PQntuples(res); r++) {
        writer_planned *it = find_item(items, n, type, PQgetvalue(res, r, 0));
        json_t *task = it != NULL && it->task == NULL ? task_from_row(res, r, NULL) : NULL;
        if (task == NULL || task_json_version(task) != it->out.task_version) {
            json_decref(task);
            rc = -1;
        } else {
            it->task = task;
        }
    }
    PQclear(res);
    if (rc != 0) {
        snprintf(err, errlen, "plan mismatch in %s: a task changed under the batch's locks",
                 stmt->name);
    }
    return rc;
}

static int run_deletes(pg_conn *conn, const segment *sg, char *sqlstate, char *err, size_t errlen) {
    if (sg->ndeletes == 0) {
        return 0;
    }
    const char *vals[1] = {sg->deletes};
    PGresult *res = pg_exec_stmt(conn, &STMT_DELETE_MANY, vals);
    int rc = pg_result_ok(res) ? 0 : -1;
    if (rc != 0) {
        snprintf(sqlstate, 6, "%s", res != NULL ? pg_result_sqlstate(res) : "");
        set_err(err, errlen, STMT_DELETE_MANY.name, res);
    } else if (strtoull(PQcmdTuples(res), NULL, 10) != sg->ndeletes) {
        snprintf(err, errlen, "plan mismatch in %s", STMT_DELETE_MANY.name);
        rc = -1;
    }
    PQclear(res);
    return rc;
}

static int run_segment(pg_conn *conn, writer_planned *items, size_t n, char *sqlstate, char *err,
                       size_t errlen) {
    segment sg = {0};
    int rc = build_segment(items, n, &sg);
    if (rc != 0) {
        snprintf(err, errlen, "out of memory building a segment");
    }
    if (rc == 0) {
        rc = run_tasks(conn, &STMT_CREATE_MANY, sg.creates, TASK_CMD_CREATE, items, n, sqlstate,
                       err, errlen);
    }
    if (rc == 0) {
        rc = run_tasks(conn, &STMT_UPDATE_MANY, sg.updates, TASK_CMD_UPDATE, items, n, sqlstate,
                       err, errlen);
    }
    if (rc == 0) {
        rc = run_deletes(conn, &sg, sqlstate, err, errlen);
    }
    segment_free(&sg);
    return rc;
}

/* True when an applied command of items[from..upto) changes task_id. */
static bool touched(const writer_planned *items, size_t from, size_t upto, const char *task_id) {
    for (size_t i = from; i < upto; i++) {
        if (items[i].out.applied && strcmp(items[i].cmd->task_id, task_id) == 0) {
            return true;
        }
    }
    return false;
}

/* Splits the batch where a task repeats, so each segment touches a task once and the
 * segments run in batch order. */
static int execute(pg_conn *conn, writer_planned *items, size_t n, char *sqlstate, char *err,
                   size_t errlen) {
    size_t start = 0;
    while (start < n) {
        size_t end = start;
        while (end < n &&
               !(items[end].out.applied && touched(items, start, end, items[end].cmd->task_id))) {
            end++;
        }
        if (run_segment(conn, items + start, end - start, sqlstate, err, errlen) != 0) {
            return -1;
        }
        start = end;
    }
    return 0;
}

int writer_plan_apply(pg_conn *conn, writer_planned *items, size_t n, char *sqlstate, char *err,
                      size_t errlen) {
    sqlstate[0] = '\0';
    if (n == 0) {
        return 0;
    }
    plan p = {0};
    p.tasks = calloc(n, sizeof *p.tasks);
    p.users = calloc(n, sizeof *p.users);
    int rc = -1;
    if (p.tasks == NULL || p.users == NULL) {
        snprintf(err, errlen, "out of memory planning a batch");
    } else if (load_plan(conn, items, n, &p, err, errlen) == 0 &&
               decide_all(&p, items, n, err, errlen) == 0) {
        rc = execute(conn, items, n, sqlstate, err, errlen);
    }
    free(p.tasks);
    free(p.users);
    return rc;
}

/* ---- the outbox ---- */

static json_t *outbox_row(const json_t *event, const char *key, const char *request_id) {
    json_t *headers = json_object();
    json_t *row = json_object();
    int rc = headers != NULL && row != NULL ? 0 : -1;
    if (rc == 0 && request_id != NULL && request_id[0] != '\0') {
        rc = json_object_set_new(headers, "request_id", json_string(request_id));
    }
    if (rc == 0) {
        rc = json_object_set(headers, "ce_type", json_object_get(event, "type")) |
             json_object_set(headers, "ce_id", json_object_get(event, "id")) |
             json_object_set(row, "event_id", json_object_get(event, "id")) |
             json_object_set_new(row, "key", json_string(key)) |
             json_object_set(row, "payload", (json_t *)event) |
             json_object_set(row, "headers", headers);
    }
    json_decref(headers);
    if (rc != 0) {
        json_decref(row);
        return NULL;
    }
    return row;
}

int writer_outbox_add_many(pg_conn *conn, json_t *const *events, const char *const *keys,
                           const char *const *request_ids, size_t n, char *err, size_t errlen) {
    if (n == 0) {
        return 0;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_t *row = outbox_row(events[i], keys[i], request_ids[i]);
        if (row == NULL || json_array_append_new(arr, row) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    char *text = arr != NULL ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory serialising outbox rows");
        return -1;
    }
    const char *vals[2] = {text, TASK_EVENTS_TOPIC};
    PGresult *res = pg_exec_stmt(conn, &STMT_OUTBOX_MANY, vals);
    free(text);
    int rc = pg_result_ok(res) ? 0 : -1;
    if (rc != 0) {
        set_err(err, errlen, "outbox insert", res);
    }
    PQclear(res);
    return rc;
}
