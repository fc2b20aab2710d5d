/*
 * email_change_revert.c: the revert link of an address change (see email_change_revert.h).
 *
 * Rules: as a password reset's confirmation: argon2 runs with no pooled connection held
 * and only for a link that was open a moment before; the transaction locks the user row
 * first (every writer of a user's links does), then marks the link used; the new epoch
 * goes to Redis before the COMMIT and is taken back when the COMMIT does not happen.
 */
#include "api/email_change_revert.h"

#include <sodium.h>
#include <stdio.h>

#include "api/account_effects.h"
#include "api/account_validation.h"
#include "api/api_token_scope.h"
#include "api/mail_link_confirm.h"
#include "api/routes.h"
#include "shared/log.h"
#include "shared/mail_token.h"
#include "shared/uuid7.h"

#define REVERT_TTL "7 days"

/* The sealed row: the hash of a token made and wiped at once, replaced by the notifier's. */
static const pg_stmt REVERT_INSERT = {
    .name = "email_revert_insert",
    .sql = "INSERT INTO email_change_reverts (id, token_hash, user_id, old_email, new_email,"
           " created_at, expires_at) VALUES ($1::uuid, decode($2, 'hex'), $3::uuid, $4, $5,"
           " statement_timestamp(), statement_timestamp() + interval '" REVERT_TTL "')",
    .nparams = 5,
};

static const pg_stmt REVERT_OPEN = {
    .name = "email_revert_open",
    .sql = "SELECT 1 FROM email_change_reverts WHERE token_hash = decode($1, 'hex')"
           " AND used_at IS NULL AND expires_at > statement_timestamp()",
    .nparams = 1,
};

static const pg_stmt REVERT_LOCK_USER = {
    .name = "email_revert_lock_user",
    .sql = "SELECT u.id::text FROM email_change_reverts r JOIN users u ON u.id = r.user_id"
           " WHERE r.token_hash = decode($1, 'hex') FOR UPDATE OF u",
    .nparams = 1,
};

/* A link that is unknown, used or expired updates nothing; one whose old address the
 * account has again (reverted already, or changed back) neither. Whatever the address
 * became since the change does not matter: whoever made it cannot change it again to end
 * the way back. Returns the address the account has now (the event's previous one). */
static const pg_stmt REVERT_REDEEM = {
    .name = "email_revert_redeem",
    .sql =
        "UPDATE email_change_reverts r SET used_at = statement_timestamp() FROM users u"
        " WHERE r.token_hash = decode($1, 'hex') AND r.used_at IS NULL"
        " AND r.expires_at > statement_timestamp() AND u.id = r.user_id"
        " AND u.email <> r.old_email RETURNING r.user_id::text, r.old_email, u.email, r.id::text",
    .nparams = 1,
};

/* A revert ends the open address changes and the revert links of later changes (ids are
 * uuid7, in time order): an earlier one stays, so the intruder's own revert of a change
 * they made later cannot close the owner's way back. */
static const pg_stmt REVERT_CLOSE_LINKS = {
    .name = "email_revert_close_links",
    .sql = "WITH reverts AS (UPDATE email_change_reverts SET used_at = statement_timestamp()"
           " WHERE user_id = $1::uuid AND used_at IS NULL AND id > $2::uuid RETURNING 1)"
           " UPDATE email_changes SET used_at = statement_timestamp()"
           " WHERE user_id = $1::uuid AND used_at IS NULL",
    .nparams = 2,
};

auth_status email_change_revert_offer(pg_conn *conn, const api_request_ctx *ctx,
                                      const char *user_id, const char *old_email,
                                      const char *new_email) {
    char id[UUID_STR_LEN], token[MAIL_TOKEN_BUF], hash_hex[MAIL_TOKEN_HASH_HEX_BUF];
    uuid7_generate(id);
    mail_token_new(token, hash_hex);
    sodium_memzero(token, sizeof token);
    const char *values[5] = {id, hash_hex, user_id, old_email, new_email};
    int rc = auth_query_row(conn, &REVERT_INSERT, values, NULL, NULL, 0);
    if (rc < 0)
        return (auth_status)rc;
    json_t *data = json_pack("{s:s}", "revert_id", id);
    if (data == NULL) {
        LOG_ERRORF("email change: out of memory");
        return AUTH_INTERNAL;
    }
    auth_status st = account_notify(conn, ctx, "email_change_revert", user_id, old_email, data);
    json_decref(data);
    return st;
}

/* ---------------------------------------------------------------- the revert */

typedef struct reverted {
    char user_id[UUID_STR_LEN];
    char old_email[ACCOUNT_EMAIL_BUF];
    char current_email[ACCOUNT_EMAIL_BUF]; /* what the account had until the revert */
    char revert_id[UUID_STR_LEN];
    auth_user after;
    bool published; /* the new epoch went to Redis */
} reverted;

/* The user row locked and the link marked used: 1, 0 (not redeemable) or < 0. */
static int redeem(pg_conn *conn, const char *hash_hex, reverted *r) {
    const char *values[1] = {hash_hex};
    int rc = auth_query_row(conn, &REVERT_LOCK_USER, values, NULL, NULL, 0);
    if (rc != 1)
        return rc;
    char *out[4] = {r->user_id, r->old_email, r->current_email, r->revert_id};
    const size_t lens[4] = {sizeof r->user_id, sizeof r->old_email, sizeof r->current_email,
                            sizeof r->revert_id};
    return auth_query_row(conn, &REVERT_REDEEM, values, out, lens, 4);
}

/* After the link was redeemed: the address back, the password replaced, the links
 * closed, the event. 1 or < 0 (AUTH_EMAIL_TAKEN among them). */
static int undo(pg_conn *conn, const api_request_ctx *ctx, const char *new_hash, reverted *r) {
    auth_user moved;
    int rc = auth_user_set_email(conn, r->user_id, r->old_email, &moved);
    if (rc == 1)
        rc = auth_user_reset_password(conn, r->user_id, new_hash, &r->after);
    if (rc != 1)
        return rc == 0 ? AUTH_USER_GONE : rc;
    auth_status st = account_password_replaced(conn, ctx, &r->after, &r->published);
    const char *values[2] = {r->user_id, r->revert_id};
    if (st == AUTH_OK) {
        int closed = auth_query_row(conn, &REVERT_CLOSE_LINKS, values, NULL, NULL, 0);
        st = closed < 0 ? (auth_status)closed : AUTH_OK;
    }
    if (st == AUTH_OK) {
        json_t *data =
            json_pack("{s:s, s:s, s:s, s:s}", "user_id", r->after.id, "email", r->after.email,
                      "previous_email", r->current_email, "changed_at", r->after.updated_at);
        st = account_add_user_event(conn, ctx, "taskbus.user.email_changed", &r->after, data);
    }
    return st == AUTH_OK ? 1 : st;
}

/* 1 done, 0 not redeemable, or < 0; the transaction is closed. */
static int revert_in(pg_conn *conn, const api_request_ctx *ctx, const char *hash_hex,
                     const char *new_hash, reverted *r) {
    if (auth_txn_begin(conn, "email revert") != AUTH_OK)
        return AUTH_UNAVAILABLE;
    int rc = redeem(conn, hash_hex, r);
    if (rc == 1)
        rc = undo(conn, ctx, new_hash, r);
    return auth_txn_end(conn, rc, "email revert");
}

static const mail_link_confirm REVERT_LINK = {
    .open = &REVERT_OPEN,
    .refusal = "the revert token is unknown, used or expired, or the account has that address "
               "again",
};

static void handle_revert(api_request_ctx *ctx) {
    char hash_hex[MAIL_TOKEN_HASH_HEX_BUF], new_hash[AUTH_PASSWORD_HASH_BUF];
    if (mail_link_confirm_begin(ctx, &REVERT_LINK, hash_hex, new_hash) != 1)
        return;
    pg_conn *conn = auth_acquire(ctx);
    if (conn == NULL)
        return;
    reverted r = {0};
    int rc = revert_in(conn, ctx, hash_hex, new_hash, &r);
    pg_pool_release(ctx->app->pg, conn);
    if (rc < 0 && r.published)
        auth_epoch_forget(ctx->app, r.user_id);
    if (rc == 0)
        mail_link_confirm_refuse(ctx, &REVERT_LINK);
    else if (rc < 0)
        auth_respond_failure(ctx, (auth_status)rc);
    else {
        log_json(LOG_INFO, "e-mail address change reverted",
                 json_pack("{s:s}", "user_id", r.after.id));
        api_respond_empty(ctx, 204);
    }
}

const api_route ROUTES_EMAIL_REVERT[] = {
    {"POST", "/api/v1/auth/email-change/revert", handle_revert,
     API_ROUTE_JSON_BODY | API_ROUTE_AUTH_LIMIT, API_SCOPE_PUBLIC},
    {NULL, NULL, NULL, 0, 0},
};
