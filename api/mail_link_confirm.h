/*
 * mail_link_confirm.h: the front of a confirmation that takes a mailed link's token and a
 * new password ({token, new_password}: POST /api/v1/auth/password-reset/confirm and
 * POST /api/v1/auth/email-change/revert).
 *
 * Owns: the order of that front, once: the body checked (422), the token's form (a string
 * of another form was never issued: the route's 400), the link looked up as open (one
 * indexed read, so a guessed token costs no argon2), then the new password hashed with no
 * pooled connection held. Rules: every refusal is answered here; the caller's transaction
 * checks the link again under its locks.
 */
#ifndef TASKBUS_API_MAIL_LINK_CONFIRM_H
#define TASKBUS_API_MAIL_LINK_CONFIRM_H

#include "api/auth_password.h"
#include "api/http_context.h"
#include "shared/mail_token.h"
#include "shared/pg_pool.h"

typedef struct mail_link_confirm {
    const pg_stmt *open; /* $1 the token's hash in hex: a row while the link is open */
    const char *refusal; /* the 400 invalid-token detail */
} mail_link_confirm;

/* 1 with hash_hex (the token's) and new_hash (the new password's) filled, or 0 when the
 * request was answered. */
int mail_link_confirm_begin(api_request_ctx *ctx, const mail_link_confirm *link,
                            char hash_hex[MAIL_TOKEN_HASH_HEX_BUF],
                            char new_hash[AUTH_PASSWORD_HASH_BUF]);

/* The 400 invalid-token answer of link. */
void mail_link_confirm_refuse(api_request_ctx *ctx, const mail_link_confirm *link);

#endif
