/*
 * writer_decide.c: what each task command of a batch does, decided once.
 *
 * Owns: the world's hash of tasks and the rules of writer_decide.h. Rules: pure (no I/O);
 * every lookup is O(1) (open addressing on the id's FNV-1a hash), so a batch of n commands
 * costs O(n); the world is sized by the caller up front and never grows.
 */
#include "workers/writer/writer_decide.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/fnv1a.h"
#include "shared/problem.h"
#include "shared/project_roles.h"
#include "shared/task_event_types.h"

/* Room for n ids at a load of at most one half. */
static size_t slots_for(size_t n) {
    size_t nslots = 16;
    while (nslots < 2 * n) {
        nslots *= 2;
    }
    return nslots;
}

int writer_world_init(writer_world *w, size_t max_tasks, size_t max_users, size_t max_roles) {
    memset(w, 0, sizeof *w);
    w->nslots = slots_for(max_tasks);
    w->nuser_slots = slots_for(max_users);
    w->nrole_slots = slots_for(max_roles);
    w->tasks = calloc(max_tasks ? max_tasks : 1, sizeof *w->tasks);
    w->slots = calloc(w->nslots, sizeof *w->slots);
    w->users = calloc(max_users ? max_users : 1, sizeof *w->users);
    w->user_slots = calloc(w->nuser_slots, sizeof *w->user_slots);
    w->roles = calloc(max_roles ? max_roles : 1, sizeof *w->roles);
    w->role_slots = calloc(w->nrole_slots, sizeof *w->role_slots);
    if (w->tasks == NULL || w->slots == NULL || w->users == NULL || w->user_slots == NULL ||
        w->roles == NULL || w->role_slots == NULL) {
        writer_world_free(w);
        return -1;
    }
    w->tasks_cap = max_tasks;
    w->users_cap = max_users;
    w->roles_cap = max_roles;
    return 0;
}

void writer_world_free(writer_world *w) {
    free(w->tasks);
    free(w->slots);
    free(w->users);
    free(w->user_slots);
    free(w->roles);
    free(w->role_slots);
    memset(w, 0, sizeof *w);
}

/* The slot of slots[0..nslots) holding id (index + 1 into ids, whose ids sit stride bytes
 * apart), or the empty slot where it would go. */
static size_t *probe(size_t *slots, size_t nslots, const char *ids, size_t stride, const char *id) {
    size_t mask = nslots - 1;
    for (size_t i = (size_t)fnv1a64(id) & mask;; i = (i + 1) & mask) {
        if (slots[i] == 0 || strcmp(ids + (slots[i] - 1) * stride, id) == 0) {
            return &slots[i];
        }
    }
}

static size_t *task_slot(const writer_world *w, const char *id) {
    return probe(w->slots, w->nslots, w->tasks[0].id, sizeof w->tasks[0], id);
}

/* The task named id, added as "does not exist" when the world has not seen it. NULL when
 * the world is full (the caller sized it wrong). */
static writer_task_state *task_of(writer_world *w, const char *id) {
    size_t *slot = task_slot(w, id);
    if (*slot != 0) {
        return &w->tasks[*slot - 1];
    }
    if (w->ntasks == w->tasks_cap) {
        return NULL;
    }
    writer_task_state *t = &w->tasks[w->ntasks];
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", id);
    *slot = ++w->ntasks;
    return t;
}

int writer_world_add_task(writer_world *w, const writer_task_row *row) {
    if (w->nslots == 0 || *task_slot(w, row->id) != 0) {
        return -1;
    }
    writer_task_state *t = task_of(w, row->id);
    if (t == NULL) {
        return -1;
    }
    t->exists = true;
    snprintf(t->owner, sizeof t->owner, "%s", row->owner);
    /* An Inbox task is its owner's: only a team task's project matters to the rules. */
    snprintf(t->project, sizeof t->project, "%s", row->owner[0] == '\0' ? row->project : "");
    t->version = row->version;
    t->done = row->done;
    t->has_due = row->has_due;
    t->recurs = row->recurs;
    snprintf(t->assignee, sizeof t->assignee, "%s", row->assignee != NULL ? row->assignee : "");
    return 0;
}

const writer_task_state *writer_world_find(const writer_world *w, const char *id) {
    if (w->nslots == 0) {
        return NULL;
    }
    size_t slot = *task_slot(w, id);
    return slot != 0 ? &w->tasks[slot - 1] : NULL;
}

static size_t *user_slot(const writer_world *w, const char *id) {
    return probe(w->user_slots, w->nuser_slots, w->users[0], sizeof w->users[0], id);
}

int writer_world_add_user(writer_world *w, const char *id) {
    if (w->nuser_slots == 0) {
        return -1;
    }
    size_t *slot = user_slot(w, id);
    if (*slot != 0) {
        return 0;
    }
    if (w->nusers == w->users_cap) {
        return -1;
    }
    snprintf(w->users[w->nusers], UUID_STR_LEN, "%s", id);
    *slot = ++w->nusers;
    return 0;
}

static bool user_exists(const writer_world *w, const char *id) {
    return *user_slot(w, id) != 0;
}

int writer_world_size_roles(writer_world *w, size_t max_roles) {
    if (w->nroles != 0) {
        return -1;
    }
    size_t nslots = slots_for(max_roles);
    writer_role *roles = calloc(max_roles ? max_roles : 1, sizeof *roles);
    size_t *slots = calloc(nslots, sizeof *slots);
    if (roles == NULL || slots == NULL) {
        free(roles);
        free(slots);
        return -1;
    }
    free(w->roles);
    free(w->role_slots);
    w->roles = roles;
    w->role_slots = slots;
    w->roles_cap = max_roles;
    w->nrole_slots = nslots;
    return 0;
}

size_t writer_world_members(const writer_world *w, const char *project, const writer_role **out,
                            size_t cap) {
    if (project[0] == '\0') {
        return 0; /* no team project: an Inbox's member is the actor */
    }
    size_t lo = 0;
    if (!w->roles_unsorted) { /* the first role of project, or where it would be */
        size_t hi = w->nroles;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strncmp(w->roles[mid].key, project, UUID_STR_LEN - 1) < 0) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
    }
    size_t n = 0;
    for (size_t i = lo; i < w->nroles && n < cap; i++) {
        bool match = strncmp(w->roles[i].key, project, UUID_STR_LEN - 1) == 0;
        if (match) {
            out[n++] = &w->roles[i];
        } else if (!w->roles_unsorted && n > 0) {
            break; /* past the project's run */
        }
    }
    return n;
}

static void role_key(char key[WRITER_ROLE_KEY_LEN], const char *project, const char *user) {
    snprintf(key, WRITER_ROLE_KEY_LEN, "%.36s/%.36s", project, user);
}

static size_t *role_slot(const writer_world *w, const char *key) {
    return probe(w->role_slots, w->nrole_slots, w->roles[0].key, sizeof w->roles[0], key);
}

int writer_world_add_role(writer_world *w, const char *project, const char *user, int rank,
                          bool inbox) {
    char key[WRITER_ROLE_KEY_LEN];
    role_key(key, project, user);
    if (w->nrole_slots == 0) {
        return -1;
    }
    size_t *slot = role_slot(w, key);
    if (*slot != 0) {
        return 0;
    }
    if (w->nroles == w->roles_cap) {
        return -1;
    }
    writer_role *r = &w->roles[w->nroles];
    if (w->nroles > 0 && strcmp(w->roles[w->nroles - 1].key, key) > 0) {
        w->roles_unsorted = true;
    }
    memcpy(r->key, key, sizeof r->key);
    r->rank = rank;
    r->inbox = inbox;
    *slot = ++w->nroles;
    return 0;
}

/* user's role in project, or NULL for a non-member (or a project that does not exist). */
static const writer_role *role_of(const writer_world *w, const char *project, const char *user) {
    char key[WRITER_ROLE_KEY_LEN];
    role_key(key, project, user);
    size_t slot = w->nrole_slots != 0 ? *role_slot(w, key) : 0;
    return slot != 0 ? &w->roles[slot - 1] : NULL;
}

void writer_decision_clear(writer_decision *d) {
    json_decref(d->problem);
    memset(d, 0, sizeof *d);
}

/* ---- the rules ---- */

static int reject(writer_decision *d, int status, const char *slug, const char *title,
                  const char *detail) {
    json_decref(d->problem);
    memset(d, 0, sizeof *d);
    d->problem = problem_new(status, slug, detail, NULL);
    if (d->problem == NULL || json_object_set_new(d->problem, "title", json_string(title)) != 0) {
        return -1;
    }
    return 0;
}

static int reject_missing(writer_decision *d, const char *what, const char *id) {
    char detail[128];
    snprintf(detail, sizeof detail, "%s %s not found", what, id);
    return reject(d, 404, "not-found", "Not found", detail);
}

/* Whether user may write tasks of the project; else rejects with 403. The API refused a
 * non-member (404) before it accepted the command, so a non-member here was removed (or
 * the project deleted) in between: the issuer learns only that. role_out (may be NULL)
 * gets the role found. */
static bool may_write(const writer_world *w, const char *project, const char *user,
                      writer_decision *d, int *rc, const writer_role **role_out) {
    const writer_role *role = role_of(w, project, user);
    if (role_out != NULL) {
        *role_out = role;
    }
    char detail[192];
    if (role == NULL) {
        snprintf(detail, sizeof detail,
                 "you are not a member of project %s (any more): its tasks are not yours to "
                 "change",
                 project);
        *rc = reject(d, 403, "forbidden", "Forbidden", detail);
        return false;
    }
    if (role->rank < PROJECT_RANK_EDITOR) {
        snprintf(detail, sizeof detail,
                 "your role in project %s is viewer: changing its tasks needs editor or owner",
                 project);
        *rc = reject(d, 403, "forbidden", "Forbidden", detail);
        return false;
    }
    return true;
}

static bool is_done(const char *status) {
    return status != NULL && strcmp(status, "done") == 0;
}

/* Whether fields set member name to a value (not null); when absent, dflt. */
static bool sets_value(const json_t *fields, const char *name, bool dflt) {
    const json_t *v = json_object_get(fields, name);
    return v != NULL ? !json_is_null(v) : dflt;
}

static int reject_rule_without_due(writer_decision *d) {
    return reject(d, 422, "validation-error", "Validation failed",
                  "a recurring task needs a due date: its occurrences count from due_at "
                  "(clear recurrence too, or keep a due_at)");
}

/* Where a command leaves a task: its team project ("" for an Inbox), its owner ("" in a
 * team project), and whether the command moved it there. */
typedef struct place {
    const char *project;
    const char *owner;
    bool moved;
} place;

/* The assignee c leaves t with, checked: fields' assignee_id when present (null: nobody),
 * else t's. Who may be assigned: an editor or owner of the project the task is in after
 * c (at), of an Inbox its owner; the API checked this before the 202, a member removed or
 * demoted since gets the command rejected (422, the field named). A move checks the
 * assignee it keeps too. true with out filled, or false after rejecting (*rc). */
static bool check_assignee(const writer_world *w, const task_command *c, const place *at,
                           const writer_task_state *t, char out[UUID_STR_LEN], writer_decision *d,
                           int *rc) {
    const json_t *v = json_object_get(c->fields, "assignee_id");
    const char *who = v != NULL ? json_string_value(v) : t->assignee;
    snprintf(out, UUID_STR_LEN, "%s", who != NULL ? who : "");
    if ((v == NULL && !at->moved) || out[0] == '\0') {
        return true; /* unchanged where it is, or nobody */
    }
    const char *project = at->project, *owner = at->owner;
    const writer_role *role = project[0] != '\0' ? role_of(w, project, out) : NULL;
    bool allowed = project[0] == '\0' ? strcmp(out, owner) == 0
                                      : role != NULL && role->rank >= PROJECT_RANK_EDITOR;
    if (allowed) {
        return true;
    }
    char detail[192];
    if (project[0] == '\0') {
        snprintf(detail, sizeof detail,
                 "assignee_id: a task in an Inbox can be assigned only to its owner");
    } else {
        snprintf(detail, sizeof detail,
                 "assignee_id: user %s is not an editor or owner of project %s (any more)", out,
                 project);
    }
    *rc = reject(d, 422, "validation-error", "Validation failed", detail);
    return false;
}

/* Records in d whom an applied command newly assigned t to (the "task_assigned" mail),
 * and the assignee in t: nobody when it is the actor (one's own doing) or unchanged. */
static void note_assignment(writer_task_state *t, const char *assignee, const char *actor,
                            writer_decision *d) {
    if (assignee[0] != '\0' && strcmp(assignee, t->assignee) != 0 && strcmp(assignee, actor) != 0) {
        snprintf(d->assigned, sizeof d->assigned, "%s", assignee);
    }
    snprintf(t->assignee, sizeof t->assignee, "%s", assignee);
}

static int decide_create(const writer_world *w, const task_command *c, writer_task_state *t,
                         writer_decision *d) {
    if (t->exists) {
        char detail[128];
        snprintf(detail, sizeof detail, "task %s already exists", c->task_id);
        return reject(d, 409, "conflict", "Conflict", detail);
    }
    if (!user_exists(w, c->user_id)) {
        return reject_missing(d, "user", c->user_id);
    }
    int rc = 0;
    const writer_role *role = NULL;
    if (c->project_id[0] != '\0' && !may_write(w, c->project_id, c->user_id, d, &rc, &role)) {
        return rc;
    }
    bool team = role != NULL && !role->inbox;
    bool recurs = sets_value(c->fields, "recurrence", false);
    bool has_due = sets_value(c->fields, "due_at", false);
    if (recurs && !has_due) {
        return reject_rule_without_due(d);
    }
    char assignee[UUID_STR_LEN];
    t->assignee[0] = '\0';
    place at = {team ? c->project_id : "", team ? "" : c->user_id, false};
    if (!check_assignee(w, c, &at, t, assignee, d, &rc)) {
        return rc;
    }
    t->exists = true;
    t->has_due = has_due;
    t->recurs = recurs;
    snprintf(t->owner, sizeof t->owner, "%s", team ? "" : c->user_id);
    snprintf(t->project, sizeof t->project, "%s", team ? c->project_id : "");
    t->version = 1;
    t->done = is_done(json_string_value(json_object_get(c->fields, "status")));
    *d = (writer_decision){.applied = true,
                           .op = WRITER_ROW_INSERT,
                           .task_version = 1,
                           .event_type = TASK_EVENT_CREATED,
                           .round = t->changes++,
                           .team = team};
    memcpy(d->project, t->project, sizeof d->project);
    note_assignment(t, assignee, c->user_id, d);
    return 0;
}

/* Whether c may change t (which exists); else rejects. */
static bool may_change(const writer_world *w, const task_command *c, const writer_task_state *t,
                       writer_decision *d, int *rc) {
    if (t->project[0] == '\0') { /* an Inbox task: its owner's alone */
        if (strcmp(t->owner, c->user_id) != 0) {
            *rc = reject_missing(d, "task", c->task_id);
            return false;
        }
    } else if (!may_write(w, t->project, c->user_id, d, rc, NULL)) {
        return false;
    }
    if (strcmp(t->project, c->project_id) != 0) {
        char detail[160];
        snprintf(detail, sizeof detail,
                 "task %s moved to another project after it was read; read it again and retry",
                 c->task_id);
        *rc = reject(d, 409, "conflict", "Conflict", detail);
        return false;
    }
    return true;
}

/* The project an update moves t to (fields' project_id), for the actor: an editor or
 * owner there too (else 403, as for the task's own project: the API let only that
 * through, so the role went in between); an Inbox named is the actor's own (its only
 * member is its owner). The task's own project named is no move. true with *at set, or
 * false after rejecting (*rc). */
static bool move_target(const writer_world *w, const task_command *c, const writer_task_state *t,
                        place *at, writer_decision *d, int *rc) {
    const char *dest = json_string_value(json_object_get(c->fields, "project_id"));
    const writer_role *role = NULL;
    if (dest == NULL) {
        return true;
    }
    if (!may_write(w, dest, c->user_id, d, rc, &role)) {
        return false;
    }
    bool into_team = !role->inbox;
    at->moved = into_team ? strcmp(dest, t->project) != 0 : t->project[0] != '\0';
    at->project = into_team ? dest : "";
    at->owner = into_team ? "" : c->user_id;
    return true;
}

/* Update or delete: an existing task the user may change, at the expected version. */
static int decide_change(const writer_world *w, const task_command *c, writer_task_state *t,
                         writer_decision *d) {
    if (!t->exists) {
        return reject_missing(d, "task", c->task_id);
    }
    int rc = 0;
    if (!may_change(w, c, t, d, &rc)) {
        return rc;
    }
    if (c->expected_version >= 0 && c->expected_version != t->version) {
        char detail[128];
        snprintf(detail, sizeof detail, "expected version %lld, current version %lld",
                 c->expected_version, t->version);
        return reject(d, 412, "precondition-failed", "Precondition failed", detail);
    }
    bool has_due = sets_value(c->fields, "due_at", t->has_due);
    bool recurs = sets_value(c->fields, "recurrence", t->recurs);
    if (c->type == TASK_CMD_UPDATE && recurs && !has_due) {
        return reject_rule_without_due(d);
    }
    place at = {t->project, t->owner, false};
    if (c->type == TASK_CMD_UPDATE && !move_target(w, c, t, &at, d, &rc)) {
        return rc;
    }
    char assignee[UUID_STR_LEN];
    if (!check_assignee(w, c, &at, t, assignee, d, &rc)) {
        return rc;
    }
    bool left_inbox = at.moved && t->project[0] == '\0';
    char project[UUID_STR_LEN], owner[UUID_STR_LEN];
    snprintf(project, sizeof project, "%s", at.project); /* at may point into t */
    snprintf(owner, sizeof owner, "%s", at.owner);
    memcpy(t->project, project, sizeof project);
    memcpy(t->owner, owner, sizeof owner);
    *d = (writer_decision){.applied = true,
                           .task_version = ++t->version,
                           .round = t->changes++,
                           .team = t->project[0] != '\0',
                           .left_inbox = left_inbox};
    memcpy(d->project, t->project, sizeof d->project);
    if (c->type == TASK_CMD_DELETE) {
        t->exists = false;
        d->op = WRITER_ROW_DELETE;
        d->event_type = TASK_EVENT_DELETED;
        return 0;
    }
    const char *status = json_string_value(json_object_get(c->fields, "status"));
    bool done = status != NULL ? is_done(status) : t->done;
    d->op = WRITER_ROW_UPDATE;
    d->event_type = done && !t->done ? TASK_EVENT_COMPLETED : TASK_EVENT_UPDATED;
    t->recurs = recurs && !(done && !t->done); /* a completion hands the rule on */
    t->has_due = has_due;
    t->done = done;
    note_assignment(t, assignee, c->user_id, d);
    return 0;
}

int writer_decide(writer_world *w, const task_command *const *cmds, size_t n,
                  writer_decision *out) {
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
    }
    for (size_t i = 0; i < n; i++) {
        const task_command *c = cmds[i];
        writer_task_state *t = task_of(w, c->task_id);
        int rc = t == NULL                    ? -1
                 : c->type == TASK_CMD_CREATE ? decide_create(w, c, t, &out[i])
                                              : decide_change(w, c, t, &out[i]);
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}
