/*
 * routes_events.c: GET /api/v1/events, the user's task changes as Server-Sent Events
 * (docs/decisions.md "Server-Sent Events"; the stream itself is sse_stream.c).
 *
 * Owns: the request side: Last-Event-ID (header, else ?last_event_id=; a value that is
 * not a stream id is 422), the stream's deadline (the access token's exp, or for a
 * personal API token an access token's lifetime from the opening or its expiry: a stream
 * outlives no credential by more than a session's stream does), the end of a session's
 * stream when the session is revoked (asked every SSE_CREDENTIAL_CHECK_MS), the tickets a
 * page opens its stream with (POST /api/v1/events/tickets; api/sse_tickets.h), the 429 when the
 * user's or the instance's streams are at their cap (TASKBUS_SSE_MAX_PER_USER / _PER_INSTANCE), the
 * 503 when Redis cannot be reached, and the response headers (text/event-stream, no caching, no
 * proxy buffering). Rules: every refusal is answered before streaming starts, as an ordinary
 * problem; a stream slot is held from sse_stream_open until ulfius calls sse_stream_free.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth_sessions.h"
#include "api/sse_tickets.h"
#include "api/api_token_scope.h"
#include "api/routes.h"
#include "api/sse_stream.h"
#include "shared/log.h"
#include "shared/problem.h"
#include "shared/time_util.h"

#define SSE_STREAM_BLOCK_BYTES 16384

/* A personal API token's stream ends an access token's lifetime after it opened, or when
 * the token expires if sooner: the client then reconnects, and the token is checked again
 * (a revoked one is refused), as a session's stream ends with its access token. */
static int64_t api_token_end_ms(const api_request_ctx *ctx) {
    int64_t end = time_now_unix_ms() + (int64_t)ctx->app->cfg->access_ttl_s * 1000;
    int64_t expires = (int64_t)ctx->api_token_expires_unix * 1000;
    return expires != 0 && expires < end ? expires : end;
}

/* When the stream ends: its credential's expiry (a ticket's is its session's). */
static int64_t stream_end_ms(const api_request_ctx *ctx) {
    return ctx->via_api_token ? api_token_end_ms(ctx) : ctx->access_expires_unix * 1000;
}

/* A session's stream asks on: the session the access token (or ticket) stood for. */
typedef struct stream_session {
    const api_app *app;
    char user_id[UUID_STR_LEN];
    char session_id[UUID_STR_LEN];
    long long epoch;
} stream_session;

static bool session_still_current(void *arg) {
    const stream_session *s = arg;
    return auth_session_check_cached(s->app, s->user_id, s->session_id, s->epoch) !=
           AUTH_SESSION_REVOKED;
}

/* The stream's session check (NULL for an API token: its stream ends with its deadline,
 * and the reconnect checks the token again). */
static stream_session *stream_session_new(const api_request_ctx *ctx) {
    if (ctx->via_api_token)
        return NULL;
    stream_session *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->app = ctx->app;
    memcpy(s->user_id, ctx->user_id, sizeof s->user_id);
    memcpy(s->session_id, ctx->session_id, sizeof s->session_id);
    s->epoch = ctx->token_epoch;
    return s;
}

/* Every 15 s, but always well inside the server's idle timeout: libmicrohttpd closes a
 * connection that wrote nothing for that long, and a stream is quiet between events. */
static int keepalive_ms(const taskbus_config *cfg) {
    int half_idle = cfg->http_idle_timeout_s * 1000 / 2;
    return half_idle > 0 && half_idle < SSE_KEEPALIVE_MS ? half_idle : SSE_KEEPALIVE_MS;
}

/* Parses one source of the resume position: 1 parsed, 0 absent or empty, -1 after
 * answering 422 naming field. */
static int parse_resume_id(api_request_ctx *ctx, const char *text, const char *field, sse_id *out) {
    if (text == NULL || text[0] == '\0') {
        return 0;
    }
    if (sse_id_parse(text, out)) {
        return 1;
    }
    json_t *problem =
        problem_new(422, "validation-error", "Last-Event-ID is not an event id", ctx->request_id);
    if (problem != NULL) {
        problem_add_field_error(problem, field, "must be an id this stream sent (ms-seq)");
        api_respond_problem(ctx, problem);
    } else {
        api_respond_error(ctx, 500, "internal-error", NULL);
    }
    return -1;
}

/* Reads the resume position: the Last-Event-ID header when it is non-empty, else the
 * last_event_id query parameter. Both are checked whenever present, so a malformed one
 * is 422 even when the other one wins. 0 with *have set, or -1 after answering 422. */
static int last_event_id(api_request_ctx *ctx, sse_id *out, bool *have) {
    sse_id from_query;
    const char *query =
        ctx->req->map_url != NULL ? u_map_get(ctx->req->map_url, "last_event_id") : NULL;
    int q = parse_resume_id(ctx, query, "last_event_id", &from_query);
    int h =
        q < 0 ? -1 : parse_resume_id(ctx, api_header(ctx, "Last-Event-ID"), "Last-Event-ID", out);
    if (h < 0) {
        return -1;
    }
    if (h == 0 && q == 1) {
        *out = from_query;
    }
    *have = h == 1 || q == 1;
    return 0;
}

/* How long the hub may take to subscribe the user's channel before the stream is 503. */
static int join_wait_ms(const taskbus_config *cfg) {
    int ms = cfg->redis_timeout_ms * 8;
    return ms < 1000 ? 1000 : (ms > 5000 ? 5000 : ms);
}

/* 429: the caps count open streams, and an abandoned one is noticed at its next
 * keep-alive, so that is when a retry can first find a slot. */
static void answer_too_many(api_request_ctx *ctx, sse_open_result rc) {
    const taskbus_config *cfg = ctx->app->cfg;
    char detail[192];
    if (rc == SSE_OPEN_USER_FULL) {
        snprintf(detail, sizeof detail,
                 "too many event streams for this user: %d are open; close one or retry "
                 "after the Retry-After delay",
                 cfg->sse_max_per_user);
    } else {
        snprintf(detail, sizeof detail,
                 "too many event streams on this server: %d are open; retry after the "
                 "Retry-After delay",
                 cfg->sse_max_per_instance);
    }
    char retry[16];
    snprintf(retry, sizeof retry, "%d", (keepalive_ms(cfg) + 999) / 1000);
    api_set_header(ctx, "Retry-After", retry);
    api_respond_error(ctx, 429, "rate-limited", detail);
}

static void answer_open_failure(api_request_ctx *ctx, sse_open_result rc, const char *err) {
    if (rc == SSE_OPEN_NO_MEMORY) {
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    bool full = rc == SSE_OPEN_USER_FULL || rc == SSE_OPEN_INSTANCE_FULL;
    log_json(full ? LOG_INFO : LOG_WARN, "sse stream refused", json_pack("{s:s}", "reason", err));
    if (full) {
        answer_too_many(ctx, rc);
        return;
    }
    api_set_header(ctx, "Retry-After", "1");
    api_respond_error(ctx, 503, "service-unavailable",
                      rc == SSE_OPEN_SHUTTING_DOWN
                          ? "this server is shutting down; reconnect"
                          : "the event source is unavailable; retry shortly");
}

static void get_events(api_request_ctx *ctx) {
    sse_id last;
    bool have_last = false;
    if (last_event_id(ctx, &last, &have_last) != 0) {
        return;
    }
    char err[256] = "";
    sse_stream_params params = {
        .hub = ctx->app->sse_hub,
        .join_wait_ms = join_wait_ms(ctx->app->cfg),
        .pool = ctx->app->redis,
        .user_id = ctx->user_id,
        .last_seen = have_last ? &last : NULL,
        .end_unix_ms = stream_end_ms(ctx),
        .keepalive_ms = keepalive_ms(ctx->app->cfg),
        .request_id = ctx->request_id,
        .lease_ms = ctx->app->cfg->near_cache_lease_ms,
        .credential_valid = ctx->via_api_token ? NULL : session_still_current,
        .credential_arg = stream_session_new(ctx),
    };
    if (params.credential_arg == NULL && !ctx->via_api_token) {
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    sse_stream *st = NULL;
    sse_open_result rc = sse_stream_open(&params, &st, err, sizeof err);
    if (rc != SSE_OPEN_OK) {
        answer_open_failure(ctx, rc, err);
        return;
    }
    if (ulfius_set_stream_response(ctx->resp, 200, sse_stream_read, sse_stream_free,
                                   U_STREAM_SIZE_UNKNOWN, SSE_STREAM_BLOCK_BYTES, st) != U_OK) {
        sse_stream_free(st);
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    api_set_header(ctx, "Content-Type", "text/event-stream; charset=utf-8");
    api_set_header(ctx, "Cache-Control", "no-store");
    api_set_header(ctx, "X-Accel-Buffering", "no");
    ctx->status = 200; /* answered: the router must not add its own */
}

/* POST /api/v1/events/tickets: 201 {ticket, expires_in} for the caller's session. */
static void post_ticket(api_request_ctx *ctx) {
    sse_ticket_grant g = {.epoch = ctx->token_epoch, .expires_unix = ctx->access_expires_unix};
    memcpy(g.user_id, ctx->user_id, sizeof g.user_id);
    memcpy(g.session_id, ctx->session_id, sizeof g.session_id);
    snprintf(g.role, sizeof g.role, "%s", ctx->role);
    char ticket[MAIL_TOKEN_BUF];
    if (sse_ticket_issue(ctx->app, &g, ticket) != 0) {
        api_set_header(ctx, "Retry-After", "1");
        api_respond_error(ctx, 503, "service-unavailable",
                          "a ticket cannot be issued right now; retry shortly");
        return;
    }
    api_respond_json(ctx, 201,
                     json_pack("{s:s, s:i}", "ticket", ticket, "expires_in", SSE_TICKET_TTL_S));
    sodium_memzero(ticket, sizeof ticket);
}

const api_route ROUTES_EVENTS[] = {
    {"GET", "/api/v1/events", get_events, API_ROUTE_AUTH | API_ROUTE_TICKET, API_SCOPE_TASKS_READ},
    {"POST", "/api/v1/events/tickets", post_ticket, API_ROUTE_AUTH, API_SCOPE_SESSION},
    {NULL, NULL, NULL, 0, 0},
};
