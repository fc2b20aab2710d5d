/*
 * gcra.h: GCRA rate limiting, the arithmetic and its Redis forms.
 *
 * Owns: the generic cell rate algorithm. gcra_decide / gcra_decide_us are the pure
 * arithmetic (unit tested); ratelimit_take runs the same arithmetic atomically in a Redis
 * Lua script on one key, so every API instance shares the bucket; RATELIMIT_SYNC_LUA is
 * the script that reconciles an instance's local buckets with the shared ones
 * (api/rate_limit_sync.c). Rules: a bucket of count/period admits `count` requests at once and
 * refills one every period/count.
 */
#ifndef TASKBUS_SHARED_GCRA_H
#define TASKBUS_SHARED_GCRA_H

#include <stdbool.h>
#include <stdint.h>

#include "shared/config.h"
#include "shared/redis_pool.h"

typedef struct ratelimit_result {
    bool allowed;
    int limit;          /* the policy's quota (RateLimit-Policy q) */
    int remaining;      /* requests left after this decision (RateLimit r) */
    int reset_s;        /* seconds until the bucket is full again */
    int next_s;         /* RateLimit t: seconds until the bucket admits one request more than
                         * `remaining` (at least 1; equals retry_after_s when not allowed) */
    int retry_after_s;  /* Retry-After when not allowed, else 0 */
    int64_t new_tat_ms; /* theoretical arrival time to store */
} ratelimit_result;

/* Pure GCRA: given the stored TAT (0 when none) and now, decide. */
ratelimit_result gcra_decide(rate_limit_spec spec, int64_t stored_tat_ms, int64_t now_ms);

/* The same in microseconds (the local buckets of api/rate_limit_local.c); new_tat_us receives
 * the TAT to store when allowed (the stored one when not); may be NULL. */
ratelimit_result gcra_decide_us(rate_limit_spec spec, int64_t stored_tat_us, int64_t now_us,
                                int64_t *new_tat_us);
/* period/count in microseconds, at least 1 (what one request adds to a TAT). */
int64_t gcra_interval_us(rate_limit_spec spec);

/* KEYS[1] bucket; ARGV count, period_s, n, age_us: charges n requests an instance already
 * admitted (the first age_us ago) and returns the bucket's TAT minus Redis's now in
 * microseconds (>= 0; may exceed the period: debt). Run with EVALSHA after SCRIPT LOAD. */
extern const char RATELIMIT_SYNC_LUA[];
/* Reads that script's reply. 0, or -1 when it is not a non-negative integer. */
int ratelimit_sync_parse(const redisReply *reply, int64_t *debt_us);

/* Charges one request to key. Returns 0 with *out filled, or -1 when Redis could not
 * answer (the caller fails open). */
int ratelimit_take(redis_pool *redis, const char *key, rate_limit_spec spec, ratelimit_result *out);

#endif
