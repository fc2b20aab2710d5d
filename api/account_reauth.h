/*
 * account_reauth.h: a signed-in user proving the password again before a change that an
 * access token alone must not make (a password change, an address change, deleting the
 * account).
 *
 * Owns: the order of that check. Rules: the per-account sign-in bucket pays first (a
 * stolen access token must not become a password oracle), then argon2 against the hash
 * the caller read; a wrong password is 403 invalid-credentials (the caller is signed in,
 * so not 401).
 */
#ifndef TASKBUS_API_ACCOUNT_REAUTH_H
#define TASKBUS_API_ACCOUNT_REAUTH_H

#include "api/auth_sessions.h"
#include "api/http_context.h"

/* 0 when password matches user's password_hash; otherwise -1 and the request was answered
 * (429, 403, or 500). */
int account_reauth(api_request_ctx *ctx, const auth_user *user, const char *password);

#endif
