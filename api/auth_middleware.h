/*
 * auth_middleware.h: turns a Bearer access token into an authenticated request.
 *
 * Owns: the per-request check of an access token: signature and claims (auth_jwt.c),
 * then the user's token epoch and the session's revocation (Redis, Postgres when Redis
 * cannot answer). Rules: on success fills ctx->user_id, session_id, role, token_epoch
 * and sets ctx->authenticated; on failure answers 401 (with WWW-Authenticate: Bearer)
 * or 503 itself and returns -1. A personal API token ("tb_...") instead fills user_id,
 * token_epoch, via_api_token, api_token_id and token_scopes (no session, no role). On a
 * route that takes one (API_ROUTE_TICKET), a request with no Authorization header may
 * bring an event-stream ticket (?ticket=, api/sse_tickets.h) instead: it stands for its
 * session, checked again, as the session's access token would.
 */
#ifndef TASKBUS_API_AUTH_MIDDLEWARE_H
#define TASKBUS_API_AUTH_MIDDLEWARE_H

#include "api/http_context.h"

int api_authenticate(api_request_ctx *ctx);
/* api_authenticate, or the ticket of a route whose flags include API_ROUTE_TICKET. */
int api_authenticate_route(api_request_ctx *ctx, unsigned route_flags);
/* After api_authenticate: 0 when the request may use a route declaring route_scope
 * (api/api_token_scope.h; a session may use every route), else answers 403
 * insufficient-scope and returns -1. */
int api_authorize_scope(api_request_ctx *ctx, unsigned route_scope);

#endif
