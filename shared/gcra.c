/*
 * gcra.c: GCRA (generic cell rate algorithm), pure and in Redis.
 *
 * Owns: one arithmetic, written in C (gcra_decide in milliseconds, gcra_decide_us in
 * microseconds, both unit tested) and in two Redis Lua scripts on one key: GCRA_LUA
 * decides and charges one request (the strict sign-in buckets, on the request path), and
 * RATELIMIT_SYNC_LUA adds requests an API instance already admitted from its local bucket
 * (api/rate_limit_local.c, pushed by api/rate_limit_sync.c) and answers the bucket's state. For
 * count/period: the emission interval is period/count, the tolerance is the whole period,
 * so a fresh bucket admits `count` requests at once and then one per interval. A request
 * is allowed when its new theoretical arrival time (TAT) is at most one period ahead of now.
 * Rules: the scripts read Redis's own clock (TIME), never the caller's, and exchange only
 * durations (ages, debts) with the caller, so API instances with skewed clocks share one
 * bucket correctly; they keep the TAT in microseconds so rates above 1000/s stay exact.
 * A denied request stores nothing. The key is used as given: callers hash-tag it.
 * `next_s` (the RateLimit header's t, the draft's "effective window") is the time until
 * the bucket admits one request more than `remaining`: (remaining + 1)·I − P + (TAT − now),
 * rounded up to whole seconds like Retry-After, so on a refusal (remaining 0) it is
 * Retry-After exactly.
 */
#include "shared/gcra.h"

#include <stdio.h>

#include "shared/log.h"

/* Integer ceil(a / b) for a >= 0, b > 0. */
static int64_t ceil_div(int64_t a, int64_t b) {
    return a <= 0 ? 0 : (a + b - 1) / b;
}

static int clamp_int(int64_t v, int64_t lo, int64_t hi) {
    return (int)(v < lo ? lo : v > hi ? hi : v);
}

/* GCRA at a resolution of `ticks` per second (1000: milliseconds, 1000000: microseconds). */
static ratelimit_result decide(rate_limit_spec spec, int64_t stored_tat, int64_t now, int64_t ticks,
                               int64_t *new_tat_out) {
    ratelimit_result r = {0};
    int count = spec.count > 0 ? spec.count : 1;
    int64_t period = (int64_t)(spec.period_s > 0 ? spec.period_s : 1) * ticks;
    int64_t interval = period / count;
    if (interval < 1)
        interval = 1; /* more than `ticks` per second: the form cannot say finer */
    int64_t tat = stored_tat > now ? stored_tat : now;
    int64_t new_tat = tat + interval;
    r.limit = count;
    if (new_tat - now <= period) {
        r.allowed = true;
        *new_tat_out = new_tat;
        r.remaining = clamp_int((period - (new_tat - now)) / interval, 0, count);
        r.reset_s = clamp_int(ceil_div(new_tat - now, ticks), 0, INT32_MAX);
        r.next_s = clamp_int(
            ceil_div((int64_t)(r.remaining + 1) * interval - period + (new_tat - now), ticks), 1,
            INT32_MAX);
        r.retry_after_s = 0;
    } else {
        r.allowed = false;
        *new_tat_out = tat;
        r.remaining = 0;
        r.reset_s = clamp_int(ceil_div(tat - now, ticks), 0, INT32_MAX);
        r.retry_after_s = clamp_int(ceil_div(tat + interval - period - now, ticks), 1, INT32_MAX);
        r.next_s = r.retry_after_s;
    }
    return r;
}

ratelimit_result gcra_decide(rate_limit_spec spec, int64_t stored_tat_ms, int64_t now_ms) {
    int64_t new_tat = 0;
    ratelimit_result r = decide(spec, stored_tat_ms, now_ms, 1000, &new_tat);
    r.new_tat_ms = new_tat;
    return r;
}

ratelimit_result gcra_decide_us(rate_limit_spec spec, int64_t stored_tat_us, int64_t now_us,
                                int64_t *new_tat_us) {
    int64_t new_tat = 0;
    ratelimit_result r = decide(spec, stored_tat_us, now_us, 1000000, &new_tat);
    r.new_tat_ms = new_tat / 1000;
    if (new_tat_us != NULL)
        *new_tat_us = new_tat;
    return r;
}

int64_t gcra_interval_us(rate_limit_spec spec) {
    int count = spec.count > 0 ? spec.count : 1;
    int64_t interval = (int64_t)(spec.period_s > 0 ? spec.period_s : 1) * 1000000 / count;
    return interval < 1 ? 1 : interval;
}

/* KEYS[1] bucket; ARGV count, period_s. Returns {allowed, remaining, reset_s, retry_s,
 * new_tat_ms, next_s} (next_s as in decide()). Numbers go back to Redis through
 * string.format('%.0f') because Lua's tostring would round a microsecond timestamp to 14 digits. */
static redis_script GCRA_SCRIPT = {
    .source =
        "if redis.replicate_commands then redis.replicate_commands() end\n"
        "local count = tonumber(ARGV[1])\n"
        "local period = tonumber(ARGV[2]) * 1000000\n"
        "local interval = math.floor(period / count)\n"
        "if interval < 1 then interval = 1 end\n"
        "local t = redis.call('TIME')\n"
        "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
        "local stored = redis.call('GET', KEYS[1])\n"
        "local tat = now\n"
        "if stored then tat = math.max(tonumber(stored) or now, now) end\n"
        "local new_tat = tat + interval\n"
        "local function ceil_div(a, b) if a <= 0 then return 0 end return math.ceil(a / b) end\n"
        "if new_tat - now <= period then\n"
        "  local ttl_ms = ceil_div(new_tat - now, 1000)\n"
        "  redis.call('SET', KEYS[1], string.format('%.0f', new_tat))\n"
        "  redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ttl_ms))\n"
        "  local remaining = math.floor((period - (new_tat - now)) / interval)\n"
        "  if remaining < 0 then remaining = 0 end\n"
        "  if remaining > count then remaining = count end\n"
        "  local nxt = ceil_div((remaining + 1) * interval - period + new_tat - now, 1000000)\n"
        "  if nxt < 1 then nxt = 1 end\n"
        "  return {1, remaining, ceil_div(new_tat - now, 1000000), 0,\n"
        "          math.floor(new_tat / 1000), nxt}\n"
        "end\n"
        "local retry = ceil_div(tat + interval - period - now, 1000000)\n"
        "if retry < 1 then retry = 1 end\n"
        "return {0, 0, ceil_div(tat - now, 1000000), retry, math.floor(tat / 1000), retry}\n",
    .sha1 = {0},
};

/* KEYS[1] bucket; ARGV count, period_s, n, age_us: n requests were admitted by an API
 * instance from its local bucket, the first of them age_us ago. They are charged without a
 * check (they were already answered): tat = max(stored, now - age) + n * interval, which
 * may run past now + period (the overshoot is debt the bucket pays back before it admits
 * again). n = 0 only reads. Returns the TAT minus now in microseconds (0 when the bucket is
 * full), so the caller learns the shared state as a duration, free of clock skew. */
const char RATELIMIT_SYNC_LUA[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local count = tonumber(ARGV[1])\n"
    "local period = tonumber(ARGV[2]) * 1000000\n"
    "local n = tonumber(ARGV[3])\n"
    "local age = tonumber(ARGV[4])\n"
    "local interval = math.floor(period / count)\n"
    "if interval < 1 then interval = 1 end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local stored = tonumber(redis.call('GET', KEYS[1]) or '')\n"
    "local tat = now\n"
    "if stored and stored > tat then tat = stored end\n"
    "if n > 0 then\n"
    "  local base = now - age\n"
    "  if stored and stored > base then base = stored end\n"
    "  tat = base + n * interval\n"
    "  if tat > now then\n"
    "    redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX',\n"
    "               string.format('%.0f', math.ceil((tat - now) / 1000)))\n"
    "  end\n"
    "end\n"
    "if tat < now then tat = now end\n"
    "return tat - now\n";

int ratelimit_sync_parse(const redisReply *reply, int64_t *debt_us) {
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER || reply->integer < 0)
        return -1;
    *debt_us = reply->integer;
    return 0;
}

static int parse_reply(const redisReply *reply, int limit, ratelimit_result *out) {
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 6)
        return -1;
    long long v[6];
    for (size_t i = 0; i < 6; i++) {
        if (reply->element[i]->type != REDIS_REPLY_INTEGER)
            return -1;
        v[i] = reply->element[i]->integer;
    }
    out->allowed = v[0] == 1;
    out->limit = limit;
    out->remaining = clamp_int(v[1], 0, limit);
    out->reset_s = clamp_int(v[2], 0, INT32_MAX);
    out->retry_after_s = out->allowed ? 0 : clamp_int(v[3], 1, INT32_MAX);
    out->new_tat_ms = v[4];
    out->next_s = out->allowed ? clamp_int(v[5], 1, INT32_MAX) : out->retry_after_s;
    return 0;
}

int ratelimit_take(redis_pool *redis, const char *key, rate_limit_spec spec,
                   ratelimit_result *out) {
    if (redis == NULL || key == NULL || out == NULL || spec.count < 1 || spec.period_s < 1)
        return -1;
    char count_text[16], period_text[16];
    snprintf(count_text, sizeof count_text, "%d", spec.count);
    snprintf(period_text, sizeof period_text, "%d", spec.period_s);
    const char *argv[] = {key, count_text, period_text};
    redisReply *reply = redis_pool_eval(redis, &GCRA_SCRIPT, 1, 3, argv);
    if (reply == NULL)
        return -1; /* Redis unavailable: the caller fails open and counts it */
    int rc = parse_reply(reply, spec.count, out);
    if (rc != 0)
        LOG_WARNF("ratelimit: unexpected reply from the GCRA script (type %d%s%.200s)", reply->type,
                  reply->type == REDIS_REPLY_ERROR ? ": " : "",
                  reply->type == REDIS_REPLY_ERROR && reply->str != NULL ? reply->str : "");
    freeReplyObject(reply);
    return rc;
}
