/*
 * routes_register.c: registration (ROUTES_REGISTER: POST /api/v1/auth/register,
 * POST /api/v1/auth/register/confirm).
 *
 * Owns: an account's way into being: asked for here, created when the link mailed to its
 * address is opened (docs/decisions.md, "Registering without an account oracle"). Rules:
 * - No account oracle: a request answers 202 with the same body whatever the address,
 *   after the same work: the per-address mail bucket, argon2 of the password (with no
 *   pooled connection held), one INSERT of a pending_registrations row (which also reads
 *   whether the address is taken) and one outbox row: register_confirm (the notifier makes
 *   its link) to a free address, the link-less account_exists notice to a taken one. An
 *   address held for a revert link (email_reserved) gets no mail: the statement that
 *   wakes the relay stands in for the outbox row, as for a reset's unknown address.
 * - The row is stored with a sealed hash (of a token made and wiped at once) that the
 *   notifier replaces with the hash of the token it mails, only while the address has no
 *   account: the token exists only in the mail.
 * - A confirmation needs the link's token and the registration's password: the token
 *   proves the mailbox, the password the registrant. Without the password, a stranger
 *   who registered someone else's address with a password of their own would get that
 *   account the moment its owner opened the mail (or a scanner followed the link). Only a
 *   free address's row stores the password hash at all (a taken or reserved one stores
 *   '', which no password matches and no link is ever minted for).
 * - The front looks the token up as open (one indexed SELECT, so a guessed token costs no
 *   argon2), verifies the password with no pooled connection held, then one transaction
 *   redeems the row (one UPDATE that also requires the verified hash: of two concurrent
 *   confirmations exactly one goes on) and creates the account with the row's id,
 *   verified (the link reached the address), with its Inbox (a trigger), first session,
 *   taskbus.user.registered and the welcome_verified mail; the token pair is built before
 *   the COMMIT, so a 201 is never lost to a failure after it. An address taken since is
 *   409 and the row stays open.
 */
#include "api/api_token_scope.h"
#include "api/routes.h"

#include <sodium.h>
#include <stdio.h>

#include "api/account_effects.h"
#include "api/account_validation.h"
#include "api/auth_password.h"
#include "api/auth_sessions.h"
#include "api/rate_limiter.h"
#include "shared/log.h"
#include "shared/mail_token.h"
#include "shared/uuid7.h"

#define REGISTRATION_TTL "24 hours"

/* Always one row, and whether the address has an account ('t': the id of that account
 * follows) or is held for a revert link ('r'), or is free ('f'); only a free address's
 * row keeps the password hash. */
static const pg_stmt REGISTRATION_INSERT = {
    .name = "registration_insert",
    .sql = "WITH owner AS (SELECT id FROM users WHERE email = $3),"
           " state AS (SELECT CASE WHEN EXISTS (SELECT 1 FROM owner) THEN 't'"
           " WHEN email_reserved($3, NULL) THEN 'r' ELSE 'f' END AS s),"
           " added AS (INSERT INTO pending_registrations (id, token_hash, email, password_hash,"
           " display_name, created_at, expires_at)"
           " SELECT $1::uuid, decode($2, 'hex'), $3, CASE WHEN s = 'f' THEN $4 ELSE '' END, $5,"
           " statement_timestamp(), statement_timestamp() + interval '" REGISTRATION_TTL "'"
           " FROM state RETURNING 1)"
           " SELECT s, coalesce((SELECT id::text FROM owner), '') FROM added, state",
    .nparams = 5,
};

/* The password hash of an open link (before the argon2 work; the redeem checks again). */
static const pg_stmt REGISTRATION_OPEN = {
    .name = "registration_open",
    .sql = "SELECT password_hash FROM pending_registrations WHERE token_hash = decode($1, 'hex')"
           " AND used_at IS NULL AND expires_at > statement_timestamp()",
    .nparams = 1,
};

/* One statement: a token that is unknown, used or expired, or a row whose hash is not the
 * verified one ($2), updates nothing. */
static const pg_stmt REGISTRATION_REDEEM = {
    .name = "registration_redeem",
    .sql = "UPDATE pending_registrations SET used_at = statement_timestamp()"
           " WHERE token_hash = decode($1, 'hex') AND password_hash = $2 AND used_at IS NULL"
           " AND expires_at > statement_timestamp()"
           " RETURNING id::text, email, display_name",
    .nparams = 2,
};

/* ---------------------------------------------------------------- the request */

/* The mail of a registration: its link to a free address, the notice to a taken one,
 * nothing (but the relay's wake-up) to a reserved one. In the open transaction. */
static auth_status enqueue_mail(pg_conn *conn, const api_request_ctx *ctx, char state,
                                const char *owner_id, const char *email, const char *id) {
    if (state == 'r') {
        return account_notify_nothing(conn);
    }
    if (state == 't')
        return account_notify(conn, ctx, "account_exists", owner_id, email, NULL);
    json_t *data = json_pack("{s:s}", "registration_id", id);
    if (data == NULL) {
        LOG_ERRORF("register: out of memory");
        return AUTH_INTERNAL;
    }
    auth_status st = account_notify(conn, ctx, "register_confirm", id, email, data);
    json_decref(data);
    return st;
}

/* The request's transaction: the row and its mail. AUTH_OK whatever the address. */
static auth_status request_in(pg_conn *conn, const api_request_ctx *ctx,
                              const account_register_input *in, const char *password_hash,
                              const char *sealed_hex, char id[UUID_STR_LEN]) {
    if (auth_txn_begin(conn, "register") != AUTH_OK)
        return AUTH_UNAVAILABLE;
    uuid7_generate(id);
    const char *values[5] = {id, sealed_hex, in->email, password_hash, in->display_name};
    char state[2] = "", owner_id[UUID_STR_LEN] = "";
    char *out[2] = {state, owner_id};
    const size_t len[2] = {sizeof state, sizeof owner_id};
    int rc = auth_query_row(conn, &REGISTRATION_INSERT, values, out, len, 2);
    if (rc == 1) {
        auth_status st = enqueue_mail(conn, ctx, state[0], owner_id, in->email, id);
        rc = st == AUTH_OK ? 1 : st;
    } else if (rc == 0) {
        rc = AUTH_INTERNAL; /* an INSERT ... RETURNING always returns its row */
    }
    rc = auth_txn_end(conn, rc, "register");
    return rc == 1 ? AUTH_OK : (auth_status)rc;
}

static void handle_register(api_request_ctx *ctx) {
    account_register_input in;
    json_t *errors = auth_field_errors_new(ctx);
    if (errors == NULL ||
        auth_field_errors_check(ctx, errors, account_validate_register(ctx->body, &in, errors)))
        return;
    if (api_limit_mail_address(ctx, in.email) != 0)
        return;
    char hash[AUTH_PASSWORD_HASH_BUF];
    if (auth_password_hash(ctx->app->cfg, in.password, hash) != 0) {
        auth_respond_failure(ctx, AUTH_INTERNAL);
        return;
    }
    /* The sealed hash: of a token wiped at once, so nothing redeems the row until the
     * notifier stores the hash of the token it mails. */
    char token[MAIL_TOKEN_BUF], sealed_hex[MAIL_TOKEN_HASH_HEX_BUF];
    mail_token_new(token, sealed_hex);
    sodium_memzero(token, sizeof token);
    pg_conn *conn = auth_acquire(ctx);
    char id[UUID_STR_LEN];
    auth_status st = conn != NULL ? request_in(conn, ctx, &in, hash, sealed_hex, id) : AUTH_OK;
    sodium_memzero(hash, sizeof hash);
    if (conn == NULL)
        return; /* answered */
    pg_pool_release(ctx->app->pg, conn);
    if (st != AUTH_OK) {
        auth_respond_failure(ctx, st);
        return;
    }
    log_json(LOG_INFO, "registration asked", json_pack("{s:s}", "registration_id", id));
    api_respond_json(ctx, 202, json_pack("{s:s}", "email", in.email));
}

/* ---------------------------------------------------------------- the confirmation */

static const char REFUSAL[] = "the registration token is unknown, used or expired";

/* The redeemed row: the account as it will be (its password hash is the verified one). */
typedef struct registration {
    char id[UUID_STR_LEN];
    char email[ACCOUNT_EMAIL_BUF];
    char display_name[ACCOUNT_DISPLAY_NAME_BUF];
} registration;

/* What a confirmation answers with: built inside the transaction. */
typedef struct confirmed {
    auth_user user;
    json_t *pair; /* the 201 body (owned), NULL until built */
} confirmed;

/* The account of the redeemed row r, its first session, event, welcome and the answer's
 * token pair: 1, 0 (the address was taken since), or < 0. In the open transaction. */
static int create_account(pg_conn *conn, const api_request_ctx *ctx, const registration *r,
                          const char *password_hash, confirmed *out) {
    auth_user *user = &out->user;
    int rc = auth_user_insert(conn, r->id, r->email, password_hash, r->display_name, user);
    if (rc != 1)
        return rc;
    char family_id[UUID_STR_LEN], refresh[AUTH_REFRESH_TOKEN_BUF];
    auth_status st = auth_session_start(conn, ctx->app->cfg, user->id, family_id, refresh);
    if (st == AUTH_OK) {
        json_t *data = json_pack("{s:s, s:s, s:s, s:s}", "user_id", user->id, "email", user->email,
                                 "display_name", user->display_name, "role", user->role);
        st = account_add_user_event(conn, ctx, "taskbus.user.registered", user, data);
    }
    if (st == AUTH_OK)
        st = account_notify(conn, ctx, "welcome_verified", user->id, user->email, NULL);
    if (st == AUTH_OK) {
        out->pair = auth_token_pair(ctx->app, user, family_id, refresh);
        st = out->pair != NULL ? AUTH_OK : AUTH_INTERNAL;
    }
    sodium_memzero(refresh, sizeof refresh);
    return st == AUTH_OK ? 1 : st;
}

/* 1 created, 0 the token is not redeemable (or not with this hash), AUTH_EMAIL_TAKEN, or
 * < 0; the transaction is closed, and out->pair is set only on 1. */
static int confirm_in(pg_conn *conn, const api_request_ctx *ctx, const char *hash_hex,
                      const char *password_hash, confirmed *out) {
    if (auth_txn_begin(conn, "register") != AUTH_OK)
        return AUTH_UNAVAILABLE;
    registration r;
    char *cols[3] = {r.id, r.email, r.display_name};
    const size_t len[3] = {sizeof r.id, sizeof r.email, sizeof r.display_name};
    const char *values[2] = {hash_hex, password_hash};
    int rc = auth_query_row(conn, &REGISTRATION_REDEEM, values, cols, len, 3);
    bool taken = false;
    if (rc == 1) {
        rc = create_account(conn, ctx, &r, password_hash, out);
        taken = rc == 0;
    }
    rc = auth_txn_end(conn, rc, "register");
    if (rc != 1) {
        json_decref(out->pair);
        out->pair = NULL;
    }
    return taken && rc == 0 ? AUTH_EMAIL_TAKEN : rc;
}

/* The password hash of the open link hash_hex: 1, 0 (not open), or < 0 (answered). */
static int open_link_hash(api_request_ctx *ctx, const char *hash_hex,
                          char password_hash[AUTH_PASSWORD_HASH_BUF]) {
    pg_conn *conn = auth_acquire(ctx);
    if (conn == NULL)
        return AUTH_UNAVAILABLE;
    const char *values[1] = {hash_hex};
    char *cols[1] = {password_hash};
    const size_t len[1] = {AUTH_PASSWORD_HASH_BUF};
    int found = auth_query_row(conn, &REGISTRATION_OPEN, values, cols, len, 1);
    pg_pool_release(ctx->app->pg, conn);
    if (found < 0)
        auth_respond_failure(ctx, (auth_status)found);
    return found;
}

/* The front: the body, the token's form, the link open, the password the registration's.
 * 1 with hash_hex and password_hash filled, or 0 when the request was answered. */
static int confirm_front(api_request_ctx *ctx, char hash_hex[MAIL_TOKEN_HASH_HEX_BUF],
                         char password_hash[AUTH_PASSWORD_HASH_BUF]) {
    const char *token = NULL, *password = NULL;
    json_t *errors = auth_field_errors_new(ctx);
    if (errors == NULL || auth_field_errors_check(ctx, errors,
                                                  account_validate_registration_confirm(
                                                      ctx->body, &token, &password, errors)))
        return 0;
    if (!mail_token_well_formed(token)) {
        api_respond_error(ctx, 400, "invalid-token", REFUSAL);
        return 0;
    }
    mail_token_hash(token, hash_hex);
    int open = open_link_hash(ctx, hash_hex, password_hash);
    if (open == 0)
        api_respond_error(ctx, 400, "invalid-token", REFUSAL);
    if (open != 1)
        return 0;
    /* A taken or reserved address's row holds '': never a match, never a link either. */
    auth_password_result match = password_hash[0] != '\0'
                                     ? auth_password_verify(ctx->app->cfg, password_hash, password)
                                     : AUTH_PASSWORD_MISMATCH;
    if (match == AUTH_PASSWORD_MATCH)
        return 1;
    if (match == AUTH_PASSWORD_ERROR)
        auth_respond_failure(ctx, AUTH_INTERNAL);
    else
        api_respond_error(ctx, 403, "invalid-credentials",
                          "the password is not the one the registration was made with");
    return 0;
}

static void handle_confirm(api_request_ctx *ctx) {
    char hash_hex[MAIL_TOKEN_HASH_HEX_BUF], password_hash[AUTH_PASSWORD_HASH_BUF];
    confirmed out = {.pair = NULL};
    int rc = 0;
    if (confirm_front(ctx, hash_hex, password_hash) == 1) {
        pg_conn *conn = auth_acquire(ctx);
        if (conn == NULL) {
            sodium_memzero(password_hash, sizeof password_hash);
            return; /* answered */
        }
        rc = confirm_in(conn, ctx, hash_hex, password_hash, &out);
        pg_pool_release(ctx->app->pg, conn);
        if (rc == 0)
            api_respond_error(ctx, 400, "invalid-token", REFUSAL);
        else if (rc < 0)
            auth_respond_failure(ctx, (auth_status)rc);
    }
    sodium_memzero(password_hash, sizeof password_hash);
    sodium_memzero(out.user.password_hash, sizeof out.user.password_hash);
    if (rc != 1)
        return;
    log_json(LOG_INFO, "account created", json_pack("{s:s}", "user_id", out.user.id));
    api_set_header(ctx, "Location", "/api/v1/users/me");
    auth_respond_body(ctx, 201, out.pair);
}

const api_route ROUTES_REGISTER[] = {
    {"POST", "/api/v1/auth/register", handle_register, API_ROUTE_JSON_BODY | API_ROUTE_AUTH_LIMIT,
     API_SCOPE_PUBLIC},
    {"POST", "/api/v1/auth/register/confirm", handle_confirm,
     API_ROUTE_JSON_BODY | API_ROUTE_AUTH_LIMIT, API_SCOPE_PUBLIC},
    {NULL, NULL, NULL, 0, 0},
};
