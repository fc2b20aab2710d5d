/*
 * rate_limits.h: the API's rate-limit policy on top of shared/ratelimit.c.
 *
 * Owns: which buckets a request is charged to (per IP always; per IP auth bucket on
 * API_ROUTE_AUTH_LIMIT routes; per user after authentication; per account on login) and
 * the RateLimit-* / Retry-After headers. Rules: each function answers 429 itself and
 * returns -1 when a bucket is exhausted; Redis being down lets the request through.
 */
#ifndef TASKBUS_API_RATE_LIMITS_H
#define TASKBUS_API_RATE_LIMITS_H

#include "api/http_context.h"

/* Before routing: the per-IP bucket. */
int api_limit_ip(api_request_ctx *ctx);
/* For API_ROUTE_AUTH_LIMIT routes: the stricter per-IP auth bucket. */
int api_limit_auth(api_request_ctx *ctx);
/* After authentication: the per-user bucket. */
int api_limit_user(api_request_ctx *ctx);
/* Login: the per-account bucket, keyed by the normalised e-mail. */
int api_limit_login_account(api_request_ctx *ctx, const char *email);

#endif
