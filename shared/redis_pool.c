/*
 * redis_pool.c: a fixed pool of hiredis contexts.
 *
 * Owns: `size` slots, each holding at most one redisContext, used by one thread at a time.
 * Rules:
 * - The mutex guards the slots' in_use flags, the "down until" back-off and the scripts'
 *   sha1 fields; commands run outside it.
 * - A context that saw any error (ctx->err set or a NULL reply) is freed at once: hiredis
 *   cannot reuse it. The next user of the slot connects again.
 * - A failed connect marks Redis down for REDIS_DOWN_BACKOFF_MS: meanwhile callers without
 *   a live context get NULL immediately instead of each waiting a connect timeout.
 * - A command that fails on a context that was already connected before it (reused), with
 *   the connection closed or reset under it (REDIS_ERR_EOF / REDIS_ERR_IO), is sent once
 *   more on a new context: after a Redis restart every pooled context is dead, and the
 *   first caller of each slot would otherwise fail. A closed connection means the
 *   command was not run; the few non-idempotent callers (the limiter's script, INCR under
 *   the writer's journal) tolerate the rare retry of a reset mid-command.
 * - An outside prober (the API's near-cache lease thread) may open a breaker: while it
 *   is open every caller gets NULL at once, without touching a connection, so a frozen
 *   Redis costs a request nothing; the prober closes it when Redis answers it again.
 * - REDIS_URL is parsed, and each context connected (connect and read/write timeouts both
 *   timeout_ms, then AUTH and SELECT), by shared/redis_url.c: one grammar for the pool and
 *   the dedicated connections.
 */
#include "shared/redis_pool.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/redis_url.h"
#include "shared/time_util.h"

#define REDIS_DOWN_BACKOFF_MS 1000

typedef struct redis_slot {
    redisContext *ctx;
    bool in_use;
    bool reused;    /* ctx was connected before the current command */
    bool stale_err; /* the last command failed with EOF/IO on a reused ctx: worth a retry */
} redis_slot;

struct redis_pool {
    redis_url url; /* parsed once at create; holds the password, never logged */
    int timeout_ms;
    int size;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t down_until_ns;    /* monotonic; 0 when not down */
    atomic_bool breaker_open; /* set by an outside prober (redis_pool_set_breaker) */
    char client_name[64];     /* CLIENT SETNAME on every new context; "" for none */
    redis_slot *slots;
};

static void free_pool(redis_pool *pool) {
    if (pool == NULL) {
        return;
    }
    free(pool->slots);
    free(pool);
}

redis_pool *redis_pool_create(const char *url, int size, int timeout_ms, char *err, size_t errlen) {
    if (url == NULL || size < 1 || size > 4096 || timeout_ms < 1) {
        errbuf_setf(err, errlen, "redis_pool: bad arguments");
        return NULL;
    }
    /* A write to a peer that closed must be an error, not a fatal signal. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        errbuf_setf(err, errlen, "redis_pool: cannot ignore SIGPIPE");
        return NULL;
    }
    redis_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL) {
        errbuf_setf(err, errlen, "redis_pool: out of memory");
        return NULL;
    }
    if (redis_url_parse(url, &pool->url, err, errlen) != 0) {
        free_pool(pool);
        return NULL;
    }
    pool->slots = calloc((size_t)size, sizeof *pool->slots);
    pthread_condattr_t ca;
    bool ok = pool->slots != NULL && pthread_condattr_init(&ca) == 0;
    if (ok) {
        ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&pool->cv, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (ok && pthread_mutex_init(&pool->mu, NULL) != 0) {
        pthread_cond_destroy(&pool->cv);
        ok = false;
    }
    if (!ok) {
        errbuf_setf(err, errlen, "redis_pool: out of memory");
        free_pool(pool);
        return NULL;
    }
    pool->size = size;
    pool->timeout_ms = timeout_ms;
    return pool;
}

void redis_pool_destroy(redis_pool *pool) {
    if (pool == NULL) {
        return;
    }
    for (int i = 0; i < pool->size; i++) {
        if (pool->slots[i].ctx != NULL) {
            redisFree(pool->slots[i].ctx);
        }
    }
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->cv);
    free_pool(pool);
}

/* A free slot, preferring a connected one; NULL when every slot stays busy for the
 * pool's timeout (all callers are themselves bounded by that timeout). */
static redis_slot *take_slot(redis_pool *pool) {
    struct timespec deadline = time_monotonic_deadline_ms(pool->timeout_ms);
    redis_slot *got = NULL;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        redis_slot *empty = NULL;
        for (int i = 0; i < pool->size && got == NULL; i++) {
            redis_slot *s = &pool->slots[i];
            if (!s->in_use && s->ctx != NULL) {
                got = s;
            } else if (!s->in_use && empty == NULL) {
                empty = s;
            }
        }
        if (got == NULL) {
            got = empty;
        }
        if (got != NULL) {
            got->in_use = true;
            break;
        }
        if (pthread_cond_timedwait(&pool->cv, &pool->mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    pthread_mutex_unlock(&pool->mu);
    return got;
}

static void give_back(redis_pool *pool, redis_slot *s) {
    pthread_mutex_lock(&pool->mu);
    s->in_use = false;
    pthread_cond_signal(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
}

static bool is_down(redis_pool *pool) {
    pthread_mutex_lock(&pool->mu);
    bool down = pool->down_until_ns > time_monotonic_ns();
    pthread_mutex_unlock(&pool->mu);
    return down;
}

static void mark_down(redis_pool *pool, const char *why) {
    pthread_mutex_lock(&pool->mu);
    bool was_down = pool->down_until_ns != 0;
    pool->down_until_ns = time_monotonic_ns() + (int64_t)REDIS_DOWN_BACKOFF_MS * 1000000;
    pthread_mutex_unlock(&pool->mu);
    if (!was_down) {
        LOG_WARNF("redis unavailable: %s", why);
    }
}

static void mark_up(redis_pool *pool) {
    pthread_mutex_lock(&pool->mu);
    bool was_down = pool->down_until_ns != 0;
    pool->down_until_ns = 0;
    pthread_mutex_unlock(&pool->mu);
    if (was_down) {
        LOG_INFOF("redis reachable again");
    }
}

/* A new context (timeouts, AUTH and SELECT done by redis_url_connect), or NULL with Redis
 * marked down for the back-off. */
static redisContext *connect_ctx(redis_pool *pool) {
    char err[512];
    redisContext *ctx = redis_url_connect(&pool->url, pool->timeout_ms, err, sizeof err);
    if (ctx == NULL) {
        mark_down(pool, err);
        return NULL;
    }
    if (pool->client_name[0] != '\0') {
        /* For operators (CLIENT LIST); a refusal only costs the name. */
        redisReply *r = redisCommand(ctx, "CLIENT SETNAME %s", pool->client_name);
        if (r != NULL)
            freeReplyObject(r);
    }
    mark_up(pool);
    return ctx;
}

void redis_pool_set_client_name(redis_pool *pool, const char *name) {
    snprintf(pool->client_name, sizeof pool->client_name, "%s", name);
}

void redis_pool_set_breaker(redis_pool *pool, bool open) {
    bool was = atomic_exchange(&pool->breaker_open, open);
    if (was != open) {
        LOG_WARNF("redis breaker %s", open ? "opened: requests skip Redis" : "closed");
    }
}

bool redis_pool_breaker_open(redis_pool *pool) {
    return atomic_load(&pool->breaker_open);
}

/* A slot with a live context, or NULL (Redis unavailable). */
static redis_slot *acquire(redis_pool *pool) {
    if (atomic_load(&pool->breaker_open)) {
        return NULL;
    }
    redis_slot *s = take_slot(pool);
    if (s == NULL) {
        return NULL;
    }
    s->reused = s->ctx != NULL;
    s->stale_err = false;
    if (s->ctx == NULL) {
        if (is_down(pool) || (s->ctx = connect_ctx(pool)) == NULL) {
            give_back(pool, s);
            return NULL;
        }
    }
    return s;
}

/* After a failed command on s: true when it is worth sending once more on a fresh
 * context (see the rules above), which it then connects. */
static bool reconnect_for_retry(redis_pool *pool, redis_slot *s) {
    if (!s->stale_err || s->ctx != NULL) {
        return false;
    }
    s->reused = false;
    s->stale_err = false;
    s->ctx = connect_ctx(pool);
    return s->ctx != NULL;
}

/* Frees the context when the reply shows the connection failed; returns the reply. */
static redisReply *after_command(redis_slot *s, redisReply *reply) {
    if (reply == NULL || s->ctx->err) {
        s->stale_err = s->reused && (s->ctx->err == REDIS_ERR_EOF || s->ctx->err == REDIS_ERR_IO);
        LOG_WARNF("redis command failed: %s", s->ctx->err ? s->ctx->errstr : "no reply");
        if (reply != NULL) {
            freeReplyObject(reply);
            reply = NULL;
        }
        redisFree(s->ctx);
        s->ctx = NULL;
    }
    return reply;
}

redisReply *redis_pool_command(redis_pool *pool, const char *fmt, ...) {
    redis_slot *s = acquire(pool);
    if (s == NULL) {
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    va_list again;
    va_copy(again, ap);
    redisReply *reply = after_command(s, redisvCommand(s->ctx, fmt, ap));
    if (reply == NULL && reconnect_for_retry(pool, s)) {
        reply = after_command(s, redisvCommand(s->ctx, fmt, again));
    }
    va_end(again);
    va_end(ap);
    give_back(pool, s);
    return reply;
}

redisReply *redis_pool_command_argv(redis_pool *pool, int argc, const char **argv,
                                    const size_t *argvlen) {
    redis_slot *s = acquire(pool);
    if (s == NULL) {
        return NULL;
    }
    redisReply *reply = after_command(s, redisCommandArgv(s->ctx, argc, argv, argvlen));
    if (reply == NULL && reconnect_for_retry(pool, s)) {
        reply = after_command(s, redisCommandArgv(s->ctx, argc, argv, argvlen));
    }
    give_back(pool, s);
    return reply;
}

redisReply *redis_pool_command_on_key(redis_pool *pool, const char *route_key, int argc,
                                      const char **argv, const size_t *argvlen) {
    (void)route_key; /* standalone: one node owns every slot */
    return redis_pool_command_argv(pool, argc, argv, argvlen);
}

/* SCRIPT LOAD on s; stores the sha1 in script. 0, or -1 (s->ctx may be gone). */
static int load_script(redis_pool *pool, redis_slot *s, redis_script *script) {
    const char *argv[3] = {"SCRIPT", "LOAD", script->source};
    redisReply *r = after_command(s, redisCommandArgv(s->ctx, 3, argv, NULL));
    if (r == NULL) {
        return -1;
    }
    int rc = -1;
    if (r->type == REDIS_REPLY_STRING && r->len == 40) {
        pthread_mutex_lock(&pool->mu);
        memcpy(script->sha1, r->str, 40);
        script->sha1[40] = '\0';
        pthread_mutex_unlock(&pool->mu);
        rc = 0;
    } else {
        LOG_ERRORF("redis SCRIPT LOAD failed: %s",
                   r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    }
    freeReplyObject(r);
    return rc;
}

static redisReply *evalsha(redis_pool *pool, redis_slot *s, redis_script *script, int numkeys,
                           int argc, const char **argv) {
    const char **full = malloc(sizeof *full * (size_t)(argc + 3));
    if (full == NULL) {
        return NULL;
    }
    char sha[41];
    char nk[16];
    pthread_mutex_lock(&pool->mu);
    memcpy(sha, script->sha1, sizeof sha);
    pthread_mutex_unlock(&pool->mu);
    snprintf(nk, sizeof nk, "%d", numkeys);
    full[0] = "EVALSHA";
    full[1] = sha;
    full[2] = nk;
    for (int i = 0; i < argc; i++) {
        full[i + 3] = argv[i];
    }
    redisReply *r = after_command(s, redisCommandArgv(s->ctx, argc + 3, full, NULL));
    free(full);
    return r;
}

static bool is_noscript(const redisReply *r) {
    return r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

redisReply *redis_pool_eval(redis_pool *pool, redis_script *script, int numkeys, int argc,
                            const char **argv) {
    if (argc < numkeys || numkeys < 0 || argc < 0) {
        return NULL;
    }
    redis_slot *s = acquire(pool);
    if (s == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&pool->mu);
    bool loaded = script->sha1[0] != '\0';
    pthread_mutex_unlock(&pool->mu);
    redisReply *r = NULL;
    if (loaded || load_script(pool, s, script) == 0) {
        r = evalsha(pool, s, script, numkeys, argc, argv);
        if (r == NULL && reconnect_for_retry(pool, s)) {
            r = evalsha(pool, s, script, numkeys, argc, argv);
        }
        /* A restarted or flushed Redis forgot the script: load it again, once. */
        if (is_noscript(r)) {
            freeReplyObject(r);
            r = NULL;
            if (s->ctx != NULL && load_script(pool, s, script) == 0) {
                r = evalsha(pool, s, script, numkeys, argc, argv);
            }
        }
    }
    give_back(pool, s);
    return r;
}

bool redis_pool_ping(redis_pool *pool, char *err, size_t errlen) {
    redisReply *r = redis_pool_command(pool, "PING");
    if (r == NULL) {
        errbuf_setf(err, errlen, "redis unavailable at %s:%d", pool->url.host, pool->url.port);
        return false;
    }
    bool ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (!ok) {
        errbuf_setf(err, errlen, "redis PING answered %s",
                    r->type == REDIS_REPLY_ERROR ? r->str : "something else");
    }
    freeReplyObject(r);
    return ok;
}
