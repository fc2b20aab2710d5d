/*
 * routes_projects.c: /api/v1/projects, its members and invitations, and
 * /api/v1/invitations (ROUTES_PROJECTS; docs/decisions.md "Issue 14" / "Slice 1").
 *
 * Owns: validating the bodies and the query, and turning the store's outcome into an
 * answer (answer(), the one place). Rules: who may do what is decided in SQL
 * (api/project_store.h), never here; an id that is not a UUID is as absent as another
 * user's project (404); a member whose role is too low gets 403 with a problem body; a
 * project answer carries ETag "<version>"; PATCH and DELETE honour If-Match (412).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/account_validation.h"
#include "api/idempotency.h"
#include "api/if_match.h"
#include "api/list_query.h"
#include "api/patch_body.h"
#include "api/project_store.h"
#include "api/api_token_scope.h"
#include "api/routes.h"
#include "api/task_validation.h"
#include "shared/log.h"
#include "shared/uuid7.h"

#define PROJECT_NAME_MAX 100
#define PROJECT_DESCRIPTION_MAX 10000
#define PROJECTS_PER_USER_MAX "200"
#define MEMBERS_PER_PROJECT_MAX "200"
#define INVITATION_TTL_S "604800" /* 7 days */
#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX 100

/* What a 404 names, by route. */
typedef enum { ABOUT_PROJECT, ABOUT_MEMBER, ABOUT_INVITATION, ABOUT_NEW_INVITATION } about;

static const char *const NOT_FOUND_DETAIL[] = {
    [ABOUT_PROJECT] = "no such project",
    [ABOUT_MEMBER] = "no such project or member",
    [ABOUT_INVITATION] = "no such project or invitation",
    [ABOUT_NEW_INVITATION] = "no such project",
};

static void respond_not_found(api_request_ctx *ctx, about what) {
    api_respond_error(ctx, 404, "not-found", NOT_FOUND_DETAIL[what]);
}

/* The answer for a store outcome; status is the success status, doc (stolen) its body
 * (NULL: an empty answer). A project document gets its ETag. */
static void answer(api_request_ctx *ctx, project_outcome outcome, int status, json_t *doc,
                   about what) {
    static const char *const LIMIT_SLUG[] = {[ABOUT_PROJECT] = "project-limit",
                                             [ABOUT_MEMBER] = "project-limit",
                                             [ABOUT_INVITATION] = "project-limit",
                                             [ABOUT_NEW_INVITATION] = "member-limit"};
    switch (outcome) {
    case PROJECT_OK:
        break;
    case PROJECT_NOT_FOUND:
        respond_not_found(ctx, what);
        return;
    case PROJECT_FORBIDDEN:
        api_respond_error(ctx, 403, "forbidden",
                          "only an owner of the project may do this (your role is lower)");
        return;
    case PROJECT_INBOX:
        api_respond_error(ctx, 409, "inbox-personal",
                          "the Inbox is personal: it cannot be shared, archived or deleted");
        return;
    case PROJECT_NOT_EMPTY:
        api_respond_error(ctx, 409, "project-not-empty",
                          "the project still holds tasks: move or delete them first");
        return;
    case PROJECT_LAST_OWNER:
        api_respond_error(ctx, 409, "last-owner",
                          "a project keeps at least one owner: make another member an owner "
                          "first");
        return;
    case PROJECT_ALREADY_MEMBER:
        api_respond_error(ctx, 409, "already-member",
                          "this address belongs to a member of the project already");
        return;
    case PROJECT_LIMIT:
        api_respond_error(ctx, 409, LIMIT_SLUG[what],
                          what == ABOUT_NEW_INVITATION
                              ? "a project has at most " MEMBERS_PER_PROJECT_MAX
                                " members and pending invitations"
                              : "a user belongs to at most " PROJECTS_PER_USER_MAX " projects");
        return;
    case PROJECT_UNVERIFIED:
        api_respond_error(ctx, 403, "email-unverified",
                          "verify your e-mail address first (the link in the welcome mail)");
        return;
    case PROJECT_PRECONDITION:
        api_respond_error(ctx, 412, "precondition-failed",
                          "If-Match does not match the project's current version");
        return;
    case PROJECT_QUIET: /* never reaches here (the store answers OK) */
    case PROJECT_UNAVAILABLE:
        api_set_header(ctx, "Retry-After", "1");
        api_respond_error(ctx, 503, "service-unavailable",
                          "projects cannot be reached; retry shortly");
        return;
    }
    json_t *version = json_object_get(doc, "version");
    if (json_is_integer(version) && json_object_get(doc, "inbox") != NULL) {
        char etag[IF_MATCH_ETAG_MAX];
        api_set_header(ctx, "ETag", if_match_etag(json_integer_value(version), etag, sizeof etag));
    }
    if (doc != NULL) {
        api_respond_json(ctx, status, doc);
    } else {
        api_respond_empty(ctx, status);
    }
}

/* Lower-cases the path's ids: a UUID in upper case names the same row to Postgres, but
 * it travels on as text (an event's project id, subject and Kafka key; a schema allows
 * only lower case), so every id leaves here in the one spelling. */
static void lower_ids(api_request_ctx *ctx) {
    for (int i = 0; i < ctx->npath_params; i++) {
        for (char *c = ctx->path_params[i]; *c != '\0'; c++) {
            *c = (char)tolower((unsigned char)*c);
        }
    }
}

/* What a write carries besides its values. */
static project_request request_of(const api_request_ctx *ctx) {
    return (project_request){.request_id = ctx->request_id,
                             .traceparent = ctx->traceparent,
                             .public_url = ctx->app->cfg->public_url,
                             .if_match = api_header(ctx, "If-Match")};
}

/* Runs op for ctx's request. */
static project_outcome call(api_request_ctx *ctx, project_op op, const char **values, json_t **doc,
                            long long *current) {
    project_request req = request_of(ctx);
    return project_store_call(ctx->app->pg, op, values, &req, doc, current);
}

/* api_respond_if_field_errors for a route under /projects/:id, except that a caller who
 * cannot see the project gets its 404 instead of the 422: a non-member gets 404 on every
 * route of a project whatever the body says. */
static bool respond_if_invalid(api_request_ctx *ctx, json_t *errors, bool failed) {
    if (errors != NULL && !failed && json_array_size(errors) > 0) {
        const char *values[2] = {ctx->path_params[0], ctx->user_id};
        json_t *doc = NULL;
        project_outcome rc = call(ctx, PROJECT_OP_GET, values, &doc, NULL);
        json_decref(doc);
        if (rc != PROJECT_OK) {
            json_decref(errors);
            answer(ctx, rc, 200, NULL, ABOUT_PROJECT);
            return true;
        }
    }
    return api_respond_if_field_errors(ctx, errors, failed);
}

/* ------------------------------------------------------------------ validation */

static int check_name(const json_t *v, json_t *errors) {
    const char *why = !json_is_string(v)
                          ? "must be a string"
                          : text_one_line_problem(json_string_value(v), PROJECT_NAME_MAX,
                                                  "must be 1 to 100 characters long");
    return why != NULL ? api_field_error_add(errors, "name", why) : 0;
}

static int check_description(const json_t *v, json_t *errors) {
    const char *why = !json_is_string(v)
                          ? "must be a string"
                          : text_long_problem(json_string_value(v), PROJECT_DESCRIPTION_MAX,
                                              "must be at most 10000 characters "
                                              "long");
    return why != NULL ? api_field_error_add(errors, "description", why) : 0;
}

static int check_role(const json_t *v, json_t *errors) {
    const char *r = json_string_value(v);
    bool ok = r != NULL &&
              (strcmp(r, "owner") == 0 || strcmp(r, "editor") == 0 || strcmp(r, "viewer") == 0);
    return ok ? 0 : api_field_error_add(errors, "role", "must be owner, editor or viewer");
}

/* Checks a project body: a create (name required) or a patch (archived allowed; null is
 * refused). 0 when valid; 1 after answering. */
static int validate_project(api_request_ctx *ctx, bool patch) {
    json_t *errors = json_array();
    int rc = errors != NULL ? 0 : -1;
    const char *key;
    json_t *v;
    json_object_foreach(ctx->body, key, v) {
        if (rc != 0) {
            break;
        }
        if (patch && json_is_null(v)) {
            rc = api_field_error_add(errors, key, "cannot be removed; leave it out to keep it");
        } else if (strcmp(key, "name") == 0) {
            rc = check_name(v, errors);
        } else if (strcmp(key, "description") == 0) {
            rc = check_description(v, errors);
        } else if (patch && strcmp(key, "archived") == 0) {
            rc = json_is_boolean(v) ? 0 : api_field_error_add(errors, key, "must be true or false");
        } else {
            rc = api_field_error_add(errors, key,
                                     patch ? "is not a field a patch may change"
                                           : "is not a field of a new project");
        }
    }
    if (rc == 0 && !patch && json_object_get(ctx->body, "name") == NULL) {
        rc = api_field_error_add(errors, "name", "is required");
    }
    if (rc == 0 && patch && json_object_size(ctx->body) == 0) {
        rc = api_field_error_add(errors, "", "a patch must change name, description or archived");
    }
    return (patch ? respond_if_invalid(ctx, errors, rc != 0)
                  : api_respond_if_field_errors(ctx, errors, rc != 0))
               ? 1
               : 0;
}

/* Only `allowed` (a NULL-terminated list) may appear, and every one of them must. */
static int check_members_exactly(const json_t *body, const char *const *allowed, json_t *errors) {
    int rc = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v) {
        bool known = false;
        for (size_t i = 0; allowed[i] != NULL; i++) {
            known |= strcmp(key, allowed[i]) == 0;
        }
        if (!known && rc == 0) {
            rc = api_field_error_add(errors, key, "is not a field of this request");
        }
    }
    for (size_t i = 0; allowed[i] != NULL && rc == 0; i++) {
        if (json_object_get(body, allowed[i]) == NULL) {
            rc = api_field_error_add(errors, allowed[i], "is required");
        }
    }
    return rc;
}

/* ------------------------------------------------------------------ projects */

/* Creates project id (the idempotency plan's: a retry that took over a crashed attempt's
 * claim creates under the same id, which project_create answers with the project as it
 * is, announcing nothing twice). */
static void create_with_id(api_request_ctx *ctx, const char *id) {
    const char *values[5] = {
        id, ctx->user_id, json_string_value(json_object_get(ctx->body, "name")),
        json_string_value(json_object_get(ctx->body, "description")), PROJECTS_PER_USER_MAX};
    json_t *doc = NULL;
    project_outcome rc = call(ctx, PROJECT_OP_CREATE, values, &doc, NULL);
    if (rc == PROJECT_NOT_FOUND) { /* the user row is gone (deleted mid-request), or the
                                    * planned id is someone else's: neither is retryable */
        api_respond_error(ctx, 401, "unauthorized", "the account no longer exists");
        return;
    }
    if (rc == PROJECT_OK) {
        char location[128];
        snprintf(location, sizeof location, "/api/v1/projects/%s", id);
        api_set_header(ctx, "Location", location);
        log_json(LOG_INFO, "project created",
                 json_pack("{s:s,s:s}", "project_id", id, "user_id", ctx->user_id));
    }
    answer(ctx, rc, 201, doc, ABOUT_PROJECT);
}

static void create_project(api_request_ctx *ctx) {
    if (validate_project(ctx, false) != 0) {
        return;
    }
    char fresh_id[UUID_STR_LEN];
    uuid7_generate(fresh_id);
    json_t *plan = json_pack("{s:s}", "project_id", fresh_id);
    char *canonical = json_dumps(ctx->body, JSON_COMPACT | JSON_SORT_KEYS);
    idempotency_claim claim = {0};
    if (plan == NULL || canonical == NULL) {
        api_respond_error(ctx, 500, "internal-error", NULL);
    } else {
        if (idempotency_begin(ctx, canonical, strlen(canonical), plan, &claim) ==
            IDEMPOTENCY_PROCEED) {
            const char *id = json_string_value(json_object_get(claim.plan, "project_id"));
            /* Creating under the same id again is a no-op, so after any 5xx (a lost commit
             * reply included) the retry must reuse the id: keep the plan. */
            claim.in_doubt = true;
            if (uuid_is_valid(id)) {
                create_with_id(ctx, id);
            } else {
                LOG_ERRORF("projects: an idempotency plan is not a project plan");
                api_respond_error(ctx, 500, "internal-error", NULL);
            }
        }
        idempotency_finish(ctx, &claim);
    }
    free(canonical);
    json_decref(plan);
}

static bool parse_archived(const char *text, void *arg) {
    if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0) {
        return false;
    }
    *(const char **)arg = text;
    return true;
}

static void list_projects(api_request_ctx *ctx) {
    int limit = LIST_LIMIT_DEFAULT;
    const char *cursor = NULL, *archived = NULL;
    const list_query_filter filters[] = {
        {"archived", parse_archived, &archived, "must be true or false"},
        {NULL, NULL, NULL, NULL},
    };
    json_t *errors = json_array();
    int parsed = errors != NULL
                     ? list_query_parse_filtered(ctx, LIST_LIMIT_MAX, &limit, list_query_uuid,
                                                 &cursor, filters, errors)
                     : -1;
    if (api_respond_if_field_errors(ctx, errors, parsed != 0)) {
        return;
    }
    json_t *items = NULL;
    char next[UUID_STR_LEN];
    if (project_store_list(ctx->app->pg, ctx->user_id, cursor, archived, limit, &items, next) !=
        PROJECT_OK) {
        answer(ctx, PROJECT_UNAVAILABLE, 200, NULL, ABOUT_PROJECT);
        return;
    }
    api_respond_json(ctx, 200,
                     json_pack("{s:o,s:o}", "items", items, "next_cursor",
                               next[0] != '\0' ? json_string(next) : json_null()));
}

static void get_project(api_request_ctx *ctx) {
    lower_ids(ctx);
    const char *values[2] = {ctx->path_params[0], ctx->user_id};
    json_t *doc = NULL;
    project_outcome rc = uuid_is_valid(values[0]) ? call(ctx, PROJECT_OP_GET, values, &doc, NULL)
                                                  : PROJECT_NOT_FOUND;
    char etag[IF_MATCH_ETAG_MAX];
    if (rc == PROJECT_OK &&
        if_match_etag_list_matches(
            api_header(ctx, "If-None-Match"),
            if_match_etag(json_integer_value(json_object_get(doc, "version")), etag, sizeof etag),
            true)) {
        json_decref(doc);
        api_set_header(ctx, "ETag", etag);
        api_respond_empty(ctx, 304);
        return;
    }
    answer(ctx, rc, 200, doc, ABOUT_PROJECT);
}

/* A 412 names the current version in its ETag, so the client can re-read or retry. */
static void set_stale_etag(api_request_ctx *ctx, project_outcome rc, long long current) {
    char etag[IF_MATCH_ETAG_MAX];
    if (rc == PROJECT_PRECONDITION && current > 0) {
        api_set_header(ctx, "ETag", if_match_etag(current, etag, sizeof etag));
    }
}

static void patch_project(api_request_ctx *ctx) {
    lower_ids(ctx);
    if (!uuid_is_valid(ctx->path_params[0])) {
        respond_not_found(ctx, ABOUT_PROJECT);
        return;
    }
    if (patch_body_parse(ctx) != 0 || validate_project(ctx, true) != 0) {
        return;
    }
    const json_t *archived = json_object_get(ctx->body, "archived");
    const char *values[6] = {ctx->path_params[0],
                             ctx->user_id,
                             json_string_value(json_object_get(ctx->body, "name")),
                             json_string_value(json_object_get(ctx->body, "description")),
                             archived == NULL         ? NULL
                             : json_is_true(archived) ? "true"
                                                      : "false",
                             NULL};
    json_t *doc = NULL;
    long long current = -1;
    project_outcome rc = call(ctx, PROJECT_OP_PATCH, values, &doc, &current);
    set_stale_etag(ctx, rc, current);
    answer(ctx, rc, 200, doc, ABOUT_PROJECT);
}

static void delete_project(api_request_ctx *ctx) {
    lower_ids(ctx);
    const char *values[3] = {ctx->path_params[0], ctx->user_id, NULL};
    json_t *doc = NULL;
    long long current = -1;
    project_outcome rc = uuid_is_valid(values[0])
                             ? call(ctx, PROJECT_OP_DELETE, values, &doc, &current)
                             : PROJECT_NOT_FOUND;
    set_stale_etag(ctx, rc, current);
    if (rc == PROJECT_OK) {
        log_json(LOG_INFO, "project deleted",
                 json_pack("{s:s,s:s}", "project_id", values[0], "user_id", ctx->user_id));
    }
    answer(ctx, rc, 204, NULL, ABOUT_PROJECT);
    json_decref(doc);
}

/* ------------------------------------------------------------------ members */

/* Runs a store op that answers {items} from a project id and the actor. */
static void list_of_project(api_request_ctx *ctx, project_op op) {
    lower_ids(ctx);
    const char *values[2] = {ctx->path_params[0], ctx->user_id};
    json_t *doc = NULL;
    project_outcome rc =
        uuid_is_valid(values[0]) ? call(ctx, op, values, &doc, NULL) : PROJECT_NOT_FOUND;
    answer(ctx, rc, 200, rc == PROJECT_OK ? json_pack("{s:o}", "items", doc) : NULL, ABOUT_PROJECT);
}

static void list_members(api_request_ctx *ctx) {
    list_of_project(ctx, PROJECT_OP_MEMBERS);
}

/* The target of a removal: its user id, or the actor for "me" (leaving); NULL when neither. */
static const char *member_target(const api_request_ctx *ctx) {
    const char *t = ctx->path_params[1];
    return strcmp(t, "me") == 0 ? ctx->user_id : uuid_is_valid(t) ? t : NULL;
}

static void patch_member(api_request_ctx *ctx) {
    lower_ids(ctx);
    /* Only a user id here ("me" is for leaving): an owner changing their own role names it. */
    const char *target = uuid_is_valid(ctx->path_params[1]) ? ctx->path_params[1] : NULL;
    if (!uuid_is_valid(ctx->path_params[0]) || target == NULL) {
        respond_not_found(ctx, ABOUT_MEMBER);
        return;
    }
    if (patch_body_parse(ctx) != 0) {
        return;
    }
    static const char *const FIELDS[] = {"role", NULL};
    json_t *errors = json_array();
    int rc = errors != NULL ? check_members_exactly(ctx->body, FIELDS, errors) : -1;
    if (rc == 0) {
        rc = check_role(json_object_get(ctx->body, "role"), errors);
    }
    if (respond_if_invalid(ctx, errors, rc != 0)) {
        return;
    }
    const char *values[4] = {ctx->path_params[0], ctx->user_id, target,
                             json_string_value(json_object_get(ctx->body, "role"))};
    json_t *doc = NULL;
    project_outcome outcome = call(ctx, PROJECT_OP_SET_ROLE, values, &doc, NULL);
    answer(ctx, outcome, 200, doc, ABOUT_MEMBER);
}

static void remove_member(api_request_ctx *ctx) {
    lower_ids(ctx);
    const char *target = member_target(ctx);
    if (!uuid_is_valid(ctx->path_params[0]) || target == NULL) {
        respond_not_found(ctx, ABOUT_MEMBER);
        return;
    }
    const char *values[3] = {ctx->path_params[0], ctx->user_id, target};
    json_t *doc = NULL;
    project_outcome rc = call(ctx, PROJECT_OP_REMOVE_MEMBER, values, &doc, NULL);
    if (rc == PROJECT_OK) {
        log_json(LOG_INFO, "project member removed",
                 json_pack("{s:s,s:s,s:s}", "project_id", values[0], "user_id", ctx->user_id,
                           "member_id", target));
    }
    answer(ctx, rc, 204, NULL, ABOUT_MEMBER);
    json_decref(doc);
}

/* ------------------------------------------------------------------ invitations */

static void invite(api_request_ctx *ctx) {
    lower_ids(ctx);
    if (!uuid_is_valid(ctx->path_params[0])) {
        respond_not_found(ctx, ABOUT_PROJECT);
        return;
    }
    static const char *const FIELDS[] = {"email", "role", NULL};
    char email[ACCOUNT_EMAIL_BUF];
    json_t *errors = json_array();
    int rc = errors != NULL ? check_members_exactly(ctx->body, FIELDS, errors) : -1;
    if (rc == 0) {
        const char *why =
            json_is_string(json_object_get(ctx->body, "email"))
                ? account_normalize_email(json_string_value(json_object_get(ctx->body, "email")),
                                          email, sizeof email)
                : "must be a string";
        rc = why != NULL ? api_field_error_add(errors, "email", why) : 0;
        rc |= check_role(json_object_get(ctx->body, "role"), errors);
    }
    if (respond_if_invalid(ctx, errors, rc != 0)) {
        return;
    }
    char id[UUID_STR_LEN];
    uuid7_generate(id);
    const char *values[7] = {id,
                             ctx->path_params[0],
                             ctx->user_id,
                             email,
                             json_string_value(json_object_get(ctx->body, "role")),
                             INVITATION_TTL_S,
                             MEMBERS_PER_PROJECT_MAX};
    json_t *doc = NULL;
    project_outcome out = call(ctx, PROJECT_OP_INVITE, values, &doc, NULL);
    if (out == PROJECT_OK) {
        char location[160];
        snprintf(location, sizeof location, "/api/v1/projects/%s/invitations/%s",
                 ctx->path_params[0], json_string_value(json_object_get(doc, "id")));
        api_set_header(ctx, "Location", location);
    }
    answer(ctx, out, 201, doc, ABOUT_NEW_INVITATION);
}

static void list_invitations(api_request_ctx *ctx) {
    list_of_project(ctx, PROJECT_OP_INVITATIONS);
}

static void revoke_invitation(api_request_ctx *ctx) {
    lower_ids(ctx);
    const char *values[3] = {ctx->path_params[0], ctx->path_params[1], ctx->user_id};
    json_t *doc = NULL;
    project_outcome rc = uuid_is_valid(values[0]) && uuid_is_valid(values[1])
                             ? call(ctx, PROJECT_OP_REVOKE, values, &doc, NULL)
                             : PROJECT_NOT_FOUND;
    answer(ctx, rc, 204, NULL, ABOUT_INVITATION);
    json_decref(doc);
}

static void accept_invitation(api_request_ctx *ctx) {
    lower_ids(ctx);
    const char *values[4] = {ctx->path_params[0], ctx->path_params[1], ctx->user_id,
                             PROJECTS_PER_USER_MAX};
    json_t *doc = NULL;
    project_outcome rc = uuid_is_valid(values[0]) && uuid_is_valid(values[1])
                             ? call(ctx, PROJECT_OP_ACCEPT, values, &doc, NULL)
                             : PROJECT_NOT_FOUND;
    if (rc == PROJECT_OK) {
        log_json(LOG_INFO, "project invitation accepted",
                 json_pack("{s:s,s:s}", "project_id", values[0], "user_id", ctx->user_id));
    }
    answer(ctx, rc, 200, doc, ABOUT_INVITATION);
}

static void my_invitations(api_request_ctx *ctx) {
    const char *values[1] = {ctx->user_id};
    json_t *doc = NULL;
    project_outcome rc = call(ctx, PROJECT_OP_MY_INVITATIONS, values, &doc, NULL);
    answer(ctx, rc, 200, rc == PROJECT_OK ? json_pack("{s:o}", "items", doc) : NULL,
           ABOUT_INVITATION);
}

const api_route ROUTES_PROJECTS[] = {
    {"POST", "/api/v1/projects", create_project, API_ROUTE_AUTH | API_ROUTE_JSON_BODY,
     API_SCOPE_PROJECTS_WRITE},
    {"GET", "/api/v1/projects", list_projects, API_ROUTE_AUTH, API_SCOPE_PROJECTS_READ},
    {"GET", "/api/v1/projects/:id", get_project, API_ROUTE_AUTH, API_SCOPE_PROJECTS_READ},
    {"PATCH", "/api/v1/projects/:id", patch_project, API_ROUTE_AUTH, API_SCOPE_PROJECTS_WRITE},
    {"DELETE", "/api/v1/projects/:id", delete_project, API_ROUTE_AUTH, API_SCOPE_PROJECTS_WRITE},
    {"GET", "/api/v1/projects/:id/members", list_members, API_ROUTE_AUTH, API_SCOPE_PROJECTS_READ},
    {"POST", "/api/v1/projects/:id/members", invite, API_ROUTE_AUTH | API_ROUTE_JSON_BODY,
     API_SCOPE_PROJECTS_WRITE},
    {"PATCH", "/api/v1/projects/:id/members/:user_id", patch_member, API_ROUTE_AUTH,
     API_SCOPE_PROJECTS_WRITE},
    {"DELETE", "/api/v1/projects/:id/members/:user_id", remove_member, API_ROUTE_AUTH,
     API_SCOPE_PROJECTS_WRITE},
    {"GET", "/api/v1/projects/:id/invitations", list_invitations, API_ROUTE_AUTH,
     API_SCOPE_PROJECTS_READ},
    {"DELETE", "/api/v1/projects/:id/invitations/:invitation_id", revoke_invitation, API_ROUTE_AUTH,
     API_SCOPE_PROJECTS_WRITE},
    {"POST", "/api/v1/projects/:id/invitations/:invitation_id/accept", accept_invitation,
     API_ROUTE_AUTH, API_SCOPE_PROJECTS_WRITE},
    {"GET", "/api/v1/invitations", my_invitations, API_ROUTE_AUTH, API_SCOPE_PROJECTS_READ},
    {NULL, NULL, NULL, 0, 0},
};
