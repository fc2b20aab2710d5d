/*
 * notifier_links.h: links the notifier makes itself, so their token exists only in the
 * mail it sends (the password-reset link, the link that undoes an address change and the
 * link that creates a registered account; docs/decisions.md, "The reset token is the
 * mail's").
 *
 * Owns: the kinds whose links are made here (password_reset: {reset_id} in, reset_url out,
 * row in password_resets; email_change_revert: {revert_id} in, revert_url out, row in
 * email_change_reverts; register_confirm: {registration_id} in, confirm_url out, row in
 * pending_registrations, whose id is the message's user_id), minting a token for such a message and storing its hash in the
 * row it names. Rules: the hash is stored only while the row is open and is the account's
 * and recipient's the message names (its user_id and to: a message forged onto the topic
 * with another recipient gets no live token), and only while the account has the address
 * the redeem requires; it is committed (the recorder's autocommit connection) before the
 * mail is built, so a mailed link redeems unless a later mail of the same row replaced it:
 * every mint replaces the hash, so a mail made again (a batch redone after a send that
 * was not recorded) carries the one live token. A row that is closed, or not the
 * recipient's, gets no mail. The token is never logged.
 */
#ifndef TASKBUS_WORKERS_NOTIFIER_NOTIFIER_LINKS_H
#define TASKBUS_WORKERS_NOTIFIER_NOTIFIER_LINKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "shared/config.h"
#include "shared/pg_pool.h"

typedef enum notifier_link {
    NOTIFIER_LINK_NONE = 0,  /* the message needs no link of ours: send it as it is */
    NOTIFIER_LINK_MADE,      /* msg's data now carries the link */
    NOTIFIER_LINK_CLOSED,    /* the row is used, expired or gone: send nothing */
    NOTIFIER_LINK_MALFORMED, /* the row's id is no UUID (err): a dead letter */
    NOTIFIER_LINK_FAILED,    /* Postgres failed (err): redo the batch */
} notifier_link;

/* Whether msg is one notifier_links_make works on (a kind above naming its row). */
bool notifier_links_needed(const json_t *msg);

/* For such a message (msg, changed in place): a new token, its hash stored through conn,
 * the link's URL member set and the row's id member left out. NONE for any other
 * message. */
notifier_link notifier_links_make(const taskbus_config *cfg, pg_conn *conn, json_t *msg, char *err,
                                  size_t errlen);

#endif
