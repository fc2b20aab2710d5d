/*
 * task_store.c: reading one task, the cache first (see task_store.h).
 *
 * Rules: the task id is lower-cased before it names a key, so "ABC…" and "abc…" can never
 * be two cache entries (the writer's write-through and tombstones use the canonical
 * form); Postgres is asked with the owner in the WHERE clause, so another user's task is
 * simply absent; a fill never overwrites (SET NX), so the writer's newer version or
 * tombstone always wins a race with a slow reader; a cache entry we cannot read is
 * skipped, never trusted.
 */
#include "api/task_store.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/near_cache.h"
#include "api/near_cache_keys.h"
#include "api/task_list_cache.h"
#include "shared/log.h"
#include "shared/redis_keys.h"
#include "shared/task_model.h"

static const pg_stmt TASK_BY_ID = {
    "task_store_by_id", "SELECT " TASK_SELECT_COLUMNS " FROM tasks WHERE id = $1 AND owner_id = $2",
    2};

typedef enum { CACHED_TASK, CACHED_TOMBSTONE, CACHED_NOTHING, CACHE_DOWN } cache_lookup;

/* Lower-case copy of a valid UUID; false for anything else. */
static bool canonical_id(const char *text, char out[UUID_STR_LEN]) {
    if (text == NULL || !uuid_is_valid(text))
        return false;
    for (size_t i = 0; i < UUID_STR_LEN; i++)
        out[i] = (char)tolower((unsigned char)text[i]);
    return true;
}

static cache_lookup from_cache(const api_app *app, const char *key, json_t **out) {
    redisReply *reply = redis_pool_command(app->redis, "GET %s", key);
    if (reply == NULL || (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL)) {
        if (reply != NULL)
            freeReplyObject(reply);
        task_cache_count("task", "error");
        return CACHE_DOWN;
    }
    if (reply->type == REDIS_REPLY_NIL) {
        freeReplyObject(reply);
        task_cache_count("task", "miss");
        return CACHED_NOTHING;
    }
    json_error_t jerr;
    json_t *value = json_loadb(reply->str, reply->len, 0, &jerr);
    freeReplyObject(reply);
    if (!json_is_object(value)) {
        LOG_WARNF("task cache: unreadable entry at %s; reading Postgres", key);
        json_decref(value);
        task_cache_count("task", "error");
        return CACHE_DOWN; /* present but unusable: do not try to fill over it either */
    }
    task_cache_count("task", "hit");
    if (json_is_true(json_object_get(value, "deleted"))) {
        json_decref(value);
        return CACHED_TOMBSTONE;
    }
    *out = value;
    return CACHED_TASK;
}

static task_store_result from_postgres(const api_app *app, const char *user_id, const char *task_id,
                                       json_t **out) {
    char err[256];
    pg_conn *conn = pg_pool_acquire(app->pg_read, API_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("task store: no database connection: %s", err);
        return TASK_STORE_UNAVAILABLE;
    }
    const char *values[] = {task_id, user_id};
    PGresult *res = pg_exec_stmt(conn, &TASK_BY_ID, values);
    pg_pool_release(app->pg_read, conn);
    if (res == NULL) {
        LOG_WARNF("task store: postgres connection failed");
        return TASK_STORE_UNAVAILABLE;
    }
    task_store_result result = TASK_STORE_NOT_FOUND;
    if (!pg_result_ok(res)) {
        LOG_ERRORF("task store: read failed: %s", PQresultErrorMessage(res));
        result = TASK_STORE_UNAVAILABLE;
    } else if (PQntuples(res) == 1) {
        *out = task_from_row(res, 0, NULL);
        if (*out == NULL)
            LOG_ERRORF("task store: a task row could not be mapped");
        result = *out != NULL ? TASK_STORE_FOUND : TASK_STORE_UNAVAILABLE;
    }
    PQclear(res);
    return result;
}

/* Set-if-absent: the writer's write-through (set-if-newer) always wins. */
static void fill_cache(const api_app *app, const char *key, const json_t *task) {
    char *text = json_dumps(task, JSON_COMPACT);
    if (text == NULL)
        return;
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", CACHE_TASK_TTL_S);
    const char *argv[] = {"SET", key, text, "EX", ttl, "NX"};
    redisReply *reply = redis_pool_command_argv(app->redis, 6, argv, NULL);
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
        LOG_DEBUGF("task cache: fill failed (%s)", reply != NULL ? reply->str : "unavailable");
    if (reply != NULL)
        freeReplyObject(reply);
    free(text);
}

/* Keeps the answer in the near cache under ticket: the task's text and version, or a
 * tombstone (version -1). */
static void near_put(const api_app *app, const near_cache_ticket *t, const char *user_id,
                     const char *nkey, const json_t *task) {
    if (task == NULL) {
        near_cache_put(app->near_cache, t, user_id, nkey, "", 0, -1);
        return;
    }
    char *text = json_dumps(task, JSON_COMPACT);
    if (text != NULL)
        near_cache_put(app->near_cache, t, user_id, nkey, text, strlen(text),
                       task_json_version(task));
    free(text);
}

/* Redis, then Postgres, for a near-cache miss; keeps the answer under ticket. */
static task_store_result from_sources(const api_app *app, const near_cache_ticket *t,
                                      const char *user_id, const char *tid, const char *nkey,
                                      json_t **out) {
    char key[REDIS_KEY_MAX];
    redis_key_task(key, user_id, tid);
    /* Without a lease the Redis cache is not trusted either (it may miss effects the
     * writer could not deliver) and Redis may be frozen: Postgres only. */
    cache_lookup cached = t->usable ? from_cache(app, key, out) : CACHE_DOWN;
    if (cached == CACHED_TASK || cached == CACHED_TOMBSTONE) {
        near_put(app, t, user_id, nkey, cached == CACHED_TASK ? *out : NULL);
        return cached == CACHED_TASK ? TASK_STORE_FOUND : TASK_STORE_NOT_FOUND;
    }
    task_store_result result = from_postgres(app, user_id, tid, out);
    if (result == TASK_STORE_FOUND && cached == CACHED_NOTHING)
        fill_cache(app, key, *out);
    if (result == TASK_STORE_FOUND)
        near_put(app, t, user_id, nkey, *out);
    return result;
}

task_store_result task_store_lookup(const api_app *app, const char *user_id, const char *task_id,
                                    near_cache_blob **text, json_t **task) {
    *text = NULL;
    *task = NULL;
    char tid[UUID_STR_LEN], nkey[NEAR_CACHE_KEY_MAX];
    if (!canonical_id(task_id, tid) || user_id == NULL || !uuid_is_valid(user_id))
        return TASK_STORE_NOT_FOUND;
    near_cache_key_task(nkey, user_id, tid);
    near_cache_blob *b = near_cache_get(app->near_cache, nkey);
    if (b != NULL && near_cache_blob_aux(b) < 0) {
        near_cache_blob_release(b);
        return TASK_STORE_NOT_FOUND;
    }
    if (b != NULL) {
        *text = b;
        return TASK_STORE_FOUND;
    }
    near_cache_ticket t = near_cache_ticket_take(app->near_cache, user_id, NEAR_CACHE_TASKS);
    return from_sources(app, &t, user_id, tid, nkey, task);
}

task_store_result task_store_get(const api_app *app, const char *user_id, const char *task_id,
                                 json_t **out) {
    near_cache_blob *text = NULL;
    task_store_result r = task_store_lookup(app, user_id, task_id, &text, out);
    if (text != NULL) {
        *out = json_loadb(near_cache_blob_data(text), near_cache_blob_len(text), 0, NULL);
        near_cache_blob_release(text);
        if (*out == NULL)
            return TASK_STORE_UNAVAILABLE;
    }
    return r;
}
