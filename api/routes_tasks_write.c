/*
 * routes_tasks_write.c: task writes and command status (ROUTES_TASKS_WRITE).
 *
 * Owns: POST /api/v1/tasks, PATCH and DELETE /api/v1/tasks/{id}, GET /api/v1/commands/{id}
 * (docs/decisions.md, "Tasks (issue 3)", Flow and API answers). Rules: a write is
 * validated, turned into a command with ids assigned here (UUIDv7) and answered only once
 * Kafka holds it: 202 with the command id and the task as it will be, or, under
 * Prefer: wait=N, the outcome once the writer applied it (201 create / 200 update / 204
 * delete, or the rejection's 404/409/412). Kafka not taking the command is 503 and
 * nothing was accepted. Checks run in the order RFC 9110 §13.2.2 implies: the target must
 * exist (404, also for another user's task and for an id that is not a UUID), then
 * If-Match (412 at once when stale), then the body's fields (422). PATCH takes
 * application/json and application/merge-patch+json; a PATCH with no member to change is
 * a 422. Every answer that carries a task carries its ETag. A task in a team project
 * (docs/decisions.md, "Tasks in team projects (slice 3b)") is written by its project's
 * editors and owners: a viewer gets 403 right after the 404 check (the task is visible to
 * them, so 403 is no oracle); its command names the project, which is its Kafka key. A
 * create may name a project (`project_id`): a non-member gets 404, a viewer 403, both
 * before the request is recorded for its Idempotency-Key. An assignee (`assignee_id`) must
 * be an editor or owner of the task's project (an Inbox task's: its owner), else 422
 * after the fields (docs/decisions.md, "Assignees (slice 4)"). A PATCH with `project_id`
 * moves the task (docs/decisions.md, "Moving tasks (slice 5)"): editor or owner in the
 * project it goes to as well (404 not a member, 403 viewer; an Inbox: the caller's own),
 * and the assignee it keeps allowed there (422); its command stays keyed by the project it
 * leaves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/command_report.h"
#include "api/command_send.h"
#include "api/command_wait.h"
#include "api/idempotency.h"
#include "api/if_match.h"
#include "api/patch_body.h"
#include "api/project_access.h"
#include "api/project_store.h"
#include "api/prefer.h"
#include "api/request_body.h"
#include "api/api_token_scope.h"
#include "api/routes.h"
#include "api/task_store.h"
#include "api/task_validation.h"
#include "shared/log.h"
#include "shared/problem.h"
#include "shared/project_roles.h"
#include "shared/task_model.h"
#include "shared/time_util.h"

#define TASKS_PATH "/api/v1/tasks/"
#define COMMANDS_PATH "/api/v1/commands/"

/* --- small answers --- */

static void respond_unavailable(api_request_ctx *ctx, const char *detail) {
    api_set_header(ctx, "Retry-After", "1");
    api_respond_error(ctx, 503, "service-unavailable", detail);
}

static void respond_viewer(api_request_ctx *ctx) {
    api_respond_error(ctx, 403, "forbidden",
                      "your role in this project is viewer: changing its tasks needs editor "
                      "or owner");
}

static void respond_not_found(api_request_ctx *ctx, const char *what) {
    api_respond_error(ctx, 404, "not-found", what);
}

static void set_etag(api_request_ctx *ctx, const json_t *task) {
    char etag[IF_MATCH_ETAG_MAX];
    api_set_header(ctx, "ETag", if_match_etag(task_json_version(task), etag, sizeof etag));
}

static void set_link(api_request_ctx *ctx, const char *header, const char *base, const char *id) {
    char url[128];
    snprintf(url, sizeof url, "%s%s", base, id);
    api_set_header(ctx, header, url);
}

/* --- who may be assigned --- */

static void respond_bad_assignee(api_request_ctx *ctx, const char *message) {
    json_t *errors = json_array();
    if (errors == NULL || api_field_error_add(errors, "assignee_id", message) != 0) {
        json_decref(errors);
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    api_respond_field_errors(ctx, errors);
}

/* Whether who (NULL: nobody) may hold a task of project ("": the caller's Inbox): an
 * editor or owner of it, for an Inbox its owner. The caller always may (the write itself
 * needs editor there). 1, or the request was answered (422, 503). The writer checks again
 * at apply, against the members as they are then. */
static int check_assignee(api_request_ctx *ctx, const char *who, const char *project) {
    if (who == NULL || strcmp(who, ctx->user_id) == 0)
        return 1;
    if (project[0] == '\0') {
        respond_bad_assignee(ctx, "a task in your Inbox can be assigned only to you");
        return 0;
    }
    int rank = 0;
    bool inbox = false;
    project_outcome o = project_store_role_rank(ctx->app->pg, project, who, &rank, &inbox);
    if (o == PROJECT_UNAVAILABLE) {
        respond_unavailable(ctx, "the project's members could not be read; retry shortly");
        return 0;
    }
    if (o != PROJECT_OK || rank < PROJECT_RANK_EDITOR) {
        respond_bad_assignee(ctx, "must be an editor or owner of the task's project");
        return 0;
    }
    return 1;
}

/* --- answering a submitted command --- */

/* 202: {command_id, status: pending, task?}; predicted is borrowed (NULL for delete). */
static void respond_accepted(api_request_ctx *ctx, const task_command *cmd,
                             const json_t *predicted) {
    json_t *body = json_pack("{s:s,s:s}", "command_id", cmd->command_id, "status", "pending");
    if (body != NULL && predicted != NULL &&
        json_object_set_new(body, "task", json_deep_copy(predicted)) != 0) {
        json_decref(body);
        body = NULL;
    }
    if (body == NULL) {
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    if (cmd->type != TASK_CMD_DELETE)
        set_link(ctx, "Location", TASKS_PATH, cmd->task_id);
    set_link(ctx, "Content-Location", COMMANDS_PATH, cmd->command_id);
    if (predicted != NULL)
        set_etag(ctx, predicted);
    api_respond_json(ctx, 202, body);
}

/* 201/200 with the task as stored (at least the reported version), or 204 for a delete. */
static void respond_applied(api_request_ctx *ctx, const task_command *cmd, const command_outcome *o,
                            const json_t *predicted) {
    if (cmd->type == TASK_CMD_DELETE) {
        api_respond_empty(ctx, 204);
        return;
    }
    long long min_version = o->task_version >= 0 ? o->task_version : task_json_version(predicted);
    json_t *task = NULL;
    if (task_command_read_task(ctx->app, ctx->user_id, cmd->task_id, min_version, &task) != 1) {
        /* Deleted by a later command already, or unreadable right now: the applied state
         * is the one predicted from this command. */
        LOG_INFOF("tasks: answering the predicted task for applied command %s", cmd->command_id);
        task = json_deep_copy(predicted);
    }
    if (task == NULL) {
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    set_link(ctx, "Location", TASKS_PATH, cmd->task_id);
    set_etag(ctx, task);
    api_respond_json(ctx, cmd->type == TASK_CMD_CREATE ? 201 : 200, task);
}

/* Produces cmd and answers: 503, 202, or the outcome within the Prefer: wait time. claim
 * (may be NULL) learns when a 503 leaves the command in doubt. */
/* The fence guard of a keyed create: the request may fence its command only while it
 * still owns its idempotency claim. */
typedef struct claim_guard_arg {
    const char *user_id;
    const idempotency_claim *claim;
} claim_guard_arg;

static int claim_still_ours(pg_conn *conn, void *arg) {
    const claim_guard_arg *g = arg;
    return idempotency_lock_owned(conn, g->user_id, g->claim);
}

static void submit_and_answer(api_request_ctx *ctx, const task_command *cmd,
                              const json_t *predicted, idempotency_claim *claim) {
    char err[256];
    claim_guard_arg garg = {ctx->user_id, claim};
    command_fence_guard guard = {claim_still_ours, &garg};
    int rc = task_command_submit(ctx->app, cmd, ctx->request_id, ctx->traceparent,
                                 claim != NULL ? &guard : NULL, err, sizeof err);
    if (rc != 0) {
        if (rc == TASK_COMMAND_IN_DOUBT && claim != NULL)
            claim->in_doubt = true;
        LOG_WARNF("tasks: command %s not accepted: %s", cmd->command_id, err);
        respond_unavailable(ctx, "the change could not be queued and was not accepted; retry");
        return;
    }
    int wait_s = prefer_wait(api_header(ctx, "Prefer"));
    if (wait_s <= 0) {
        respond_accepted(ctx, cmd, predicted);
        return;
    }
    char applied[32];
    snprintf(applied, sizeof applied, "wait=%d", wait_s);
    api_set_header(ctx, "Preference-Applied", applied);
    command_outcome o = {0};
    command_state st = command_wait(ctx->app, ctx->user_id, cmd->command_id, wait_s, &o);
    if (st == CMD_APPLIED)
        respond_applied(ctx, cmd, &o, predicted);
    else if (st == CMD_REJECTED)
        api_respond_problem(ctx, command_outcome_problem(&o, ctx->request_id));
    else
        respond_accepted(ctx, cmd, predicted);
    command_outcome_clear(&o);
}

static void command_init(task_command *cmd, const api_request_ctx *ctx, task_command_type type,
                         const char *task_id) {
    memset(cmd, 0, sizeof *cmd);
    cmd->type = type;
    uuid7_generate(cmd->command_id);
    snprintf(cmd->user_id, sizeof cmd->user_id, "%s", ctx->user_id);
    snprintf(cmd->task_id, sizeof cmd->task_id, "%s", task_id);
    cmd->expected_version = -1;
    cmd->issued_at_ms = time_now_unix_ms();
}

/* --- the ids of a create, as an idempotency plan --- */

/* {command_id, task_id, issued_at_ms}: new ids (new reference, NULL out of memory). */
static json_t *create_plan_new(void) {
    char command_id[UUID_STR_LEN], task_id[UUID_STR_LEN];
    uuid7_generate(command_id);
    uuid7_generate(task_id);
    return json_pack("{s:s,s:s,s:I}", "command_id", command_id, "task_id", task_id, "issued_at_ms",
                     (json_int_t)time_now_unix_ms());
}

/* The create command of a plan; false when the plan is not one of ours. */
static bool create_from_plan(task_command *cmd, const api_request_ctx *ctx, const json_t *plan) {
    const char *cid = json_string_value(json_object_get(plan, "command_id"));
    const char *tid = json_string_value(json_object_get(plan, "task_id"));
    json_t *at = json_object_get(plan, "issued_at_ms");
    if (!uuid_is_valid(cid) || !uuid_is_valid(tid) || !json_is_integer(at))
        return false;
    command_init(cmd, ctx, TASK_CMD_CREATE, tid);
    snprintf(cmd->command_id, sizeof cmd->command_id, "%s", cid);
    cmd->issued_at_ms = (long long)json_integer_value(at);
    return true;
}

/* A taken-over plan whose command the first attempt fenced (503, never applied) must not
 * be repeated: the writer would skip it. Gives the claim new ids then. 0, or -1 after
 * answering. */
static int renew_fenced_plan(api_request_ctx *ctx, idempotency_claim *claim) {
    const char *cid = json_string_value(json_object_get(claim->plan, "command_id"));
    command_outcome o = {0};
    command_state st =
        cid != NULL ? task_command_read_row(ctx->app, ctx->user_id, cid, &o) : CMD_UNAVAILABLE;
    bool fenced =
        st == CMD_REJECTED && json_integer_value(json_object_get(o.problem, "status")) == 503;
    command_outcome_clear(&o);
    if (st == CMD_UNAVAILABLE) {
        respond_unavailable(ctx, "the earlier attempt could not be checked; retry shortly");
        return -1;
    }
    if (!fenced)
        return 0;
    json_t *fresh = create_plan_new();
    int rc = fresh != NULL ? idempotency_replan(ctx, claim, fresh) : -1;
    json_decref(fresh);
    if (rc != 0)
        respond_unavailable(ctx, "the request could not be retried right now; retry shortly");
    return rc;
}

/* --- POST /api/v1/tasks --- */

static void create_validated(api_request_ctx *ctx, json_t *fields, const char *project,
                             idempotency_claim *claim) {
    if (claim->taken_over && renew_fenced_plan(ctx, claim) != 0)
        return;
    task_command cmd;
    if (!create_from_plan(&cmd, ctx, claim->plan)) {
        LOG_ERRORF("tasks: an idempotency plan is not a create plan");
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    cmd.fields = fields;
    snprintf(cmd.project_id, sizeof cmd.project_id, "%s", project);
    json_t *predicted = task_predict_create(cmd.task_id, fields, cmd.issued_at_ms);
    if (predicted != NULL && project[0] != '\0' &&
        json_object_set_new(predicted, "project_id", json_string(project)) != 0) {
        json_decref(predicted);
        predicted = NULL;
    }
    if (predicted == NULL)
        api_respond_error(ctx, 500, "internal-error", NULL);
    else
        submit_and_answer(ctx, &cmd, predicted, claim);
    json_decref(predicted);
}

/* The team project a create names (its fields lose the member: the command carries it
 * beside them): 1 with project ("" for none or the user's own Inbox), or the request was
 * answered (404 not a member, 403 viewer, 503). */
static int create_project(api_request_ctx *ctx, json_t *fields, char project[UUID_STR_LEN]) {
    project[0] = '\0';
    const char *named = json_string_value(json_object_get(fields, "project_id"));
    if (named == NULL)
        return 1;
    char pid[UUID_STR_LEN];
    snprintf(pid, sizeof pid, "%s", named);
    json_object_del(fields, "project_id");
    project_access access;
    if (project_access_check(ctx, pid, &access) != 1)
        return 0;
    if (access.rank < PROJECT_RANK_EDITOR) {
        respond_viewer(ctx);
        return 0;
    }
    if (!access.inbox)
        memcpy(project, pid, UUID_STR_LEN);
    return 1;
}

static void handle_create(api_request_ctx *ctx) {
    json_t *errors = json_array();
    json_t *fields = NULL;
    if (errors == NULL) {
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    if (task_validate_create(ctx->body, &fields, errors) > 0) {
        api_respond_field_errors(ctx, errors);
        return;
    }
    json_decref(errors);
    char project[UUID_STR_LEN];
    if (create_project(ctx, fields, project) != 1 ||
        check_assignee(ctx, json_string_value(json_object_get(fields, "assignee_id")), project) !=
            1) {
        json_decref(fields);
        return;
    }
    /* Canonical form: the same members in another order or spacing are the same request. */
    char *canonical = json_dumps(ctx->body, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *plan = create_plan_new();
    idempotency_claim claim;
    if (canonical == NULL || plan == NULL) {
        api_respond_error(ctx, 500, "internal-error", NULL);
    } else {
        if (idempotency_begin(ctx, canonical, strlen(canonical), plan, &claim) ==
            IDEMPOTENCY_PROCEED)
            create_validated(ctx, fields, project, &claim);
        idempotency_finish(ctx, &claim);
    }
    json_decref(plan);
    free(canonical);
    json_decref(fields);
}

/* --- PATCH and DELETE /api/v1/tasks/{id} --- */

/* The current task of a target id the user may change: 1 with *task (and in project the
 * team project the command names, "" for an Inbox task), or the request was answered. */
static int load_target(api_request_ctx *ctx, json_t **task, char project[UUID_STR_LEN]) {
    const char *id = ctx->path_params[0];
    project[0] = '\0';
    if (!uuid_is_valid(id)) {
        respond_not_found(ctx, "no such task");
        return 0;
    }
    int team_rank = 0;
    task_store_result r = task_store_get(ctx->app, ctx->user_id, id, task, &team_rank);
    if (r == TASK_STORE_FOUND && team_rank > 0 && team_rank < PROJECT_RANK_EDITOR) {
        respond_viewer(ctx);
        json_decref(*task);
        *task = NULL;
        return 0;
    }
    if (r == TASK_STORE_FOUND && team_rank > 0) {
        const char *pid = json_string_value(json_object_get(*task, "project_id"));
        snprintf(project, UUID_STR_LEN, "%s", pid != NULL ? pid : "");
    }
    if (r == TASK_STORE_FOUND)
        return 1;
    if (r == TASK_STORE_NOT_FOUND)
        respond_not_found(ctx, "no such task");
    else
        respond_unavailable(ctx, "the task could not be read; retry shortly");
    return 0;
}

/* If-Match against the current task: the expected version for the writer (-1: none),
 * or -2 after answering 412. */
static long long check_if_match(api_request_ctx *ctx, const json_t *current) {
    long long version = task_json_version(current);
    switch (if_match_evaluate(api_header(ctx, "If-Match"), version)) {
    case IF_MATCH_ABSENT:
    case IF_MATCH_ANY:
        return -1;
    case IF_MATCH_MATCHED:
        return version;
    case IF_MATCH_FAILED:
    default:
        set_etag(ctx, current);
        api_respond_error(ctx, 412, "precondition-failed",
                          "If-Match does not name the current version of the task");
        return -2;
    }
}

/* The team project a patch moves its task to ("" for the caller's own Inbox), as the
 * caller may: 1 with dest, or the request was answered (404 not a member of it, 403 a
 * viewer there, 503). The move's other half, editor rights where the task is, was
 * checked by load_target. */
static int move_target(api_request_ctx *ctx, const char *named, char dest[UUID_STR_LEN]) {
    project_access access;
    if (project_access_check(ctx, named, &access) != 1)
        return 0;
    if (access.rank < PROJECT_RANK_EDITOR) {
        api_respond_error(ctx, 403, "forbidden",
                          "your role in the project you move the task to is viewer: moving a "
                          "task into it needs editor or owner");
        return 0;
    }
    snprintf(dest, UUID_STR_LEN, "%s", access.inbox ? "" : named);
    return 1;
}

/* The patch's move (project_id, when it is not the task's own project) and the assignee
 * the task has after it, in the project it is in then. project: where the task is ("" for
 * the caller's Inbox). 1, or the request was answered. */
static int check_move(api_request_ctx *ctx, const json_t *current, const json_t *patch,
                      const char *project) {
    const char *named = json_string_value(json_object_get(patch, "project_id"));
    const char *here = json_string_value(json_object_get(current, "project_id"));
    char dest[UUID_STR_LEN];
    snprintf(dest, sizeof dest, "%s", project);
    bool moves = named != NULL && (here == NULL || strcmp(named, here) != 0);
    if (moves && move_target(ctx, named, dest) != 1)
        return 0;
    const json_t *set = json_object_get(patch, "assignee_id");
    if (set == NULL && !moves)
        return 1; /* the assignee stays, where it was allowed */
    const json_t *who = set != NULL ? set : json_object_get(current, "assignee_id");
    return check_assignee(ctx, json_string_value(who), dest);
}

static void update_validated(api_request_ctx *ctx, const json_t *current, const char *project,
                             json_t *patch, long long expected) {
    task_command cmd;
    command_init(&cmd, ctx, TASK_CMD_UPDATE, ctx->path_params[0]);
    snprintf(cmd.project_id, sizeof cmd.project_id, "%s", project);
    cmd.expected_version = expected;
    cmd.fields = patch;
    json_t *predicted = task_predict_update(current, patch, cmd.issued_at_ms);
    if (predicted == NULL)
        api_respond_error(ctx, 500, "internal-error", NULL);
    else
        submit_and_answer(ctx, &cmd, predicted, NULL);
    json_decref(predicted);
}

static void handle_update(api_request_ctx *ctx) {
    if (patch_body_parse(ctx) != 0)
        return;
    json_t *current = NULL;
    char project[UUID_STR_LEN];
    if (load_target(ctx, &current, project) != 1)
        return;
    long long expected = check_if_match(ctx, current);
    json_t *errors = expected >= -1 ? json_array() : NULL;
    json_t *patch = NULL;
    if (expected < -1) {
        /* answered 412 */
    } else if (errors == NULL) {
        api_respond_error(ctx, 500, "internal-error", NULL);
    } else if (task_validate_patch(ctx->body, &patch, errors) > 0) {
        api_respond_field_errors(ctx, errors);
        errors = NULL;
    } else if (check_move(ctx, current, patch, project) == 1) {
        update_validated(ctx, current, project, patch, expected);
    }
    json_decref(errors);
    json_decref(patch);
    json_decref(current);
}

static void handle_delete(api_request_ctx *ctx) {
    json_t *current = NULL;
    char project[UUID_STR_LEN];
    if (load_target(ctx, &current, project) != 1)
        return;
    long long expected = check_if_match(ctx, current);
    if (expected >= -1) {
        task_command cmd;
        command_init(&cmd, ctx, TASK_CMD_DELETE, ctx->path_params[0]);
        snprintf(cmd.project_id, sizeof cmd.project_id, "%s", project);
        cmd.expected_version = expected;
        submit_and_answer(ctx, &cmd, NULL, NULL);
    }
    json_decref(current);
}

/* --- GET /api/v1/commands/{id} --- */

static void handle_command(api_request_ctx *ctx) {
    const char *id = ctx->path_params[0];
    if (!uuid_is_valid(id)) {
        respond_not_found(ctx, "no such command");
        return;
    }
    command_outcome o = {0};
    command_state st = command_report(ctx->app, ctx->user_id, id, &o);
    if (st == CMD_UNKNOWN) {
        respond_not_found(ctx, "no such command");
    } else if (st == CMD_UNAVAILABLE) {
        respond_unavailable(ctx, "the command's status could not be read; retry shortly");
    } else {
        json_t *body = command_outcome_json(id, &o);
        if (body == NULL)
            api_respond_error(ctx, 500, "internal-error", NULL);
        else
            api_respond_json(ctx, 200, body);
    }
    command_outcome_clear(&o);
}

const api_route ROUTES_TASKS_WRITE[] = {
    {"POST", "/api/v1/tasks", handle_create, API_ROUTE_JSON_BODY | API_ROUTE_AUTH,
     API_SCOPE_TASKS_WRITE},
    {"PATCH", "/api/v1/tasks/:id", handle_update, API_ROUTE_AUTH, API_SCOPE_TASKS_WRITE},
    {"DELETE", "/api/v1/tasks/:id", handle_delete, API_ROUTE_AUTH, API_SCOPE_TASKS_WRITE},
    {"GET", "/api/v1/commands/:id", handle_command, API_ROUTE_AUTH, API_SCOPE_TASKS_READ},
    {NULL, NULL, NULL, 0, 0},
};
