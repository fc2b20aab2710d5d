/*
 * rate_limits.c: which GCRA buckets a request pays into (rate_limits.h).
 *
 * Owns: the bucket keys rl:{ip:<addr>}:all, rl:{ip:<addr>}:auth, rl:{u:<id>}:all and
 * rl:{acct:<sha256 of the normalised e-mail>}:login (hashed, so no address sits in Redis
 * in clear and any input makes a short key), and the RateLimit-* headers: a request pays
 * into up to three buckets and the headers describe the one with the fewest requests left.
 * Rules: Redis down means allowed (fail open, decisions.md), counted in
 * ratelimit_unavailable_total and warned about at most once per second.
 */
#include "api/rate_limits.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/ratelimit.h"
#include "shared/time_util.h"

/* When the last "limiter unavailable" warning was logged; shared by all threads, atomic. */
static _Atomic int64_t LAST_UNAVAILABLE_WARN_MS = 0;

static void note_unavailable(const char *bucket) {
    char labels[64];
    snprintf(labels, sizeof labels, "bucket=\"%s\"", bucket);
    metrics_counter_add("ratelimit_unavailable_total",
                        "Requests let through because Redis could not run the rate limiter", labels,
                        1);
    int64_t now = time_now_unix_ms();
    int64_t last = atomic_load(&LAST_UNAVAILABLE_WARN_MS);
    if (now - last >= 1000 && atomic_compare_exchange_strong(&LAST_UNAVAILABLE_WARN_MS, &last, now))
        LOG_WARNF("rate limiter unavailable (Redis): letting requests through");
}

static void set_int_header(api_request_ctx *ctx, const char *name, int value) {
    char text[16];
    snprintf(text, sizeof text, "%d", value);
    api_set_header(ctx, name, text);
}

static void set_rate_headers(api_request_ctx *ctx, const ratelimit_result *r) {
    set_int_header(ctx, "RateLimit-Limit", r->limit);
    set_int_header(ctx, "RateLimit-Remaining", r->remaining);
    set_int_header(ctx, "RateLimit-Reset", r->reset_s);
}

/* Keeps the headers of whichever bucket charged so far has the fewest requests left. */
static void set_if_tightest(api_request_ctx *ctx, const ratelimit_result *r) {
    const char *current = ctx->resp != NULL && ctx->resp->map_header != NULL
                              ? u_map_get_case(ctx->resp->map_header, "RateLimit-Remaining")
                              : NULL;
    if (current != NULL && atoi(current) <= r->remaining)
        return;
    set_rate_headers(ctx, r);
}

static int charge(api_request_ctx *ctx, const char *key, rate_limit_spec spec, const char *bucket,
                  const char *detail) {
    if (spec.count < 1 || spec.period_s < 1)
        return 0; /* no such limit configured */
    ratelimit_result r;
    if (ratelimit_take(ctx->app->redis, key, spec, &r) != 0) {
        note_unavailable(bucket);
        return 0;
    }
    if (r.allowed) {
        set_if_tightest(ctx, &r);
        return 0;
    }
    char labels[64];
    snprintf(labels, sizeof labels, "bucket=\"%s\"", bucket);
    metrics_counter_add("ratelimit_limited_total", "Requests refused with 429, by bucket", labels,
                        1);
    set_rate_headers(ctx, &r);
    set_int_header(ctx, "Retry-After", r.retry_after_s);
    api_respond_error(ctx, 429, "rate-limited", detail);
    return -1;
}

int api_limit_ip(api_request_ctx *ctx) {
    char key[128];
    snprintf(key, sizeof key, "rl:{ip:%s}:all", ctx->client_ip);
    return charge(ctx, key, ctx->app->cfg->ratelimit_ip, "ip",
                  "too many requests from this address; retry after the Retry-After delay");
}

int api_limit_auth(api_request_ctx *ctx) {
    char key[128];
    snprintf(key, sizeof key, "rl:{ip:%s}:auth", ctx->client_ip);
    return charge(ctx, key, ctx->app->cfg->ratelimit_auth, "auth",
                  "too many sign-in attempts from this address; retry after the Retry-After "
                  "delay");
}

int api_limit_user(api_request_ctx *ctx) {
    if (!ctx->authenticated)
        return 0;
    char key[96];
    snprintf(key, sizeof key, "rl:{u:%s}:all", ctx->user_id);
    return charge(ctx, key, ctx->app->cfg->ratelimit_user, "user",
                  "too many requests for this account; retry after the Retry-After delay");
}

int api_limit_login_account(api_request_ctx *ctx, const char *email) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    const char *e = email != NULL ? email : "";
    crypto_hash_sha256(digest, (const unsigned char *)e, strlen(e));
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    char key[128];
    snprintf(key, sizeof key, "rl:{acct:%s}:login", hex);
    return charge(ctx, key, ctx->app->cfg->ratelimit_login_account, "login_account",
                  "too many sign-in attempts for this account; retry after the Retry-After "
                  "delay");
}
