/*
 * routes_admin.c: /api/v1/admin/... (ROUTES_ADMIN): the accounts as an admin sees them,
 * and what an admin may do to one (lock, unlock, sign out everywhere, set the role), with
 * the audit log of it.
 *
 * Owns: the HTTP side of those routes. Rules: every route declares API_SCOPE_ADMIN, so
 * the router answers anyone but an admin's session with the 404 of a missing path before
 * a handler runs (api/router.c); the actions are shared/admin_action.c's (which checks the
 * actor again under the row lock, audits and emits taskbus.admin.action in the same
 * transaction), and each answers 200 with the target's document as it is after the
 * action (a repeated lock changes nothing, is audited with changed: false and answers
 * 200 too).
 */
#include "api/admin_store.h"
#include "api/api_token_scope.h"
#include "api/list_query.h"
#include "api/routes.h"
#include "shared/admin_action.h"
#include "shared/log.h"

#include <string.h>

#define EMAIL_PREFIX_MAX 254

static void respond_unavailable(api_request_ctx *ctx) {
    api_set_header(ctx, "Retry-After", "1");
    api_respond_error(ctx, 503, "service-unavailable",
                      "the accounts could not be read or changed; retry shortly");
}

static void respond_no_user(api_request_ctx *ctx) {
    api_respond_error(ctx, 404, "not-found", "no such user");
}

static void respond_page(api_request_ctx *ctx, store_result r, json_t *items, const char *next) {
    if (r != STORE_FOUND) {
        respond_unavailable(ctx);
        return;
    }
    api_respond_json(ctx, 200,
                     json_pack("{s:o,s:o}", "items", items, "next_cursor",
                               next[0] != '\0' ? json_string(next) : json_null()));
}

/* ?limit=, ?cursor= (an id) and filters of an admin list: true to go on, false when the
 * request was answered (422, or 500 out of memory). */
static bool page_query(api_request_ctx *ctx, const list_query_filter *filters, const char **cursor,
                       int *limit) {
    json_t *errors = json_array();
    int parsed = errors != NULL
                     ? list_query_parse_filtered(ctx, ADMIN_LIST_LIMIT_MAX, limit, list_query_uuid,
                                                 cursor, filters, errors)
                     : -1;
    return !api_respond_if_field_errors(ctx, errors, parsed != 0);
}

static bool parse_email_prefix(const char *text, void *out) {
    size_t n = strlen(text);
    if (n == 0 || n > EMAIL_PREFIX_MAX)
        return false;
    *(const char **)out = text;
    return true;
}

static void list_users(api_request_ctx *ctx) {
    int limit = ADMIN_LIST_LIMIT_DEFAULT;
    admin_user_filter f = {0};
    const list_query_filter filters[] = {
        {"email_prefix", parse_email_prefix, &f.email_prefix, "must be 1 to 254 bytes"},
        {NULL, NULL, NULL, NULL},
    };
    if (!page_query(ctx, filters, &f.after, &limit))
        return;
    json_t *items = NULL;
    char next[UUID_STR_LEN];
    store_result r = admin_store_users(ctx->app, &f, limit, &items, next);
    respond_page(ctx, r, items, next);
}

static void get_user(api_request_ctx *ctx) {
    const char *id = ctx->path_params[0];
    json_t *doc = NULL;
    store_result r = uuid_is_valid(id) ? admin_store_user(ctx->app, id, &doc) : STORE_NOT_FOUND;
    if (r == STORE_FOUND)
        api_respond_json(ctx, 200, doc);
    else if (r == STORE_NOT_FOUND)
        respond_no_user(ctx);
    else
        respond_unavailable(ctx);
}

static void list_audit(api_request_ctx *ctx) {
    int limit = ADMIN_LIST_LIMIT_DEFAULT;
    admin_audit_filter f = {0};
    const list_query_filter filters[] = {
        {"target_id", list_query_uuid, &f.target_id, "must be a user id (a UUID)"},
        {"actor_id", list_query_uuid, &f.actor_id, "must be a user id (a UUID)"},
        {NULL, NULL, NULL, NULL},
    };
    if (!page_query(ctx, filters, &f.before, &limit))
        return;
    json_t *items = NULL;
    char next[UUID_STR_LEN];
    store_result r = admin_store_audit(ctx->app, &f, limit, &items, next);
    respond_page(ctx, r, items, next);
}

/* --- the actions --- */

/* The answer of an action; out is DONE's (its target document is taken). */
static void answer_action(api_request_ctx *ctx, admin_action_outcome o, admin_action_result *out,
                          const char *err) {
    switch (o) {
    case ADMIN_ACTION_DONE:
        /* The target as the transaction left it: no second read that could fail after the
         * COMMIT and invite a retry that acts twice. */
        api_respond_json(ctx, 200, json_incref(out->target));
        return;
    case ADMIN_ACTION_NOT_ADMIN: /* demoted or locked since the token was issued */
        api_respond_error(ctx, 404, "not-found", "no resource at this path");
        return;
    case ADMIN_ACTION_OWN_ACCOUNT:
        api_respond_error(ctx, 409, "own-account",
                          "an administrator cannot lock their own account or change their own "
                          "role; another administrator can");
        return;
    case ADMIN_ACTION_NOT_FOUND:
        respond_no_user(ctx);
        return;
    case ADMIN_ACTION_REDIS_DOWN:
    case ADMIN_ACTION_PG_DOWN:
        LOG_WARNF("admin: an action was not done: %s", err);
        respond_unavailable(ctx);
        return;
    case ADMIN_ACTION_FAILED:
    default:
        LOG_ERRORF("admin: an action failed: %s", err);
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
}

static void act(api_request_ctx *ctx, admin_action_kind kind, const char *role) {
    const char *target = ctx->path_params[0];
    if (!uuid_is_valid(target)) {
        respond_no_user(ctx);
        return;
    }
    char err[512] = "";
    pg_conn *conn = pg_pool_acquire(ctx->app->pg, API_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        answer_action(ctx, ADMIN_ACTION_PG_DOWN, NULL, err);
        return;
    }
    admin_action_request req = {
        .actor_id = ctx->user_id,
        .target_id = target,
        .kind = kind,
        .role = role,
        .redis = ctx->app->redis,
        .lease_ms = ctx->app->cfg->near_cache_lease_ms,
        .request_id = ctx->request_id,
        .traceparent = ctx->traceparent,
    };
    admin_action_result out;
    admin_action_outcome o = admin_action_run(conn, &req, &out, err, sizeof err);
    pg_pool_release(ctx->app->pg, conn);
    if (o == ADMIN_ACTION_DONE)
        log_json(LOG_INFO, "admin action", json_incref(out.audit));
    answer_action(ctx, o, &out, err);
    admin_action_result_clear(&out);
}

static void lock_user(api_request_ctx *ctx) {
    act(ctx, ADMIN_ACTION_LOCK, NULL);
}

static void unlock_user(api_request_ctx *ctx) {
    act(ctx, ADMIN_ACTION_UNLOCK, NULL);
}

static void logout_user_everywhere(api_request_ctx *ctx) {
    act(ctx, ADMIN_ACTION_LOGOUT_ALL, NULL);
}

/* PUT .../role {role}: exactly that member, "user" or "admin". */
static void set_role(api_request_ctx *ctx) {
    json_t *errors = json_array();
    const char *role = json_string_value(json_object_get(ctx->body, "role"));
    bool failed = errors == NULL;
    if (!failed && !admin_role_valid(role))
        failed = api_field_error_add(errors, "role", "must be \"user\" or \"admin\"") != 0;
    const char *key;
    json_t *value;
    json_object_foreach(ctx->body, key, value) {
        if (!failed && strcmp(key, "role") != 0)
            failed = api_field_error_add(errors, key, "unknown field") != 0;
    }
    if (api_respond_if_field_errors(ctx, errors, failed))
        return;
    act(ctx, ADMIN_ACTION_SET_ROLE, role);
}

const api_route ROUTES_ADMIN[] = {
    {"GET", "/api/v1/admin/users", list_users, API_ROUTE_AUTH, API_SCOPE_ADMIN},
    {"GET", "/api/v1/admin/users/:id", get_user, API_ROUTE_AUTH, API_SCOPE_ADMIN},
    {"POST", "/api/v1/admin/users/:id/lock", lock_user, API_ROUTE_AUTH, API_SCOPE_ADMIN},
    {"POST", "/api/v1/admin/users/:id/unlock", unlock_user, API_ROUTE_AUTH, API_SCOPE_ADMIN},
    {"POST", "/api/v1/admin/users/:id/logout-all", logout_user_everywhere, API_ROUTE_AUTH,
     API_SCOPE_ADMIN},
    {"PUT", "/api/v1/admin/users/:id/role", set_role, API_ROUTE_AUTH | API_ROUTE_JSON_BODY,
     API_SCOPE_ADMIN},
    {"GET", "/api/v1/admin/audit", list_audit, API_ROUTE_AUTH, API_SCOPE_ADMIN},
    {NULL, NULL, NULL, 0, 0},
};
