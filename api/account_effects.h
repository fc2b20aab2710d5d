/*
 * account_effects.h: what an account change writes besides the users row, inside the
 * caller's transaction (user events on the user-events topic, the password-changed mail,
 * the end of every session).
 *
 * Owns: the one definition of "the password was replaced" that a password change and a
 * password reset both follow. Rules: never opens or ends a transaction; the token epoch
 * goes to Redis before the caller commits (a failed commit must take it back with
 * auth_epoch_forget when *published was set).
 */
#ifndef TASKBUS_API_ACCOUNT_EFFECTS_H
#define TASKBUS_API_ACCOUNT_EFFECTS_H

#include <jansson.h>
#include <stdbool.h>

#include "api/auth_sessions.h"
#include "api/http_context.h"

/* Writes a user event of type (data stolen) about user to the outbox. */
auth_status account_add_user_event(pg_conn *conn, const api_request_ctx *ctx, const char *type,
                                   const auth_user *user, json_t *data);

/* Enqueues a notification of kind to `to` about user_id in the open transaction, with the
 * request's id and trace (data borrowed; NULL for none). A failure is logged. */
auth_status account_notify(pg_conn *conn, const api_request_ctx *ctx, const char *kind,
                           const char *user_id, const char *to, const json_t *data);

/* In place of a notification's outbox row when nothing is to be sent (an unknown or
 * reserved address), so that request does the same work as one that mails: the relay's
 * wake-up that shared/outbox.c sends with each row, which finds nothing. */
auth_status account_notify_nothing(pg_conn *conn);

/* after: the users row with its new hash and bumped epoch. Publishes the epoch (every
 * access token issued before stops at once; *published says it was), revokes every
 * session, ends every open password-reset link, writes taskbus.user.password_changed and
 * enqueues the password_changed mail. */
auth_status account_password_replaced(pg_conn *conn, const api_request_ctx *ctx,
                                      const auth_user *after, bool *published);

#endif
