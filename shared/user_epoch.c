/*
 * user_epoch.c: set-if-greater of {u:<id>}:epoch, the deleted-user tombstone and the
 * middleware's verdict (see user_epoch.h).
 * Rules: the script object is static, as redis_pool.h asks; its sha1 is filled under the
 * pool's lock, and each process runs it through one pool.
 */
#include "shared/user_epoch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/near_cache_bus.h"
#include "shared/redis_keys.h"

/* KEYS[1] epoch key; ARGV[1] epoch, ARGV[2] ttl seconds. Returns 1 when it stored the
 * epoch, 0 when the stored one is as new (not the value itself: the tombstone, about
 * 9.2e18 as a Lua double, does not convert back to a Redis integer). Lua numbers are
 * doubles: USER_EPOCH_GONE reads as 9.2e18, still above any real epoch. */
static redis_script EPOCH_SET_IF_GREATER = {
    .source = "local cur = tonumber(redis.call('GET', KEYS[1]))\n"
              "local new = tonumber(ARGV[1])\n"
              "if cur == nil or new > cur then\n"
              "  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])\n"
              "  return 1\n"
              "end\n"
              "return 0\n",
    .sha1 = {0},
};

static void reply_error(const redisReply *reply, char *err, size_t errlen) {
    errbuf_setf(err, errlen, "%s",
                reply != NULL && reply->type == REDIS_REPLY_ERROR ? reply->str : "unavailable");
}

/* After a write: every API instance drops its near-cached verdicts for the user (or its
 * lease expires) before the caller goes on; lease_ms 0 skips it (a refill from Postgres
 * cannot contradict a cached verdict). When Redis never takes the invalidation, the value
 * just written is deleted again (the next check refills it from Postgres), so a caller
 * that rolls back on -1 leaves no epoch Postgres does not have: no user locked out. */
static int invalidate(redis_pool *redis, const char *user_id, int lease_ms, char *err,
                      size_t errlen) {
    if (lease_ms <= 0 || near_cache_bus_invalidate_user(redis, user_id, lease_ms) == 0)
        return 0;
    errbuf_setf(err, errlen, "Redis did not take the near-cache invalidation");
    char key[REDIS_KEY_MAX];
    redis_key_epoch(key, user_id);
    redisReply *r = redis_pool_command(redis, "DEL %s", key);
    if (r != NULL)
        freeReplyObject(r);
    return -1;
}

int user_epoch_publish(redis_pool *redis, const char *user_id, long long epoch, int lease_ms,
                       char *err, size_t errlen) {
    char key[REDIS_KEY_MAX];
    char value[24];
    char ttl[16];
    redis_key_epoch(key, user_id);
    snprintf(value, sizeof value, "%lld", epoch);
    snprintf(ttl, sizeof ttl, "%d", USER_EPOCH_TTL_S);
    const char *argv[] = {key, value, ttl};
    redisReply *reply = redis_pool_eval(redis, &EPOCH_SET_IF_GREATER, 1, 3, argv);
    int rc = reply != NULL && reply->type == REDIS_REPLY_INTEGER ? 0 : -1;
    if (rc != 0) {
        reply_error(reply, err, errlen);
    }
    if (reply != NULL) {
        freeReplyObject(reply);
    }
    return rc == 0 ? invalidate(redis, user_id, lease_ms, err, errlen) : rc;
}

int user_epoch_tombstone_ttl(int access_ttl_s) {
    return access_ttl_s + USER_EPOCH_TOMBSTONE_EXTRA_S;
}

int user_epoch_tombstone(redis_pool *redis, const char *user_id, int access_ttl_s, int lease_ms,
                         char *err, size_t errlen) {
    char key[REDIS_KEY_MAX];
    redis_key_epoch(key, user_id);
    redisReply *reply = redis_pool_command(redis, "SET %s %lld EX %d", key, USER_EPOCH_GONE,
                                           user_epoch_tombstone_ttl(access_ttl_s));
    int rc = reply != NULL && reply->type == REDIS_REPLY_STATUS ? 0 : -1;
    if (rc != 0) {
        reply_error(reply, err, errlen);
    }
    if (reply != NULL) {
        freeReplyObject(reply);
    }
    return rc == 0 ? invalidate(redis, user_id, lease_ms, err, errlen) : rc;
}

bool user_epoch_parse_reply(const redisReply *r, long long *out) {
    if (r == NULL || r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 20) {
        return false;
    }
    char text[24];
    memcpy(text, r->str, r->len);
    text[r->len] = '\0';
    char *end = NULL;
    errno = 0;
    *out = strtoll(text, &end, 10);
    return errno == 0 && end != NULL && *end == '\0';
}

int user_epoch_forget(redis_pool *redis, const char *user_id) {
    char key[REDIS_KEY_MAX];
    redis_key_epoch(key, user_id);
    redisReply *reply = redis_pool_command(redis, "DEL %s", key);
    int rc = reply != NULL && reply->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (reply != NULL) {
        freeReplyObject(reply);
    }
    return rc;
}

user_epoch_verdict user_epoch_judge(bool revoked, bool epoch_known, long long epoch,
                                    bool trust_cache, long long sev) {
    if (revoked || (epoch_known && epoch == USER_EPOCH_GONE)) {
        return USER_EPOCH_REVOKED;
    }
    if (!epoch_known || !trust_cache) {
        return USER_EPOCH_ASK_SOURCE;
    }
    return sev < epoch ? USER_EPOCH_REVOKED : USER_EPOCH_CURRENT;
}
