/*
 * task_list_cache.c: cached list pages under the user's generation (see task_list_cache.h).
 *
 * Rules: both keys of the store script carry the user's hash tag, so it runs in one
 * Redis Cluster slot; a reply of an unexpected type is treated like Redis being down.
 */
#include "api/task_list_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/redis_keys.h"

/* KEYS[1] generation, KEYS[2] page; ARGV[1] the generation read before the query, ARGV[2]
 * the page, ARGV[3] its TTL. Stores the page only while the generation is unchanged. */
static redis_script STORE_IF_CURRENT = {
    .source = "if (redis.call('GET', KEYS[1]) or '0') == ARGV[1] then\n"
              "  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])\n"
              "  return 1\n"
              "end\n"
              "return 0\n",
    .sha1 = {0},
};

void task_cache_count(const char *cache, const char *result) {
    char labels[64];
    snprintf(labels, sizeof labels, "cache=\"%s\",result=\"%s\"", cache, result);
    metrics_counter_add("taskbus_cache_requests_total", "Task cache lookups, by cache and result",
                        labels, 1);
}

/* A generation as Redis stores it (INCR's decimal text); -1 when it is not one. */
static long long parse_generation(const char *text, size_t len) {
    if (len == 0 || len > 18)
        return -1;
    long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        v = v * 10 + (text[i] - '0');
    }
    return v;
}

/* The generation from one reply (nil counts as 0); -1 when it is not one. */
static long long generation_of(const redisReply *reply) {
    if (reply != NULL && reply->type == REDIS_REPLY_NIL)
        return 0;
    if (reply != NULL && reply->type == REDIS_REPLY_STRING)
        return parse_generation(reply->str, reply->len);
    return -1;
}

long long task_list_cache_generation(const api_app *app, const char *user_id, read_lsn *need) {
    char key[REDIS_KEY_MAX], lsn_key[REDIS_KEY_MAX];
    need->state = READ_LSN_UNKNOWN;
    need->lsn = 0;
    if (redis_key_generation(key, user_id)[0] == '\0')
        return -1;
    /* With the replica configured, the commit LSN comes in the same round trip (one slot). */
    bool with_lsn = read_replica_configured(app) && redis_key_commit_lsn(lsn_key, user_id)[0];
    redisReply *reply = with_lsn ? redis_pool_command(app->redis, "MGET %s %s", key, lsn_key)
                                 : redis_pool_command(app->redis, "GET %s", key);
    const redisReply *value = reply;
    if (with_lsn && reply != NULL) {
        bool pair = reply->type == REDIS_REPLY_ARRAY && reply->elements == 2;
        value = pair ? reply->element[0] : NULL;
        if (pair)
            *need = read_lsn_from_reply(reply->element[1]);
    }
    long long gen = generation_of(value);
    if (gen < 0) {
        LOG_DEBUGF("list cache: no generation from Redis (%s)", reply == NULL ? "unavailable"
                                                                : reply->type == REDIS_REPLY_ERROR
                                                                    ? reply->str
                                                                    : "unexpected reply");
        task_cache_count("list", "error");
    }
    if (reply != NULL)
        freeReplyObject(reply);
    return gen;
}

char *task_list_cache_get(const api_app *app, const char *user_id, long long generation,
                          const char *page_hash) {
    char key[REDIS_KEY_MAX];
    if (redis_key_list(key, user_id, generation, page_hash)[0] == '\0')
        return NULL;
    redisReply *reply = redis_pool_command(app->redis, "GET %s", key);
    char *body = NULL;
    const char *result = "error";
    if (reply != NULL && reply->type == REDIS_REPLY_NIL) {
        result = "miss";
    } else if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
        body = strndup(reply->str, reply->len);
        result = body != NULL ? "hit" : "error";
    }
    if (reply != NULL)
        freeReplyObject(reply);
    task_cache_count("list", result);
    return body;
}

void task_list_cache_put(const api_app *app, const char *user_id, long long generation,
                         const char *page_hash, const char *body) {
    char gen_key[REDIS_KEY_MAX], page_key[REDIS_KEY_MAX], gen_text[24], ttl[16];
    if (redis_key_generation(gen_key, user_id)[0] == '\0' ||
        redis_key_list(page_key, user_id, generation, page_hash)[0] == '\0')
        return;
    snprintf(gen_text, sizeof gen_text, "%lld", generation);
    snprintf(ttl, sizeof ttl, "%d", CACHE_LIST_TTL_S);
    const char *argv[] = {gen_key, page_key, gen_text, body, ttl};
    redisReply *reply = redis_pool_eval(app->redis, &STORE_IF_CURRENT, 2, 5, argv);
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER)
        LOG_DEBUGF("list cache: page not stored (%s)", reply == NULL ? "Redis unavailable"
                                                       : reply->type == REDIS_REPLY_ERROR
                                                           ? reply->str
                                                           : "unexpected reply");
    if (reply != NULL)
        freeReplyObject(reply);
}
