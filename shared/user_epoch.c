/*
 * user_epoch.c: set-if-greater of {u:<id>}:epoch (see user_epoch.h).
 * Rules: the script object is static, as redis_pool.h asks; its sha1 is filled under the
 * pool's lock, and each process runs it through one pool.
 */
#include "shared/user_epoch.h"

#include <stdio.h>

/* KEYS[1] epoch key; ARGV[1] epoch, ARGV[2] ttl seconds. Returns the epoch now stored. */
static redis_script EPOCH_SET_IF_GREATER = {
    .source = "local cur = tonumber(redis.call('GET', KEYS[1]))\n"
              "local new = tonumber(ARGV[1])\n"
              "if cur == nil or new > cur then\n"
              "  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])\n"
              "  return new\n"
              "end\n"
              "return cur\n",
    .sha1 = {0},
};

void user_epoch_key(const char *user_id, char *out, size_t outlen) {
    snprintf(out, outlen, "{u:%s}:epoch", user_id);
}

int user_epoch_publish(redis_pool *redis, const char *user_id, long long epoch, char *err,
                       size_t errlen) {
    char key[USER_EPOCH_KEY_BUF];
    char value[24];
    char ttl[16];
    user_epoch_key(user_id, key, sizeof key);
    snprintf(value, sizeof value, "%lld", epoch);
    snprintf(ttl, sizeof ttl, "%d", USER_EPOCH_TTL_S);
    const char *argv[] = {key, value, ttl};
    redisReply *reply = redis_pool_eval(redis, &EPOCH_SET_IF_GREATER, 1, 3, argv);
    int rc = reply != NULL && reply->type == REDIS_REPLY_INTEGER ? 0 : -1;
    if (rc != 0) {
        snprintf(err, errlen, "%s",
                 reply != NULL && reply->type == REDIS_REPLY_ERROR ? reply->str : "unavailable");
    }
    if (reply != NULL) {
        freeReplyObject(reply);
    }
    return rc;
}
