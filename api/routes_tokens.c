/*
 * routes_tokens.c: personal API tokens (ROUTES_TOKENS): POST /api/v1/tokens,
 * GET /api/v1/tokens, DELETE /api/v1/tokens/:id.
 *
 * Owns: making, listing and revoking a user's tokens. Rules: a signed-in session only
 * (API_SCOPE_SESSION: a token never makes or ends tokens); the raw token is in the 201 and
 * nowhere else (stored as its SHA-256, never logged, wiped once answered); at most
 * API_TOKEN_MAX_PER_USER live tokens per user, counted under the user row's lock; a list
 * shows the live ones (not revoked, not expired, of the current token epoch) oldest
 * first, never the token. A revocation commits, then has every API instance drop the
 * user's kept verdicts (near_cache_bus_invalidate_user) before it answers 204, so the
 * token is refused everywhere from the answer on (api/api_token_check.h); when the
 * instances cannot be told it answers 503, and the retried DELETE of the revoked token
 * tells them (204). An event stream the token opened ends within an access token's
 * lifetime (api/routes_events.c).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_token_format.h"
#include "api/api_token_request.h"
#include "api/api_token_scope.h"
#include "api/auth_sessions.h"
#include "api/routes.h"
#include "shared/log.h"
#include "shared/near_cache_bus.h"
#include "shared/stringify.h"
#include "shared/time_util.h"

#define API_TOKEN_MAX_PER_USER 50

/* The user row, locked, only while the session that asks is of the user's current epoch
 * and the account is not locked: a token created while a lock, a sign-out everywhere or a
 * password change commits would otherwise be made in the new epoch and outlive them. The
 * lock waits for such a transaction and the condition is read again after it. */
static const pg_stmt LOCK_USER = {
    .name = "api_tokens_lock_user",
    .sql = "SELECT 1 FROM users WHERE id = $1::uuid AND token_epoch = $2::bigint"
           " AND locked_at IS NULL FOR NO KEY UPDATE",
    .nparams = 2,
};

/* Live: not revoked, not expired, made in the user's current token epoch. */
#define LIVE                                                                                       \
    "t.revoked_at IS NULL AND t.token_epoch = u.token_epoch"                                       \
    " AND (t.expires_at IS NULL OR t.expires_at > statement_timestamp())"

#define DOC_COLUMNS                                                                                \
    "t.id::text, t.name, array_to_string(t.scopes, ' '), t.prefix, taskbus_ts(t.created_at),"      \
    " taskbus_ts(t.expires_at), taskbus_ts(t.last_used_at)"

/* $6: expires_at as Unix ms, or NULL. Nothing when the user has the most live tokens. */
static const pg_stmt INSERT_TOKEN = {
    .name = "api_tokens_insert",
    .sql =
        "INSERT INTO api_tokens AS t (id, user_id, name, scopes, token_hash, prefix, token_epoch,"
        " expires_at)"
        " SELECT $1::uuid, u.id, $3, string_to_array($4, ' '), decode($5, 'hex'), $7,"
        " u.token_epoch, to_timestamp($6::double precision / 1000)"
        " FROM users u WHERE u.id = $2::uuid AND (SELECT count(*) FROM api_tokens t"
        " WHERE t.user_id = u.id AND " LIVE
        ") < " STRINGIFY(API_TOKEN_MAX_PER_USER) " RETURNING " DOC_COLUMNS,
    .nparams = 7,
};

static const pg_stmt LIST_TOKENS = {
    .name = "api_tokens_list",
    .sql = "SELECT " DOC_COLUMNS " FROM api_tokens t JOIN users u ON u.id = t.user_id"
           " WHERE t.user_id = $1::uuid AND " LIVE " ORDER BY t.created_at, t.id",
    .nparams = 1,
};

/* Also a token revoked before (its first revocation time kept): a DELETE that answered
 * 503 because the instances could not be told is retried, and tells them this time. */
static const pg_stmt REVOKE_TOKEN = {
    .name = "api_tokens_revoke",
    .sql = "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, statement_timestamp())"
           " WHERE id = $1::uuid AND user_id = $2::uuid",
    .nparams = 2,
};

/* A token's document from row of a DOC_COLUMNS result. */
static json_t *token_doc(const PGresult *res, int row) {
    unsigned scopes = api_scopes_parse_list(PQgetvalue(res, row, 2));
    json_t *doc = json_pack("{s:s,s:s,s:o*,s:s,s:s}", "id", PQgetvalue(res, row, 0), "name",
                            PQgetvalue(res, row, 1), "scopes", api_scopes_json(scopes), "prefix",
                            PQgetvalue(res, row, 3), "created_at", PQgetvalue(res, row, 4));
    for (int col = 5; doc != NULL && col <= 6; col++) {
        const char *key = col == 5 ? "expires_at" : "last_used_at";
        json_t *v =
            PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
        if (json_object_set_new(doc, key, v) != 0) {
            json_decref(doc);
            doc = NULL;
        }
    }
    return doc;
}

/* Runs stmt on conn; the result, or NULL with *st set. */
static PGresult *run(pg_conn *conn, const pg_stmt *stmt, const char *const *vals, auth_status *st) {
    PGresult *res = pg_exec_stmt(conn, stmt, vals);
    *st = auth_result_status(res, stmt->name);
    if (*st == AUTH_OK)
        return res;
    PQclear(res);
    return NULL;
}

/* --- POST /api/v1/tokens ------------------------------------------------------------ */

/* The insert under the user row's lock: the row, NULL with *st (AUTH_OK: the limit). */
static PGresult *insert_locked(pg_conn *conn, const char *const *vals, long long epoch,
                               auth_status *st) {
    char err[256];
    if (pg_begin(conn, err, sizeof err) != 0) {
        LOG_WARNF("api tokens: BEGIN: %s", err);
        *st = AUTH_UNAVAILABLE;
        return NULL;
    }
    char epoch_text[24];
    snprintf(epoch_text, sizeof epoch_text, "%lld", epoch);
    const char *uid[2] = {vals[1], epoch_text};
    PGresult *lock = run(conn, &LOCK_USER, uid, st);
    bool present = lock != NULL && PQntuples(lock) == 1;
    PQclear(lock);
    if (lock != NULL && !present)
        *st = AUTH_USER_GONE;
    PGresult *res = *st == AUTH_OK ? run(conn, &INSERT_TOKEN, vals, st) : NULL;
    if (res != NULL && pg_commit(conn, err, sizeof err) != 0) {
        LOG_WARNF("api tokens: COMMIT: %s", err);
        PQclear(res);
        res = NULL;
        *st = AUTH_UNAVAILABLE;
    }
    if (res == NULL)
        pg_rollback(conn);
    return res;
}

static void respond_created(api_request_ctx *ctx, PGresult *res, char *token) {
    json_t *doc = token_doc(res, 0);
    char location[96];
    snprintf(location, sizeof location, "/api/v1/tokens/%s", PQgetvalue(res, 0, 0));
    if (doc != NULL && json_object_set_new(doc, "token", json_string(token)) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    sodium_memzero(token, API_TOKEN_BUF);
    if (doc != NULL)
        api_set_header(ctx, "Location", location);
    auth_respond_body(ctx, 201, doc);
}

static void create_token(api_request_ctx *ctx) {
    api_token_create_input in;
    json_t *errors = auth_field_errors_new(ctx);
    if (errors == NULL ||
        auth_field_errors_check(
            ctx, errors, api_token_validate_create(ctx->body, time_now_unix_ms(), &in, errors)))
        return;
    char token[API_TOKEN_BUF], hash[API_TOKEN_HASH_HEX_BUF], id[UUID_STR_LEN], prefix[16];
    char scopes[256] = "", expires[24];
    if (api_token_new(ctx->user_id, token, hash) != 0) {
        auth_respond_failure(ctx, AUTH_INTERNAL);
        return;
    }
    uuid7_generate(id);
    snprintf(prefix, sizeof prefix, "%.*s", API_TOKEN_SHOWN_CHARS, token);
    api_scopes_text(in.scopes, scopes, sizeof scopes);
    snprintf(expires, sizeof expires, "%lld", in.expires_unix_ms);
    const char *vals[7] = {id,    ctx->user_id, in.name, scopes, hash, in.expires ? expires : NULL,
                           prefix};
    pg_conn *conn = auth_acquire(ctx);
    if (conn == NULL) {
        sodium_memzero(token, sizeof token);
        return;
    }
    auth_status st = AUTH_OK;
    PGresult *res = insert_locked(conn, vals, ctx->token_epoch, &st);
    pg_pool_release(ctx->app->pg, conn);
    if (res != NULL && PQntuples(res) == 1) {
        respond_created(ctx, res, token);
    } else {
        sodium_memzero(token, sizeof token);
        if (st == AUTH_OK)
            api_respond_error(ctx, 409, "token-limit",
                              "an account has at most " STRINGIFY(
                                  API_TOKEN_MAX_PER_USER) " live API tokens: revoke one first");
        else if (st == AUTH_USER_GONE) /* or locked, or the session's epoch moved on */
            auth_respond_invalid_token(
                ctx, "the session ended while the token was being made; sign in again");
        else
            auth_respond_failure(ctx, st);
    }
    PQclear(res);
}

/* --- GET /api/v1/tokens ------------------------------------------------------------- */

static void list_tokens(api_request_ctx *ctx) {
    pg_conn *conn = auth_acquire(ctx);
    if (conn == NULL)
        return;
    const char *vals[1] = {ctx->user_id};
    auth_status st = AUTH_OK;
    PGresult *res = run(conn, &LIST_TOKENS, vals, &st);
    pg_pool_release(ctx->app->pg, conn);
    if (res == NULL) {
        auth_respond_failure(ctx, st);
        return;
    }
    json_t *items = json_array();
    for (int row = 0; items != NULL && row < PQntuples(res); row++) {
        if (json_array_append_new(items, token_doc(res, row)) != 0) {
            json_decref(items);
            items = NULL;
        }
    }
    PQclear(res);
    auth_respond_body(ctx, 200, items != NULL ? json_pack("{s:o}", "items", items) : NULL);
}

/* --- DELETE /api/v1/tokens/:id ------------------------------------------------------ */

static void revoke_token(api_request_ctx *ctx) {
    const char *id = ctx->path_params[0];
    if (!uuid_is_valid(id)) {
        api_respond_error(ctx, 404, "not-found", "no such API token");
        return;
    }
    pg_conn *conn = auth_acquire(ctx);
    if (conn == NULL)
        return;
    const char *vals[2] = {id, ctx->user_id};
    auth_status st = AUTH_OK;
    PGresult *res = run(conn, &REVOKE_TOKEN, vals, &st);
    pg_pool_release(ctx->app->pg, conn);
    if (res == NULL) {
        auth_respond_failure(ctx, st);
        return;
    }
    bool revoked = atoi(PQcmdTuples(res)) == 1;
    PQclear(res);
    if (!revoked) {
        api_respond_error(ctx, 404, "not-found", "no such API token");
        return;
    }
    /* Committed: every instance drops what it kept of the user's verdicts before the 204;
     * a refill reads the revocation. When Redis did not take the message, 503: the client
     * retries, and the retry (the row already revoked) sends it again. */
    if (near_cache_bus_invalidate_user(ctx->app->redis, ctx->user_id,
                                       ctx->app->cfg->near_cache_lease_ms) != 0) {
        LOG_WARNF("api tokens: %s is revoked, but the API instances could not be told", id);
        api_set_header(ctx, "Retry-After", "1");
        api_respond_error(ctx, 503, "service-unavailable",
                          "the token is revoked, but not every API instance knows yet: retry");
        return;
    }
    log_json(LOG_INFO, "api token revoked", json_pack("{s:s}", "token_id", id));
    api_respond_empty(ctx, 204);
}

const api_route ROUTES_TOKENS[] = {
    {"POST", "/api/v1/tokens", create_token, API_ROUTE_AUTH | API_ROUTE_JSON_BODY,
     API_SCOPE_SESSION},
    {"GET", "/api/v1/tokens", list_tokens, API_ROUTE_AUTH, API_SCOPE_SESSION},
    {"DELETE", "/api/v1/tokens/:id", revoke_token, API_ROUTE_AUTH, API_SCOPE_SESSION},
    {NULL, NULL, NULL, 0, 0},
};
