/*
 * http_context.h: what a route handler sees and how it answers.
 *
 * Owns: api_app (the process-wide handles: config, pools, producer; created once in
 * main.c, read-only afterwards, so handlers share it without a lock) and
 * api_request_ctx (one per request, on the connection thread's stack).
 * Rules: a handler answers exactly once through api_respond_*; bodies passed in are
 * stolen. Route flags make the dispatcher (router.c) do the common work first: parse a
 * JSON object body, authenticate, apply the stricter auth rate limit.
 */
#ifndef TASKBUS_API_HTTP_CONTEXT_H
#define TASKBUS_API_HTTP_CONTEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <ulfius.h>

#include "api/rate_limit_headers.h"
#include "shared/config.h"
#include "shared/kafka_producer.h"
#include "shared/pg_pool.h"
#include "shared/redis_pool.h"
#include "shared/trace_context.h"
#include "shared/uuid7.h"

/* How long a request waits for a pooled Postgres connection before it answers 503: one
 * budget for every handler, so a saturated pool fails every route the same way. */
#define API_PG_ACQUIRE_MS 2000

typedef struct api_app {
    const taskbus_config *cfg;
    pg_pool *pg;                  /* primary: every write */
    pg_pool *pg_read;             /* DATABASE_READ_URL, or the same pool as pg */
    struct read_replica *replica; /* when to read pg_read (api/read_replica.h) */
    redis_pool *redis;
    kafka_producer *producer;
    struct instance_lease *lease;      /* this process's liveness (api/instance_lease.h) */
    struct sse_hub *sse_hub;           /* the shared SSE subscription and stream caps (sse_hub.h) */
    struct near_cache *near_cache;     /* in-process cache (near_cache.h); always there */
    struct near_cache_lease *nc_lease; /* keeps near_cache servable (near_cache_lease.h) */
    struct api_rate_limiter *limiter;  /* local buckets and their reconciler (rate_limiter.h) */
    const struct cors_origins *cors;   /* TASKBUS_CORS_ORIGINS (cors.h); NULL: none listed */
    const unsigned char *jwt_key;      /* HS256 secret, at least 32 bytes */
    size_t jwt_key_len;
} api_app;

typedef struct api_request_ctx {
    const struct _u_request *req;
    struct _u_response *resp;
    const api_app *app;
    char request_id[129];
    /* This request's span (W3C traceparent): the client's trace id and flags, or a new
     * trace; a new span id either way. Travels on every command and event it causes. */
    char traceparent[TRACEPARENT_LEN + 1];
    char client_ip[64];
    const char *route; /* the matched pattern, e.g. "/api/v1/users/me" (metrics label) */
    char path_params[4][UUID_STR_LEN + 64]; /* ":name" segments in pattern order */
    int npath_params;
    json_t *body; /* the parsed object for API_ROUTE_JSON_BODY routes; owned by the ctx */

    /* Filled by authentication (API_ROUTE_AUTH). */
    bool authenticated;
    char user_id[UUID_STR_LEN];
    char session_id[UUID_STR_LEN];
    char role[16];
    long long token_epoch;
    long long access_expires_unix; /* the session's access token's exp (a session only) */
    /* A personal API token authenticated this request (api/api_token_check.h): its id and
     * scopes; session_id is then empty. */
    bool via_api_token;
    char api_token_id[UUID_STR_LEN];
    unsigned token_scopes;
    long long api_token_expires_unix; /* 0: the token does not expire */

    int status; /* what was answered; 0 until then */

    /* What the rate limiter charged this request to: the RateLimit-* headers (rate_limiter.c). */
    rate_limit_headers rate;
} api_request_ctx;

typedef void (*api_handler)(api_request_ctx *ctx);

enum {
    API_ROUTE_JSON_BODY = 1 << 0,  /* body must be a JSON object (415/400 otherwise) */
    API_ROUTE_AUTH = 1 << 1,       /* needs a valid access token (401 otherwise) */
    API_ROUTE_AUTH_LIMIT = 1 << 2, /* sign-in and reset routes: TASKBUS_RATELIMIT_AUTH per IP */
    API_ROUTE_LARGE_BODY = 1 << 3, /* bulk import: TASKBUS_IMPORT_MAX_BODY_BYTES, not the usual */
    API_ROUTE_TICKET = 1 << 4,     /* ?ticket= may stand in for Authorization (api/sse_tickets.h) */
};

typedef struct api_route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/api/v1/tasks/:id" */
    api_handler handler;
    unsigned flags;
    unsigned scope; /* what an API token needs here (api/api_token_scope.h) */
} api_route;

/* Answers with a JSON body (stolen; NULL for none) and status. */
void api_respond_json(api_request_ctx *ctx, int status, json_t *body);
/* Answers with JSON that is already text (copied), e.g. from the near cache. */
void api_respond_json_text(api_request_ctx *ctx, int status, const char *text, size_t len);
/* Answers with data (copied) of content_type, e.g. a file or a page. */
void api_respond_bytes(api_request_ctx *ctx, int status, const char *content_type, const char *data,
                       size_t len);
/* Answers an RFC 9457 problem (stolen); the status is read from the problem. */
void api_respond_problem(api_request_ctx *ctx, json_t *problem);
/* Shorthand: problem_new(status, slug, detail, ctx->request_id) and answer it. */
void api_respond_error(api_request_ctx *ctx, int status, const char *slug, const char *detail);
/* 422 validation-error listing errors (stolen): an array of {field, message}. */
void api_respond_field_errors(api_request_ctx *ctx, json_t *errors);
/* Appends {field, message} to errors: 0, or -1 when out of memory. A field name jansson
 * refuses (not UTF-8, e.g. from a raw query string) is listed as "query". */
int api_field_error_add(json_t *errors, const char *field, const char *message);
/* Ends a check that filled errors (NULL: the array could not be made): true when the
 * request was answered, with 500 when errors is NULL or failed is set (out of memory
 * while checking), else 422 listing them when there are any (errors stolen either way);
 * false when there are none (errors freed) and the caller goes on. */
bool api_respond_if_field_errors(api_request_ctx *ctx, json_t *errors, bool failed);
/* Answers with no body (204, or a status with an empty body). */
void api_respond_empty(api_request_ctx *ctx, int status);
/* Adds a response header (copied). */
void api_set_header(api_request_ctx *ctx, const char *name, const char *value);
/* A request header, case-insensitively, or NULL. */
const char *api_header(const api_request_ctx *ctx, const char *name);

#endif
