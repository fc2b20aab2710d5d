/*
 * ratelimit.h: GCRA rate limiting, the arithmetic and its Redis form.
 *
 * Owns: the generic cell rate algorithm. gcra_decide is the pure arithmetic (unit
 * tested); ratelimit_take runs the same arithmetic atomically in a Redis Lua script on
 * one key, so every API instance shares the bucket. Rules: times are milliseconds; a
 * bucket of count/period admits `count` requests at once and refills one every
 * period/count.
 */
#ifndef TASKBUS_SHARED_RATELIMIT_H
#define TASKBUS_SHARED_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "shared/config.h"
#include "shared/redis_pool.h"

typedef struct ratelimit_result {
    bool allowed;
    int limit;           /* RateLimit-Limit */
    int remaining;       /* RateLimit-Remaining */
    int reset_s;         /* RateLimit-Reset: seconds until the bucket is full again */
    int retry_after_s;   /* Retry-After when not allowed, else 0 */
    int64_t new_tat_ms;  /* theoretical arrival time to store */
} ratelimit_result;

/* Pure GCRA: given the stored TAT (0 when none) and now, decide. */
ratelimit_result gcra_decide(rate_limit_spec spec, int64_t stored_tat_ms, int64_t now_ms);

/* Charges one request to key. Returns 0 with *out filled, or -1 when Redis could not
 * answer (the caller fails open). */
int ratelimit_take(redis_pool *redis, const char *key, rate_limit_spec spec,
                   ratelimit_result *out);

#endif
