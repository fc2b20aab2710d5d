/*
 * rate_limiter.c: which GCRA buckets a request pays into (rate_limiter.h).
 *
 * Owns: which bucket keys a request pays into (shared/redis_keys.h spells them):
 * rl:{ip:<addr>}:all, rl:{u:<id>}:all (local, reconciled), rl:{ip:<addr>}:auth and
 * rl:{acct:<sha256 of the normalised e-mail>}:login and :mail (Redis; hashed, so no
 * address sits in Redis in clear and any input makes a short key), the limiter's two
 * local tables (the reconciled one and the sign-in stand-ins) and the rate-limit headers:
 * a request pays into up to five buckets (policies ip, user, auth, login_account,
 * mail_address);
 * RateLimit-Policy lists each, RateLimit and the older RateLimit-Limit/-Remaining/-Reset
 * describe the one with the fewest requests left (api/rate_limit_headers.h), and a 429
 * carries Retry-After equal to that policy's t.
 * Rules: nothing here waits on Redis except the sign-in buckets. When Redis cannot run a
 * sign-in bucket the stand-in decides (counted in taskbus_ratelimit_unavailable_total, warned
 * about at most once per second); every sign-in request Redis allowed is also recorded in
 * its stand-in, so an outage starts from what this instance saw.
 */
#include "api/rate_limiter.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/rate_limit_sync.h"
#include "api/rate_limit_local.h"
#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/gcra.h"
#include "shared/redis_keys.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"

/* The stand-ins of the sign-in buckets hold at most this fraction of the main table. */
#define STRICT_TABLE_DIVISOR 8

/* Every bucket key fits a local bucket's key (api/rate_limit_local.h), so none is ever
 * refused there: the longest address the request context holds, a user id, and the
 * SHA-256 of an e-mail in hex. */
_Static_assert(sizeof "rl:{ip:}:auth" - 1 + sizeof((api_request_ctx *)0)->client_ip - 1 <
                   LOCAL_LIMIT_KEY_MAX,
               "an address bucket key must fit a local bucket");
_Static_assert(sizeof "rl:{u:}:all" - 1 + UUID_STR_LEN - 1 < LOCAL_LIMIT_KEY_MAX,
               "a user bucket key must fit a local bucket");
_Static_assert(sizeof "rl:{acct:}:login" - 1 + 64 < LOCAL_LIMIT_KEY_MAX,
               "an account bucket key must fit a local bucket");

struct api_rate_limiter {
    local_limits *shared; /* per-IP and per-user buckets, reconciled by sync */
    local_limits *strict; /* sign-in buckets' stand-ins, for when Redis cannot answer */
    limit_sync *sync;
};

/* When the last "limiter unavailable" warning was logged; shared by all threads, atomic. */
static _Atomic int64_t LAST_UNAVAILABLE_WARN_MS = 0;

api_rate_limiter *api_rate_limiter_start(const taskbus_config *cfg, char *err, size_t errlen) {
    api_rate_limiter *l = calloc(1, sizeof *l);
    if (l == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return NULL;
    }
    size_t max = (size_t)cfg->ratelimit_local_buckets;
    size_t strict_max = max / STRICT_TABLE_DIVISOR > 64 ? max / STRICT_TABLE_DIVISOR : 64;
    l->shared = local_limits_create(max, true);
    l->strict = local_limits_create(strict_max, false);
    if (l->shared == NULL || l->strict == NULL) {
        errbuf_setf(err, errlen, "out of memory for the local rate-limit buckets");
        api_rate_limiter_stop(l);
        return NULL;
    }
    limit_sync_params p = {.limits = l->shared,
                           .sweep_also = l->strict,
                           .redis_url = cfg->redis_url,
                           .timeout_ms = cfg->redis_timeout_ms,
                           .interval_ms = cfg->ratelimit_sync_ms};
    l->sync = limit_sync_start(&p, err, errlen);
    if (l->sync == NULL) {
        api_rate_limiter_stop(l);
        return NULL;
    }
    return l;
}

void api_rate_limiter_stop(api_rate_limiter *l) {
    if (l == NULL)
        return;
    limit_sync_stop(l->sync); /* first: its last round still reads l->shared */
    local_limits_destroy(l->shared);
    local_limits_destroy(l->strict);
    free(l);
}

static int64_t mono_us(void) {
    return time_monotonic_ns() / 1000;
}

static bool is_limit(rate_limit_spec spec) {
    return spec.count >= 1 && spec.period_s >= 1;
}

static void note_unavailable(const char *bucket) {
    char labels[64];
    snprintf(labels, sizeof labels, "bucket=\"%s\"", bucket);
    metrics_counter_add("taskbus_ratelimit_unavailable_total",
                        "Sign-in limit decisions this instance made alone because Redis could "
                        "not run the shared bucket",
                        labels, 1);
    int64_t now = time_now_unix_ms();
    int64_t last = atomic_load(&LAST_UNAVAILABLE_WARN_MS);
    if (now - last >= 1000 && atomic_compare_exchange_strong(&LAST_UNAVAILABLE_WARN_MS, &last, now))
        LOG_WARNF("rate limiter unavailable (Redis): sign-in limits are per instance meanwhile");
}

static void set_int_header(api_request_ctx *ctx, const char *name, int value) {
    char text[16];
    snprintf(text, sizeof text, "%d", value);
    api_set_header(ctx, name, text);
}

/* Writes the rate-limit headers from what ctx->rate holds (rate_limit_headers.h): the two
 * structured fields, the older RateLimit-Limit/-Remaining/-Reset (q, r and t of the policy
 * RateLimit describes) and, when the limiter answered 429, Retry-After = t. Called again
 * whenever a bucket is charged, so the last call describes every bucket (ulfius replaces
 * a header set twice). */
static void write_rate_headers(api_request_ctx *ctx) {
    int id = rate_limit_headers_pick(&ctx->rate);
    char policy[RATE_LIMIT_HEADER_MAX], limit[RATE_LIMIT_HEADER_MAX];
    if (id < 0 || rate_limit_headers_format_policy(&ctx->rate, policy, sizeof policy) < 0 ||
        rate_limit_headers_format_limit(&ctx->rate, id, limit, sizeof limit) < 0)
        return; /* nothing noted (cannot happen: the buffers hold every policy) */
    const rate_policy_state *p = &ctx->rate.policy[id];
    api_set_header(ctx, "RateLimit-Policy", policy);
    api_set_header(ctx, "RateLimit", limit);
    set_int_header(ctx, "RateLimit-Limit", p->quota);
    set_int_header(ctx, "RateLimit-Remaining", p->remaining);
    set_int_header(ctx, "RateLimit-Reset", p->next_s);
    if (ctx->rate.refused)
        set_int_header(ctx, "Retry-After", p->next_s);
}

static void note(api_request_ctx *ctx, rate_policy_id id, rate_limit_spec spec,
                 const ratelimit_result *r) {
    rate_limit_headers_note(&ctx->rate, id, spec.count, spec.period_s, r->remaining, r->next_s);
}

/* A refusal: 429 with the headers, unless the request was answered already (then it keeps
 * its answer and only the headers say the bucket is empty). The headers describe the
 * emptiest policy, the refusing one or another just as empty that admits later, and
 * Retry-After is its t: the first moment every policy this request paid into admits. */
static void refuse(api_request_ctx *ctx, rate_policy_id id, rate_limit_spec spec,
                   const ratelimit_result *r, const char *detail) {
    note(ctx, id, spec, r);
    if (ctx->status != 0) {
        write_rate_headers(ctx);
        return;
    }
    char labels[64];
    snprintf(labels, sizeof labels, "bucket=\"%s\"", rate_policy_name(id));
    metrics_counter_add("taskbus_ratelimit_limited_total", "Requests refused with 429, by bucket",
                        labels, 1);
    ctx->rate.refused = true;
    write_rate_headers(ctx);
    api_respond_error(ctx, 429, "rate-limited", detail);
}

#define IP_DETAIL "too many requests from this address; retry after the Retry-After delay"
#define USER_DETAIL "too many requests for this account; retry after the Retry-After delay"

int api_limit_precheck(api_request_ctx *ctx) {
    const api_rate_limiter *l = ctx->app->limiter;
    if (l == NULL)
        return 0;
    char key[REDIS_KEY_MAX];
    redis_key_rate_ip(key, ctx->client_ip);
    local_limit_take t = {.key = key, .spec = ctx->app->cfg->ratelimit_ip};
    if (local_limits_peek(l->shared, &t, mono_us()))
        return 0;
    refuse(ctx, RATE_POLICY_IP, t.spec, &t.result, IP_DETAIL);
    return -1;
}

int api_limit_request(api_request_ctx *ctx) {
    const api_rate_limiter *l = ctx->app->limiter;
    if (l == NULL)
        return 0;
    char ipk[REDIS_KEY_MAX], userk[REDIS_KEY_MAX];
    redis_key_rate_ip(ipk, ctx->client_ip);
    local_limit_take takes[2] = {{.key = ipk, .spec = ctx->app->cfg->ratelimit_ip}};
    const rate_policy_id ids[2] = {RATE_POLICY_IP, RATE_POLICY_USER};
    const char *details[2] = {IP_DETAIL, USER_DETAIL};
    size_t n = 1;
    if (ctx->authenticated) {
        redis_key_rate_user(userk, ctx->user_id);
        takes[n++] = (local_limit_take){.key = userk, .spec = ctx->app->cfg->ratelimit_user};
    }
    bool allowed = local_limits_take(l->shared, takes, n, mono_us());
    /* Every limited bucket is listed; when refused, the one that refuses longest answers
     * (the headers describe it: fewest left, then longest t). */
    size_t worst = n;
    for (size_t i = 0; i < n; i++) {
        if (!is_limit(takes[i].spec))
            continue;
        note(ctx, ids[i], takes[i].spec, &takes[i].result);
        if (!takes[i].result.allowed &&
            (worst == n || takes[i].result.retry_after_s > takes[worst].result.retry_after_s))
            worst = i;
    }
    if (allowed) {
        write_rate_headers(ctx);
        return 0;
    }
    refuse(ctx, ids[worst], takes[worst].spec, &takes[worst].result, details[worst]);
    return -1;
}

/* A sign-in bucket: Redis decides; when it cannot, this instance's stand-in does. */
static int charge_strict(api_request_ctx *ctx, const char *key, rate_limit_spec spec,
                         rate_policy_id id, const char *detail) {
    const char *bucket = rate_policy_name(id);
    if (!is_limit(spec))
        return 0; /* no such limit configured */
    const api_rate_limiter *l = ctx->app->limiter;
    ratelimit_result r;
    if (ratelimit_take(ctx->app->redis, key, spec, &r) == 0) {
        if (r.allowed && l != NULL)
            local_limits_record(l->strict, key, spec, mono_us());
    } else {
        note_unavailable(bucket);
        if (l == NULL)
            return 0; /* no stand-in: fail open */
        local_limit_take t = {.key = key, .spec = spec};
        (void)local_limits_take(l->strict, &t, 1, mono_us());
        r = t.result;
    }
    if (r.allowed) {
        note(ctx, id, spec, &r);
        write_rate_headers(ctx);
        return 0;
    }
    refuse(ctx, id, spec, &r, detail);
    return -1;
}

int api_limit_auth(api_request_ctx *ctx) {
    char key[REDIS_KEY_MAX];
    redis_key_rate_ip_auth(key, ctx->client_ip);
    return charge_strict(ctx, key, ctx->app->cfg->ratelimit_auth, RATE_POLICY_AUTH,
                         "too many sign-in attempts from this address; retry after the "
                         "Retry-After delay");
}

int api_limit_login_account(api_request_ctx *ctx, const char *email) {
    char key[REDIS_KEY_MAX];
    redis_key_rate_login_account(key, email);
    return charge_strict(ctx, key, ctx->app->cfg->ratelimit_login_account,
                         RATE_POLICY_LOGIN_ACCOUNT,
                         "too many sign-in attempts for this account; retry after the "
                         "Retry-After delay");
}

int api_limit_mail_address(api_request_ctx *ctx, const char *email) {
    char key[REDIS_KEY_MAX];
    redis_key_rate_mail_address(key, email);
    return charge_strict(ctx, key, ctx->app->cfg->ratelimit_mail_address, RATE_POLICY_MAIL_ADDRESS,
                         "too many requests that mail this address; retry after the "
                         "Retry-After delay");
}
