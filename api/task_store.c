/*
 * task_store.c: reading one task, the cache first (see task_store.h).
 *
 * Rules: the task id is lower-cased before it names a key, so "ABC…" and "abc…" can never
 * be two cache entries (the writer's write-through and tombstones use the canonical
 * form); Postgres is asked with the owner in the WHERE clause, so another user's task is
 * simply absent; a task in a team project (no owner) is read only from the primary, with
 * the reader's membership in the same statement, and never cached (docs/decisions.md,
 * "Tasks in team projects (slice 3b)"), so a removed member's next read finds nothing; an
 * Inbox miss and an Inbox tombstone (a deleted task, or one moved into a team project:
 * "Moving tasks (slice 5)") both go on to that read; a fill never
 * overwrites (SET NX), so the writer's newer version or tombstone always wins a race with a slow
 * reader; a cache entry we cannot read is skipped, never trusted, and one without project_id
 * (written by a writer or API of the release before migration 0020) is passed over like a miss;
 * what Postgres answered because Redis failed for the user is served but not kept in the near
 * cache.
 */
#include "api/task_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/near_cache.h"
#include "api/near_cache_keys.h"
#include "api/read_replica.h"
#include "api/task_list_cache.h"
#include "shared/log.h"
#include "shared/redis_keys.h"
#include "shared/task_model.h"

static const pg_stmt TASK_BY_ID = {
    "task_store_by_id", "SELECT " TASK_SELECT_COLUMNS " FROM tasks WHERE id = $1 AND owner_id = $2",
    2};
/* A team task (no owner) with the reader's role rank in its project, NULL for a
 * non-member: one statement, so the answer and the membership are of one snapshot. */
static const pg_stmt TEAM_TASK_BY_ID = {"task_store_team_by_id",
                                        "SELECT " TASK_SELECT_COLUMNS
                                        ", (SELECT project_role_rank(m.role) FROM project_members m"
                                        " WHERE m.project_id = tasks.project_id AND m.user_id = $2)"
                                        " FROM tasks WHERE id = $1 AND owner_id IS NULL",
                                        2};

typedef enum { CACHED_TASK, CACHED_TOMBSTONE, CACHED_NOTHING, CACHE_DOWN } cache_lookup;

/* The value of key from Redis; with the replica configured, in the same round trip (MGET,
 * one slot) the user's commit LSN into *need, which a miss then reads the replica by. */
static cache_lookup from_cache(const api_app *app, const char *user_id, const char *key,
                               json_t **out, read_lsn *need) {
    char lsn_key[REDIS_KEY_MAX];
    bool with_lsn = read_replica_configured(app) && redis_key_commit_lsn(lsn_key, user_id)[0];
    redisReply *reply = with_lsn ? redis_pool_command(app->redis, "MGET %s %s", key, lsn_key)
                                 : redis_pool_command(app->redis, "GET %s", key);
    redisReply *value = reply;
    if (with_lsn && reply != NULL) {
        bool pair = reply->type == REDIS_REPLY_ARRAY && reply->elements == 2;
        value = pair ? reply->element[0] : NULL;
        if (pair)
            *need = read_lsn_from_reply(reply->element[1]);
    }
    if (value == NULL || (value->type != REDIS_REPLY_STRING && value->type != REDIS_REPLY_NIL)) {
        if (reply != NULL)
            freeReplyObject(reply);
        task_cache_count("task", "error");
        return CACHE_DOWN;
    }
    if (value->type == REDIS_REPLY_NIL) {
        freeReplyObject(reply);
        task_cache_count("task", "miss");
        return CACHED_NOTHING;
    }
    json_error_t jerr;
    json_t *task = json_loadb(value->str, value->len, 0, &jerr);
    freeReplyObject(reply);
    if (!json_is_object(task)) {
        LOG_WARNF("task cache: unreadable entry at %s; reading Postgres", key);
        json_decref(task);
        task_cache_count("task", "error");
        return CACHE_DOWN; /* present but unusable: do not try to fill over it either */
    }
    if (json_is_true(json_object_get(task, "deleted"))) {
        task_cache_count("task", "hit");
        json_decref(task);
        return CACHED_TOMBSTONE;
    }
    if (!json_is_string(json_object_get(task, "project_id"))) {
        /* Cached by a writer or an API of the release before migration 0020: read
         * Postgres; the fill cannot replace it (SET NX), the next write or the TTL does. */
        json_decref(task);
        task_cache_count("task", "miss");
        return CACHED_NOTHING;
    }
    task_cache_count("task", "hit");
    *out = task;
    return CACHED_TASK;
}

/* One task by id and owner, on whichever pool read_exact chose. */
typedef struct task_read {
    const char *user_id;
    const char *task_id;
    task_store_result result;
    json_t *task;
} task_read;

static int read_task_row(pg_conn *conn, void *arg) {
    task_read *r = arg;
    const char *values[] = {r->task_id, r->user_id};
    PGresult *res = pg_exec_stmt(conn, &TASK_BY_ID, values);
    if (res == NULL) {
        LOG_WARNF("task store: postgres connection failed");
        return -1;
    }
    if (!pg_result_ok(res)) {
        LOG_ERRORF("task store: read failed: %s", PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    r->result = TASK_STORE_NOT_FOUND;
    if (PQntuples(res) == 1) {
        r->task = task_from_row(res, 0, NULL);
        if (r->task == NULL)
            LOG_ERRORF("task store: a task row could not be mapped");
        r->result = r->task != NULL ? TASK_STORE_FOUND : TASK_STORE_UNAVAILABLE;
    }
    PQclear(res);
    return 0;
}

/* The replica when it has replayed need, else the primary (api/read_replica.h). */
static task_store_result from_postgres(const api_app *app, const char *user_id, const char *task_id,
                                       read_lsn need, json_t **out) {
    char err[256];
    task_read r = {.user_id = user_id, .task_id = task_id, .result = TASK_STORE_UNAVAILABLE};
    if (read_exact(app, need, "task read", read_task_row, &r, err, sizeof err) != 0) {
        LOG_WARNF("task store: %s", err);
        return TASK_STORE_UNAVAILABLE;
    }
    *out = r.task;
    return r.result;
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

/* The team task tid if user is a member of its project (the primary: another member's
 * write is seen as soon as it is applied); *rank gets the role's rank. */
static task_store_result team_task(const api_app *app, const char *user_id, const char *tid,
                                   json_t **out, int *rank) {
    char err[256];
    pg_conn *conn = pg_pool_acquire(app->pg, API_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("task store: no database connection: %s", err);
        return TASK_STORE_UNAVAILABLE;
    }
    const char *values[] = {tid, user_id};
    PGresult *res = pg_exec_stmt(conn, &TEAM_TASK_BY_ID, values);
    task_store_result result = TASK_STORE_UNAVAILABLE;
    if (!pg_result_ok(res)) {
        LOG_WARNF("task store: reading a team task failed: %s",
                  res != NULL ? PQresultErrorMessage(res) : "connection failed");
    } else if (PQntuples(res) == 0 || PQgetisnull(res, 0, TASK_SELECT_COLUMN_COUNT)) {
        result = TASK_STORE_NOT_FOUND; /* none, or not a member: the same answer */
    } else {
        *out = task_from_row(res, 0, NULL);
        *rank = (int)strtol(PQgetvalue(res, 0, TASK_SELECT_COLUMN_COUNT), NULL, 10);
        result = *out != NULL ? TASK_STORE_FOUND : TASK_STORE_UNAVAILABLE;
    }
    PQclear(res);
    pg_pool_release(app->pg, conn);
    return result;
}

/* Redis, then Postgres, for a near-cache miss; keeps the answer under ticket. */
static task_store_result from_sources(const api_app *app, const near_cache_ticket *t,
                                      const char *user_id, const char *tid, const char *nkey,
                                      json_t **out, int *team_rank) {
    char key[REDIS_KEY_MAX];
    redis_key_task(key, user_id, tid);
    /* Without a lease the Redis cache is not trusted either (it may miss effects the
     * writer could not deliver) and Redis may be frozen: Postgres only. */
    /* The commit LSN comes with the cache lookup; without it (no lease, Redis down) a miss
     * reads the primary. */
    read_lsn need = {.state = READ_LSN_UNKNOWN, .lsn = 0};
    cache_lookup cached = t->usable ? from_cache(app, user_id, key, out, &need) : CACHE_DOWN;
    if (cached == CACHED_TASK || cached == CACHED_TOMBSTONE) {
        near_put(app, t, user_id, nkey, cached == CACHED_TASK ? *out : NULL);
        /* A tombstone: deleted, or moved out of the Inbox into a team project. */
        return cached == CACHED_TASK ? TASK_STORE_FOUND
                                     : team_task(app, user_id, tid, out, team_rank);
    }
    task_store_result result = from_postgres(app, user_id, tid, need, out);
    if (result == TASK_STORE_NOT_FOUND)
        return team_task(app, user_id, tid, out, team_rank);
    if (result == TASK_STORE_FOUND && cached == CACHED_NOTHING)
        fill_cache(app, key, *out);
    /* Redis failed for this user while the lease holds: on a Redis Cluster, the user's
     * master is likely dead, so the writer cannot land this user's next commits and only
     * the invalidation it then publishes through {nc} protects an entry kept now, with a
     * window between that commit and that message. Not keeping it leaves nothing of the
     * user's to serve stale while the master is away; the next read asks again. */
    if (result == TASK_STORE_FOUND && cached != CACHE_DOWN)
        near_put(app, t, user_id, nkey, *out);
    return result;
}

task_store_result task_store_lookup(const api_app *app, const char *user_id, const char *task_id,
                                    near_cache_blob **text, json_t **task, int *team_rank) {
    *text = NULL;
    *task = NULL;
    *team_rank = 0;
    char tid[UUID_STR_LEN], nkey[NEAR_CACHE_KEY_MAX];
    if (!uuid_canonical(task_id, tid) || user_id == NULL || !uuid_is_valid(user_id))
        return TASK_STORE_NOT_FOUND;
    near_cache_key_task(nkey, user_id, tid);
    near_cache_blob *b = near_cache_get(app->near_cache, nkey);
    if (b != NULL && near_cache_blob_aux(b) < 0) { /* not in the Inbox (any more) */
        near_cache_blob_release(b);
        return team_task(app, user_id, tid, task, team_rank);
    }
    if (b != NULL) {
        *text = b;
        return TASK_STORE_FOUND;
    }
    near_cache_ticket t = near_cache_ticket_take(app->near_cache, user_id, NEAR_CACHE_TASKS);
    return from_sources(app, &t, user_id, tid, nkey, task, team_rank);
}

task_store_result task_store_get(const api_app *app, const char *user_id, const char *task_id,
                                 json_t **out, int *team_rank) {
    near_cache_blob *text = NULL;
    int rank = 0;
    task_store_result r = task_store_lookup(app, user_id, task_id, &text, out, &rank);
    if (team_rank != NULL)
        *team_rank = rank;
    if (text != NULL) {
        *out = json_loadb(near_cache_blob_data(text), near_cache_blob_len(text), 0, NULL);
        near_cache_blob_release(text);
        if (*out == NULL)
            return TASK_STORE_UNAVAILABLE;
    }
    return r;
}
