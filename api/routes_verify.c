/*
 * routes_verify.c: e-mail verification (ROUTES_VERIFY: GET /api/v1/auth/verify?token=,
 * POST /api/v1/auth/verify/resend).
 *
 * Owns: the token's life: issued with a verify_email notification when an unverified user
 * asks for a new link (an account made by its registration link is verified already; the
 * welcome links of accounts made before stay valid until they expire), redeemed once
 * here (a browser that opens the link gets a page saying what happened, any other client
 * the JSON: api/html_page.h). Rules: the raw token is never stored or logged; the lookup is
 * by SHA-256; a redeem marks the token used and the user verified in one statement, so
 * two concurrent redeems of one token verify once and the other is 400. A resend is
 * limited in Postgres, under the user row's lock, so the limit is exact on every instance:
 * at most RESEND_PER_HOUR tokens a user got in the last hour (a welcome one counts) and
 * one per RESEND_SPACING_S seconds; 429 with Retry-After saying when the next is allowed.
 * Earlier links stay valid until they expire.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/account_effects.h"
#include "api/auth_sessions.h"
#include "shared/mail_token.h"
#include "api/api_token_scope.h"
#include "api/html_page.h"
#include "api/routes.h"
#include "shared/log.h"

#define TOKEN_TTL "48 hours"
#define RESEND_PER_HOUR 5
#define RESEND_SPACING_S 60

static const pg_stmt VERIFY_INSERT = {
    .name = "verify_insert",
    .sql = "INSERT INTO email_verifications (token_hash, user_id, created_at, expires_at)"
           " VALUES (decode($1, 'hex'), $2::uuid, statement_timestamp(),"
           " statement_timestamp() + interval '" TOKEN_TTL "')",
    .nparams = 2,
};

/* One statement: a token that is unknown, used or expired updates nothing. */
static const pg_stmt VERIFY_REDEEM = {
    .name = "verify_redeem",
    .sql = "WITH t AS (UPDATE email_verifications SET used_at = now()"
           " WHERE token_hash = decode($1, 'hex') AND used_at IS NULL AND expires_at > now()"
           " RETURNING user_id)"
           " UPDATE users u SET email_verified_at = coalesce(u.email_verified_at, now()),"
           " updated_at = now() FROM t WHERE u.id = t.user_id RETURNING u.id::text",
    .nparams = 1,
};

/* The user row, locked for the resend's transaction: its e-mail and whether it is
 * verified. */
static const pg_stmt RESEND_LOCK = {
    .name = "verify_resend_lock",
    .sql = "SELECT email, email_verified_at IS NOT NULL FROM users WHERE id = $1::uuid"
           " FOR NO KEY UPDATE",
    .nparams = 1,
};

/* Seconds until the user may be sent another token (0: now): $2 seconds after the latest,
 * and an hour after the $3-th newest of the last hour (only when there are $3). Times are
 * the statements' (statement_timestamp(), as the insert's), not the transaction's, which
 * began before the wait for the user row's lock. */
static const pg_stmt RESEND_WAIT = {
    .name = "verify_resend_wait",
    .sql = "SELECT ceil(extract(epoch FROM greatest(interval '0',"
           " coalesce((SELECT max(created_at) FROM email_verifications WHERE user_id = $1::uuid)"
           " + make_interval(secs => $2::int) - statement_timestamp(), interval '0'),"
           " coalesce((SELECT created_at FROM email_verifications WHERE user_id = $1::uuid"
           " AND created_at > statement_timestamp() - interval '1 hour' ORDER BY created_at DESC"
           " OFFSET $3::int - 1 LIMIT 1) + interval '1 hour' - statement_timestamp(), interval "
           "'0'))))::int",
    .nparams = 3,
};

/* Enqueues kind (welcome or verify_email) with the verify_url of token. */
static int enqueue_link(pg_conn *conn, const api_request_ctx *ctx, const char *kind,
                        const char *user_id, const char *email, const char *token) {
    char url[1200];
    int n = snprintf(url, sizeof url, "%s/api/v1/auth/verify?token=%s", ctx->app->cfg->public_url,
                     token);
    json_t *data = n > 0 && (size_t)n < sizeof url ? json_pack("{s:s}", "verify_url", url) : NULL;
    if (data == NULL) {
        LOG_ERRORF("verify: cannot build the verify_url");
        return -1;
    }
    auth_status st = account_notify(conn, ctx, kind, user_id, email, data);
    json_decref(data);
    return st == AUTH_OK ? 0 : -1;
}

/* Stores a new token for user_id and enqueues kind with its link. 0, or -1 (logged). */
static int issue(pg_conn *conn, const api_request_ctx *ctx, const char *kind, const char *user_id,
                 const char *email, char hash_hex[65]) {
    char token[MAIL_TOKEN_BUF];
    mail_token_new(token, hash_hex);
    const char *values[2] = {hash_hex, user_id};
    PGresult *res = pg_exec_stmt(conn, &VERIFY_INSERT, values);
    bool ok = res != NULL && pg_result_ok(res);
    if (!ok)
        LOG_ERRORF("verify: cannot store the token: %s",
                   res != NULL ? PQresultErrorMessage(res) : "connection failed");
    PQclear(res);
    int rc = ok ? enqueue_link(conn, ctx, kind, user_id, email, token) : -1;
    sodium_memzero(token, sizeof token);
    return rc;
}

/* The verify link's outcome: JSON (a problem, or {email_verified}), or for a browser that
 * opened the mailed link, a page saying the same (api/html_page.h). status 200 is success. */
static void answer_verify(api_request_ctx *ctx, int status, const char *slug, const char *detail) {
    if (html_page_preferred(api_header(ctx, "Accept"))) {
        if (status == 200)
            html_page_respond(ctx, 200, "Address verified",
                              "Your e-mail address is verified. You can close this page.");
        else if (status == 503)
            html_page_respond(ctx, 503, "Try again in a moment",
                              "taskbus cannot verify your address right now. Open the link "
                              "from the mail again in a minute.");
        else
            html_page_respond(ctx, status, "This link does not work", detail);
        return;
    }
    if (status == 200)
        api_respond_json(ctx, 200, json_pack("{s:b}", "email_verified", 1));
    else
        api_respond_error(ctx, status, slug, detail);
}

static void handle_verify(api_request_ctx *ctx) {
    const char *token = u_map_get(ctx->req->map_url, "token");
    if (!mail_token_well_formed(token)) {
        answer_verify(ctx, 400, "invalid-token", "the verification token is not valid");
        return;
    }
    char hex[MAIL_TOKEN_HASH_HEX_BUF];
    mail_token_hash(token, hex);
    char err[256];
    pg_conn *conn = pg_pool_acquire(ctx->app->pg, 2000, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("verify: %s", err);
        api_set_header(ctx, "Retry-After", "1");
        answer_verify(ctx, 503, "service-unavailable", "the database is unavailable");
        return;
    }
    const char *values[1] = {hex};
    PGresult *res = pg_exec_stmt(conn, &VERIFY_REDEEM, values);
    pg_pool_release(ctx->app->pg, conn);
    if (res == NULL || !pg_result_ok(res)) {
        LOG_WARNF("verify: %s", res != NULL ? PQresultErrorMessage(res) : "connection failed");
        PQclear(res);
        api_set_header(ctx, "Retry-After", "1");
        answer_verify(ctx, 503, "service-unavailable", "the database is unavailable");
        return;
    }
    int rows = PQntuples(res);
    PQclear(res);
    if (rows != 1) {
        answer_verify(ctx, 400, "invalid-token",
                      "the verification token is unknown, used or expired");
        return;
    }
    answer_verify(ctx, 200, NULL, NULL);
}

/* --- POST /api/v1/auth/verify/resend ------------------------------------------------- */

static void log_failure(const pg_stmt *stmt, const PGresult *res) {
    LOG_WARNF("verify: %s: %s", stmt->name,
              res != NULL ? PQresultErrorMessage(res) : "connection failed");
}

typedef enum {
    RESEND_SENT,
    RESEND_GONE,
    RESEND_VERIFIED,
    RESEND_WAIT_FIRST,
    RESEND_FAILED
} resend_outcome;

/* Inside the open transaction: locks the user, checks, issues. *wait_s: the seconds a
 * RESEND_WAIT_FIRST must wait; email: the address written to. */
static resend_outcome resend_in(pg_conn *conn, const api_request_ctx *ctx, int *wait_s,
                                char email[ACCOUNT_EMAIL_BUF]) {
    const char *who[1] = {ctx->user_id};
    PGresult *res = pg_exec_stmt(conn, &RESEND_LOCK, who);
    if (!pg_result_ok(res)) {
        log_failure(&RESEND_LOCK, res);
    }
    resend_outcome o = res == NULL || !pg_result_ok(res) ? RESEND_FAILED
                       : PQntuples(res) == 0             ? RESEND_GONE
                       : PQgetvalue(res, 0, 1)[0] == 't' ? RESEND_VERIFIED
                                                         : RESEND_SENT;
    if (o == RESEND_SENT) {
        snprintf(email, ACCOUNT_EMAIL_BUF, "%s", PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    if (o != RESEND_SENT) {
        return o;
    }
    char spacing[16], per_hour[16];
    snprintf(spacing, sizeof spacing, "%d", RESEND_SPACING_S);
    snprintf(per_hour, sizeof per_hour, "%d", RESEND_PER_HOUR);
    const char *values[3] = {ctx->user_id, spacing, per_hour};
    res = pg_exec_stmt(conn, &RESEND_WAIT, values);
    if (res == NULL || !pg_result_ok(res) || PQntuples(res) != 1) {
        log_failure(&RESEND_WAIT, res);
        PQclear(res);
        return RESEND_FAILED;
    }
    *wait_s = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (*wait_s > 0) {
        return RESEND_WAIT_FIRST;
    }
    char hash_hex[65];
    return issue(conn, ctx, "verify_email", ctx->user_id, email, hash_hex) == 0 ? RESEND_SENT
                                                                                : RESEND_FAILED;
}

static void respond_resend(api_request_ctx *ctx, resend_outcome o, int wait_s, const char *email) {
    char retry[16];
    switch (o) {
    case RESEND_SENT:
        api_respond_json(ctx, 202, json_pack("{s:s}", "email", email));
        break;
    case RESEND_GONE:
        auth_respond_account_gone(ctx);
        break;
    case RESEND_VERIFIED:
        api_respond_error(ctx, 409, "already-verified", "the e-mail address is verified already");
        break;
    case RESEND_WAIT_FIRST:
        snprintf(retry, sizeof retry, "%d", wait_s);
        api_set_header(ctx, "Retry-After", retry);
        api_respond_error(ctx, 429, "rate-limited",
                          "a verification link was sent for this account less than a minute "
                          "ago, or five within the hour; retry after the Retry-After delay");
        break;
    default:
        api_set_header(ctx, "Retry-After", "1");
        api_respond_error(ctx, 503, "service-unavailable", "the database is unavailable");
    }
}

static void handle_resend(api_request_ctx *ctx) {
    char err[256], email[ACCOUNT_EMAIL_BUF] = "";
    int wait_s = 0;
    pg_conn *conn = pg_pool_acquire(ctx->app->pg, 2000, err, sizeof err);
    if (conn == NULL || pg_begin(conn, err, sizeof err) != 0) {
        LOG_WARNF("verify: %s", err);
        if (conn != NULL) {
            pg_pool_release(ctx->app->pg, conn);
        }
        respond_resend(ctx, RESEND_FAILED, 0, email);
        return;
    }
    resend_outcome o = resend_in(conn, ctx, &wait_s, email);
    if (o == RESEND_SENT && pg_commit(conn, err, sizeof err) != 0) {
        LOG_WARNF("verify: commit: %s", err);
        o = RESEND_FAILED;
    }
    if (o != RESEND_SENT) {
        pg_rollback(conn);
    }
    pg_pool_release(ctx->app->pg, conn);
    if (o == RESEND_SENT) {
        log_json(LOG_INFO, "verification link sent again",
                 json_pack("{s:s}", "user_id", ctx->user_id));
    }
    respond_resend(ctx, o, wait_s, email);
}

const api_route ROUTES_VERIFY[] = {
    {"GET", "/api/v1/auth/verify", handle_verify, 0, API_SCOPE_PUBLIC},
    {"POST", "/api/v1/auth/verify/resend", handle_resend, API_ROUTE_AUTH, API_SCOPE_SESSION},
    {NULL, NULL, NULL, 0, 0},
};
