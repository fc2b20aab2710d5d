/*
 * writer_decide.h: what each task command of a batch does, decided once.
 *
 * Owns: the writer's rules, and only them: no Postgres, no Redis, no Kafka. The executor
 * (writer_execute.h) loads the world a batch sees (its tasks as they are before the
 * batch, locked, and which creating users exist), this module plays the batch over it in
 * order, and the executor carries out what was decided. Rules (docs/decisions.md, "Tasks",
 * Rejections):
 * - create: an id that exists → 409 conflict; an owner that does not exist → 404; else
 *   applied at version 1.
 * - update, delete: a task that does not exist, or is another user's → 404 (another
 *   user's task is "not found", never an oracle); expected_version sent and not the
 *   current version → 412; else applied at version + 1 (a delete's tombstone is the last
 *   version + 1, so a set-if-newer cache always takes it).
 * - recurrence (docs/decisions.md, "Recurring tasks"): a create or update that would leave
 *   a task with a recurrence and no due_at → 422 validation-error (the rule counts from
 *   due_at; the API refuses what it can see, this catches a patch that clears the stored
 *   task's due_at). An update that moves a recurring task into done hands its rule on:
 *   the task keeps none (the executor inserts the next occurrence with it).
 * - event types: created, updated, completed (an update that moves status into done),
 *   deleted. A rejected command changes nothing; later commands see every earlier applied
 *   command of the batch.
 * - Rounds: an applied command's round counts the earlier applied commands of the batch
 *   on the same task, so within one round each task appears once and the executor can
 *   run a round as one statement per kind; rounds run in order.
 */
#ifndef TASKBUS_WORKERS_WRITER_WRITER_DECIDE_H
#define TASKBUS_WORKERS_WRITER_WRITER_DECIDE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "shared/task_command_codec.h"
#include "shared/uuid7.h"

/* What to do with the tasks row of an applied command. */
typedef enum {
    WRITER_ROW_NONE, /* rejected: nothing */
    WRITER_ROW_INSERT,
    WRITER_ROW_UPDATE,
    WRITER_ROW_DELETE,
} writer_row_op;

typedef struct writer_decision {
    bool applied;
    writer_row_op op;
    long long task_version; /* applied: the new version (delete: the tombstone's) */
    const char *event_type; /* applied: taskbus.task.*; static */
    json_t *problem;        /* rejected: {type, title, status, detail}; owned */
    unsigned round;         /* applied: how many earlier applied commands of the batch
                             * changed the same task (the executor's statement round) */
} writer_decision;

/* A task as the batch sees it while it is played. */
typedef struct writer_task_state {
    char id[UUID_STR_LEN];
    bool exists;
    char owner[UUID_STR_LEN];
    long long version;
    bool done;
    bool has_due;     /* due_at is not null */
    bool recurs;      /* recurrence is not null */
    unsigned changes; /* applied commands of the batch that changed it so far */
} writer_task_state;

/* The tasks and the existing users one batch is decided against, each hashed by id. */
typedef struct writer_world {
    writer_task_state *tasks;
    size_t ntasks;
    size_t tasks_cap;
    size_t *slots; /* open addressing: index + 1 into tasks, 0 = empty */
    size_t nslots; /* a power of two, at least twice tasks_cap */
    char (*users)[UUID_STR_LEN];
    size_t nusers;
    size_t users_cap;
    size_t *user_slots; /* the same, into users */
    size_t nuser_slots;
} writer_world;

/* A world for a batch naming at most max_tasks distinct tasks and max_users creating
 * users. 0, or -1 (out of memory; the world is then empty and may be freed). */
int writer_world_init(writer_world *w, size_t max_tasks, size_t max_users);
void writer_world_free(writer_world *w);
/* An existing task as the load read it. */
typedef struct writer_task_row {
    const char *id;
    const char *owner;
    long long version;
    bool done;
    bool has_due;
    bool recurs;
} writer_task_row;

/* Records an existing task as it is before the batch. 0, or -1 (full or a repeat). */
int writer_world_add_task(writer_world *w, const writer_task_row *row);
/* The task named id, or NULL when the world has not seen it. */
const writer_task_state *writer_world_find(const writer_world *w, const char *id);
/* Records an existing user (a repeat is ignored). 0, or -1 (full). */
int writer_world_add_user(writer_world *w, const char *id);

/* Decides cmds[0..n) in order against w (which it updates as it plays them); out[i] is
 * cmds[i]'s decision. The world must hold room for every task cmds name. 0, or -1 (out
 * of memory). Call writer_decision_clear on each out[i] either way. */
int writer_decide(writer_world *w, const task_command *const *cmds, size_t n, writer_decision *out);
void writer_decision_clear(writer_decision *d);

#endif
