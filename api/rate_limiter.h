/*
 * rate_limiter.h: the API's rate-limit policy (docs/decisions.md, "Rate limits").
 *
 * Owns: which buckets a request is charged to and where they live, the limiter's lifecycle
 * and the RateLimit-Policy / RateLimit / RateLimit-Limit/-Remaining/-Reset / Retry-After
 * headers (formatted by api/rate_limit_headers.h from ctx->rate). The per-IP and per-user buckets
 * are local GCRA buckets (api/rate_limit_local.h) reconciled with the shared Redis buckets off the
 * request path (api/rate_limit_sync.h): charging them makes no Redis call. The sign-in buckets
 * (per IP on the sign-in and mail-token routes, per account on login, password change and
 * address change, per mailed address) stay
 * synchronous on Redis, exact across instances; when Redis cannot answer, a local bucket
 * of this instance decides instead of letting every attempt through.
 * Rules: each function answers 429 itself and returns -1 when a bucket is exhausted (a
 * request answered before api_limit_request is charged all the same, and keeps its
 * answer); RateLimit-Policy lists every bucket charged, the other headers describe the one
 * with the fewest requests left, and on a 429 Retry-After equals RateLimit's t. With no
 * limiter (app->limiter NULL) the per-IP and per-user limits are off.
 */
#ifndef TASKBUS_API_RATE_LIMITER_H
#define TASKBUS_API_RATE_LIMITER_H

#include <stddef.h>

#include "api/http_context.h"
#include "shared/config.h"

typedef struct api_rate_limiter api_rate_limiter;

/* The local tables and the reconciler thread (TASKBUS_RATELIMIT_SYNC_MS,
 * TASKBUS_RATELIMIT_LOCAL_BUCKETS). NULL with err when they cannot be set up. */
api_rate_limiter *api_rate_limiter_start(const taskbus_config *cfg, char *err, size_t errlen);
/* Pushes what is still pending (best effort), stops the thread, frees. NULL is fine. */
void api_rate_limiter_stop(api_rate_limiter *limiter);

/* Before any work: 429 when the client's address has no request left (charges nothing). */
int api_limit_precheck(api_request_ctx *ctx);
/* The one place the per-IP and per-user limits are charged, after authentication (the
 * user bucket when ctx->authenticated): both or neither. */
int api_limit_request(api_request_ctx *ctx);
/* For API_ROUTE_AUTH_LIMIT routes: the stricter per-IP sign-in bucket (Redis). */
int api_limit_auth(api_request_ctx *ctx);
/* Login and password change: the per-account bucket, keyed by the normalised e-mail (Redis). */
int api_limit_login_account(api_request_ctx *ctx, const char *email);
/* Requests that mail an address (a password reset, an address change): the per-address
 * bucket (Redis), the same for an address with no account, so its answer tells nothing
 * about one. */
int api_limit_mail_address(api_request_ctx *ctx, const char *email);

#endif
