/*
 * auth_middleware.h: turns a Bearer access token into an authenticated request.
 *
 * Owns: the per-request check of an access token: signature and claims (auth_jwt.c),
 * then the user's token epoch and the session's revocation (Redis, Postgres when Redis
 * cannot answer). Rules: on success fills ctx->user_id, session_id, role, token_epoch
 * and sets ctx->authenticated; on failure answers 401 (with WWW-Authenticate: Bearer)
 * or 503 itself and returns -1.
 */
#ifndef TASKBUS_API_AUTH_MIDDLEWARE_H
#define TASKBUS_API_AUTH_MIDDLEWARE_H

#include "api/http_context.h"

int api_authenticate(api_request_ctx *ctx);

#endif
