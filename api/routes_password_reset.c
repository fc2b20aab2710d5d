/*
 * routes_password_reset.c: forgotten passwords (ROUTES_PASSWORD_RESET:
 * POST /api/v1/auth/password-reset, POST /api/v1/auth/password-reset/confirm).
 *
 * Owns: the reset link's life: mailed to an address that has an account, redeemed once
 * here. Rules:
 * - No account oracle: a request answers 202 with the same body whatever the address, after
 *   the same work: the per-address bucket (which counts unknown addresses too), one
 *   INSERT that stores a row either way (for an unknown address a row with no user and no
 *   address, which nothing can redeem, so both commits write and flush alike), and one
 *   statement that wakes the relay (for a known address the one that also adds the
 *   mail's outbox row).
 * - The token exists only in the mail: the notifier makes it and stores its SHA-256 in
 *   the row (workers/notifier/notifier_links.h), named by the notification ({reset_id}).
 *   The row is inserted here with a sealed hash (of a token made and wiped at once, so the
 *   work is the same for a known and an unknown address, and nothing redeems the row
 *   before the notifier's hash replaces it). A link is valid RESET_TTL from the request and
 *   redeems only while the account still has the address it was mailed to.
 * - A redeem locks the user row first, then marks the token used: of two concurrent
 *   redeems (one token or two of one user) exactly one changes the password. It then
 *   follows the password-changed path (api/account_effects.h): every session and access
 *   token ends, every other open link too, and the password-changed mail goes out. No
 *   session starts: the user signs in with the new password.
 * - argon2 runs with no pooled connection held, and only for a token that was open a
 *   moment before (a guessed token costs one indexed SELECT).
 */
#include "api/api_token_scope.h"
#include "api/routes.h"

#include <sodium.h>
#include <stdio.h>

#include "api/account_effects.h"
#include "api/account_validation.h"
#include "api/auth_password.h"
#include "api/auth_sessions.h"
#include "api/mail_link_confirm.h"
#include "shared/mail_token.h"
#include "api/rate_limiter.h"
#include "shared/log.h"
#include "shared/uuid7.h"

#define RESET_TTL "1 hour"

/* Always one row: the account's (user and address) when the address has one, else a
 * row without either, which no redeem can match (it joins on the user). */
static const pg_stmt RESET_INSERT = {
    .name = "password_reset_insert",
    .sql = "INSERT INTO password_resets (id, token_hash, user_id, email, created_at, expires_at)"
           " SELECT $3::uuid, decode($1, 'hex'), u.id, u.email, statement_timestamp(),"
           " statement_timestamp() + interval '" RESET_TTL "'"
           " FROM (SELECT 1) AS one LEFT JOIN users u ON u.email = $2"
           " RETURNING coalesce(user_id::text, '')",
    .nparams = 3,
};

/* Whether a token is open (before the argon2 work; the redeem checks again). */
static const pg_stmt RESET_OPEN = {
    .name = "password_reset_open",
    .sql = "SELECT 1 FROM password_resets WHERE token_hash = decode($1, 'hex')"
           " AND used_at IS NULL AND expires_at > statement_timestamp()",
    .nparams = 1,
};

/* The token's user row, locked: every write to the user's links follows this lock (the
 * notifier's one-statement replacement of the hash excepted: workers/notifier/
 * notifier_links.h; it changes no state a redeem decides on). */
static const pg_stmt RESET_LOCK_USER = {
    .name = "password_reset_lock_user",
    .sql = "SELECT u.id::text FROM password_resets r JOIN users u ON u.id = r.user_id"
           " WHERE r.token_hash = decode($1, 'hex') FOR NO KEY UPDATE OF u",
    .nparams = 1,
};

/* One statement: a token that is unknown, used, expired or mailed to an address the
 * account no longer has updates nothing. */
static const pg_stmt RESET_REDEEM = {
    .name = "password_reset_redeem",
    .sql = "UPDATE password_resets r SET used_at = statement_timestamp() FROM users u"
           " WHERE r.token_hash = decode($1, 'hex') AND r.used_at IS NULL"
           " AND r.expires_at > statement_timestamp() AND u.id = r.user_id AND u.email = r.email"
           " RETURNING r.user_id::text",
    .nparams = 1,
};

/* auth_query_row for a statement whose first value (a user id) is all that is read. */
static int query_user_id(pg_conn *conn, const pg_stmt *stmt, const char *const *values,
                         char user_id[UUID_STR_LEN]) {
    char *out[1] = {user_id};
    const size_t len[1] = {UUID_STR_LEN};
    return auth_query_row(conn, stmt, values, out, len, 1);
}

/* ---------------------------------------------------------------- the request */

/* Enqueues the password_reset mail of the row reset_id to the user (inside the
 * transaction); the notifier makes its token. */
static auth_status enqueue_mail(pg_conn *conn, const api_request_ctx *ctx, const char *user_id,
                                const char *email, const char *reset_id) {
    json_t *data = json_pack("{s:s}", "reset_id", reset_id);
    if (data == NULL) {
        LOG_ERRORF("password reset: out of memory");
        return AUTH_INTERNAL;
    }
    auth_status st = account_notify(conn, ctx, "password_reset", user_id, email, data);
    json_decref(data);
    return st;
}

/* The request's transaction: stores a token if the address has an account and enqueues
 * its mail. AUTH_OK whether or not there was an account; *sent_to says which. */
static auth_status request_in(pg_conn *conn, const api_request_ctx *ctx, const char *email,
                              const char *hash_hex, char *sent_to, size_t sent_to_len) {
    if (auth_txn_begin(conn, "password reset") != AUTH_OK)
        return AUTH_UNAVAILABLE;
    char reset_id[UUID_STR_LEN];
    uuid7_generate(reset_id);
    const char *values[3] = {hash_hex, email, reset_id};
    char user_id[UUID_STR_LEN] = "";
    int found = query_user_id(conn, &RESET_INSERT, values, user_id);
    auth_status st = found == 1 ? AUTH_OK : found < 0 ? (auth_status)found : AUTH_INTERNAL;
    bool known = st == AUTH_OK && user_id[0] != '\0';
    if (known) {
        st = enqueue_mail(conn, ctx, user_id, email, reset_id);
    } else if (st == AUTH_OK) {
        st = account_notify_nothing(conn);
    }
    int rc = auth_txn_end(conn, st == AUTH_OK ? 1 : st, "password reset");
    if (rc != 1)
        return (auth_status)rc;
    if (known)
        snprintf(sent_to, sent_to_len, "%s", user_id);
    return AUTH_OK;
}

static void handle_request(api_request_ctx *ctx) {
    account_reset_request_input in;
    json_t *errors = auth_field_errors_new(ctx);
    if (errors == NULL || auth_field_errors_check(
                              ctx, errors, account_validate_reset_request(ctx->body, &in, errors)))
        return;
    if (api_limit_mail_address(ctx, in.email) != 0)
        return;
    /* The sealed hash: of a token wiped at once, so nothing redeems the row until the
     * notifier stores the hash of the token it mails. */
    char token[MAIL_TOKEN_BUF], hash_hex[MAIL_TOKEN_HASH_HEX_BUF];
    mail_token_new(token, hash_hex);
    sodium_memzero(token, sizeof token);
    pg_conn *conn = auth_acquire(ctx);
    if (conn == NULL)
        return;
    char sent_to[UUID_STR_LEN] = "";
    auth_status st = request_in(conn, ctx, in.email, hash_hex, sent_to, sizeof sent_to);
    pg_pool_release(ctx->app->pg, conn);
    if (st != AUTH_OK) {
        auth_respond_failure(ctx, st);
        return;
    }
    if (sent_to[0] != '\0')
        log_json(LOG_INFO, "password reset link sent", json_pack("{s:s}", "user_id", sent_to));
    api_respond_json(ctx, 202, json_pack("{s:s}", "email", in.email));
}

/* ---------------------------------------------------------------- the confirmation */

/* 1 done, 0 the token is not (or no longer) redeemable, or < 0; the transaction is closed.
 * *published: the new epoch went to Redis (a failure must take it back). */
static int confirm_in(pg_conn *conn, const api_request_ctx *ctx, const char *hash_hex,
                      const char *new_hash, auth_user *after, bool *published) {
    char user_id[UUID_STR_LEN] = "";
    if (auth_txn_begin(conn, "password reset") != AUTH_OK)
        return AUTH_UNAVAILABLE;
    const char *values[1] = {hash_hex};
    int rc = auth_query_row(conn, &RESET_LOCK_USER, values, NULL, NULL, 0);
    if (rc == 1)
        rc = query_user_id(conn, &RESET_REDEEM, values, user_id);
    if (rc == 1)
        rc = auth_user_reset_password(conn, user_id, new_hash, after);
    if (rc == 1) {
        auth_status st = account_password_replaced(conn, ctx, after, published);
        rc = st == AUTH_OK ? 1 : st;
    }
    return auth_txn_end(conn, rc, "password reset");
}

static const mail_link_confirm RESET_LINK = {
    .open = &RESET_OPEN,
    .refusal = "the reset token is unknown, used or expired",
};

static void handle_confirm(api_request_ctx *ctx) {
    char hash_hex[MAIL_TOKEN_HASH_HEX_BUF], new_hash[AUTH_PASSWORD_HASH_BUF];
    if (mail_link_confirm_begin(ctx, &RESET_LINK, hash_hex, new_hash) != 1)
        return;
    pg_conn *conn = auth_acquire(ctx);
    if (conn == NULL)
        return;
    auth_user after;
    bool published = false;
    int rc = confirm_in(conn, ctx, hash_hex, new_hash, &after, &published);
    pg_pool_release(ctx->app->pg, conn);
    if (rc < 0 && published)
        auth_epoch_forget(ctx->app, after.id);
    if (rc == 0) {
        mail_link_confirm_refuse(ctx, &RESET_LINK);
    } else if (rc < 0) {
        auth_respond_failure(ctx, (auth_status)rc);
    } else {
        log_json(LOG_INFO, "password reset", json_pack("{s:s}", "user_id", after.id));
        api_respond_empty(ctx, 204);
    }
}

const api_route ROUTES_PASSWORD_RESET[] = {
    {"POST", "/api/v1/auth/password-reset", handle_request,
     API_ROUTE_JSON_BODY | API_ROUTE_AUTH_LIMIT, API_SCOPE_PUBLIC},
    {"POST", "/api/v1/auth/password-reset/confirm", handle_confirm,
     API_ROUTE_JSON_BODY | API_ROUTE_AUTH_LIMIT, API_SCOPE_PUBLIC},
    {NULL, NULL, NULL, 0, 0},
};
