/*
 * routes_users.c: /api/v1/users/me (ROUTES_USERS).
 *
 * Owns: reading the caller's account, changing its display name, and starting a change of
 * its e-mail address. Rules: the user is always the access token's sub; there is no route
 * that reads a user by id. PATCH: a string replaces display_name (null is 422: a user
 * always has one); email with current_password starts an address change that waits for
 * the new address's link (api/email_change.h): 202 with the account as it is and
 * pending_email; a patch with neither is 422, as is any other member. The password is
 * checked like a password change's (the per-account sign-in bucket first; 403 when
 * wrong). Reads go to the primary, so a PATCH is visible at once.
 */
#include <string.h>

#include "api/account_validation.h"
#include "api/auth_password.h"
#include "api/auth_sessions.h"
#include "api/email_change.h"
#include "api/rate_limiter.h"
#include "api/routes.h"
#include "shared/log.h"

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

/* The patch's writes in one transaction: the display name (when given) and the start of
 * the address change. 1, or < 0. */
static int change_in(pg_conn *conn, api_request_ctx *ctx, const account_profile_patch *patch,
                     const auth_user *before, auth_user *after) {
    char err[256];
    if (pg_begin(conn, err, sizeof err) != 0) {
        LOG_WARNF("accounts: BEGIN: %s", err);
        return AUTH_UNAVAILABLE;
    }
    int rc = 1;
    *after = *before;
    if (patch->set_display_name) {
        rc = auth_user_set_display_name(conn, ctx->user_id, patch->display_name, after);
        rc = rc == 0 ? AUTH_USER_GONE : rc;
    }
    if (rc == 1) {
        auth_status st = email_change_start(conn, ctx, before, patch->email);
        rc = st == AUTH_OK ? 1 : st;
    }
    if (rc == 1 && pg_commit(conn, err, sizeof err) != 0) {
        LOG_WARNF("accounts: COMMIT: %s", err);
        rc = AUTH_UNAVAILABLE;
    }
    if (rc != 1)
        pg_rollback(conn);
    return rc;
}

/* PATCH with email: the password checked, then the change started. */
static void start_email_change(api_request_ctx *ctx, const account_profile_patch *patch) {
    auth_user before, after;
    if (with_conn(ctx, NULL, &before) != 1)
        return;
    if (strcmp(before.email, patch->email) == 0) {
        json_t *errors = auth_field_errors_new(ctx);
        if (errors != NULL) {
            account_field_error(errors, "email", "is the account's address already");
            auth_respond_field_errors(ctx, errors);
        }
        return;
    }
    if (api_limit_login_account(ctx, before.email) != 0)
        return;
    auth_password_result match =
        auth_password_verify(ctx->app->cfg, before.password_hash, patch->current_password);
    if (match != AUTH_PASSWORD_MATCH) {
        if (match == AUTH_PASSWORD_ERROR)
            auth_respond_failure(ctx, AUTH_INTERNAL);
        else
            api_respond_error(ctx, 403, "invalid-credentials", "current_password is wrong");
        return;
    }
    /* The new address may be anyone's: it pays like a reset request does, taken or not. */
    if (api_limit_mail_address(ctx, patch->email) != 0)
        return;
    pg_conn *conn = auth_acquire(ctx);
    if (conn == NULL)
        return;
    int rc = change_in(conn, ctx, patch, &before, &after);
    pg_pool_release(ctx->app->pg, conn);
    if (rc < 0) {
        auth_respond_failure(ctx, (auth_status)rc);
        return;
    }
    json_t *body = auth_user_json(&after);
    if (body != NULL &&
        json_object_set_new(body, "pending_email", json_string(patch->email)) != 0) {
        json_decref(body);
        body = NULL;
    }
    auth_respond_body(ctx, 202, body);
}

static void handle_patch_me(api_request_ctx *ctx) {
    account_profile_patch patch;
    json_t *errors = auth_field_errors_new(ctx);
    if (errors == NULL ||
        auth_field_errors_check(ctx, errors,
                                account_validate_profile_patch(ctx->body, &patch, errors)))
        return;
    if (patch.set_email) {
        start_email_change(ctx, &patch);
        return;
    }
    auth_user user;
    if (with_conn(ctx, &patch, &user) == 1)
        respond_user(ctx, &user);
}

const api_route ROUTES_USERS[] = {
    {"GET", "/api/v1/users/me", handle_get_me, API_ROUTE_AUTH},
    {"PATCH", "/api/v1/users/me", handle_patch_me, API_ROUTE_JSON_BODY | API_ROUTE_AUTH},
    {NULL, NULL, NULL, 0},
};
