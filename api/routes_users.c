/*
 * routes_users.c: /api/v1/users/me (ROUTES_USERS).
 *
 * Owns: reading the caller's account and changing its display name. Rules: the user is
 * always the access token's sub; there is no route that reads a user by id. PATCH takes
 * the one member a user can change: a string replaces display_name; absent (an empty
 * patch would change nothing) and null (a user always has a display name) are 422, as is
 * any other member. Reads go to the primary, so a PATCH is visible at once.
 */
#include "api/account_validation.h"
#include "api/auth_sessions.h"
#include "api/routes.h"

/* 1 with *user filled; otherwise the request was answered. */
static int with_conn(api_request_ctx *ctx, const account_profile_patch *patch, auth_user *user) {
    pg_conn *conn = auth_acquire(ctx);
    if (conn == NULL)
        return -1;
    int found = patch != NULL && patch->set_display_name
                    ? auth_user_set_display_name(conn, ctx->user_id, patch->display_name, user)
                    : auth_user_by_id(conn, ctx->user_id, user);
    pg_pool_release(ctx->app->pg, conn);
    return auth_respond_self_lookup(ctx, found);
}

static void respond_user(api_request_ctx *ctx, const auth_user *user) {
    auth_respond_body(ctx, 200, auth_user_json(user));
}

static void handle_get_me(api_request_ctx *ctx) {
    auth_user user;
    if (with_conn(ctx, NULL, &user) == 1)
        respond_user(ctx, &user);
}

static void handle_patch_me(api_request_ctx *ctx) {
    account_profile_patch patch;
    json_t *errors = auth_field_errors_new(ctx);
    if (errors == NULL ||
        auth_field_errors_check(ctx, errors,
                                account_validate_profile_patch(ctx->body, &patch, errors)))
        return;
    auth_user user;
    if (with_conn(ctx, &patch, &user) == 1)
        respond_user(ctx, &user);
}

const api_route ROUTES_USERS[] = {
    {"GET", "/api/v1/users/me", handle_get_me, API_ROUTE_AUTH},
    {"PATCH", "/api/v1/users/me", handle_patch_me, API_ROUTE_JSON_BODY | API_ROUTE_AUTH},
    {NULL, NULL, NULL, 0},
};
