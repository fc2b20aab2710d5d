/*
 * auth_middleware.c: Bearer access tokens to authenticated requests (auth_middleware.h).
 *
 * Owns: reading the Authorization header (scheme "Bearer", case-insensitive, RFC 6750;
 * never a query parameter), telling a personal API token ("tb_...", api_token_check.h) from
 * a JWT, the route's scope check for API tokens (403 insufficient-scope, naming the scope,
 * with the RFC 6750 challenge), the token checks of auth_jwt.c (a token this process verified
 * before is taken from auth_token_memo.c, its times checked again), the session and epoch check
 * of auth_sessions.c, an event-stream ticket in place of the header where a route takes
 * one (sse_tickets.h), and the 401 answers with WWW-Authenticate. Rules: every refusal
 * looks the same to the client ("unauthorized"), the reason goes to the log only; when
 * neither Redis nor Postgres can say whether a session was revoked the answer is 503,
 * never a guess.
 */
#include "api/auth_middleware.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api_token_check.h"
#include "api/api_token_format.h"
#include "api/api_token_scope.h"
#include "api/auth_jwt.h"
#include "api/auth_sessions.h"
#include "api/auth_token_memo.h"
#include "api/sse_tickets.h"
#include "shared/log.h"
#include "shared/problem.h"
#include "shared/time_util.h"

#define CHALLENGE "Bearer realm=\"taskbus\""
#define CHALLENGE_INVALID AUTH_CHALLENGE_INVALID
#define CHALLENGE_SCOPE "Bearer realm=\"taskbus\", error=\"insufficient_scope\""
#define INVALID_TOKEN "the access token is invalid or expired"
#define INVALID_TICKET "the ticket is invalid, used or expired"

/* The token of "Bearer <token>", or NULL. Surrounding spaces are tolerated. */
static const char *bearer_token(const char *header, char *out, size_t outlen) {
    if (header == NULL)
        return NULL;
    while (*header == ' ' || *header == '\t')
        header++;
    if (strncasecmp(header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\t'))
        return NULL;
    const char *t = header + 6;
    while (*t == ' ' || *t == '\t')
        t++;
    size_t len = strlen(t);
    while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= outlen)
        return NULL;
    memcpy(out, t, len);
    out[len] = '\0';
    return out;
}

static int refuse(api_request_ctx *ctx, const char *challenge, const char *detail,
                  const char *reason) {
    log_json(LOG_INFO, "access token refused", json_pack("{s:s}", "reason", reason));
    api_set_header(ctx, "WWW-Authenticate", challenge);
    api_respond_error(ctx, 401, "unauthorized", detail);
    return -1;
}

static int unavailable(api_request_ctx *ctx) {
    api_set_header(ctx, "Retry-After", "1");
    api_respond_error(ctx, 503, "service-unavailable",
                      "cannot check the credential right now; retry shortly");
    return -1;
}

/* A personal API token (api/api_token_check.h) instead of a JWT. */
static int authenticate_api_token(api_request_ctx *ctx, const char *token) {
    api_token_grant g;
    const char *why = NULL;
    api_token_verdict v = api_token_check(ctx->app, token, &g, &why);
    if (v == API_TOKEN_UNAVAILABLE)
        return unavailable(ctx);
    if (v != API_TOKEN_VALID)
        return refuse(ctx, CHALLENGE_INVALID, INVALID_TOKEN,
                      why != NULL ? why : "api token refused");
    ctx->authenticated = true;
    ctx->via_api_token = true;
    memcpy(ctx->user_id, g.user_id, sizeof ctx->user_id);
    memcpy(ctx->api_token_id, g.token_id, sizeof ctx->api_token_id);
    ctx->token_scopes = g.scopes;
    ctx->token_epoch = g.epoch;
    ctx->api_token_expires_unix = g.expires_unix;
    return 0;
}

int api_authorize_scope(api_request_ctx *ctx, unsigned route_scope) {
    if (!ctx->via_api_token || route_scope == API_SCOPE_ANY ||
        (route_scope & API_SCOPES_GRANTABLE & ctx->token_scopes) != 0)
        return 0;
    char challenge[160], detail[200];
    json_t *problem = NULL;
    if (route_scope == API_SCOPE_SESSION) {
        snprintf(challenge, sizeof challenge, "%s", CHALLENGE_SCOPE);
        problem = problem_new(403, "insufficient-scope",
                              "an API token cannot manage tokens, sessions, passwords or the "
                              "account: sign in",
                              ctx->request_id);
    } else {
        const char *name = api_scope_name(route_scope);
        snprintf(challenge, sizeof challenge, CHALLENGE_SCOPE ", scope=\"%s\"",
                 name != NULL ? name : "");
        snprintf(detail, sizeof detail, "this API token lacks the scope %s",
                 name != NULL ? name : "this route needs");
        problem = problem_new(403, "insufficient-scope", detail, ctx->request_id);
        if (problem != NULL && name != NULL)
            json_object_set_new(problem, "required_scope", json_string(name));
    }
    api_set_header(ctx, "WWW-Authenticate", challenge);
    if (problem == NULL)
        api_respond_error(ctx, 500, "internal-error", NULL);
    else
        api_respond_problem(ctx, problem);
    return -1;
}

/* A verified credential of session sid (epoch sev, access token expiry exp): the session
 * checked, then ctx filled. 0, or -1 after answering 401 (with refusal: the credential's
 * own words) or 503. */
static int admit_session(api_request_ctx *ctx, const char *user_id, const char *sid, long long sev,
                         long long exp, const char *role, const char *refusal) {
    auth_session_state state = auth_session_check(ctx->app, user_id, sid, sev);
    if (state == AUTH_SESSION_UNAVAILABLE)
        return unavailable(ctx);
    if (state == AUTH_SESSION_REVOKED)
        return refuse(ctx, CHALLENGE_INVALID, refusal, "revoked");
    ctx->authenticated = true;
    snprintf(ctx->user_id, sizeof ctx->user_id, "%s", user_id);
    snprintf(ctx->session_id, sizeof ctx->session_id, "%s", sid);
    snprintf(ctx->role, sizeof ctx->role, "%s", role);
    ctx->token_epoch = sev;
    ctx->access_expires_unix = exp;
    return 0;
}

int api_authenticate(api_request_ctx *ctx) {
    char buf[AUTH_JWT_MAX_TOKEN_BYTES + 1];
    const char *token = bearer_token(api_header(ctx, "Authorization"), buf, sizeof buf);
    if (token == NULL)
        return refuse(ctx, CHALLENGE,
                      "this request needs an access token: Authorization: "
                      "Bearer <token>",
                      "missing");
    if (api_token_looks_like(token)) {
        int rc = authenticate_api_token(ctx, token);
        sodium_memzero(buf, sizeof buf); /* a long-lived secret: no copy left on the stack */
        return rc;
    }
    const taskbus_config *cfg = ctx->app->cfg;
    auth_jwt_claims claims;
    auth_jwt_error err = AUTH_JWT_OK;
    int64_t now = time_now_unix_ms() / 1000;
    if (!auth_token_memo_get(token, now, &claims)) {
        if (auth_jwt_verify(ctx->app->jwt_key, ctx->app->jwt_key_len, token, cfg->jwt_issuer,
                            cfg->jwt_audience, now, &claims, &err) != 0) {
            if (err == AUTH_JWT_BAD_KEY || err == AUTH_JWT_INTERNAL)
                LOG_ERRORF("auth: cannot verify access tokens (%s)", auth_jwt_error_name(err));
            return refuse(ctx, CHALLENGE_INVALID, INVALID_TOKEN, auth_jwt_error_name(err));
        }
        auth_token_memo_put(token, &claims);
    }
    return admit_session(ctx, claims.sub, claims.sid, claims.sev, claims.exp, claims.role,
                         INVALID_TOKEN);
}

/* An event-stream ticket in place of the header: its session, checked again now. */
static int authenticate_ticket(api_request_ctx *ctx, const char *ticket) {
    sse_ticket_grant g;
    sse_ticket_verdict v = sse_ticket_redeem(ctx->app, ticket, &g);
    if (v == SSE_TICKET_UNAVAILABLE)
        return unavailable(ctx);
    if (v != SSE_TICKET_VALID || g.expires_unix <= time_now_unix_ms() / 1000)
        return refuse(ctx, CHALLENGE_INVALID, INVALID_TICKET, "ticket");
    return admit_session(ctx, g.user_id, g.session_id, g.epoch, g.expires_unix, g.role,
                         INVALID_TICKET);
}

int api_authenticate_route(api_request_ctx *ctx, unsigned route_flags) {
    const char *ticket = (route_flags & API_ROUTE_TICKET) != 0 && ctx->req->map_url != NULL
                             ? u_map_get(ctx->req->map_url, "ticket")
                             : NULL;
    if (ticket != NULL && api_header(ctx, "Authorization") == NULL)
        return authenticate_ticket(ctx, ticket);
    return api_authenticate(ctx);
}
