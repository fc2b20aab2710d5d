/*
 * test_writer_decide.c: the writer's rules (workers/writer/writer_decide.c), without a database.
 *
 * Covers: create (applied, 409 for an existing id, 404 for a missing owner), update and
 * delete (404 for a missing task and for another user's, 412 on a stale expected_version,
 * versions +1, completed only on entering done, a delete's tombstone version), batches
 * that mix users, repeat ids (create, update, delete and create again in one batch, with
 * their statement rounds), conflicts between two commands of one batch, rejections that
 * change nothing, a world too small for the batch, and the recurrence rules (a rule needs a
 * due_at, whichever command would leave it without one; a completion hands the rule on),
 * and team projects (a create into one needs editor rights, 404 for a non-member, 403 for
 * a viewer, 403 too for one no longer a member; a change of a team task likewise, and 409 when the
 * command's project is not the task's; team decisions are marked so the effects cache nothing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workers/writer/writer_decide.h"

#define ALICE "0190f5a0-0000-7000-8000-0000000000a1"
#define BOB "0190f5a0-0000-7000-8000-0000000000b2"
#define GHOST "0190f5a0-0000-7000-8000-0000000000f0"
#define T1 "0190f5a0-0000-7000-8000-000000000001"
#define T2 "0190f5a0-0000-7000-8000-000000000002"
#define T3 "0190f5a0-0000-7000-8000-000000000003"
#define T4 "0190f5a0-0000-7000-8000-000000000004"
#define TEAM "0190f5a0-0000-7000-8000-0000000000c1"
#define INBOX_A "0190f5a0-0000-7000-8000-0000000000c2"

#define MAX_CMDS 16

/* A batch under construction: commands, and pointers to them as writer_decide takes. */
typedef struct fixture {
    task_command cmds[MAX_CMDS];
    const task_command *ptrs[MAX_CMDS];
    writer_decision out[MAX_CMDS];
    size_t n;
    writer_world world;
} fixture;

static void add(fixture *f, task_command_type type, const char *user, const char *task,
                long long expected, json_t *fields) {
    task_command *c = &f->cmds[f->n];
    memset(c, 0, sizeof *c);
    c->type = type;
    snprintf(c->command_id, sizeof c->command_id, "0190f5a0-0000-7000-8000-%012zu", f->n);
    snprintf(c->user_id, sizeof c->user_id, "%s", user);
    snprintf(c->task_id, sizeof c->task_id, "%s", task);
    c->expected_version = expected;
    c->fields = fields;
    f->ptrs[f->n] = c;
    f->n++;
}

static void create(fixture *f, const char *user, const char *task, const char *status) {
    add(f, TASK_CMD_CREATE, user, task, -1,
        json_pack("{s:s,s:s}", "title", "a task", "status", status));
}

static void update(fixture *f, const char *user, const char *task, long long expected,
                   const char *status) {
    add(f, TASK_CMD_UPDATE, user, task, expected,
        status != NULL ? json_pack("{s:s}", "status", status) : json_pack("{s:s}", "title", "x"));
}

static void delete (fixture *f, const char *user, const char *task, long long expected) {
    add(f, TASK_CMD_DELETE, user, task, expected, NULL);
}

/* An existing task (no due date, no recurrence). */
static int add_existing(fixture *f, const char *id, const char *owner, long long version,
                        bool is_done) {
    writer_task_row row = {.id = id, .owner = owner, .version = version, .done = is_done};
    return writer_world_add_task(&f->world, &row);
}

static fixture *fresh(void) {
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(writer_world_init(&f->world, MAX_CMDS, MAX_CMDS, MAX_CMDS), 0);
    assert_int_equal(writer_world_add_user(&f->world, ALICE), 0);
    assert_int_equal(writer_world_add_user(&f->world, BOB), 0);
    return f;
}

static void decide(fixture *f) {
    assert_int_equal(writer_decide(&f->world, f->ptrs, f->n, f->out), 0);
}

static void done(fixture *f) {
    for (size_t i = 0; i < f->n; i++) {
        writer_decision_clear(&f->out[i]);
        task_command_clear(&f->cmds[i]);
    }
    writer_world_free(&f->world);
    free(f);
}

static void assert_applied(const writer_decision *d, writer_row_op op, long long version,
                           const char *event_type, unsigned round) {
    assert_true(d->applied);
    assert_int_equal(d->op, op);
    assert_int_equal(d->task_version, version);
    assert_string_equal(d->event_type, event_type);
    assert_int_equal(d->round, round);
    assert_null(d->problem);
}

static void assert_rejected(const writer_decision *d, int status, const char *type,
                            const char *detail) {
    assert_false(d->applied);
    assert_int_equal(d->op, WRITER_ROW_NONE);
    assert_non_null(d->problem);
    assert_int_equal(json_integer_value(json_object_get(d->problem, "status")), status);
    assert_string_equal(json_string_value(json_object_get(d->problem, "type")), type);
    assert_non_null(json_string_value(json_object_get(d->problem, "title")));
    assert_string_equal(json_string_value(json_object_get(d->problem, "detail")), detail);
}

static void set_project(fixture *f, const char *project) {
    snprintf(f->cmds[f->n - 1].project_id, UUID_STR_LEN, "%s", project);
}

static void test_team_rules(void **state) {
    (void)state;
    fixture *f = fresh();
    assert_int_equal(writer_world_add_role(&f->world, TEAM, ALICE, 2, false), 0); /* editor */
    assert_int_equal(writer_world_add_role(&f->world, TEAM, BOB, 1, false), 0);   /* viewer */
    assert_int_equal(writer_world_add_role(&f->world, INBOX_A, ALICE, 3, true), 0);
    writer_task_row team_task = {.id = T2, .owner = "", .project = TEAM, .version = 3};
    assert_int_equal(writer_world_add_task(&f->world, &team_task), 0);
    create(f, ALICE, T1, "todo");
    set_project(f, TEAM); /* 0: an editor creates in the team project */
    create(f, BOB, T3, "todo");
    set_project(f, TEAM); /* 1: a viewer may not */
    create(f, GHOST, T3, "todo");
    create(f, BOB, T3, "todo");
    set_project(f, INBOX_A);       /* 3: Bob is no member of Alice's Inbox */
    update(f, ALICE, T2, 3, NULL); /* 4: an editor changes the team task */
    set_project(f, TEAM);
    update(f, BOB, T2, -1, NULL); /* 5: a viewer changes it */
    set_project(f, TEAM);
    update(f, ALICE, T2, -1, NULL); /* 6: a stale key: no project named */
    delete (f, GHOST, T2, -1);      /* 7: no member */
    set_project(f, TEAM);
    create(f, ALICE, T4, "todo");
    set_project(f, INBOX_A); /* 8: her own Inbox, named */
    decide(f);
    assert_applied(&f->out[0], WRITER_ROW_INSERT, 1, "taskbus.task.created", 0);
    assert_true(f->out[0].team);
    assert_rejected(&f->out[1], 403, "/problems/forbidden",
                    "your role in project " TEAM " is viewer: changing its tasks needs editor "
                    "or owner");
    assert_rejected(&f->out[2], 404, "/problems/not-found", "user " GHOST " not found");
    assert_rejected(&f->out[3], 403, "/problems/forbidden",
                    "you are not a member of project " INBOX_A
                    " (any more): its tasks are not yours to change");
    assert_applied(&f->out[4], WRITER_ROW_UPDATE, 4, "taskbus.task.updated", 0);
    assert_true(f->out[4].team);
    assert_rejected(&f->out[5], 403, "/problems/forbidden",
                    "your role in project " TEAM " is viewer: changing its tasks needs editor "
                    "or owner");
    assert_rejected(&f->out[6], 409, "/problems/conflict",
                    "task " T2 " moved to another project after it was read; read it again "
                    "and retry");
    assert_rejected(&f->out[7], 403, "/problems/forbidden",
                    "you are not a member of project " TEAM
                    " (any more): its tasks are not yours to change");
    assert_applied(&f->out[8], WRITER_ROW_INSERT, 1, "taskbus.task.created", 0);
    assert_false(f->out[8].team);
    const writer_task_state *t1 = writer_world_find(&f->world, T1);
    assert_string_equal(t1->owner, "");
    assert_string_equal(t1->project, TEAM);
    assert_string_equal(writer_world_find(&f->world, T4)->owner, ALICE);
    done(f);
}

/* The members of a project, found by binary search when the roles came in key order, and
 * by a scan when they did not. */
static void test_members_of_a_project(void **state) {
    (void)state;
    static const char *const KEYS[][2] = {
        {T1, BOB}, {TEAM, ALICE}, {TEAM, BOB}, {TEAM, GHOST}, {INBOX_A, ALICE}}; /* key order */
    for (int sorted = 1; sorted >= 0; sorted--) {
        writer_world w;
        assert_int_equal(writer_world_init(&w, 1, 1, 8), 0);
        for (int i = 0; i < 5; i++) {
            int k = sorted ? i : 4 - i;
            assert_int_equal(writer_world_add_role(&w, KEYS[k][0], KEYS[k][1], 2, false), 0);
        }
        assert_int_equal(w.roles_unsorted, !sorted);
        const writer_role *found[8];
        assert_int_equal(writer_world_members(&w, TEAM, found, 8), 3);
        for (int i = 0; i < 3; i++) {
            assert_memory_equal(found[i]->key, TEAM, UUID_STR_LEN - 1);
        }
        assert_int_equal(writer_world_members(&w, INBOX_A, found, 8), 1);
        assert_string_equal(found[0]->key + UUID_STR_LEN, ALICE);
        assert_int_equal(writer_world_members(&w, T2, found, 8), 0);
        writer_world_free(&w);
    }
}

static void test_create_rules(void **state) {
    (void)state;
    fixture *f = fresh();
    assert_int_equal(add_existing(f, T2, BOB, 4, false), 0);
    create(f, ALICE, T1, "todo");
    create(f, ALICE, T2, "todo"); /* Bob's id: exists */
    create(f, GHOST, T3, "todo"); /* no such user */
    create(f, BOB, T3, "done");   /* the ghost's create changed nothing */
    decide(f);
    assert_applied(&f->out[0], WRITER_ROW_INSERT, 1, "taskbus.task.created", 0);
    assert_rejected(&f->out[1], 409, "/problems/conflict", "task " T2 " already exists");
    assert_rejected(&f->out[2], 404, "/problems/not-found", "user " GHOST " not found");
    assert_applied(&f->out[3], WRITER_ROW_INSERT, 1, "taskbus.task.created", 0);
    const writer_task_state *t3 = writer_world_find(&f->world, T3);
    assert_non_null(t3);
    assert_true(t3->exists && t3->done);
    assert_string_equal(t3->owner, BOB);
    done(f);
}

static void test_change_rules(void **state) {
    (void)state;
    fixture *f = fresh();
    assert_int_equal(add_existing(f, T1, ALICE, 3, false), 0);
    assert_int_equal(add_existing(f, T2, BOB, 7, true), 0);
    update(f, BOB, T1, -1, NULL);     /* Alice's task: not found for Bob */
    update(f, ALICE, T3, -1, NULL);   /* no such task */
    update(f, ALICE, T1, 2, NULL);    /* stale */
    update(f, ALICE, T1, 3, "done");  /* completes, 4 */
    update(f, ALICE, T1, -1, "done"); /* done again: an update, 5 */
    delete (f, BOB, T2, 6);           /* stale delete */
    delete (f, BOB, T2, 7);           /* tombstone 8 */
    update(f, BOB, T2, -1, "todo");   /* deleted: not found */
    decide(f);
    assert_rejected(&f->out[0], 404, "/problems/not-found", "task " T1 " not found");
    assert_rejected(&f->out[1], 404, "/problems/not-found", "task " T3 " not found");
    assert_rejected(&f->out[2], 412, "/problems/precondition-failed",
                    "expected version 2, current version 3");
    assert_applied(&f->out[3], WRITER_ROW_UPDATE, 4, "taskbus.task.completed", 0);
    assert_applied(&f->out[4], WRITER_ROW_UPDATE, 5, "taskbus.task.updated", 1);
    assert_rejected(&f->out[5], 412, "/problems/precondition-failed",
                    "expected version 6, current version 7");
    assert_applied(&f->out[6], WRITER_ROW_DELETE, 8, "taskbus.task.deleted", 0);
    assert_rejected(&f->out[7], 404, "/problems/not-found", "task " T2 " not found");
    done(f);
}

/* One task's whole life in one batch, between other users' commands. */
static void test_repeated_ids_take_rounds(void **state) {
    (void)state;
    fixture *f = fresh();
    create(f, ALICE, T1, "todo");
    create(f, BOB, T2, "todo");
    update(f, ALICE, T1, 1, "in_progress");
    update(f, BOB, T2, 1, NULL);
    update(f, ALICE, T1, 1, NULL); /* lost the race with the first update: 412 */
    delete (f, ALICE, T1, 2);
    create(f, BOB, T1, "done");     /* the id is free again, and Bob may take it */
    update(f, ALICE, T1, -1, NULL); /* Bob's now */
    decide(f);
    assert_applied(&f->out[0], WRITER_ROW_INSERT, 1, "taskbus.task.created", 0);
    assert_applied(&f->out[1], WRITER_ROW_INSERT, 1, "taskbus.task.created", 0);
    assert_applied(&f->out[2], WRITER_ROW_UPDATE, 2, "taskbus.task.updated", 1);
    assert_applied(&f->out[3], WRITER_ROW_UPDATE, 2, "taskbus.task.updated", 1);
    assert_rejected(&f->out[4], 412, "/problems/precondition-failed",
                    "expected version 1, current version 2");
    assert_applied(&f->out[5], WRITER_ROW_DELETE, 3, "taskbus.task.deleted", 2);
    assert_applied(&f->out[6], WRITER_ROW_INSERT, 1, "taskbus.task.created", 3);
    assert_rejected(&f->out[7], 404, "/problems/not-found", "task " T1 " not found");
    done(f);
}

/* The world a batch is decided against is sized up front; a batch naming more tasks than
 * it holds is refused, not overrun. */
static void test_world_too_small(void **state) {
    (void)state;
    fixture *f = fresh();
    writer_world_free(&f->world);
    assert_int_equal(writer_world_init(&f->world, 1, 1, 1), 0);
    assert_int_equal(writer_world_add_user(&f->world, ALICE), 0);
    assert_int_equal(writer_world_add_user(&f->world, ALICE), 0); /* a repeat: ignored */
    assert_int_equal(writer_world_add_user(&f->world, BOB), -1);
    create(f, ALICE, T1, "todo");
    create(f, ALICE, T2, "todo");
    assert_int_equal(writer_decide(&f->world, f->ptrs, f->n, f->out), -1);
    assert_int_equal(add_existing(f, T1, ALICE, 1, false), -1); /* a repeat */
    done(f);
}

#define RULE "{\"rule\":\"FREQ=WEEKLY\",\"time_zone\":\"Europe/Berlin\"}"
#define NEEDS_DUE                                                                                  \
    "a recurring task needs a due date: its occurrences count from due_at (clear recurrence "      \
    "too, or keep a due_at)"

static json_t *fields_of(const char *text) {
    json_error_t err;
    json_t *o = json_loads(text, 0, &err);
    assert_non_null(o);
    return o;
}

static void test_recurrence_needs_due(void **state) {
    (void)state;
    fixture *f = fresh();
    writer_task_row recurring = {
        .id = T3, .owner = ALICE, .version = 2, .has_due = true, .recurs = true};
    assert_int_equal(writer_world_add_task(&f->world, &recurring), 0);
    add(f, TASK_CMD_CREATE, ALICE, T1, -1,
        fields_of("{\"title\":\"t\",\"due_at\":null,\"recurrence\":" RULE "}"));
    add(f, TASK_CMD_CREATE, ALICE, T2, -1,
        fields_of("{\"title\":\"t\",\"due_at\":\"2030-01-07T08:00:00.000Z\",\"recurrence\":" RULE
                  "}"));
    add(f, TASK_CMD_UPDATE, ALICE, T2, -1, fields_of("{\"due_at\":null}")); /* T2 recurs */
    add(f, TASK_CMD_UPDATE, ALICE, T3, -1, fields_of("{\"due_at\":null}")); /* stored rule */
    add(f, TASK_CMD_UPDATE, ALICE, T3, -1, fields_of("{\"due_at\":null,\"recurrence\":null}"));
    add(f, TASK_CMD_UPDATE, ALICE, T3, -1, fields_of("{\"recurrence\":" RULE "}")); /* no due */
    decide(f);
    assert_rejected(&f->out[0], 422, "/problems/validation-error", NEEDS_DUE);
    assert_applied(&f->out[1], WRITER_ROW_INSERT, 1, "taskbus.task.created", 0);
    assert_rejected(&f->out[2], 422, "/problems/validation-error", NEEDS_DUE);
    assert_rejected(&f->out[3], 422, "/problems/validation-error", NEEDS_DUE);
    assert_applied(&f->out[4], WRITER_ROW_UPDATE, 3, "taskbus.task.updated", 0);
    assert_rejected(&f->out[5], 422, "/problems/validation-error", NEEDS_DUE);
    const writer_task_state *t1 = writer_world_find(&f->world, T1);
    assert_false(t1->exists); /* the rejection changed nothing */
    done(f);
}

static void test_completion_hands_the_rule_on(void **state) {
    (void)state;
    fixture *f = fresh();
    writer_task_row recurring = {
        .id = T1, .owner = ALICE, .version = 5, .has_due = true, .recurs = true};
    assert_int_equal(writer_world_add_task(&f->world, &recurring), 0);
    update(f, ALICE, T1, -1, "done");
    add(f, TASK_CMD_UPDATE, ALICE, T1, -1, fields_of("{\"status\":\"todo\",\"due_at\":null}"));
    decide(f);
    assert_applied(&f->out[0], WRITER_ROW_UPDATE, 6, "taskbus.task.completed", 0);
    /* the completed task has no rule left, so its due date may go */
    assert_applied(&f->out[1], WRITER_ROW_UPDATE, 7, "taskbus.task.updated", 1);
    const writer_task_state *t1 = writer_world_find(&f->world, T1);
    assert_false(t1->recurs);
    assert_false(t1->has_due);
    done(f);
}

#define CAROL "0190f5a0-0000-7000-8000-0000000000c3"
#define ASSIGN(user) "{\"assignee_id\":\"" user "\"}"
#define CREATE_FOR(user) "{\"title\":\"t\",\"assignee_id\":\"" user "\"}"
#define NOT_ASSIGNABLE(user)                                                                       \
    "assignee_id: user " user " is not an editor or owner of project " TEAM " (any more)"
#define INBOX_ONLY_OWNER "assignee_id: a task in an Inbox can be assigned only to its owner"

/* Who may be assigned (an editor or owner of a team project, an Inbox's owner), checked
 * at apply; whom an applied command newly assigned (never the actor, never unchanged). */
static void test_assignees(void **state) {
    (void)state;
    fixture *f = fresh();
    assert_int_equal(writer_world_add_role(&f->world, TEAM, ALICE, 3, false), 0); /* owner */
    assert_int_equal(writer_world_add_role(&f->world, TEAM, BOB, 2, false), 0);   /* editor */
    assert_int_equal(writer_world_add_role(&f->world, TEAM, CAROL, 1, false), 0); /* viewer */
    writer_task_row team_task = {
        .id = T2, .owner = "", .project = TEAM, .version = 1, .assignee = BOB};
    assert_int_equal(writer_world_add_task(&f->world, &team_task), 0);
    assert_int_equal(add_existing(f, T3, ALICE, 1, false), 0);
    add(f, TASK_CMD_CREATE, ALICE, T1, -1, fields_of(CREATE_FOR(BOB)));
    set_project(f, TEAM); /* 0: to an editor: Bob is mailed */
    add(f, TASK_CMD_UPDATE, ALICE, T1, -1, fields_of(ASSIGN(CAROL)));
    set_project(f, TEAM); /* 1: to a viewer */
    add(f, TASK_CMD_UPDATE, ALICE, T1, -1, fields_of(ASSIGN(GHOST)));
    set_project(f, TEAM); /* 2: to a non-member */
    add(f, TASK_CMD_UPDATE, BOB, T1, -1, fields_of(ASSIGN(BOB)));
    set_project(f, TEAM); /* 3: unchanged (Bob already): nobody mailed */
    add(f, TASK_CMD_UPDATE, BOB, T1, -1, fields_of(ASSIGN(ALICE)));
    set_project(f, TEAM); /* 4: to the owner, by Bob: Alice is mailed */
    add(f, TASK_CMD_UPDATE, BOB, T2, -1, fields_of("{\"assignee_id\":null}"));
    set_project(f, TEAM); /* 5: unassigned */
    add(f, TASK_CMD_UPDATE, BOB, T2, -1, fields_of(ASSIGN(BOB)));
    set_project(f, TEAM); /* 6: to oneself: nobody mailed */
    add(f, TASK_CMD_UPDATE, ALICE, T3, -1, fields_of(ASSIGN(ALICE)));   /* 7: Inbox, its owner */
    add(f, TASK_CMD_UPDATE, ALICE, T3, -1, fields_of(ASSIGN(BOB)));     /* 8: Inbox, another */
    add(f, TASK_CMD_CREATE, ALICE, T4, -1, fields_of(CREATE_FOR(BOB))); /* 9: the same, created */
    decide(f);
    assert_applied(&f->out[0], WRITER_ROW_INSERT, 1, "taskbus.task.created", 0);
    assert_string_equal(f->out[0].assigned, BOB);
    assert_rejected(&f->out[1], 422, "/problems/validation-error", NOT_ASSIGNABLE(CAROL));
    assert_rejected(&f->out[2], 422, "/problems/validation-error", NOT_ASSIGNABLE(GHOST));
    assert_applied(&f->out[3], WRITER_ROW_UPDATE, 2, "taskbus.task.updated", 1);
    assert_string_equal(f->out[3].assigned, "");
    assert_applied(&f->out[4], WRITER_ROW_UPDATE, 3, "taskbus.task.updated", 2);
    assert_string_equal(f->out[4].assigned, ALICE);
    assert_string_equal(writer_world_find(&f->world, T1)->assignee, ALICE);
    assert_applied(&f->out[5], WRITER_ROW_UPDATE, 2, "taskbus.task.updated", 0);
    assert_applied(&f->out[6], WRITER_ROW_UPDATE, 3, "taskbus.task.updated", 1);
    assert_string_equal(f->out[6].assigned, "");
    assert_applied(&f->out[7], WRITER_ROW_UPDATE, 2, "taskbus.task.updated", 0);
    assert_string_equal(f->out[7].assigned, "");
    assert_rejected(&f->out[8], 422, "/problems/validation-error", INBOX_ONLY_OWNER);
    assert_rejected(&f->out[9], 422, "/problems/validation-error", INBOX_ONLY_OWNER);
    assert_string_equal(writer_world_find(&f->world, T3)->assignee, ALICE);
    assert_false(writer_world_find(&f->world, T4)->exists);
    done(f);
}

/* A team task whose assignee was removed since keeps them until changed: a change that
 * leaves the assignee alone is applied, one that names them again is not. */
static void test_removed_assignee_kept_until_named(void **state) {
    (void)state;
    fixture *f = fresh();
    assert_int_equal(writer_world_add_role(&f->world, TEAM, ALICE, 3, false), 0);
    writer_task_row team_task = {
        .id = T1, .owner = "", .project = TEAM, .version = 4, .assignee = BOB};
    assert_int_equal(writer_world_add_task(&f->world, &team_task), 0);
    update(f, ALICE, T1, -1, NULL);
    set_project(f, TEAM);
    add(f, TASK_CMD_UPDATE, ALICE, T1, -1, fields_of(ASSIGN(BOB)));
    set_project(f, TEAM);
    decide(f);
    assert_applied(&f->out[0], WRITER_ROW_UPDATE, 5, "taskbus.task.updated", 0);
    assert_string_equal(f->out[0].assigned, "");
    assert_rejected(&f->out[1], 422, "/problems/validation-error", NOT_ASSIGNABLE(BOB));
    done(f);
}

#define TEAM2 "0190f5a0-0000-7000-8000-0000000000c4"
#define MOVE_TO(project) "{\"project_id\":\"" project "\"}"

/* A move needs editor or owner on both sides (an Inbox named: the actor's own), keeps
 * only an assignee allowed where it goes, and says where the task went. */
static void test_moves(void **state) {
    (void)state;
    fixture *f = fresh();
    assert_int_equal(writer_world_add_role(&f->world, TEAM, ALICE, 3, false), 0);
    assert_int_equal(writer_world_add_role(&f->world, TEAM, BOB, 2, false), 0);
    assert_int_equal(writer_world_add_role(&f->world, TEAM2, ALICE, 1, false), 0); /* viewer */
    assert_int_equal(writer_world_add_role(&f->world, INBOX_A, ALICE, 3, true), 0);
    assert_int_equal(add_existing(f, T1, ALICE, 1, false), 0);
    writer_task_row assigned = {
        .id = T2, .owner = "", .project = TEAM, .version = 1, .assignee = BOB};
    assert_int_equal(writer_world_add_task(&f->world, &assigned), 0);
    add(f, TASK_CMD_UPDATE, ALICE, T1, -1, fields_of(MOVE_TO(TEAM))); /* 0: Inbox to team */
    update(f, ALICE, T1, -1, NULL);                                   /* 1: keyed by the Inbox */
    add(f, TASK_CMD_UPDATE, ALICE, T1, -1, fields_of(MOVE_TO(TEAM2)));
    set_project(f, TEAM); /* 2: a viewer there */
    add(f, TASK_CMD_UPDATE, BOB, T1, -1, fields_of(MOVE_TO(INBOX_A)));
    set_project(f, TEAM); /* 3: someone else's Inbox */
    add(f, TASK_CMD_UPDATE, ALICE, T1, -1, fields_of(MOVE_TO(INBOX_A)));
    set_project(f, TEAM);                                                /* 4: back to her Inbox */
    add(f, TASK_CMD_UPDATE, ALICE, T1, -1, fields_of(MOVE_TO(INBOX_A))); /* 5: no move */
    add(f, TASK_CMD_UPDATE, ALICE, T2, -1, fields_of(MOVE_TO(INBOX_A)));
    set_project(f, TEAM); /* 6: Bob, assigned, cannot follow it into her Inbox */
    add(f, TASK_CMD_UPDATE, ALICE, T2, -1,
        fields_of("{\"project_id\":\"" INBOX_A "\",\"assignee_id\":null}"));
    set_project(f, TEAM); /* 7: unassigned, it can */
    decide(f);
    assert_applied(&f->out[0], WRITER_ROW_UPDATE, 2, "taskbus.task.updated", 0);
    assert_true(f->out[0].team && f->out[0].left_inbox);
    assert_string_equal(f->out[0].project, TEAM);
    assert_rejected(&f->out[1], 409, "/problems/conflict",
                    "task " T1 " moved to another project after it was read; read it again "
                    "and retry");
    assert_rejected(&f->out[2], 403, "/problems/forbidden",
                    "your role in project " TEAM2 " is viewer: changing its tasks needs editor "
                    "or owner");
    assert_rejected(&f->out[3], 403, "/problems/forbidden",
                    "you are not a member of project " INBOX_A
                    " (any more): its tasks are not yours to change");
    assert_applied(&f->out[4], WRITER_ROW_UPDATE, 3, "taskbus.task.updated", 1);
    assert_false(f->out[4].team || f->out[4].left_inbox);
    assert_string_equal(f->out[4].project, "");
    assert_applied(&f->out[5], WRITER_ROW_UPDATE, 4, "taskbus.task.updated", 2);
    assert_false(f->out[5].left_inbox);
    const writer_task_state *t1 = writer_world_find(&f->world, T1);
    assert_string_equal(t1->owner, ALICE);
    assert_string_equal(t1->project, "");
    assert_rejected(&f->out[6], 422, "/problems/validation-error", INBOX_ONLY_OWNER);
    assert_applied(&f->out[7], WRITER_ROW_UPDATE, 2, "taskbus.task.updated", 0);
    const writer_task_state *t2 = writer_world_find(&f->world, T2);
    assert_string_equal(t2->owner, ALICE);
    assert_string_equal(t2->assignee, "");
    done(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assignees),
        cmocka_unit_test(test_moves),
        cmocka_unit_test(test_removed_assignee_kept_until_named),
        cmocka_unit_test(test_create_rules),
        cmocka_unit_test(test_change_rules),
        cmocka_unit_test(test_team_rules),
        cmocka_unit_test(test_members_of_a_project),
        cmocka_unit_test(test_repeated_ids_take_rounds),
        cmocka_unit_test(test_world_too_small),
        cmocka_unit_test(test_recurrence_needs_due),
        cmocka_unit_test(test_completion_hands_the_rule_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
