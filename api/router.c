/*
 * router.c: the dispatch pipeline (see router.h).
 *
 * Rules: every step that refuses a request answers it and stops the pipeline; the
 * X-Request-ID header (and Cache-Control: no-store under /api/) are set before any step
 * runs, so every answer carries them, including 404s and answers from the rate limiter
 * or the auth middleware. CORS headers are set next (api/cors.h), so they too are on every
 * answer; a listed origin's preflight is answered there, before any limit. The per-IP and
 * per-user limits are charged in one call, after authentication, for every request that
 * got past the precheck (a 404 or a 401 costs a request too, and keeps its answer). The parsed body
 * belongs to the request context and is freed here after the handler.
 */
#include "api/router.h"

#include <stdio.h>
#include <string.h>

#include "api/access_log.h"
#include "api/api_token_scope.h"
#include "api/auth_middleware.h"
#include "api/client_ip.h"
#include "api/cors.h"
#include "api/rate_limiter.h"
#include "api/request_body.h"
#include "api/request_id.h"
#include "shared/trace_context.h"
#include "api/routes.h"
#include "shared/log.h"
#include "shared/problem.h"
#include "shared/time_util.h"

const api_route *const ROUTER_TABLES[] = {
    ROUTES_HEALTH,       ROUTES_AUTH,         ROUTES_REGISTER,
    ROUTES_USERS,        ROUTES_TASKS_WRITE,  ROUTES_TASKS_READ,
    ROUTES_IMPORT,       ROUTES_EVENTS,       ROUTES_VERIFY,
    ROUTES_WEBHOOKS,     ROUTES_REPORTS,      ROUTES_ANALYTICS,
    ROUTES_ACTIVITY,     ROUTES_PROJECTS,     ROUTES_PASSWORD_RESET,
    ROUTES_EMAIL_CHANGE, ROUTES_EMAIL_REVERT, ROUTES_TOKENS,
    ROUTES_ADMIN,        ROUTES_WEB,          NULL};

static void respond_no_resource(api_request_ctx *ctx) {
    api_respond_error(ctx, 404, "not-found", "no resource at this path");
}

static void answer_unrouted(api_request_ctx *ctx, route_match_result result, const route_match *m,
                            const char *method) {
    char detail[160];
    if (result == ROUTE_NOT_FOUND) {
        respond_no_resource(ctx);
        return;
    }
    ctx->route = m->pattern;
    api_set_header(ctx, "Allow", m->allow);
    if (strcmp(method, "OPTIONS") == 0) {
        api_respond_empty(ctx, 204);
        return;
    }
    snprintf(detail, sizeof detail, "this resource allows %s", m->allow);
    api_respond_error(ctx, 405, "method-not-allowed", detail);
}

/* True when text is well-formed UTF-8 (jansson refuses anything else). */
static bool is_utf8(const char *text) {
    json_t *probe = json_string(text);
    json_decref(probe);
    return probe != NULL;
}

/* ulfius runs with check_utf8 off (http_server.c), so a query parameter that is not UTF-8
 * reaches us instead of vanishing: refuse it here once, for every route. 0 to go on. */
static int check_query_text(api_request_ctx *ctx) {
    const struct _u_map *m = ctx->req->map_url;
    const char **keys = m != NULL ? u_map_enum_keys(m) : NULL;
    for (size_t i = 0; keys != NULL && keys[i] != NULL; i++) {
        const char *v = u_map_get(m, keys[i]);
        if (is_utf8(keys[i]) && (v == NULL || is_utf8(v))) {
            continue;
        }
        json_t *p =
            problem_new(422, "validation-error", "a query parameter is not UTF-8", ctx->request_id);
        if (p != NULL) {
            problem_add_field_error(p, is_utf8(keys[i]) ? keys[i] : "query",
                                    "must be percent-encoded UTF-8");
            api_respond_problem(ctx, p);
        } else {
            api_respond_error(ctx, 500, "internal-error", NULL);
        }
        return -1;
    }
    return 0;
}

/* 413 for any route; 415 and 400 for routes that take a JSON object. 0 to go on. */
static int check_body(api_request_ctx *ctx, unsigned flags) {
    const struct _u_request *req = ctx->req;
    char detail[320];
    long limit = (flags & API_ROUTE_LARGE_BODY) != 0 ? ctx->app->cfg->import_max_body_bytes
                                                     : ctx->app->cfg->max_body_bytes;
    if (request_body_check_size(api_header(ctx, "Content-Length"), req->binary_body_length,
                                limit) != BODY_OK) {
        snprintf(detail, sizeof detail, "the request body is larger than %ld bytes", limit);
        api_respond_error(ctx, 413, "payload-too-large", detail);
        return -1;
    }
    if ((flags & API_ROUTE_JSON_BODY) == 0) {
        return 0; /* a body sent to a route that takes none is ignored */
    }
    if (!request_body_is_json_type(api_header(ctx, "Content-Type"))) {
        api_respond_error(ctx, 415, "unsupported-media-type",
                          "the request body must be sent as Content-Type: application/json");
        return -1;
    }
    if (request_body_parse_object(req->binary_body, req->binary_body_length, &ctx->body, detail,
                                  sizeof detail) != BODY_OK) {
        api_respond_error(ctx, 400, "malformed-json", detail);
        return -1;
    }
    return 0;
}

/* Routing, the checks and authentication: the route whose handler should run, or NULL
 * when one of them answered the request. */
/* An admin route (API_SCOPE_ADMIN): the credential is checked first, and anyone but an
 * admin's signed-in session (an API token never is one) gets the body of a path that does
 * not exist before anything of the request is looked at, so no answer says who is an admin
 * or whether an id is a user. (A method the path does not take is the usual 405, and the
 * rate-limit headers are those of any authenticated request: the paths themselves are
 * published.) The role is the access token's: a role change moves the token epoch, so a
 * token of the old role is refused, and each action checks the actor again. 0 to go on. */
static int admit_admin(api_request_ctx *ctx) {
    if (api_authenticate(ctx) != 0) {
        return -1;
    }
    if (!ctx->via_api_token && strcmp(ctx->role, "admin") == 0) {
        return 0;
    }
    respond_no_resource(ctx);
    return -1;
}

static const api_route *admit(api_request_ctx *ctx, const char *method, const char *path) {
    route_match m;
    route_match_result result = router_match(ROUTER_TABLES, method, path, &m);
    if (result != ROUTE_MATCHED) {
        answer_unrouted(ctx, result, &m, method);
        return NULL;
    }
    ctx->route = m.route->pattern;
    ctx->npath_params = m.nparams;
    memcpy(ctx->path_params, m.params, sizeof ctx->path_params);
    unsigned flags = m.route->flags;
    bool admin = m.route->scope == API_SCOPE_ADMIN;
    if (admin && admit_admin(ctx) != 0) {
        return NULL;
    }
    if (check_query_text(ctx) != 0 || check_body(ctx, flags) != 0) {
        return NULL;
    }
    if ((flags & API_ROUTE_AUTH_LIMIT) != 0 && api_limit_auth(ctx) != 0) {
        return NULL;
    }
    if ((flags & API_ROUTE_AUTH) != 0 && !admin &&
        (api_authenticate_route(ctx, flags) != 0 ||
         api_authorize_scope(ctx, m.route->scope) != 0)) {
        return NULL;
    }
    return m.route;
}

static void run_pipeline(api_request_ctx *ctx, const char *method, const char *path) {
    /* An address with no request left is refused before any work (nothing is charged). */
    if (api_limit_precheck(ctx) != 0) {
        return;
    }
    const api_route *route = admit(ctx, method, path);
    /* The one place the per-IP and per-user limits are charged, for every request that
     * got past the precheck, answered already (404, 401, ...) or not. */
    if (api_limit_request(ctx) != 0 || route == NULL) {
        return;
    }
    route->handler(ctx);
    if (ctx->status == 0) {
        log_json(LOG_ERROR, "handler returned without answering",
                 json_pack("{s:s,s:s}", "method", method, "route", ctx->route));
        api_respond_error(ctx, 500, "internal-error", NULL);
    }
}

void router_dispatch(const api_app *app, const struct _u_request *req, struct _u_response *resp) {
    int64_t start_ns = time_monotonic_ns();
    const char *method = req->http_verb != NULL ? req->http_verb : "";
    const char *path = req->url_path != NULL ? req->url_path : "";
    api_request_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.req = req;
    ctx.resp = resp;
    ctx.app = app;

    request_id_choose(api_header(&ctx, "X-Request-ID"), ctx.request_id);
    trace_context trace;
    trace_context_from_header(api_header(&ctx, "traceparent"), &trace);
    trace_context_format(&trace, ctx.traceparent);
    log_set_request_id(ctx.request_id);
    log_set_trace_id(trace.trace_id);
    api_set_header(&ctx, "X-Request-ID", ctx.request_id);
    if (strncmp(path, "/api/", 5) == 0) {
        api_set_header(&ctx, "Cache-Control", "no-store");
    }
    client_ip_resolve(req->client_address, api_header(&ctx, "X-Forwarded-For"),
                      app->cfg->trust_proxy, ctx.client_ip, sizeof ctx.client_ip);

    if (!cors_apply(&ctx, method, path)) /* true: a preflight, answered */
        run_pipeline(&ctx, method, path);
    if (ctx.status == 0) {
        /* a middleware returned -1 without answering: still never leave the client hanging */
        api_respond_error(&ctx, 500, "internal-error", NULL);
    }
    json_decref(ctx.body);
    ctx.body = NULL;
    access_log_record(&ctx, method, path, start_ns);
    log_set_context(NULL, NULL);
}
