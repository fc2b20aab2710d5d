/*
 * email_change.h: changing an account's e-mail address, which waits for a link mailed to
 * the new address (started by PATCH /api/v1/users/me with email and current_password;
 * completed by GET /api/v1/auth/email-change?token=, ROUTES_EMAIL_CHANGE in api/routes.h).
 *
 * Owns: the link's life (api/mail_token.h form, 24 hours, once, email_changes) and what a
 * completed change writes. Rules: the address changes only when the link is opened; the
 * answer to a start never tells whether the new address belongs to another account (that
 * account's owner is sent a notice instead of a link).
 */
#ifndef TASKBUS_API_EMAIL_CHANGE_H
#define TASKBUS_API_EMAIL_CHANGE_H

#include "api/auth_sessions.h"
#include "api/http_context.h"

/* Inside the caller's open transaction, after the current password was checked: mails
 * new_email a link to complete the change of user's address, or, when new_email is another
 * account's, a notice that changes nothing. AUTH_OK or < 0 (logged; the caller rolls back). */
auth_status email_change_start(pg_conn *conn, const api_request_ctx *ctx, const auth_user *user,
                               const char *new_email);

#endif
