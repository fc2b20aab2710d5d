/*
 * mail_link_confirm.c: the front of a {token, new_password} confirmation (see
 * mail_link_confirm.h).
 */
#include "api/mail_link_confirm.h"

#include "api/account_validation.h"
#include "api/auth_sessions.h"

void mail_link_confirm_refuse(api_request_ctx *ctx, const mail_link_confirm *link) {
    api_respond_error(ctx, 400, "invalid-token", link->refusal);
}

/* 1 when the link is open now, 0 when not, or < 0 (answered). */
static int link_open(api_request_ctx *ctx, const pg_stmt *open, const char *hash_hex) {
    pg_conn *conn = auth_acquire(ctx);
    if (conn == NULL)
        return AUTH_UNAVAILABLE;
    const char *values[1] = {hash_hex};
    PGresult *res = pg_exec_stmt(conn, open, values);
    auth_status st = auth_result_status(res, open->name);
    int found = st == AUTH_OK ? PQntuples(res) >= 1 : st;
    PQclear(res);
    pg_pool_release(ctx->app->pg, conn);
    if (found < 0)
        auth_respond_failure(ctx, (auth_status)found);
    return found;
}

int mail_link_confirm_begin(api_request_ctx *ctx, const mail_link_confirm *link,
                            char hash_hex[MAIL_TOKEN_HASH_HEX_BUF],
                            char new_hash[AUTH_PASSWORD_HASH_BUF]) {
    account_reset_confirm_input in;
    json_t *errors = auth_field_errors_new(ctx);
    if (errors == NULL || auth_field_errors_check(
                              ctx, errors, account_validate_reset_confirm(ctx->body, &in, errors)))
        return 0;
    if (!mail_token_well_formed(in.token)) {
        mail_link_confirm_refuse(ctx, link);
        return 0;
    }
    mail_token_hash(in.token, hash_hex);
    int open = link_open(ctx, link->open, hash_hex);
    if (open <= 0) {
        if (open == 0)
            mail_link_confirm_refuse(ctx, link);
        return 0;
    }
    if (auth_password_hash(ctx->app->cfg, in.new_password, new_hash) != 0) {
        auth_respond_failure(ctx, AUTH_INTERNAL);
        return 0;
    }
    return 1;
}
