/*
 * routes_auth.c: /api/v1/auth/... (ROUTES_AUTH): login, refresh, logout, logout-all and
 * password change (registration: routes_register.c).
 *
 * Owns: the order of work in each handler and its HTTP answers (README and
 * docs/decisions.md list them). Rules: argon2 runs with no pooled connection held; writes
 * that must agree (user + session + outbox event; epoch bump + revocations + new session +
 * event) are one transaction; revocation facts go to Redis before that transaction
 * commits, and a failed commit takes the published epoch back. Unknown e-mail and wrong
 * password answer the same 401 after the same amount of argon2 work.
 */
#include <stdio.h>
#include <string.h>

#include "api/account_effects.h"
#include "api/account_reauth.h"
#include "api/account_validation.h"
#include "api/auth_password.h"
#include "api/auth_sessions.h"
#include "api/rate_limiter.h"
#include "api/request_body.h"
#include "api/api_token_scope.h"
#include "api/routes.h"
#include "shared/log.h"

static auth_status begin(pg_conn *conn) {
    char err[256];
    if (pg_begin(conn, err, sizeof err) != 0) {
        LOG_WARNF("accounts: BEGIN failed: %s", err);
        return AUTH_UNAVAILABLE;
    }
    return AUTH_OK;
}

/* Ends the open transaction: COMMIT when st is AUTH_OK, else (or when the COMMIT fails)
 * ROLLBACK. Returns the final status. */
static auth_status finish(pg_conn *conn, auth_status st) {
    char err[256];
    if (st == AUTH_OK && pg_commit(conn, err, sizeof err) != 0) {
        LOG_WARNF("accounts: COMMIT failed: %s", err);
        st = AUTH_UNAVAILABLE;
    }
    if (st != AUTH_OK)
        pg_rollback(conn);
    return st;
}

static void respond_pair(api_request_ctx *ctx, int status, const auth_user *user,
                         const char *family_id, const char *refresh_token) {
    auth_respond_body(ctx, status, auth_token_pair(ctx->app, user, family_id, refresh_token));
}

/* 0 when the password matched; otherwise answers (500 when argon2 failed, else status
 * invalid-credentials with detail) and returns -1. */
static int require_match(api_request_ctx *ctx, auth_password_result match, int status,
                         const char *detail) {
    if (match == AUTH_PASSWORD_MATCH)
        return 0;
    if (match == AUTH_PASSWORD_ERROR)
        auth_respond_failure(ctx, AUTH_INTERNAL);
    else
        api_respond_error(ctx, status, "invalid-credentials", detail);
    return -1;
}

/* ---------------------------------------------------------------- login */

/* The user row for an e-mail: 1, 0, or < 0 (answered). */
static int load_by_email(api_request_ctx *ctx, const char *email, auth_user *user) {
    pg_conn *conn = auth_acquire(ctx);
    if (conn == NULL)
        return AUTH_UNAVAILABLE;
    int found = auth_user_by_email(conn, email, user);
    pg_pool_release(ctx->app->pg, conn);
    if (found < 0)
        auth_respond_failure(ctx, (auth_status)found);
    return found;
}

/* After a good password: a rehash when the settings changed, then a new session. */
static auth_status open_session(api_request_ctx *ctx, const char *password, auth_user *user,
                                char family_id[UUID_STR_LEN], char token[AUTH_REFRESH_TOKEN_BUF]) {
    const taskbus_config *cfg = ctx->app->cfg;
    char new_hash[AUTH_PASSWORD_HASH_BUF];
    bool rehash = auth_password_needs_rehash(cfg, user->password_hash) &&
                  auth_password_hash(cfg, password, new_hash) == 0;
    char err[256];
    pg_conn *conn = pg_pool_acquire(ctx->app->pg, API_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("accounts: no database connection for a login: %s", err);
        return AUTH_UNAVAILABLE;
    }
    if (rehash && auth_user_rehash(conn, user->id, user->password_hash, new_hash) == 1)
        LOG_INFOF("accounts: password hash upgraded to the current argon2 settings");
    auth_sessions_prune(conn, user->id);
    auth_status st = auth_session_start(conn, cfg, user->id, family_id, token);
    pg_pool_release(ctx->app->pg, conn);
    return st;
}

static void handle_login(api_request_ctx *ctx) {
    account_login_input in;
    json_t *errors = auth_field_errors_new(ctx);
    if (errors == NULL ||
        auth_field_errors_check(ctx, errors, account_validate_login(ctx->body, &in, errors)))
        return;
    /* Before any argon2 work: a guesser must not learn whether a guess was right. */
    if (api_limit_login_account(ctx, in.email) != 0)
        return;
    auth_user user;
    int found = load_by_email(ctx, in.email, &user);
    if (found < 0)
        return;
    auth_password_result match = AUTH_PASSWORD_MISMATCH;
    if (found == 1)
        match = auth_password_verify(ctx->app->cfg, user.password_hash, in.password);
    else
        auth_password_verify_dummy(ctx->app->cfg, in.password);
    if (require_match(ctx, match, 401, "the e-mail or password is wrong") != 0)
        return;
    /* Only after the password matched: the lock is no oracle to a guesser. */
    if (user.locked) {
        api_respond_error(ctx, 403, "account-locked", "this account is locked by an administrator");
        return;
    }
    char family_id[UUID_STR_LEN];
    char token[AUTH_REFRESH_TOKEN_BUF];
    auth_status st = open_session(ctx, in.password, &user, family_id, token);
    if (st != AUTH_OK) {
        auth_respond_failure(ctx, st);
        return;
    }
    respond_pair(ctx, 200, &user, family_id, token);
}

/* ---------------------------------------------------------------- refresh */

static void handle_refresh(api_request_ctx *ctx) {
    const char *presented = NULL;
    json_t *errors = auth_field_errors_new(ctx);
    if (errors == NULL ||
        auth_field_errors_check(ctx, errors,
                                account_validate_refresh_body(ctx->body, true, &presented, errors)))
        return;
    auth_user user;
    char family_id[UUID_STR_LEN];
    char token[AUTH_REFRESH_TOKEN_BUF];
    switch (auth_session_rotate(ctx->app, presented, &user, family_id, token)) {
    case AUTH_ROTATE_OK:
        respond_pair(ctx, 200, &user, family_id, token);
        return;
    case AUTH_ROTATE_INVALID:
    case AUTH_ROTATE_EXPIRED:
    case AUTH_ROTATE_REUSED:
        api_respond_error(ctx, 401, "unauthorized",
                          "the refresh token is invalid, expired or revoked; sign in again");
        return;
    case AUTH_ROTATE_UNAVAILABLE:
        auth_respond_failure(ctx, AUTH_UNAVAILABLE);
        return;
    case AUTH_ROTATE_ERROR:
    default:
        auth_respond_failure(ctx, AUTH_INTERNAL);
        return;
    }
}

/* ---------------------------------------------------------------- logout */

/* Logout's body is optional, so the router does not parse it: the same checks here.
 * 0 with *body set (NULL when there is no body), or -1 when answered. */
static int optional_body(api_request_ctx *ctx, json_t **body) {
    *body = NULL;
    if (ctx->req->binary_body_length == 0)
        return 0;
    if (!request_body_is_json_type(api_header(ctx, "Content-Type"))) {
        api_respond_error(ctx, 415, "unsupported-media-type",
                          "the request body must be sent as Content-Type: application/json");
        return -1;
    }
    char detail[320];
    if (request_body_parse_object(ctx->req->binary_body, ctx->req->binary_body_length, body, detail,
                                  sizeof detail) != BODY_OK) {
        api_respond_error(ctx, 400, "malformed-json", detail);
        return -1;
    }
    return 0;
}

/* Revokes the token's session and, when presented names another session of the same
 * user, that one too; a token of someone else is ignored. */
static auth_status logout_in(pg_conn *conn, api_request_ctx *ctx, const char *presented) {
    if (begin(conn) != AUTH_OK)
        return AUTH_UNAVAILABLE;
    auth_status st = auth_session_revoke(conn, ctx->app, ctx->user_id, ctx->session_id);
    char other[UUID_STR_LEN];
    if (st == AUTH_OK && presented != NULL) {
        int found = auth_session_family_of(conn, presented, ctx->user_id, other);
        if (found < 0)
            st = (auth_status)found;
        else if (found == 1 && strcmp(other, ctx->session_id) != 0)
            st = auth_session_revoke(conn, ctx->app, ctx->user_id, other);
    }
    return finish(conn, st);
}

static void handle_logout(api_request_ctx *ctx) {
    json_t *body = NULL;
    if (optional_body(ctx, &body) != 0)
        return;
    const char *presented = NULL;
    json_t *errors = auth_field_errors_new(ctx);
    if (errors == NULL ||
        auth_field_errors_check(
            ctx, errors,
            body != NULL ? account_validate_refresh_body(body, false, &presented, errors) : 0)) {
        json_decref(body);
        return;
    }
    pg_conn *conn = auth_acquire(ctx);
    if (conn != NULL) {
        auth_status st = logout_in(conn, ctx, presented);
        pg_pool_release(ctx->app->pg, conn);
        if (st != AUTH_OK)
            auth_respond_failure(ctx, st);
        else
            api_respond_empty(ctx, 204);
    }
    json_decref(body); /* presented pointed into it */
}

static void handle_logout_all(api_request_ctx *ctx) {
    pg_conn *conn = auth_acquire(ctx);
    if (conn == NULL)
        return;
    long long epoch = 0;
    bool published = false;
    auth_status st = begin(conn);
    if (st == AUTH_OK)
        st = auth_epoch_bump(conn, ctx->user_id, &epoch);
    if (st == AUTH_OK) {
        st = auth_epoch_publish(ctx->app, ctx->user_id, epoch);
        published = st == AUTH_OK;
    }
    if (st == AUTH_OK)
        st = auth_sessions_revoke_all(conn, ctx->user_id);
    st = finish(conn, st);
    if (st != AUTH_OK && published)
        auth_epoch_forget(ctx->app, ctx->user_id);
    pg_pool_release(ctx->app->pg, conn);
    if (st != AUTH_OK)
        auth_respond_failure(ctx, st);
    else
        api_respond_empty(ctx, 204);
}

/* ---------------------------------------------------------------- password change */

typedef struct password_change {
    const auth_user *before;
    const char *new_hash;
    auth_user after;
    char family_id[UUID_STR_LEN];
    char token[AUTH_REFRESH_TOKEN_BUF];
    bool published;
} password_change;

/* 1 done, 0 the password changed meanwhile, or < 0; the transaction is closed. */
static int change_in(pg_conn *conn, api_request_ctx *ctx, password_change *pc) {
    if (begin(conn) != AUTH_OK)
        return AUTH_UNAVAILABLE;
    int updated = auth_user_change_password(conn, pc->before->id, pc->before->password_hash,
                                            pc->new_hash, &pc->after);
    if (updated <= 0) {
        pg_rollback(conn);
        return updated;
    }
    auth_status st = account_password_replaced(conn, ctx, &pc->after, &pc->published);
    if (st == AUTH_OK)
        st = auth_session_start(conn, ctx->app->cfg, pc->after.id, pc->family_id, pc->token);
    st = finish(conn, st);
    return st == AUTH_OK ? 1 : st;
}

/* The caller's row: 1, or 0/-1 when answered. */
static int load_self(api_request_ctx *ctx, auth_user *user) {
    pg_conn *conn = auth_acquire(ctx);
    if (conn == NULL)
        return -1;
    int found = auth_user_by_id(conn, ctx->user_id, user);
    pg_pool_release(ctx->app->pg, conn);
    return auth_respond_self_lookup(ctx, found);
}

static void handle_password(api_request_ctx *ctx) {
    account_password_change_input in;
    json_t *errors = auth_field_errors_new(ctx);
    if (errors == NULL ||
        auth_field_errors_check(ctx, errors,
                                account_validate_password_change(ctx->body, &in, errors)))
        return;
    auth_user before;
    if (load_self(ctx, &before) != 1)
        return;
    if (account_reauth(ctx, &before, in.current_password) != 0)
        return;
    char new_hash[AUTH_PASSWORD_HASH_BUF];
    if (auth_password_hash(ctx->app->cfg, in.new_password, new_hash) != 0) {
        auth_respond_failure(ctx, AUTH_INTERNAL);
        return;
    }
    password_change pc = {.before = &before, .new_hash = new_hash};
    pg_conn *conn = auth_acquire(ctx);
    if (conn == NULL)
        return;
    int rc = change_in(conn, ctx, &pc);
    pg_pool_release(ctx->app->pg, conn);
    if (rc < 0 && pc.published)
        auth_epoch_forget(ctx->app, before.id);
    if (rc == 0)
        api_respond_error(ctx, 403, "invalid-credentials",
                          "the password was changed by another request meanwhile");
    else if (rc < 0)
        auth_respond_failure(ctx, (auth_status)rc);
    else
        respond_pair(ctx, 200, &pc.after, pc.family_id, pc.token);
}

const api_route ROUTES_AUTH[] = {
    {"POST", "/api/v1/auth/login", handle_login, API_ROUTE_JSON_BODY | API_ROUTE_AUTH_LIMIT,
     API_SCOPE_PUBLIC},
    {"POST", "/api/v1/auth/refresh", handle_refresh, API_ROUTE_JSON_BODY | API_ROUTE_AUTH_LIMIT,
     API_SCOPE_PUBLIC},
    {"POST", "/api/v1/auth/logout", handle_logout, API_ROUTE_AUTH, API_SCOPE_SESSION},
    {"POST", "/api/v1/auth/logout-all", handle_logout_all, API_ROUTE_AUTH, API_SCOPE_SESSION},
    {"PUT", "/api/v1/auth/password", handle_password, API_ROUTE_JSON_BODY | API_ROUTE_AUTH,
     API_SCOPE_SESSION},
    {NULL, NULL, NULL, 0, 0},
};
