/*
 * near_cache_bus.c: the near-cache registry and invalidations in Redis (near_cache_bus.h).
 *
 * Rules: every script reads the Redis clock (TIME), never a client's, so leases written by
 * one host and judged by another share one clock; a script that writes after TIME relies
 * on effect replication (Redis >= 5, the default). The acknowledgement check removes
 * expired leases as it goes, so the registry holds only instances that might still serve.
 */
#include "shared/near_cache_bus.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>

#include "shared/redis_keys.h"
#include "shared/time_util.h"

#define WAIT_POLL_MS 2
#define WAIT_POLL_ERROR_MS 20

#define LUA_NOW                                                                                    \
    "local t = redis.call('TIME')\n"                                                               \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* KEYS: seq. ARGV: channel, scope word ("" for none), then one or more user ids. Each user
 * takes the next sequence and is published as "<seq> <user id>[ <scope>]"; returns the
 * first sequence (the script is atomic, so user i got first + i). The only script that
 * takes sequence numbers: INCR and PUBLISH in one script keep publish order = sequence
 * order. */
static redis_script PUBLISH_SCRIPT = {
    .source = "local first = nil\n"
              "local tail = ''\n"
              "if ARGV[2] ~= '' then tail = ' ' .. ARGV[2] end\n"
              "for i = 3, #ARGV do\n"
              "  local s = redis.call('INCR', KEYS[1])\n"
              "  if not first then first = s end\n"
              "  redis.call('PUBLISH', ARGV[1], s .. ' ' .. ARGV[i] .. tail)\n"
              "end\n"
              "return first\n",
};

/* KEYS: leases, acks, born, seq. ARGV: seq (-1: the current one), grace (ms). 1
 * acknowledged, 0 not yet. */
static redis_script ACKED_SCRIPT = {
    .source = LUA_NOW "local born = tonumber(redis.call('GET', KEYS[3]))\n"
                      "if not born then redis.call('SET', KEYS[3], now) return 0 end\n"
                      "if now - born < tonumber(ARGV[2]) then return 0 end\n"
                      "for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do\n"
                      "  redis.call('ZREM', KEYS[1], m)\n"
                      "  redis.call('HDEL', KEYS[2], m)\n"
                      "end\n"
                      "local seq = tonumber(ARGV[1])\n"
                      "if seq < 0 then seq = tonumber(redis.call('GET', KEYS[4]) or '0') end\n"
                      "for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, "
                      "'+inf')) do\n"
                      "  local a = tonumber(redis.call('HGET', KEYS[2], m))\n"
                      "  if a == nil or a < seq then return 0 end\n"
                      "end\n"
                      "return 1\n",
};

/* KEYS: leases, acks, seq, born. ARGV: instance, lease (ms), acked ("-1": the current
 * sequence, for an instance that has just emptied its cache). Returns the sequence. */
static redis_script RENEW_SCRIPT = {
    .source = LUA_NOW "if not redis.call('GET', KEYS[4]) then redis.call('SET', KEYS[4], now) end\n"
                      "local seq = tonumber(redis.call('GET', KEYS[3]) or '0')\n"
                      "local acked = tonumber(ARGV[3])\n"
                      "if acked < 0 then acked = seq end\n"
                      "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])\n"
                      "redis.call('HSET', KEYS[2], ARGV[1], acked)\n"
                      "return seq\n",
};

/* KEYS: leases, acks. ARGV: instance, acked. */
static redis_script ACK_SCRIPT = {
    .source = "if redis.call('ZSCORE', KEYS[1], ARGV[1]) then\n"
              "  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n"
              "end\n"
              "return 1\n",
};

int near_cache_margin_ms(int lease_ms) {
    return lease_ms / 10 + 100;
}

int near_cache_journal_grace_ms(int lease_ms) {
    return lease_ms / 2;
}

int near_cache_release_after_ms(int lease_ms) {
    return near_cache_journal_grace_ms(lease_ms) + lease_ms + near_cache_margin_ms(lease_ms);
}

/* The integer reply of a script, or -1 (the reply is freed). */
static long long integer_reply(redisReply *r) {
    long long v = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r != NULL)
        freeReplyObject(r);
    return v;
}

int near_cache_bus_publish(redis_pool *redis, const char *user_id, long long *seq_out) {
    return near_cache_bus_publish_users(redis, NULL, &user_id, 1, seq_out);
}

int near_cache_bus_publish_users(redis_pool *redis, const char *scope, const char *const *user_ids,
                                 size_t n, long long *first_seq_out) {
    if (n == 0 || n > 1000000) {
        return -1;
    }
    const char **argv = malloc((n + 3) * sizeof *argv);
    if (argv == NULL) {
        return -1;
    }
    argv[0] = NEAR_CACHE_SEQ_KEY;
    argv[1] = NEAR_CACHE_CHANNEL;
    argv[2] = scope != NULL ? scope : "";
    for (size_t i = 0; i < n; i++) {
        argv[3 + i] = user_ids[i];
    }
    long long seq = integer_reply(redis_pool_eval(redis, &PUBLISH_SCRIPT, 1, (int)(n + 3), argv));
    free(argv);
    if (seq < 1)
        return -1;
    *first_seq_out = seq;
    return 0;
}

int near_cache_bus_acked(redis_pool *redis, long long seq, int lease_ms) {
    char seq_text[24], grace[24];
    snprintf(seq_text, sizeof seq_text, "%lld", seq);
    snprintf(grace, sizeof grace, "%d", lease_ms + near_cache_margin_ms(lease_ms));
    const char *argv[] = {NEAR_CACHE_LEASES_KEY,
                          NEAR_CACHE_ACKS_KEY,
                          NEAR_CACHE_BORN_KEY,
                          NEAR_CACHE_SEQ_KEY,
                          seq_text,
                          grace};
    long long v = integer_reply(redis_pool_eval(redis, &ACKED_SCRIPT, 4, 6, argv));
    return v == 1 ? 1 : v == 0 ? 0 : -1;
}

int64_t near_cache_bus_safe_after_ns(int64_t published_ns, int lease_ms) {
    return published_ns + (int64_t)(lease_ms + near_cache_margin_ms(lease_ms)) * 1000000;
}

void near_cache_bus_wait(redis_pool *redis, long long seq, int lease_ms, int64_t published_ns) {
    int64_t safe = near_cache_bus_safe_after_ns(published_ns, lease_ms);
    while (time_monotonic_ns() < safe) {
        int rc = near_cache_bus_acked(redis, seq, lease_ms);
        if (rc == 1)
            return;
        time_sleep_ms(rc == 0 ? WAIT_POLL_MS : WAIT_POLL_ERROR_MS);
    }
}

int near_cache_bus_invalidate_user(redis_pool *redis, const char *user_id, int lease_ms) {
    long long seq = 0;
    int64_t deadline = near_cache_bus_safe_after_ns(time_monotonic_ns(), lease_ms);
    while (near_cache_bus_publish(redis, user_id, &seq) != 0) {
        if (time_monotonic_ns() >= deadline)
            return -1;
        time_sleep_ms(WAIT_POLL_ERROR_MS);
    }
    near_cache_bus_wait(redis, seq, lease_ms, time_monotonic_ns());
    return 0;
}

int near_cache_bus_renew(redis_pool *redis, const char *instance, int lease_ms, long long acked,
                         long long *current_seq) {
    char lease[24], acked_text[24];
    snprintf(lease, sizeof lease, "%d", lease_ms);
    snprintf(acked_text, sizeof acked_text, "%lld", acked);
    const char *argv[] = {NEAR_CACHE_LEASES_KEY,
                          NEAR_CACHE_ACKS_KEY,
                          NEAR_CACHE_SEQ_KEY,
                          NEAR_CACHE_BORN_KEY,
                          instance,
                          lease,
                          acked_text};
    long long seq = integer_reply(redis_pool_eval(redis, &RENEW_SCRIPT, 4, 7, argv));
    if (seq < 0)
        return -1;
    *current_seq = seq;
    return 0;
}

int near_cache_bus_ack(redis_pool *redis, const char *instance, long long acked) {
    char acked_text[24];
    snprintf(acked_text, sizeof acked_text, "%lld", acked);
    const char *argv[] = {NEAR_CACHE_LEASES_KEY, NEAR_CACHE_ACKS_KEY, instance, acked_text};
    return integer_reply(redis_pool_eval(redis, &ACK_SCRIPT, 2, 4, argv)) == 1 ? 0 : -1;
}

void near_cache_bus_leave(redis_pool *redis, const char *instance) {
    redisReply *r = redis_pool_command(redis, "ZREM %s %s", NEAR_CACHE_LEASES_KEY, instance);
    if (r != NULL)
        freeReplyObject(r);
    r = redis_pool_command(redis, "HDEL %s %s", NEAR_CACHE_ACKS_KEY, instance);
    if (r != NULL)
        freeReplyObject(r);
}
