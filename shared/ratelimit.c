/*
 * ratelimit.c: GCRA (generic cell rate algorithm), pure and in Redis.
 *
 * Owns: one arithmetic, written twice: gcra_decide in C (milliseconds, unit tested) and
 * GCRA_LUA, run atomically by Redis on one key. For count/period: the emission interval
 * is period/count, the tolerance is the whole period, so a fresh bucket admits `count`
 * requests at once and then one per interval. A request is allowed when its new
 * theoretical arrival time (TAT) is at most one period ahead of now.
 * Rules: the script reads Redis's own clock (TIME), never the caller's, so API instances
 * with skewed clocks share one bucket correctly; it keeps the TAT in microseconds so rates
 * above 1000/s stay exact (the C form is the same formula at millisecond resolution).
 * A denied request stores nothing. The key is used as given: callers hash-tag it.
 */
#include "shared/ratelimit.h"

#include <stdio.h>

#include "shared/log.h"

/* Integer ceil(a / b) for a >= 0, b > 0. */
static int64_t ceil_div(int64_t a, int64_t b) {
    return a <= 0 ? 0 : (a + b - 1) / b;
}

static int clamp_int(int64_t v, int64_t lo, int64_t hi) {
    return (int)(v < lo ? lo : v > hi ? hi : v);
}

ratelimit_result gcra_decide(rate_limit_spec spec, int64_t stored_tat_ms, int64_t now_ms) {
    ratelimit_result r = {0};
    int count = spec.count > 0 ? spec.count : 1;
    int64_t period = (int64_t)(spec.period_s > 0 ? spec.period_s : 1) * 1000;
    int64_t interval = period / count;
    if (interval < 1)
        interval = 1; /* more than 1000/s: the millisecond form cannot say finer */
    int64_t tat = stored_tat_ms > now_ms ? stored_tat_ms : now_ms;
    int64_t new_tat = tat + interval;
    r.limit = count;
    if (new_tat - now_ms <= period) {
        r.allowed = true;
        r.new_tat_ms = new_tat;
        r.remaining = clamp_int((period - (new_tat - now_ms)) / interval, 0, count);
        r.reset_s = clamp_int(ceil_div(new_tat - now_ms, 1000), 0, INT32_MAX);
        r.retry_after_s = 0;
    } else {
        r.allowed = false;
        r.new_tat_ms = tat;
        r.remaining = 0;
        r.reset_s = clamp_int(ceil_div(tat - now_ms, 1000), 0, INT32_MAX);
        r.retry_after_s = clamp_int(ceil_div(tat + interval - period - now_ms, 1000), 1, INT32_MAX);
    }
    return r;
}

/* KEYS[1] bucket; ARGV count, period_s. Returns {allowed, remaining, reset_s, retry_s,
 * new_tat_ms}. Numbers go back to Redis through string.format('%.0f') because Lua's
 * tostring would round a microsecond timestamp to 14 digits. */
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
        "  return {1, remaining, ceil_div(new_tat - now, 1000000), 0,\n"
        "          math.floor(new_tat / 1000)}\n"
        "end\n"
        "local retry = ceil_div(tat + interval - period - now, 1000000)\n"
        "if retry < 1 then retry = 1 end\n"
        "return {0, 0, ceil_div(tat - now, 1000000), retry, math.floor(tat / 1000)}\n",
    .sha1 = {0},
};

static int parse_reply(const redisReply *reply, int limit, ratelimit_result *out) {
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5)
        return -1;
    long long v[5];
    for (size_t i = 0; i < 5; i++) {
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
