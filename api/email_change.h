/*
 * email_change.h: changing an account's e-mail address, which waits for a link mailed to
 * the new address (started by PATCH /api/v1/users/me with email and current_password;
 * completed by POST /api/v1/auth/email-change/confirm {token}, ROUTES_EMAIL_CHANGE in
 * api/routes.h, from the page the mailed link opens).
 *
 * Owns: the link's life (shared/mail_token.h form, 24 hours, once, bound to the old address
 * and to the token epoch of the password check: email_changes) and what a completed
 * change writes. Rules: the address changes only when the link is opened; the
 * answer to a start never tells whether the new address belongs to another account (that
 * account's owner is sent a notice instead of a link).
 */
#ifndef TASKBUS_API_EMAIL_CHANGE_H
#define TASKBUS_API_EMAIL_CHANGE_H

#include "api/auth_sessions.h"
#include "api/http_context.h"

/* Inside the caller's open transaction, after the current password of user (the row it was
 * checked against) was checked: tells user's address, when verified, that a change
 * started, and mails
 * new_email a link to complete it, or, when new_email is another account's, a notice that
 * changes nothing. AUTH_OK or < 0 (logged; the caller rolls back). */
auth_status email_change_start(pg_conn *conn, const api_request_ctx *ctx, const auth_user *user,
                               const char *new_email);

#endif
