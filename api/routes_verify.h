/*
 * routes_verify.h: e-mail verification tokens (ROUTES_VERIFY lives in api/routes.h).
 *
 * Owns: issuing a verification token with its welcome notification at registration (or
 * a verify_email notification on POST /api/v1/auth/verify/resend), and
 * GET /api/v1/auth/verify?token= redeeming it. Rules: 32 random bytes, base64url; only
 * the SHA-256 is stored (email_verifications), valid 48 h, used once; the raw token
 * leaves the process only inside the notification's verify_url.
 */
#ifndef TASKBUS_API_ROUTES_VERIFY_H
#define TASKBUS_API_ROUTES_VERIFY_H

#include "api/http_context.h"

/* Inside the open registration transaction on conn: stores a new token for user_id and
 * enqueues the `welcome` notification to email with its verify_url. On success writes
 * the token's SHA-256 as lower-case hex (64 characters + NUL) into hash_hex (for the
 * registered event). 0, or -1 (logged; the caller rolls back). */
int verify_issue_welcome(pg_conn *conn, const api_request_ctx *ctx, const char *user_id,
                         const char *email, char hash_hex[65]);

#endif
