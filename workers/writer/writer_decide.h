/*
 * writer_decide.h: what each task command of a batch does, decided once.
 *
 * Owns: the writer's rules, and only them: no Postgres, no Redis, no Kafka. The executor
 * (writer_execute.h) loads the world a batch sees (its tasks as they are before the
 * batch, locked, and which creating users exist), this module plays the batch over it in
 * order, and the executor carries out what was decided. Rules (docs/decisions.md, "Tasks",
 * Rejections):
 * - create: an id that exists → 409 conflict; an owner that does not exist → 404; a
 *   project named whose member the user is not (any more) → 403, a viewer → 403; else
 *   applied at version 1, in the project named (team), or the user's Inbox.
 * - update, delete: a task that does not exist, or is in another user's Inbox → 404
 *   (never an oracle); a task in a team project the user is not a member of (any more:
 *   the API let only members through) or only a viewer of → 403; a command whose project_id (its
 * Kafka key) is not the task's project → 409 (the task moved: a stale key would break per-task
 * order); expected_version sent and not the current version → 412; else applied at version + 1 (a
 * delete's tombstone is the last version + 1, so a set-if-newer cache always takes it).
 * - Roles are those the executor read under the project's FOR SHARE lock, so a member
 *   removed or demoted between the API's 202 and the apply is refused here.
 * - recurrence (docs/decisions.md, "Recurring tasks"): a create or update that would leave
 *   a task with a recurrence and no due_at → 422 validation-error (the rule counts from
 *   due_at; the API refuses what it can see, this catches a patch that clears the stored
 *   task's due_at). An update that moves a recurring task into done hands its rule on:
 *   the task keeps none (the executor inserts the next occurrence with it).
 * - a move (an update whose patch has project_id; docs/decisions.md, "Moving tasks
 *   (slice 5)"): the actor needs editor or owner in the project it leaves and in the one
 *   it goes to (else 403; an Inbox named must be the actor's own: its only member); the
 *   assignee the task keeps must be allowed there (else 422). Naming the task's own
 *   project is no move.
 * - assignee_id (docs/decisions.md, "Assignees (slice 4)"): a command that assigns the
 *   task to someone who is not (any more) an editor or owner of its project (of an Inbox:
 *   its owner) → 422 validation-error; an applied one that assigns it to someone new
 *   other than the actor names them in the decision (the executor mails them once).
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
    long long task_version;      /* applied: the new version (delete: the tombstone's) */
    const char *event_type;      /* applied: taskbus.task.*; static */
    json_t *problem;             /* rejected: {type, title, status, detail}; owned */
    unsigned round;              /* applied: how many earlier applied commands of the batch
                                  * changed the same task (the executor's statement round) */
    bool team;                   /* applied: the task is in a team project (never cached) */
    char assigned[UUID_STR_LEN]; /* applied: whom it newly assigned the task to (someone
                                  * other than the actor: the "task_assigned" mail), or "" */
    char project[UUID_STR_LEN];  /* applied: the team project the task is in after it, or
                                  * "" for an Inbox */
    bool left_inbox;             /* applied: a move took it out of its owner's Inbox */
} writer_decision;

/* A task as the batch sees it while it is played. */
typedef struct writer_task_state {
    char id[UUID_STR_LEN];
    bool exists;
    char owner[UUID_STR_LEN];   /* "" for a task in a team project */
    char project[UUID_STR_LEN]; /* a team project's id; "" for an Inbox task */
    long long version;
    bool done;
    bool has_due;                /* due_at is not null */
    bool recurs;                 /* recurrence is not null */
    char assignee[UUID_STR_LEN]; /* "" when nobody */
    unsigned changes;            /* applied commands of the batch that changed it so far */
} writer_task_state;

/* A user's role in a project: its rank (shared/project_roles.h). */
#define WRITER_ROLE_KEY_LEN (2 * UUID_STR_LEN)
typedef struct writer_role {
    char key[WRITER_ROLE_KEY_LEN]; /* "<project>/<user>" */
    int rank;
    bool inbox; /* the project is an Inbox (a create may name its user's own) */
} writer_role;

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
    writer_role *roles; /* every membership of the team projects the batch touches */
    size_t nroles;
    size_t roles_cap;
    size_t *role_slots; /* the same, into roles, by "<project>/<user>" */
    size_t nrole_slots;
    bool roles_unsorted; /* a role was added before one with a smaller key */
} writer_world;

/* A world for a batch naming at most max_tasks distinct tasks and max_users creating
 * users, with room for max_roles memberships (writer_world_size_roles may give it more
 * before the first is added). 0, or -1 (out of memory; the world is then empty and may be
 * freed). */
int writer_world_init(writer_world *w, size_t max_tasks, size_t max_users, size_t max_roles);
/* Room for max_roles memberships, while none is recorded. 0, or -1 (out of memory or
 * roles recorded; the world keeps what it had). */
int writer_world_size_roles(writer_world *w, size_t max_roles);
void writer_world_free(writer_world *w);
/* An existing task as the load read it. */
typedef struct writer_task_row {
    const char *id;
    const char *owner;   /* "" for a team task */
    const char *project; /* the task's project */
    long long version;
    bool done;
    bool has_due;
    bool recurs;
    const char *assignee; /* NULL or "" when nobody */
} writer_task_row;

/* Records an existing task as it is before the batch. 0, or -1 (full or a repeat). */
int writer_world_add_task(writer_world *w, const writer_task_row *row);
/* The task named id, or NULL when the world has not seen it. */
const writer_task_state *writer_world_find(const writer_world *w, const char *id);
/* Records an existing user (a repeat is ignored). 0, or -1 (full). */
int writer_world_add_user(writer_world *w, const char *id);
/* Records user's role rank in project (a repeat is ignored). 0, or -1 (full). */
int writer_world_add_role(writer_world *w, const char *project, const char *user, int rank,
                          bool inbox);
/* The members of project recorded (every role), in the order added, into out (at most
 * cap): each user id is at out[i]->key + UUID_STR_LEN. Returns how many it filled. A
 * binary search when the roles were added in key order (strcmp: the executor reads them
 * ORDER BY ... COLLATE "C"), else a scan. */
size_t writer_world_members(const writer_world *w, const char *project, const writer_role **out,
                            size_t cap);

/* Decides cmds[0..n) in order against w (which it updates as it plays them); out[i] is
 * cmds[i]'s decision. The world must hold room for every task cmds name. 0, or -1 (out
 * of memory). Call writer_decision_clear on each out[i] either way. */
int writer_decide(writer_world *w, const task_command *const *cmds, size_t n, writer_decision *out);
void writer_decision_clear(writer_decision *d);

#endif
