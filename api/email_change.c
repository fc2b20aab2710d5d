/*
 * email_change.c: e-mail address changes (see email_change.h), and
 * POST /api/v1/auth/email-change/confirm {token} (ROUTES_EMAIL_CHANGE).
 *
 * Owns: starting a change (a notice to the account's address, and a link to the new address
 * or, when it is another account's, a notice there) and completing one. Rules: the raw token is
 * never stored or logged; a completion locks the user row before any link row (the order every
 * writer of a user's links follows), marks the link used only while the account still has the
 * address the change started from, then sets the address (verified: the link reached it), ends the
 * user's other open links, writes taskbus.user.email_changed and tells the old address (with
 * the link that undoes the change: api/email_change_revert.h), all in one
 * transaction. The UNIQUE address decides a race with a registration or another change: 409, and
 * the link stays open. Sessions go on: the password did not change.
 */
#include "api/email_change.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api/account_effects.h"
#include "api/account_validation.h"
#include "api/email_change_revert.h"
#include "shared/mail_token.h"
#include "api/api_token_scope.h"
#include "api/routes.h"
#include "shared/notification.h"
#include "shared/log.h"

#define CHANGE_TTL "24 hours"

static const pg_stmt ADDRESS_TAKEN = {
    .name = "email_change_taken",
    .sql = "SELECT 1 FROM users WHERE email = $1 UNION ALL"
           " SELECT 1 WHERE email_reserved($1, $2::uuid)",
    .nparams = 2,
};

static const pg_stmt CHANGE_INSERT = {
    .name = "email_change_insert",
    .sql = "INSERT INTO email_changes (token_hash, user_id, old_email, new_email, token_epoch,"
           " created_at, expires_at) VALUES (decode($1, 'hex'), $2::uuid, $3, $4, $5::bigint,"
           " statement_timestamp(), statement_timestamp() + interval '" CHANGE_TTL "')",
    .nparams = 5,
};

static const pg_stmt CHANGE_LOCK_USER = {
    .name = "email_change_lock_user",
    .sql = "SELECT u.id::text FROM email_changes c JOIN users u ON u.id = c.user_id"
           " WHERE c.token_hash = decode($1, 'hex') FOR UPDATE OF u",
    .nparams = 1,
};

/* A link that is unknown, used, expired, of an address the account no longer has, or of
 * a token epoch that has moved on (password changed or reset, signed out everywhere)
 * updates nothing. */
static const pg_stmt CHANGE_REDEEM = {
    .name = "email_change_redeem",
    .sql = "UPDATE email_changes c SET used_at = statement_timestamp() FROM users u"
           " WHERE c.token_hash = decode($1, 'hex') AND c.used_at IS NULL"
           " AND c.expires_at > statement_timestamp() AND u.id = c.user_id"
           " AND u.email = c.old_email AND u.token_epoch = c.token_epoch"
           " RETURNING c.user_id::text, c.new_email, c.old_email, u.email_verified_at IS NOT NULL",
    .nparams = 1,
};

static const pg_stmt CHANGES_CLOSE = {
    .name = "email_changes_close",
    .sql = "UPDATE email_changes SET used_at = statement_timestamp()"
           " WHERE user_id = $1::uuid AND used_at IS NULL",
    .nparams = 1,
};

/* Runs stmt; the result when it succeeded (the caller clears it), else NULL with *st. */
static PGresult *run(pg_conn *conn, const pg_stmt *stmt, const char *const *values,
                     auth_status *st) {
    PGresult *res = pg_exec_stmt(conn, stmt, values);
    *st = auth_result_status(res, stmt->name);
    if (*st == AUTH_OK)
        return res;
    PQclear(res);
    return NULL;
}

/* Runs stmt for its effect only. */
static auth_status run_effect(pg_conn *conn, const pg_stmt *stmt, const char *const *values) {
    auth_status st = AUTH_OK;
    PQclear(run(conn, stmt, values, &st));
    return st;
}

/* Stores a link for the change and mails it to the new address. */
static auth_status mail_link(pg_conn *conn, const api_request_ctx *ctx, const auth_user *user,
                             const char *new_email) {
    char token[MAIL_TOKEN_BUF], hash_hex[MAIL_TOKEN_HASH_HEX_BUF], url[1200];
    mail_token_new(token, hash_hex);
    int n = snprintf(url, sizeof url, "%s" NOTIFICATION_EMAIL_CHANGE_PAGE "?token=%s",
                     ctx->app->cfg->public_url, token);
    sodium_memzero(token, sizeof token);
    char epoch[24];
    snprintf(epoch, sizeof epoch, "%lld", user->token_epoch);
    const char *values[5] = {hash_hex, user->id, user->email, new_email, epoch};
    auth_status st = run_effect(conn, &CHANGE_INSERT, values);
    if (st != AUTH_OK) {
        sodium_memzero(url, sizeof url);
        return st;
    }
    json_t *data = n > 0 && (size_t)n < sizeof url ? json_pack("{s:s}", "confirm_url", url) : NULL;
    sodium_memzero(url, sizeof url);
    if (data == NULL) {
        LOG_ERRORF("email change: cannot build the confirm_url");
        return AUTH_INTERNAL;
    }
    st = account_notify(conn, ctx, "email_change", user->id, new_email, data);
    json_decref(data);
    return st;
}

auth_status email_change_start(pg_conn *conn, const api_request_ctx *ctx, const auth_user *user,
                               const char *new_email) {
    auth_status st = AUTH_OK;
    const char *values[2] = {new_email, user->id};
    PGresult *res = run(conn, &ADDRESS_TAKEN, values, &st);
    if (res == NULL)
        return st;
    bool taken = PQntuples(res) > 0;
    PQclear(res);
    /* The account's own address hears of every start, whatever the new address, once it is
     * verified: an unverified one may be someone else's, whom repeated starts would
     * otherwise mail past the per-address limit. */
    if (user->email_verified) {
        st = account_notify(conn, ctx, "email_change_started", user->id, user->email, NULL);
        if (st != AUTH_OK)
            return st;
    }
    if (taken)
        return account_notify(conn, ctx, "email_in_use", user->id, new_email, NULL);
    return mail_link(conn, ctx, user, new_email);
}

/* ---------------------------------------------------------------- completing a change */

typedef struct completed_change {
    char user_id[UUID_STR_LEN];
    char old_email[ACCOUNT_EMAIL_BUF];
    char new_email[ACCOUNT_EMAIL_BUF];
    bool old_verified; /* the address changed from was verified: it may undo the change */
    auth_user after;
} completed_change;

/* The user's row locked and the link marked used: 1, 0 (not redeemable) or < 0. */
static int redeem(pg_conn *conn, const char *hash_hex, completed_change *c) {
    auth_status st = AUTH_OK;
    const char *values[1] = {hash_hex};
    PGresult *res = run(conn, &CHANGE_LOCK_USER, values, &st);
    if (res == NULL)
        return st;
    bool locked = PQntuples(res) == 1;
    PQclear(res);
    if (!locked)
        return 0;
    res = run(conn, &CHANGE_REDEEM, values, &st);
    if (res == NULL)
        return st;
    int found = PQntuples(res) == 1;
    if (found) {
        snprintf(c->user_id, sizeof c->user_id, "%s", PQgetvalue(res, 0, 0));
        snprintf(c->new_email, sizeof c->new_email, "%s", PQgetvalue(res, 0, 1));
        snprintf(c->old_email, sizeof c->old_email, "%s", PQgetvalue(res, 0, 2));
        c->old_verified = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    }
    PQclear(res);
    return found;
}

/* After the address changed: the other open links end, the event, the old address told. */
static auth_status record_change(pg_conn *conn, const api_request_ctx *ctx,
                                 const completed_change *c) {
    const char *values[1] = {c->user_id};
    auth_status st = run_effect(conn, &CHANGES_CLOSE, values);
    if (st != AUTH_OK)
        return st;
    json_t *data =
        json_pack("{s:s, s:s, s:s, s:s}", "user_id", c->after.id, "email", c->after.email,
                  "previous_email", c->old_email, "changed_at", c->after.updated_at);
    st = account_add_user_event(conn, ctx, "taskbus.user.email_changed", &c->after, data);
    /* The old address is told; when it was verified, with the way back (an unverified one
     * may be someone else's, who must not get a link that takes the account). */
    if (st == AUTH_OK && c->old_verified)
        st = email_change_revert_offer(conn, ctx, c->after.id, c->old_email, c->new_email);
    else if (st == AUTH_OK)
        st = account_notify(conn, ctx, "email_changed", c->after.id, c->old_email, NULL);
    return st;
}

/* 1 done, 0 not redeemable, or < 0 (AUTH_EMAIL_TAKEN among them); the transaction is
 * closed. */
static int complete_in(pg_conn *conn, const api_request_ctx *ctx, const char *hash_hex,
                       completed_change *c) {
    if (auth_txn_begin(conn, "email change") != AUTH_OK)
        return AUTH_UNAVAILABLE;
    int rc = redeem(conn, hash_hex, c);
    if (rc == 1)
        rc = auth_user_set_email(conn, c->user_id, c->new_email, &c->after);
    if (rc == 1) {
        auth_status st = record_change(conn, ctx, c);
        rc = st == AUTH_OK ? 1 : st;
    }
    return auth_txn_end(conn, rc, "email change");
}

static void handle_complete(api_request_ctx *ctx) {
    const char *token = NULL;
    json_t *errors = auth_field_errors_new(ctx);
    if (errors == NULL || auth_field_errors_check(
                              ctx, errors, account_validate_token_body(ctx->body, &token, errors)))
        return;
    if (!mail_token_well_formed(token)) {
        api_respond_error(ctx, 400, "invalid-token", "the e-mail change token is not valid");
        return;
    }
    char hash_hex[MAIL_TOKEN_HASH_HEX_BUF];
    mail_token_hash(token, hash_hex);
    pg_conn *conn = auth_acquire(ctx);
    if (conn == NULL)
        return;
    completed_change c = {0};
    int rc = complete_in(conn, ctx, hash_hex, &c);
    pg_pool_release(ctx->app->pg, conn);
    if (rc == 0) {
        api_respond_error(ctx, 400, "invalid-token",
                          "the e-mail change token is unknown, used or expired, or the "
                          "account's address changed since");
    } else if (rc < 0) {
        auth_respond_failure(ctx, (auth_status)rc);
    } else {
        log_json(LOG_INFO, "e-mail address changed", json_pack("{s:s}", "user_id", c.after.id));
        api_respond_json(ctx, 200,
                         json_pack("{s:s, s:b}", "email", c.after.email, "email_verified",
                                   c.after.email_verified));
    }
}

const api_route ROUTES_EMAIL_CHANGE[] = {
    {"POST", "/api/v1/auth/email-change/confirm", handle_complete,
     API_ROUTE_JSON_BODY | API_ROUTE_AUTH_LIMIT, API_SCOPE_PUBLIC},
    {NULL, NULL, NULL, 0, 0},
};
