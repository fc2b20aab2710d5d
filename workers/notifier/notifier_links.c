/*
 * notifier_links.c: the links made by the notifier (see notifier_links.h).
 *
 * Rules: the raw token lives in a stack buffer wiped on every path, and in the message's
 * data (freed with the message) from which the mail is rendered; the URL buffer is wiped
 * too. One row of LINKS per kind: adding a link is adding a row (and its table's id).
 */
#include "workers/notifier/notifier_links.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/mail_token.h"
#include "shared/notification.h"
#include "shared/uuid7.h"

/* The row's hash replaced, while it can still be redeemed, and only for the account and
 * address the message is about ($3 user_id, $4 to): a message that names a row but
 * another recipient (one forged onto the topic) gets no live token, and a link whose
 * address the account no longer has (the redeem's own condition) is not mailed dead. */
static const pg_stmt MINT_RESET = {
    "notifier_reset_mint",
    "UPDATE password_resets r SET token_hash = decode($2, 'hex') FROM users u"
    " WHERE r.id = $1::uuid AND r.user_id = $3::uuid AND r.email = $4 AND u.id = r.user_id"
    " AND u.email = r.email AND r.used_at IS NULL AND r.expires_at > statement_timestamp()"
    " RETURNING 1",
    4};
/* The revert link goes to the old address, while the account does not have it again (the
 * redeem's condition). */
static const pg_stmt MINT_REVERT = {
    "notifier_revert_mint",
    "UPDATE email_change_reverts r SET token_hash = decode($2, 'hex') FROM users u"
    " WHERE r.id = $1::uuid AND r.user_id = $3::uuid AND r.old_email = $4 AND u.id = r.user_id"
    " AND u.email <> r.old_email AND r.used_at IS NULL AND r.expires_at > statement_timestamp()"
    " RETURNING 1",
    4};

/* The registration's link goes to its address while no account has it ($3 user_id is the
 * row's id: the account's to be); a taken or reserved address gets no live token (its mail
 * is account_exists, and the redeem would refuse it). */
static const pg_stmt MINT_REGISTRATION = {
    "notifier_registration_mint",
    "UPDATE pending_registrations r SET token_hash = decode($2, 'hex')"
    " WHERE r.id = $1::uuid AND r.id = $3::uuid AND r.email = $4 AND r.used_at IS NULL"
    " AND r.expires_at > statement_timestamp()"
    " AND NOT EXISTS (SELECT 1 FROM users u WHERE u.email = r.email)"
    " AND NOT email_reserved(r.email, NULL) RETURNING 1",
    4};

typedef struct link_kind {
    const char *kind;      /* the notification's kind */
    const char *id_member; /* data member naming the row */
    const char *url_member;
    const char *page; /* after TASKBUS_PUBLIC_URL */
    const pg_stmt *mint;
} link_kind;

static const link_kind LINKS[] = {
    {"password_reset", "reset_id", "reset_url", NOTIFICATION_RESET_PAGE, &MINT_RESET},
    {"email_change_revert", "revert_id", "revert_url", NOTIFICATION_REVERT_PAGE, &MINT_REVERT},
    {"register_confirm", "registration_id", "confirm_url", NOTIFICATION_REGISTER_PAGE,
     &MINT_REGISTRATION},
};

/* The link kind msg needs, or NULL. */
static const link_kind *link_of(const json_t *msg) {
    const char *kind = json_string_value(json_object_get(msg, "kind"));
    json_t *data = json_object_get(msg, "data");
    for (size_t i = 0; kind != NULL && i < sizeof LINKS / sizeof LINKS[0]; i++) {
        if (strcmp(kind, LINKS[i].kind) == 0 && json_object_get(data, LINKS[i].id_member) != NULL)
            return &LINKS[i];
    }
    return NULL;
}

/* Stores hash as the row's for msg's recipient: 1 stored, 0 the row is closed (or not
 * theirs), -1 failed (err). */
static int store_hash(pg_conn *conn, const pg_stmt *mint, const json_t *msg, const char *id,
                      const char *hash, char *err, size_t errlen) {
    const char *values[4] = {id, hash, json_string_value(json_object_get(msg, "user_id")),
                             json_string_value(json_object_get(msg, "to"))};
    PGresult *res = pg_exec_stmt(conn, mint, values);
    int rc = res != NULL && pg_result_ok(res) ? PQntuples(res) == 1 : -1;
    if (rc < 0)
        errbuf_setf(err, errlen, "%s: %s", mint->name,
                    res != NULL ? PQresultErrorMessage(res) : "connection failed");
    PQclear(res);
    return rc;
}

/* data[url_member] = <public url><page>?token=<token>, data[id_member] removed. 0, or -1. */
static int put_url(const taskbus_config *cfg, const link_kind *k, json_t *data, const char *token) {
    char url[1200];
    int n = snprintf(url, sizeof url, "%s%s?token=%s", cfg->public_url, k->page, token);
    int rc = n > 0 && (size_t)n < sizeof url &&
                     json_object_set_new(data, k->url_member, json_string(url)) == 0 &&
                     json_object_del(data, k->id_member) == 0
                 ? 0
                 : -1;
    sodium_memzero(url, sizeof url);
    return rc;
}

bool notifier_links_needed(const json_t *msg) {
    return link_of(msg) != NULL;
}

notifier_link notifier_links_make(const taskbus_config *cfg, pg_conn *conn, json_t *msg, char *err,
                                  size_t errlen) {
    const link_kind *k = link_of(msg);
    if (k == NULL)
        return NOTIFIER_LINK_NONE;
    json_t *data = json_object_get(msg, "data");
    const char *id = json_string_value(json_object_get(data, k->id_member));
    if (id == NULL || !uuid_is_valid(id)) {
        errbuf_setf(err, errlen, "malformed notification: %s is no UUID", k->id_member);
        return NOTIFIER_LINK_MALFORMED;
    }
    char token[MAIL_TOKEN_BUF], hash[MAIL_TOKEN_HASH_HEX_BUF];
    mail_token_new(token, hash);
    int stored = store_hash(conn, k->mint, msg, id, hash, err, errlen);
    notifier_link out = stored < 0                          ? NOTIFIER_LINK_FAILED
                        : stored == 0                       ? NOTIFIER_LINK_CLOSED
                        : put_url(cfg, k, data, token) == 0 ? NOTIFIER_LINK_MADE
                                                            : NOTIFIER_LINK_FAILED;
    if (stored == 0)
        errbuf_setf(err, errlen, "the %s link %s is used, expired, gone or not the recipient's",
                    k->kind, id);
    else if (stored > 0 && out == NOTIFIER_LINK_FAILED)
        errbuf_setf(err, errlen, "out of memory for the %s link", k->kind);
    sodium_memzero(token, sizeof token);
    return out;
}
