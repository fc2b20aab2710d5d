/*
 * account_effects.c: the writes that go with an account change (see account_effects.h).
 *
 * Owns: the user-event envelope (subject users/<id>, keyed by the user id so one user's
 * events keep their order) and the password-replaced sequence. Rules: every reference
 * built here is released on every path; failures are logged here and returned.
 */
#include "api/account_effects.h"

#include <stdio.h>

#include "shared/bus.h"
#include "shared/cloudevent.h"
#include "shared/log.h"
#include "shared/notification.h"
#include "shared/outbox.h"

auth_status account_add_user_event(pg_conn *conn, const api_request_ctx *ctx, const char *type,
                                   const auth_user *user, json_t *data) {
    char err[256];
    if (outbox_add_user_event(conn, type, user->id, data, ctx->request_id, ctx->traceparent, err,
                              sizeof err) != 0) {
        LOG_ERRORF("accounts: %s", err);
        return AUTH_INTERNAL;
    }
    return AUTH_OK;
}

auth_status account_notify(pg_conn *conn, const api_request_ctx *ctx, const char *kind,
                           const char *user_id, const char *to, const json_t *data) {
    char err[256];
    if (notification_enqueue(conn, kind, user_id, to, data, ctx->request_id, ctx->traceparent, err,
                             sizeof err) != 0) {
        LOG_ERRORF("accounts: %s", err);
        return AUTH_INTERNAL;
    }
    return AUTH_OK;
}

/* Reset links still open end with the password they were sent to replace. */
static const pg_stmt RESETS_CLOSE = {
    .name = "accounts_resets_close",
    .sql = "UPDATE password_resets SET used_at = statement_timestamp()"
           " WHERE user_id = $1::uuid AND used_at IS NULL",
    .nparams = 1,
};

static auth_status close_reset_links(pg_conn *conn, const char *user_id) {
    const char *values[1] = {user_id};
    PGresult *res = pg_exec_stmt(conn, &RESETS_CLOSE, values);
    auth_status st = auth_result_status(res, RESETS_CLOSE.name);
    PQclear(res);
    return st;
}

auth_status account_password_replaced(pg_conn *conn, const api_request_ctx *ctx,
                                      const auth_user *after, bool *published) {
    auth_status st = auth_epoch_publish(ctx->app, after->id, after->token_epoch);
    *published = st == AUTH_OK;
    if (st == AUTH_OK)
        st = auth_sessions_revoke_all(conn, after->id);
    if (st == AUTH_OK)
        st = close_reset_links(conn, after->id);
    if (st == AUTH_OK) {
        json_t *data =
            json_pack("{s:s, s:s, s:s, s:s}", "user_id", after->id, "email", after->email,
                      "display_name", after->display_name, "changed_at", after->updated_at);
        st = account_add_user_event(conn, ctx, "taskbus.user.password_changed", after, data);
    }
    if (st == AUTH_OK)
        st = account_notify(conn, ctx, "password_changed", after->id, after->email, NULL);
    return st;
}

static const pg_stmt NOTHING_TO_SEND = {
    .name = "account_nothing_to_send",
    .sql = "SELECT pg_notify('outbox', '')",
    .nparams = 0,
};

auth_status account_notify_nothing(pg_conn *conn) {
    int woke = auth_query_row(conn, &NOTHING_TO_SEND, NULL, NULL, NULL, 0);
    return woke < 0 ? (auth_status)woke : AUTH_OK;
}
