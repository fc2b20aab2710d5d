/*
 * routes_users.c: /api/v1/users/me (ROUTES_USERS).
 *
 * Owns: reading the caller's account, changing its display name, starting a change of
 * its e-mail address, and deleting it. Rules: the user is always the access token's sub; there is
 * no route that reads a user by id. PATCH: a string replaces display_name (null is 422: a user
 * always has one); email with current_password starts an address change that waits for
 * the new address's link (api/email_change.h): 202 with the account as it is and
 * pending_email; a patch with neither is 422, as is any other member. The password is
 * checked like a password change's (api/account_reauth.h). DELETE {current_password}
 * erases the account (shared/user_erasure.h) after the same check: 204; 409 sole-owner
 * (with the projects) while it is the only owner of a team project; 403 when the password
 * changed between the check and the erasure. Reads go to the primary, so a PATCH is
 * visible at once.
 */
#include <stdlib.h>
#include <string.h>

#include "api/account_reauth.h"
#include "api/account_validation.h"
#include "api/auth_sessions.h"
#include "api/email_change.h"
#include "api/rate_limiter.h"
#include "api/api_token_scope.h"
#include "api/routes.h"
#include "shared/log.h"
#include "shared/problem.h"
#include "shared/user_erasure.h"

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
    if (account_reauth(ctx, &before, patch->current_password) != 0)
        return;
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

/* ---------------------------------------------------------------- deletion */

/* 409 sole-owner naming the projects (comma-separated ids) the account would orphan. */
static void respond_sole_owner(api_request_ctx *ctx, const char *projects) {
    json_t *problem = problem_new(409, "sole-owner",
                                  "the account is the only owner of team projects: make another "
                                  "member an owner, or delete them, first",
                                  ctx->request_id);
    json_t *ids = json_array();
    char *list = strdup(projects);
    for (char *save = NULL, *id = list != NULL ? strtok_r(list, ",", &save) : NULL;
         id != NULL && ids != NULL; id = strtok_r(NULL, ",", &save))
        json_array_append_new(ids, json_string(id));
    free(list);
    if (problem == NULL || ids == NULL || list == NULL) {
        json_decref(ids);
        json_decref(problem);
        auth_respond_failure(ctx, AUTH_INTERNAL);
        return;
    }
    if (json_object_set_new(problem, "projects", ids) != 0) {
        json_decref(problem);
        auth_respond_failure(ctx, AUTH_INTERNAL);
        return;
    }
    api_respond_problem(ctx, problem);
}

/* The erasure's outcome as the answer. */
static void respond_erasure(api_request_ctx *ctx, user_erasure_outcome o,
                            const user_erasure_result *r, const char *err) {
    switch (o) {
    case USER_ERASURE_DONE:
        api_respond_empty(ctx, 204);
        return;
    case USER_ERASURE_NOT_FOUND:
        auth_respond_failure(ctx, AUTH_USER_GONE);
        return;
    case USER_ERASURE_CHANGED:
        api_respond_error(ctx, 403, "invalid-credentials",
                          "the password was changed by another request meanwhile");
        return;
    case USER_ERASURE_SOLE_OWNER:
        respond_sole_owner(ctx, r->sole_owned);
        return;
    case USER_ERASURE_REDIS_DOWN:
    case USER_ERASURE_PG_DOWN:
    case USER_ERASURE_DEADLOCK:
        LOG_WARNF("accounts: deletion: %s", err);
        auth_respond_failure(ctx, AUTH_UNAVAILABLE);
        return;
    case USER_ERASURE_FAILED:
        break;
    }
    LOG_ERRORF("accounts: deletion: %s", err);
    auth_respond_failure(ctx, AUTH_INTERNAL);
}

static void handle_delete_me(api_request_ctx *ctx) {
    const char *password = NULL;
    json_t *errors = auth_field_errors_new(ctx);
    if (errors == NULL || auth_field_errors_check(
                              ctx, errors, account_validate_deletion(ctx->body, &password, errors)))
        return;
    auth_user user;
    if (with_conn(ctx, NULL, &user) != 1 || account_reauth(ctx, &user, password) != 0)
        return;
    pg_conn *conn = auth_acquire(ctx);
    if (conn == NULL)
        return;
    char err[512] = "";
    user_erasure_request req = {.user_id = user.id,
                                .expect_password_hash = user.password_hash,
                                .redis = ctx->app->redis,
                                .access_ttl_s = ctx->app->cfg->access_ttl_s,
                                .lease_ms = ctx->app->cfg->near_cache_lease_ms,
                                .request_id = ctx->request_id,
                                .traceparent = ctx->traceparent};
    user_erasure_result r;
    user_erasure_outcome o = user_erase(conn, &req, &r, err, sizeof err);
    pg_pool_release(ctx->app->pg, conn);
    if (r.keys_failed)
        LOG_WARNF("accounts: deletion of %s: its Redis keys stay until they expire (%s)", user.id,
                  r.keys_error);
    respond_erasure(ctx, o, &r, err);
    free(r.sole_owned);
}

const api_route ROUTES_USERS[] = {
    {"GET", "/api/v1/users/me", handle_get_me, API_ROUTE_AUTH, API_SCOPE_ANY},
    {"PATCH", "/api/v1/users/me", handle_patch_me, API_ROUTE_JSON_BODY | API_ROUTE_AUTH,
     API_SCOPE_SESSION},
    {"DELETE", "/api/v1/users/me", handle_delete_me, API_ROUTE_JSON_BODY | API_ROUTE_AUTH,
     API_SCOPE_SESSION},
    {NULL, NULL, NULL, 0, 0},
};
