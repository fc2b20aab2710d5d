/*
 * routes_verify.c: e-mail verification (ROUTES_VERIFY: GET /api/v1/auth/verify?token=).
 *
 * Owns: the token's life: issued with the welcome notification in the registration
 * transaction, redeemed once here. Rules: the raw token is never stored or logged; the
 * lookup is by SHA-256; a redeem marks the token used and the user verified in one
 * statement, so two concurrent redeems of one token verify once and the other is 400.
 */
#include "api/routes_verify.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api/routes.h"
#include "shared/log.h"
#include "shared/notification.h"

#define TOKEN_BYTES 32
#define TOKEN_CHARS 43 /* base64url, no padding, of 32 bytes */
#define TOKEN_TTL "48 hours"

static const pg_stmt VERIFY_INSERT = {
    .name = "verify_insert",
    .sql = "INSERT INTO email_verifications (token_hash, user_id, expires_at)"
           " VALUES (decode($1, 'hex'), $2::uuid, now() + interval '" TOKEN_TTL "')",
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

static void sha256_hex(const char *token, char hex[65]) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(hex, 65, digest, sizeof digest);
}

static int enqueue_welcome(pg_conn *conn, const api_request_ctx *ctx, const char *user_id,
                           const char *email, const char *token) {
    char url[1200];
    int n = snprintf(url, sizeof url, "%s/api/v1/auth/verify?token=%s", ctx->app->cfg->public_url,
                     token);
    json_t *data = n > 0 && (size_t)n < sizeof url ? json_pack("{s:s}", "verify_url", url) : NULL;
    if (data == NULL) {
        LOG_ERRORF("verify: cannot build the verify_url");
        return -1;
    }
    char err[256];
    int rc = notification_enqueue(conn, "welcome", user_id, email, data, ctx->request_id,
                                  ctx->traceparent, err, sizeof err);
    json_decref(data);
    if (rc != 0)
        LOG_ERRORF("verify: %s", err);
    return rc;
}

int verify_issue_welcome(pg_conn *conn, const api_request_ctx *ctx, const char *user_id,
                         const char *email, char hash_hex[65]) {
    unsigned char raw[TOKEN_BYTES];
    char token[TOKEN_CHARS + 1];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(token, sizeof token, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    sha256_hex(token, hash_hex);
    const char *values[2] = {hash_hex, user_id};
    PGresult *res = pg_exec_stmt(conn, &VERIFY_INSERT, values);
    bool ok = res != NULL && pg_result_ok(res);
    if (!ok)
        LOG_ERRORF("verify: cannot store the token: %s",
                   res != NULL ? PQresultErrorMessage(res) : "connection failed");
    PQclear(res);
    int rc = ok ? enqueue_welcome(conn, ctx, user_id, email, token) : -1;
    sodium_memzero(token, sizeof token);
    return rc;
}

/* Exactly 43 base64url characters: anything else was never issued. */
static bool token_well_formed(const char *token) {
    if (token == NULL || strlen(token) != TOKEN_CHARS)
        return false;
    for (const char *p = token; *p != '\0'; p++) {
        char c = *p;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

static void handle_verify(api_request_ctx *ctx) {
    const char *token = u_map_get(ctx->req->map_url, "token");
    if (!token_well_formed(token)) {
        api_respond_error(ctx, 400, "invalid-token", "the verification token is not valid");
        return;
    }
    char hex[65];
    sha256_hex(token, hex);
    char err[256];
    pg_conn *conn = pg_pool_acquire(ctx->app->pg, 2000, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("verify: %s", err);
        api_set_header(ctx, "Retry-After", "1");
        api_respond_error(ctx, 503, "service-unavailable", "the database is unavailable");
        return;
    }
    const char *values[1] = {hex};
    PGresult *res = pg_exec_stmt(conn, &VERIFY_REDEEM, values);
    pg_pool_release(ctx->app->pg, conn);
    if (res == NULL || !pg_result_ok(res)) {
        LOG_WARNF("verify: %s", res != NULL ? PQresultErrorMessage(res) : "connection failed");
        PQclear(res);
        api_set_header(ctx, "Retry-After", "1");
        api_respond_error(ctx, 503, "service-unavailable", "the database is unavailable");
        return;
    }
    int rows = PQntuples(res);
    PQclear(res);
    if (rows != 1) {
        api_respond_error(ctx, 400, "invalid-token",
                          "the verification token is unknown, used or expired");
        return;
    }
    api_respond_json(ctx, 200, json_pack("{s:b}", "email_verified", 1));
}

const api_route ROUTES_VERIFY[] = {
    {"GET", "/api/v1/auth/verify", handle_verify, 0},
    {NULL, NULL, NULL, 0},
};
