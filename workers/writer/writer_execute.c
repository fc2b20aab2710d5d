/*
 * writer_execute.c: carrying out a batch of task commands in Postgres, set-based.
 *
 * Owns: the load statement, the round statements and the events (see
 * writer_execute.h). Rules: every value reaches SQL as an array parameter built by
 * shared/pg_array.h; an update's patch travels as jsonb and SQL picks the fields it
 * carries (a present null clears due_at), so one UPDATE serves every patch; every libpq
 * result is cleared and every allocation of a call is freed before it returns, except the
 * texts it hands to the items.
 */
#include "workers/writer/writer_execute.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/cloudevent.h"
#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/outbox.h"
#include "shared/pg_array.h"
#include "shared/recurrence.h"
#include "shared/strbuf.h"
#include "shared/task_event_types.h"
#include "shared/task_model.h"
#include "shared/time_util.h"
#include "workers/writer/writer_event_v2.h"
#include "workers/writer/writer_mail.h"

/* One round trip: the tasks locked (in id order, so two writers never deadlock), then the
 * creating users that exist, held FOR KEY SHARE so none vanishes under the batch, then the
 * team projects the batch touches held FOR SHARE ($3, $4: per command the task a change
 * targets and the project a create names; an Inbox task, whose owner_id is set, needs
 * none). The membership functions (0018) lock a project FOR UPDATE before they change its
 * members, so from here to the commit nobody is added to, removed from or demoted in
 * those projects. The roles are read by STMT_ROLES, a statement of its own: this one's snapshot
 * was taken before it waited for those locks, so it could still see a member whose
 * removal committed while it waited. */
static const pg_stmt STMT_LOAD = {
    .name = "writer_load",
    .sql = "WITH t AS (SELECT id, owner_id, version, status, due_at IS NOT NULL AS has_due,"
           " recurrence IS NOT NULL AS recurs, project_id, assignee_id FROM tasks"
           " WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE),"
           " u AS (SELECT id FROM users WHERE id = ANY($2::uuid[]) FOR KEY SHARE),"
           " a AS (SELECT DISTINCT COALESCE(x.pid, t.project_id) AS pid"
           "   FROM unnest($3::uuid[], $4::uuid[]) AS x(tid, pid)"
           "   LEFT JOIN t ON t.id = x.tid AND t.owner_id IS NULL"
           "   WHERE x.pid IS NOT NULL OR t.id IS NOT NULL),"
           " p AS (SELECT id FROM projects WHERE id IN (SELECT pid FROM a) ORDER BY id FOR SHARE)"
           " SELECT 't', id::text, owner_id::text, version, status, has_due, recurs,"
           " project_id::text, assignee_id::text FROM t"
           " UNION ALL SELECT 'u', id::text, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM u"
           " UNION ALL SELECT 'p', id::text, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM p",
    .nparams = 4,
};
/* Every membership of the projects STMT_LOAD locked, with whether the project is an
 * Inbox: the acting users' roles (a non-member has no row) and the members an applied
 * team command's event goes to. */
static const pg_stmt STMT_ROLES = {
    .name = "writer_roles",
    .sql = "SELECT m.project_id::text, m.user_id::text, project_role_rank(m.role),"
           " p.inbox_of IS NOT NULL FROM project_members m JOIN projects p ON p.id = m.project_id"
           " WHERE m.project_id = ANY($1::uuid[])"
           " ORDER BY m.project_id::text COLLATE \"C\", m.user_id::text COLLATE \"C\"",
    .nparams = 1,
};
static const pg_stmt STMT_INSERT = {
    .name = "writer_insert",
    .sql = "INSERT INTO tasks (id, owner_id, title, description, status, priority, due_at, tags,"
           " completed_at, recurrence, project_id, assignee_id)"
           " SELECT x.id, CASE WHEN x.pid IS NULL THEN x.owner_id ELSE n.inbox_of END,"
           " x.title, x.description, x.status, x.priority, x.due_at,"
           " ARRAY(SELECT jsonb_array_elements_text(x.tags)),"
           " CASE WHEN x.status = 'done' THEN now() END, NULLIF(x.recurrence, 'null'::jsonb),"
           " COALESCE(n.id, i.id), x.assignee"
           " FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],"
           " $7::timestamptz[], $8::jsonb[], $9::jsonb[], $10::uuid[], $11::uuid[])"
           " AS x(id, owner_id, title, description, status, priority, due_at, tags, recurrence,"
           " pid, assignee)"
           " LEFT JOIN projects i ON i.inbox_of = x.owner_id AND x.pid IS NULL"
           " LEFT JOIN projects n ON n.id = x.pid"
           " ON CONFLICT (id) DO NOTHING RETURNING " TASK_SELECT_COLUMNS,
    .nparams = 11,
};
static const pg_stmt STMT_UPDATE = {
    .name = "writer_update",
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
           " recurrence = CASE WHEN x.completes THEN NULL ELSE x.rule END,"
           " assignee_id = CASE WHEN x.p ? 'assignee_id'"
           "   THEN (x.p->>'assignee_id')::uuid ELSE tasks.assignee_id END,"
           " project_id = COALESCE(x.dest, tasks.project_id),"
           " owner_id = CASE WHEN x.dest IS NULL THEN tasks.owner_id"
           "   ELSE (SELECT inbox_of FROM projects WHERE id = x.dest) END,"
           " version = tasks.version + 1, updated_at = now()"
           " FROM (SELECT u.tid, u.p, (u.p->>'project_id')::uuid AS dest,"
           "   o.status <> 'done' AND COALESCE(u.p->>'status', o.status) = 'done' AS completes,"
           "   CASE WHEN u.p ? 'recurrence' THEN NULLIF(u.p->'recurrence', 'null'::jsonb)"
           "   ELSE o.recurrence END AS rule"
           "   FROM unnest($1::uuid[], $2::jsonb[]) AS u(tid, p) JOIN tasks o ON o.id = u.tid) AS x"
           " WHERE tasks.id = x.tid RETURNING " TASK_SELECT_COLUMNS
           ", CASE WHEN x.completes THEN x.rule END::text",
    .nparams = 2,
};
/* The next occurrences of the round's completions: the completed row's content, the next
 * due_at and the rule carried on. Runs after the round's UPDATE, so it copies the task as
 * the completion left it. The assignee is carried while still an editor or owner of the
 * project (2: PROJECT_RANK_EDITOR; the project is locked FOR SHARE, so that holds to the
 * commit), else the occurrence is unassigned: a member removed since the assignment gets
 * no new task. */
static const pg_stmt STMT_NEXT = {
    .name = "writer_next",
    .sql = "INSERT INTO tasks (id, owner_id, title, description, status, priority, due_at, tags,"
           " recurrence, project_id, assignee_id)"
           " SELECT x.id, o.owner_id, o.title, o.description, 'todo', o.priority, x.due_at, o.tags,"
           " x.rule, o.project_id, (SELECT m.user_id FROM project_members m"
           "   WHERE m.project_id = o.project_id AND m.user_id = o.assignee_id"
           "   AND project_role_rank(m.role) >= 2)"
           " FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::jsonb[])"
           " AS x(id, src, due_at, rule) JOIN tasks o ON o.id = x.src"
           " ON CONFLICT (id) DO NOTHING RETURNING " TASK_SELECT_COLUMNS,
    .nparams = 4,
};
/* The rule a completion handed on: STMT_UPDATE's column after the task's. */
#define UPDATE_HANDED_RULE_COL TASK_SELECT_COLUMN_COUNT
#define NEXT_TASK_LABEL "taskbus next occurrence task"
#define NEXT_COMMAND_LABEL "taskbus next occurrence command"
/* Each deleted task has its taskbus.task.deleted event, from which the relay derives its
 * task-state tombstone: the setting tells migration 0016's trigger not to add another. */
static const pg_stmt STMT_DELETE = {
    .name = "writer_delete",
    .sql = "WITH evented AS MATERIALIZED"
           " (SELECT set_config('taskbus.task_deletes_evented', 'on', true))"
           " DELETE FROM tasks USING evented WHERE id = ANY($1::uuid[])"
           " RETURNING tasks.id::text, tasks.project_id::text",
    .nparams = 1,
};

#define INSERT_COLUMNS 11
#define UPDATE_COLUMNS 2
#define NEXT_COLUMNS 4

/* One call's working state. */
typedef struct run {
    pg_conn *conn;
    writer_item *items;
    size_t n;
    writer_world world;
    size_t *item_of; /* per world task: index + 1 of the item of the current round */
    strbuf locked;   /* "{...}" so far: the projects STMT_LOAD locked */
    size_t nlocked;
    char *sqlstate;
    char *err;
    size_t errlen;
} run;

void writer_item_clear(writer_item *item) {
    writer_decision_clear(&item->dec);
    free(item->task_text);
    free(item->event_text);
    free(item->event_v2_text);
    item->task_text = item->event_text = item->event_v2_text = NULL;
    item->deleted_from[0] = '\0';
    writer_decision_clear(&item->next.dec);
    free(item->next.task_text);
    free(item->next.event_text);
    free(item->next.event_v2_text);
    memset(&item->next, 0, sizeof item->next);
    free(item->fanout);
    item->fanout = NULL;
    item->nfanout = 0;
}

static void set_err(run *r, const char *what, const PGresult *res) {
    snprintf(r->sqlstate, 6, "%s", res != NULL ? pg_result_sqlstate(res) : "");
    errbuf_setf_line(r->err, r->errlen, "%s: %s", what,
                     res != NULL ? PQresultErrorMessage(res) : "postgres connection failed");
}

static void set_fail(run *r, const char *what) {
    errbuf_setf(r->err, r->errlen, "%s", what);
}

/* Runs stmt; the result, or NULL with the error set. */
static PGresult *exec(run *r, const pg_stmt *stmt, const char *const *vals) {
    PGresult *res = pg_exec_stmt(r->conn, stmt, vals);
    if (pg_result_ok(res)) {
        return res;
    }
    set_err(r, stmt->name, res);
    PQclear(res);
    return NULL;
}

/* ---- load ---- */

/* "{id,...}" of the items' task ids, or of the users of their creates. */
static void id_array(const run *r, bool creators, strbuf *ids) {
    pg_array_open(ids);
    for (size_t i = 0; i < r->n; i++) {
        const task_command *c = r->items[i].cmd;
        if (!creators || c->type == TASK_CMD_CREATE) {
            pg_array_add(ids, creators ? c->user_id : c->task_id);
        }
    }
    pg_array_close(ids);
}

static int fill_row(run *r, const PGresult *res, int row) {
    const char *id = PQgetvalue(res, row, 1);
    char kind = PQgetvalue(res, row, 0)[0];
    if (kind == 'u') {
        return writer_world_add_user(&r->world, id);
    }
    if (kind == 'p') { /* a team project locked: its members come from STMT_ROLES */
        pg_array_add(&r->locked, id);
        r->nlocked++;
        return 0;
    }
    writer_task_row task = {.id = id,
                            .owner = PQgetvalue(res, row, 2),
                            .project = PQgetvalue(res, row, 7),
                            .version = strtoll(PQgetvalue(res, row, 3), NULL, 10),
                            .done = strcmp(PQgetvalue(res, row, 4), "done") == 0,
                            .has_due = PQgetvalue(res, row, 5)[0] == 't',
                            .recurs = PQgetvalue(res, row, 6)[0] == 't',
                            .assignee = PQgetvalue(res, row, 8)};
    return writer_world_add_task(&r->world, &task);
}

static int fill_world(run *r, const PGresult *res) {
    for (int row = 0; row < PQntuples(res); row++) {
        int rc = fill_row(r, res, row);
        if (rc != 0) {
            set_fail(r, "a locked row did not fit the batch's world");
            return -1;
        }
    }
    return 0;
}

/* STMT_LOAD's $3, $4: per command that may need a role (every change, and a create that
 * names a project) its task (changes) and its project (creates), and the project a move
 * goes to. */
static void project_arrays(const run *r, strbuf pairs[2]) {
    pg_array_open(&pairs[0]);
    pg_array_open(&pairs[1]);
    for (size_t i = 0; i < r->n; i++) {
        const task_command *c = r->items[i].cmd;
        bool create = c->type == TASK_CMD_CREATE;
        const char *dest = json_string_value(json_object_get(c->fields, "project_id"));
        if (!create && dest != NULL) {
            pg_array_add(&pairs[0], NULL);
            pg_array_add(&pairs[1], dest);
        }
        if (create && c->project_id[0] == '\0') {
            continue; /* into the user's Inbox: the user's existence is the whole check */
        }
        pg_array_add(&pairs[0], create ? NULL : c->task_id);
        pg_array_add(&pairs[1], create ? c->project_id : NULL);
    }
    pg_array_close(&pairs[0]);
    pg_array_close(&pairs[1]);
}

/* STMT_ROLES for the projects STMT_LOAD locked (none for a batch of Inbox commands: no
 * round trip then). 0, or -1 with the error set. */
static int load_roles(run *r) {
    pg_array_close(&r->locked);
    if (r->locked.failed) {
        set_fail(r, "out of memory listing projects");
        return -1;
    }
    if (r->nlocked == 0) {
        return 0;
    }
    const char *vals[1] = {r->locked.data};
    PGresult *res = exec(r, &STMT_ROLES, vals);
    if (res == NULL) {
        return -1;
    }
    int rc = writer_world_size_roles(&r->world, (size_t)PQntuples(res));
    for (int row = 0; rc == 0 && row < PQntuples(res); row++) {
        rc = writer_world_add_role(&r->world, PQgetvalue(res, row, 0), PQgetvalue(res, row, 1),
                                   (int)strtol(PQgetvalue(res, row, 2), NULL, 10),
                                   PQgetvalue(res, row, 3)[0] == 't');
    }
    PQclear(res);
    if (rc != 0) {
        set_fail(r, "out of memory recording the projects' members");
    }
    return rc;
}

static int load_world(run *r) {
    strbuf tasks = {0}, users = {0}, pairs[2] = {{0}};
    pg_array_open(&r->locked);
    id_array(r, false, &tasks);
    id_array(r, true, &users);
    project_arrays(r, pairs);
    int rc = -1;
    if (tasks.failed || users.failed || pairs[0].failed || pairs[1].failed) {
        set_fail(r, "out of memory listing ids");
    } else {
        const char *vals[4] = {tasks.data, users.data, pairs[0].data, pairs[1].data};
        PGresult *res = exec(r, &STMT_LOAD, vals);
        rc = res != NULL ? fill_world(r, res) : -1;
        PQclear(res);
    }
    free(tasks.data);
    free(users.data);
    free(pairs[0].data);
    free(pairs[1].data);
    return rc == 0 ? load_roles(r) : rc;
}

/* ---- events ---- */

/* The event of an applied command c decided as dec: data is the task as stored
 * (task_text, NULL for a delete: {id, version}) plus user_id and command_id, written as
 * text (this runs for every command). NULL when out of memory. */
static char *event_of(const task_command *c, const writer_decision *dec, const char *task_text,
                      const char *traceparent, char event_id[UUID_STR_LEN]) {
    strbuf data = {0};
    if (task_text != NULL) {
        size_t len = strlen(task_text);
        strbuf_append(&data, task_text, len > 0 ? len - 1 : 0); /* without its '}' */
        strbuf_append(&data, ",", 1);
    } else {
        char head[96];
        int n = snprintf(head, sizeof head, "{\"id\":\"%s\",\"version\":%lld,", c->task_id,
                         dec->task_version);
        strbuf_append(&data, head, (size_t)n);
    }
    char tail[128];
    int n = snprintf(tail, sizeof tail, "\"user_id\":\"%s\",\"command_id\":\"%s\"}", c->user_id,
                     c->command_id);
    strbuf_append(&data, tail, (size_t)n);
    char subject[64];
    snprintf(subject, sizeof subject, TASK_SUBJECT_PREFIX "%s", c->task_id);
    char *text = data.failed
                     ? NULL
                     : cloudevent_text(dec->event_type, subject, data.data, traceparent, event_id);
    free(data.data);
    return text;
}

/* The task text an event's data starts from: the cache's task text, unless the task has
 * members events do not carry (task_json_strip_for_event), then a new text in *owned
 * (NULL when out of memory). task is changed. */
static const char *event_task_text(json_t *task, const char *cache_text, char **owned) {
    *owned = NULL;
    if (!task_json_strip_for_event(task)) {
        return cache_text;
    }
    *owned = json_dumps(task, JSON_COMPACT);
    return *owned;
}

/* it's events: v1 from event_data (the task without what v1 data leaves out; NULL for a
 * delete), v2 from task_text (the task as stored; NULL for a delete, which names
 * it->deleted_from). 0, or -1 (out of memory). */
static int make_event(run *r, writer_item *it, const char *event_data, const char *task_text) {
    it->event_text = event_of(it->cmd, &it->dec, event_data, it->traceparent, it->event_id);
    it->event_v2_text = it->event_text != NULL
                            ? writer_event_v2(it->cmd, &it->dec, task_text, it->deleted_from,
                                              it->traceparent, it->event_v2_id)
                            : NULL;
    writer_event_v2_type(&it->dec, it->event_v2_type);
    if (it->event_v2_text == NULL) {
        set_fail(r, "out of memory building an event");
        return -1;
    }
    return 0;
}

/* An event's Kafka key: its command's, the key of the project the task was in (a team
 * project's id, else the user's: a create that names its own Inbox is an Inbox task and
 * keeps the key its later changes will have). A move's event keeps the key of the
 * project it leaves, so it follows every earlier event of the task on that key. */
static const char *event_key(const task_command *c, const writer_decision *d) {
    bool team_key = c->type == TASK_CMD_CREATE ? d->team : c->project_id[0] != '\0';
    return team_key ? c->project_id : c->user_id;
}

static int add_outbox(run *r) {
    /* each command's v1 and v2 events, and its next occurrence's */
    outbox_row *rows = calloc(r->n ? 4 * r->n : 1, sizeof *rows);
    if (rows == NULL) {
        set_fail(r, "out of memory listing outbox rows");
        return -1;
    }
    size_t nrows = 0;
    for (size_t i = 0; i < r->n; i++) {
        const writer_item *it = &r->items[i];
        if (it->dec.applied) {
            outbox_row v1 = {.event_id = it->event_id,
                             .topic = TASK_EVENTS_TOPIC,
                             .key = event_key(it->cmd, &it->dec),
                             .payload = it->event_text,
                             .ce_type = it->dec.event_type,
                             .request_id = it->request_id,
                             .traceparent = it->traceparent};
            rows[nrows++] = v1;
            rows[nrows++] = (outbox_row){.event_id = it->event_v2_id,
                                         .topic = TASK_EVENTS_V2_TOPIC,
                                         .key = v1.key,
                                         .payload = it->event_v2_text,
                                         .ce_type = it->event_v2_type,
                                         .request_id = it->request_id,
                                         .traceparent = it->traceparent};
        }
        if (it->dec.applied && it->next.made) {
            outbox_row v1 = {.event_id = it->next.event_id,
                             .topic = TASK_EVENTS_TOPIC,
                             .key = event_key(&it->next.cmd, &it->next.dec),
                             .payload = it->next.event_text,
                             .ce_type = it->next.dec.event_type,
                             .request_id = it->request_id,
                             .traceparent = it->traceparent};
            rows[nrows++] = v1;
            rows[nrows++] = (outbox_row){.event_id = it->next.event_v2_id,
                                         .topic = TASK_EVENTS_V2_TOPIC,
                                         .key = v1.key,
                                         .payload = it->next.event_v2_text,
                                         .ce_type = it->next.event_v2_type,
                                         .request_id = it->request_id,
                                         .traceparent = it->traceparent};
        }
    }
    int rc = outbox_add_many(r->conn, rows, nrows, r->err, r->errlen);
    free(rows);
    return rc;
}

/* ---- rounds ---- */

/* One round's statements: each task appears at most once in a round. */
typedef struct round_sql {
    strbuf insert[INSERT_COLUMNS];
    size_t ninsert;
    strbuf update[UPDATE_COLUMNS];
    size_t nupdate;
    strbuf next[NEXT_COLUMNS]; /* filled from the UPDATE's rows, not by build_round */
    size_t nnext;
    strbuf deletes;
    size_t ndelete;
} round_sql;

static const char *field_text(const json_t *fields, const char *name, const char *dflt) {
    const char *s = json_string_value(json_object_get(fields, name));
    return s != NULL ? s : dflt;
}

static void add_insert(round_sql *q, const task_command *c) {
    const json_t *f = c->fields;
    const json_t *tags = json_object_get(f, "tags");
    char *tags_text = tags != NULL ? json_dumps(tags, JSON_COMPACT) : NULL;
    const json_t *rule = json_object_get(f, "recurrence");
    char *rule_text = rule != NULL ? json_dumps(rule, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    const char *cols[INSERT_COLUMNS] = {
        c->task_id,
        c->user_id,
        field_text(f, "title", ""),
        field_text(f, "description", ""),
        field_text(f, "status", "todo"),
        field_text(f, "priority", "medium"),
        field_text(f, "due_at", NULL),
        tags_text != NULL ? tags_text : "[]",
        rule_text != NULL ? rule_text : "null",
        c->project_id[0] != '\0' ? c->project_id : NULL,
        field_text(f, "assignee_id", NULL),
    };
    for (int k = 0; k < INSERT_COLUMNS; k++) {
        pg_array_add(&q->insert[k], cols[k]);
    }
    if ((tags != NULL && tags_text == NULL) || (rule != NULL && rule_text == NULL)) {
        q->insert[0].failed = true;
    }
    free(tags_text);
    free(rule_text);
    q->ninsert++;
}

static void add_update(round_sql *q, const task_command *c) {
    char *patch = json_dumps(c->fields, JSON_COMPACT);
    pg_array_add(&q->update[0], c->task_id);
    pg_array_add(&q->update[1], patch != NULL ? patch : "{}");
    q->update[1].failed = q->update[1].failed || patch == NULL;
    free(patch);
    q->nupdate++;
}

/* Builds round k's statements and marks its items in item_of. 0, or -1 (no memory). */
static int build_round(run *r, unsigned k, round_sql *q) {
    strbuf *all[INSERT_COLUMNS + UPDATE_COLUMNS + 1];
    size_t nall = 0;
    for (int c = 0; c < INSERT_COLUMNS; c++) {
        all[nall++] = &q->insert[c];
    }
    for (int c = 0; c < UPDATE_COLUMNS; c++) {
        all[nall++] = &q->update[c];
    }
    for (int c = 0; c < NEXT_COLUMNS; c++) {
        pg_array_open(&q->next[c]);
    }
    all[nall++] = &q->deletes;
    for (size_t c = 0; c < nall; c++) {
        pg_array_open(all[c]);
    }
    for (size_t i = 0; i < r->n; i++) {
        const writer_item *it = &r->items[i];
        if (!it->dec.applied || it->dec.round != k) {
            continue;
        }
        const writer_task_state *t = writer_world_find(&r->world, it->cmd->task_id);
        r->item_of[t - r->world.tasks] = i + 1;
        if (it->dec.op == WRITER_ROW_INSERT) {
            add_insert(q, it->cmd);
        } else if (it->dec.op == WRITER_ROW_UPDATE) {
            add_update(q, it->cmd);
        } else {
            pg_array_add(&q->deletes, it->cmd->task_id);
            q->ndelete++;
        }
    }
    bool failed = false;
    for (size_t c = 0; c < nall; c++) {
        pg_array_close(all[c]);
        failed = failed || all[c]->failed;
    }
    return failed ? -1 : 0;
}

static void round_free(round_sql *q) {
    for (int c = 0; c < INSERT_COLUMNS; c++) {
        free(q->insert[c].data);
    }
    for (int c = 0; c < UPDATE_COLUMNS; c++) {
        free(q->update[c].data);
    }
    for (int c = 0; c < NEXT_COLUMNS; c++) {
        free(q->next[c].data);
    }
    free(q->deletes.data);
}

/* The item of round k that a returned row (or a deleted id) belongs to, or NULL. */
static writer_item *item_for(run *r, const char *task_id, writer_row_op op) {
    const writer_task_state *t = writer_world_find(&r->world, task_id);
    size_t at = t != NULL ? r->item_of[t - r->world.tasks] : 0;
    writer_item *it = at != 0 ? &r->items[at - 1] : NULL;
    return it != NULL && it->dec.op == op && it->event_text == NULL ? it : NULL;
}

/* The next occurrence of it's completion of task (owned by owner, "" in a team project), whose
 * recurrence it handed on (handed: {rule, time_zone} as text), listed in q. 0 (also when the series
 * ended), -2 (out of memory). A rule that cannot be expanded here (a time past libical's
 * range, a zone this host's table lacks) ends the series with a warning: failing the
 * batch would retry it for ever and stall the partition, and the completion itself is
 * what the client asked for. */
static int plan_next(writer_item *it, const json_t *task, const char *owner, const char *handed,
                     round_sql *q) {
    json_error_t jerr;
    json_t *rec = json_loads(handed, 0, &jerr);
    const char *rule = json_string_value(json_object_get(rec, "rule"));
    const char *zone = json_string_value(json_object_get(rec, "time_zone"));
    long long due_ms = 0;
    int64_t next_ms = 0;
    char next_rule[RECURRENCE_RULE_MAX + 1];
    bool anchored =
        time_parse_rfc3339_ms(json_string_value(json_object_get(task, "due_at")), &due_ms) == 0;
    int found = rule != NULL && zone != NULL && anchored
                    ? recurrence_next(rule, zone, due_ms, &next_ms, next_rule, sizeof next_rule)
                    : -1;
    json_t *carried =
        found == 1 ? json_pack("{s:s,s:s}", "rule", next_rule, "time_zone", zone) : NULL;
    json_decref(rec);
    char *carried_text = carried != NULL ? json_dumps(carried, JSON_COMPACT) : NULL;
    json_decref(carried);
    if (found == -1) {
        LOG_WARNF("writer: task %s: its recurrence %s cannot be expanded from its due_at; the "
                  "series ends here",
                  it->cmd->task_id, handed);
    }
    if (found != 1) {
        return 0;
    }
    if (carried_text == NULL) {
        return -2;
    }
    writer_next *n = &it->next;
    n->made = true;
    n->cmd = (task_command){.type = TASK_CMD_CREATE, .expected_version = -1};
    uuid7_derive(it->cmd->command_id, NEXT_TASK_LABEL, n->cmd.task_id);
    uuid7_derive(it->cmd->command_id, NEXT_COMMAND_LABEL, n->cmd.command_id);
    /* A team task has no owner: its next occurrence is the completing member's doing, in
     * the same project (whose key its event keeps). */
    snprintf(n->cmd.user_id, sizeof n->cmd.user_id, "%s",
             owner[0] != '\0' ? owner : it->cmd->user_id);
    snprintf(n->cmd.project_id, sizeof n->cmd.project_id, "%s", it->dec.project);
    n->dec = (writer_decision){.applied = true,
                               .op = WRITER_ROW_INSERT,
                               .task_version = 1,
                               .event_type = TASK_EVENT_CREATED,
                               .round = it->dec.round,
                               .team = it->dec.team};
    memcpy(n->dec.project, it->dec.project, sizeof n->dec.project);
    char due_text[40];
    time_format_rfc3339_ms(next_ms, due_text, sizeof due_text);
    const char *cols[NEXT_COLUMNS] = {n->cmd.task_id, it->cmd->task_id, due_text, carried_text};
    for (int c = 0; c < NEXT_COLUMNS; c++) {
        pg_array_add(&q->next[c], cols[c]);
    }
    free(carried_text);
    q->nnext++;
    return 0;
}

/* Hands each returned task to its item: the cache text, then the event; an UPDATE's
 * completion that handed a recurrence on plans its next occurrence in q. */
static int take_rows(run *r, PGresult *res, size_t want, writer_row_op op, round_sql *q) {
    if ((size_t)PQntuples(res) != want) {
        return -1;
    }
    for (int row = 0; row < PQntuples(res); row++) {
        writer_item *it = item_for(r, PQgetvalue(res, row, 0), op);
        if (it == NULL) {
            return -1; /* a row nobody asked for: not what was decided */
        }
        char owner[UUID_STR_LEN];
        json_t *task = task_from_row(res, row, owner);
        bool as_decided = task != NULL && task_json_version(task) == it->dec.task_version;
        it->task_text = as_decided ? json_dumps(task, JSON_COMPACT) : NULL;
        bool handed = op == WRITER_ROW_UPDATE && PQnfields(res) > UPDATE_HANDED_RULE_COL &&
                      !PQgetisnull(res, row, UPDATE_HANDED_RULE_COL);
        int rc = !as_decided ? -1 : it->task_text == NULL ? -2 : 0;
        if (rc == 0 && handed) {
            rc = plan_next(it, task, owner, PQgetvalue(res, row, UPDATE_HANDED_RULE_COL), q);
        }
        char *owned = NULL;
        const char *data = rc == 0 ? event_task_text(task, it->task_text, &owned) : NULL;
        json_decref(task);
        if (rc == 0 && (data == NULL || make_event(r, it, data, it->task_text) != 0)) {
            rc = -2;
        }
        free(owned);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* The item whose next occurrence is the task id, in round k, not yet returned. */
static writer_item *item_of_next(run *r, const char *task_id, unsigned k) {
    for (size_t i = 0; i < r->n; i++) {
        writer_item *it = &r->items[i];
        if (it->next.made && it->dec.round == k && it->next.task_text == NULL &&
            strcmp(it->next.cmd.task_id, task_id) == 0) {
            return it;
        }
    }
    return NULL;
}

/* Inserts the round's next occurrences; each item gets the task text and the event. */
static int run_next(run *r, round_sql *q, unsigned k) {
    if (q->nnext == 0) {
        return 0;
    }
    const char *vals[NEXT_COLUMNS];
    bool failed = false;
    for (int c = 0; c < NEXT_COLUMNS; c++) {
        pg_array_close(&q->next[c]);
        failed = failed || q->next[c].failed;
        vals[c] = q->next[c].data;
    }
    if (failed) {
        set_fail(r, "out of memory listing next occurrences");
        return -1;
    }
    PGresult *res = exec(r, &STMT_NEXT, vals);
    if (res == NULL) {
        return -1;
    }
    int rc = (size_t)PQntuples(res) == q->nnext ? 0 : -1;
    for (int row = 0; rc == 0 && row < PQntuples(res); row++) {
        writer_item *it = item_of_next(r, PQgetvalue(res, row, 0), k);
        json_t *task = it != NULL ? task_from_row(res, row, NULL) : NULL;
        rc = task != NULL && task_json_version(task) == 1 ? 0 : -1;
        writer_next *n = rc == 0 ? &it->next : NULL;
        if (n != NULL) {
            n->task_text = json_dumps(task, JSON_COMPACT);
            char *owned = NULL;
            const char *data =
                n->task_text != NULL ? event_task_text(task, n->task_text, &owned) : NULL;
            n->event_text = data != NULL
                                ? event_of(&n->cmd, &n->dec, data, it->traceparent, n->event_id)
                                : NULL;
            n->event_v2_text = n->event_text != NULL
                                   ? writer_event_v2(&n->cmd, &n->dec, n->task_text, NULL,
                                                     it->traceparent, n->event_v2_id)
                                   : NULL;
            writer_event_v2_type(&n->dec, n->event_v2_type);
            free(owned);
            rc = n->event_v2_text != NULL ? 0 : -2;
        }
        json_decref(task);
    }
    PQclear(res);
    if (rc == -1) {
        errbuf_setf(r->err, r->errlen, "%s: a next occurrence was not inserted as decided",
                    STMT_NEXT.name);
    } else if (rc == -2) {
        set_fail(r, "out of memory building a next occurrence's event");
    }
    return rc == 0 ? 0 : -1;
}

static int run_rows(run *r, const pg_stmt *stmt, strbuf *cols, size_t want, writer_row_op op,
                    round_sql *q) {
    if (want == 0) {
        return 0;
    }
    const char *vals[INSERT_COLUMNS];
    for (int c = 0; c < stmt->nparams; c++) {
        vals[c] = cols[c].data;
    }
    PGresult *res = exec(r, stmt, vals);
    if (res == NULL) {
        return -1;
    }
    int rc = take_rows(r, res, want, op, q);
    PQclear(res);
    if (rc == -1) {
        errbuf_setf(r->err, r->errlen, "%s: a task changed under the batch's locks", stmt->name);
    } else if (rc == -2) {
        set_fail(r, "out of memory building a task's event");
    }
    return rc == 0 ? 0 : -1;
}

static int run_deletes(run *r, round_sql *q, unsigned k) {
    if (q->ndelete == 0) {
        return 0;
    }
    const char *vals[1] = {q->deletes.data};
    PGresult *res = exec(r, &STMT_DELETE, vals);
    if (res == NULL) {
        return -1;
    }
    bool all = (size_t)PQntuples(res) == q->ndelete;
    for (int row = 0; all && row < PQntuples(res); row++) {
        /* the project each was deleted from: its v2 event names it */
        writer_item *it = item_for(r, PQgetvalue(res, row, 0), WRITER_ROW_DELETE);
        all = it != NULL && it->dec.round == k;
        if (all) {
            snprintf(it->deleted_from, sizeof it->deleted_from, "%s", PQgetvalue(res, row, 1));
        }
    }
    PQclear(res);
    if (!all) {
        errbuf_setf(r->err, r->errlen, "%s: a task vanished under the batch's locks",
                    STMT_DELETE.name);
        return -1;
    }
    for (size_t i = 0; i < r->n; i++) {
        writer_item *it = &r->items[i];
        if (it->dec.applied && it->dec.round == k && it->dec.op == WRITER_ROW_DELETE &&
            make_event(r, it, NULL, NULL) != 0) {
            return -1;
        }
    }
    return 0;
}

static int run_round(run *r, unsigned k) {
    round_sql q = {0};
    memset(r->item_of, 0, r->world.ntasks * sizeof *r->item_of);
    int rc = build_round(r, k, &q);
    if (rc != 0) {
        set_fail(r, "out of memory building a round");
    }
    if (rc == 0) {
        rc = run_rows(r, &STMT_INSERT, q.insert, q.ninsert, WRITER_ROW_INSERT, &q);
    }
    if (rc == 0) {
        rc = run_rows(r, &STMT_UPDATE, q.update, q.nupdate, WRITER_ROW_UPDATE, &q);
    }
    if (rc == 0) {
        rc = run_next(r, &q, k);
    }
    if (rc == 0) {
        rc = run_deletes(r, &q, k);
    }
    round_free(&q);
    return rc;
}

/* ---- the call ---- */

static int decide(run *r) {
    const task_command **cmds = calloc(r->n, sizeof *cmds);
    writer_decision *out = calloc(r->n, sizeof *out);
    int rc = cmds != NULL && out != NULL ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < r->n; i++) {
        cmds[i] = r->items[i].cmd;
    }
    if (rc == 0) {
        rc = writer_decide(&r->world, cmds, r->n, out);
    }
    for (size_t i = 0; out != NULL && i < r->n; i++) {
        r->items[i].dec = out[i]; /* the item takes the problem */
    }
    free(cmds);
    free(out);
    if (rc != 0) {
        set_fail(r, "out of memory deciding a batch");
    }
    return rc;
}

/* The other members of each applied team command's project (the project the task is in
 * after it: a move's destination), at the apply (the roles read under the project's lock):
 * their event logs get its event, so every member's stream shows the project's changes and
 * a removed member's shows none made after the removal. Members of the project a move took
 * the task out of get nothing: the event shows the task as it now is, where they may not
 * see it (docs/decisions.md, "Moving tasks (slice 5)"). 0, or -1 (out of memory). */
static int fan_out(run *r) {
    size_t cap = r->world.nroles ? r->world.nroles : 1;
    const writer_role **members = calloc(cap, sizeof *members);
    int rc = members != NULL ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < r->n; i++) {
        writer_item *it = &r->items[i];
        if (!it->dec.applied || !it->dec.team) {
            continue;
        }
        size_t n = writer_world_members(&r->world, it->dec.project, members, cap);
        it->fanout = calloc(n ? n : 1, sizeof *it->fanout);
        if (it->fanout == NULL) {
            rc = -1;
            break;
        }
        for (size_t k = 0; k < n; k++) {
            const char *user = members[k]->key + UUID_STR_LEN;
            if (strcmp(user, it->cmd->user_id) != 0) {
                memcpy(it->fanout[it->nfanout++], user, UUID_STR_LEN);
            }
        }
    }
    if (rc != 0) {
        set_fail(r, "out of memory listing members");
    }
    free(members);
    return rc;
}

static int execute(run *r) {
    if (load_world(r) != 0 || decide(r) != 0) {
        return -1;
    }
    r->item_of = calloc(r->world.ntasks ? r->world.ntasks : 1, sizeof *r->item_of);
    if (r->item_of == NULL) {
        set_fail(r, "out of memory");
        return -1;
    }
    unsigned rounds = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (r->items[i].dec.applied && r->items[i].dec.round + 1 > rounds) {
            rounds = r->items[i].dec.round + 1;
        }
    }
    for (unsigned k = 0; k < rounds; k++) {
        if (run_round(r, k) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < r->n; i++) {
        if (r->items[i].dec.applied && r->items[i].event_text == NULL) {
            set_fail(r, "an applied command got no row back");
            return -1;
        }
    }
    if (add_outbox(r) != 0 ||
        writer_mail_assignments(r->conn, r->items, r->n, r->sqlstate, r->err, r->errlen) != 0) {
        return -1;
    }
    return fan_out(r);
}

int writer_execute(pg_conn *conn, writer_item *items, size_t n, char *sqlstate, char *err,
                   size_t errlen) {
    sqlstate[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        writer_item_clear(&items[i]);
    }
    if (n == 0) {
        return 0;
    }
    run r = {
        .conn = conn, .items = items, .n = n, .sqlstate = sqlstate, .err = err, .errlen = errlen};
    int rc = -1;
    if (writer_world_init(&r.world, n, n, n) != 0) {
        errbuf_setf(err, errlen, "out of memory for a batch's world");
    } else {
        rc = execute(&r);
    }
    free(r.item_of);
    free(r.locked.data);
    writer_world_free(&r.world);
    return rc;
}
