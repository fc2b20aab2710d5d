/*
 * routes_users.c: /api/v1/users/me (ROUTES_USERS).
 *
 * Owns: reading the caller's account and changing its display name. Rules: the user is
 * always the access token's sub; there is no route that reads a user by id. PATCH follows
 * JSON merge-patch for the one member it accepts: absent leaves display_name alone, a
 * string replaces it, null (removal) is a 422 because a user always has a display name;
 * any other member is a 422. Reads go to the primary, so a PATCH is visible at once.
 */
#include "api/account_validation.h"
#include "api/auth_sessions.h"
#include "api/routes.h"
#include "shared/log.h"

/* 1 with *user filled; otherwise the request was answered. */
static int with_conn(api_request_ctx *ctx, const account_profile_patch *patch, auth_user *user) {
    char err[256];
    pg_conn *conn = pg_pool_acquire(ctx->app->pg, AUTH_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("accounts: no database connection: %s", err);
        auth_respond_failure(ctx, AUTH_UNAVAILABLE);
        return -1;
    }
    int found = patch != NULL && patch->set_display_name
                    ? auth_user_set_display_name(conn, ctx->user_id, patch->display_name, user)
                    : auth_user_by_id(conn, ctx->user_id, user);
    pg_pool_release(ctx->app->pg, conn);
    if (found < 0)
        auth_respond_failure(ctx, (auth_status)found);
    else if (found == 0)
        api_respond_error(ctx, 401, "unauthorized", "the account no longer exists");
    return found;
}

static void respond_user(api_request_ctx *ctx, const auth_user *user) {
    json_t *body = auth_user_json(user);
    if (body == NULL) {
        auth_respond_failure(ctx, AUTH_INTERNAL);
        return;
    }
    api_respond_json(ctx, 200, body);
}

static void handle_get_me(api_request_ctx *ctx) {
    auth_user user;
    if (with_conn(ctx, NULL, &user) == 1)
        respond_user(ctx, &user);
}

static void handle_patch_me(api_request_ctx *ctx) {
    account_profile_patch patch;
    json_t *errors = json_array();
    if (errors == NULL) {
        auth_respond_failure(ctx, AUTH_INTERNAL);
        return;
    }
    if (account_validate_profile_patch(ctx->body, &patch, errors) > 0) {
        auth_respond_field_errors(ctx, errors);
        return;
    }
    json_decref(errors);
    auth_user user;
    if (with_conn(ctx, &patch, &user) == 1)
        respond_user(ctx, &user);
}

const api_route ROUTES_USERS[] = {
    {"GET", "/api/v1/users/me", handle_get_me, API_ROUTE_AUTH},
    {"PATCH", "/api/v1/users/me", handle_patch_me, API_ROUTE_JSON_BODY | API_ROUTE_AUTH},
    {NULL, NULL, NULL, 0},
};
