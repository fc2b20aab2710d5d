/*
 * notifier_links.c: the password-reset link made by the notifier (see notifier_links.h).
 *
 * Rules: the raw token lives in a stack buffer wiped on every path, and in the message's
 * data (freed with the message) from which the mail is rendered; the URL buffer is wiped
 * too.
 */
#include "workers/notifier/notifier_links.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/mail_token.h"
#include "shared/notification.h"
#include "shared/uuid7.h"

/* The row's hash replaced, while it can still be redeemed (the API's redeem checks the
 * same and more). */
static const pg_stmt STMT_MINT = {
    .name = "notifier_reset_mint",
    .sql = "UPDATE password_resets SET token_hash = decode($2, 'hex') WHERE id = $1::uuid"
           " AND used_at IS NULL AND expires_at > statement_timestamp() RETURNING 1",
    .nparams = 2,
};

/* Stores hash as the row's: 1 stored, 0 the row is closed, -1 failed (err). */
static int store_hash(pg_conn *conn, const char *reset_id, const char *hash, char *err,
                      size_t errlen) {
    const char *values[2] = {reset_id, hash};
    PGresult *res = pg_exec_stmt(conn, &STMT_MINT, values);
    int rc = res != NULL && pg_result_ok(res) ? PQntuples(res) == 1 : -1;
    if (rc < 0)
        errbuf_setf(err, errlen, "%s: %s", STMT_MINT.name,
                    res != NULL ? PQresultErrorMessage(res) : "connection failed");
    PQclear(res);
    return rc;
}

/* data.reset_url = <public url><page>?token=<token>, data.reset_id removed. 0, or -1. */
static int put_url(const taskbus_config *cfg, json_t *data, const char *token) {
    char url[1200];
    int n =
        snprintf(url, sizeof url, "%s" NOTIFICATION_RESET_PAGE "?token=%s", cfg->public_url, token);
    int rc = n > 0 && (size_t)n < sizeof url &&
                     json_object_set_new(data, "reset_url", json_string(url)) == 0 &&
                     json_object_del(data, "reset_id") == 0
                 ? 0
                 : -1;
    sodium_memzero(url, sizeof url);
    return rc;
}

bool notifier_links_needed(const json_t *msg) {
    const char *kind = json_string_value(json_object_get(msg, "kind"));
    return kind != NULL && strcmp(kind, "password_reset") == 0 &&
           json_object_get(json_object_get(msg, "data"), "reset_id") != NULL;
}

notifier_link notifier_links_make(const taskbus_config *cfg, pg_conn *conn, json_t *msg, char *err,
                                  size_t errlen) {
    if (!notifier_links_needed(msg))
        return NOTIFIER_LINK_NONE;
    json_t *data = json_object_get(msg, "data");
    const char *reset_id = json_string_value(json_object_get(data, "reset_id"));
    if (reset_id == NULL || !uuid_is_valid(reset_id)) {
        errbuf_setf(err, errlen, "malformed notification: reset_id is no UUID");
        return NOTIFIER_LINK_MALFORMED;
    }
    char token[MAIL_TOKEN_BUF], hash[MAIL_TOKEN_HASH_HEX_BUF];
    mail_token_new(token, hash);
    int stored = store_hash(conn, reset_id, hash, err, errlen);
    notifier_link out = stored < 0                       ? NOTIFIER_LINK_FAILED
                        : stored == 0                    ? NOTIFIER_LINK_CLOSED
                        : put_url(cfg, data, token) == 0 ? NOTIFIER_LINK_MADE
                                                         : NOTIFIER_LINK_FAILED;
    if (stored == 0)
        errbuf_setf(err, errlen, "the reset link %s is used, expired or gone", reset_id);
    else if (stored > 0 && out == NOTIFIER_LINK_FAILED)
        errbuf_setf(err, errlen, "out of memory for the reset link");
    sodium_memzero(token, sizeof token);
    return out;
}
