/*
 * redis_pool.c: a fixed pool of hiredis contexts, routed by key (shared/redis_cluster.h).
 *
 * Owns: `size` slots, each holding a redis_conns (at most one redisContext per Redis node),
 * used by one thread at a time, and the pool's redis_cluster (mode, slot map, nodes).
 * Rules:
 * - The mutex guards the slots' in_use flags and the scripts' sha1 fields; commands run
 *   outside it.
 * - Every call is formatted into RESP once (redisFormatCommand / redisFormatCommandArgv)
 *   and routed by its first key (EVALSHA: its first key; argv[1] otherwise; no key: any
 *   node): one code path for printf-style, argv and script calls. Standalone Redis has one
 *   node and the same round trips as before (the mode is learnt once per pool with one
 *   CLUSTER SLOTS on the first connection).
 * - A context that saw any error (ctx->err set or a NULL reply) is freed at once: hiredis
 *   cannot reuse it. The next user of the slot connects again.
 * - A failed connect marks that node down for REDIS_CLUSTER_DOWN_BACKOFF_MS: meanwhile
 *   callers whose command goes to that node get NULL immediately instead of each waiting
 *   a connect timeout. The back-off is per node (one dead master must not fail the
 *   others' slots); in standalone mode that is the whole Redis, as before.
 * - A command that fails on a context that was already connected before it (reused), with
 *   the connection closed or reset under it (REDIS_ERR_EOF / REDIS_ERR_IO), is sent once
 *   more on a new context: after a Redis restart every pooled context is dead, and the
 *   first caller of each slot would otherwise fail. A closed connection means the
 *   command was not run; the few non-idempotent callers (the limiter's script, INCR under
 *   the writer's journal) tolerate the rare retry of a reset mid-command.
 * - Cluster: MOVED/ASK/TRYAGAIN/CLUSTERDOWN and a node lost to a failover are handled by
 *   redis_cluster_run (bounded redirects, map refresh).
 * - An outside prober (the API's near-cache lease thread) may open a breaker: while it
 *   is open every caller gets NULL at once, without touching a connection, so a frozen
 *   Redis costs a request nothing; the prober closes it when Redis answers it again. The
 *   breaker is per pool (the lease it guards is one for the whole instance).
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
#include "shared/redis_cluster.h"
#include "shared/redis_url.h"
#include "shared/time_util.h"

typedef struct redis_slot {
    redis_conns conns;
    bool in_use;
} redis_slot;

struct redis_pool {
    redis_url url; /* parsed once at create; holds the password, never logged */
    redis_cluster *cluster;
    int timeout_ms;
    int size;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_bool breaker_open; /* set by an outside prober (redis_pool_set_breaker) */
    redis_slot *slots;
};

static void free_pool(redis_pool *pool) {
    if (pool == NULL) {
        return;
    }
    redis_cluster_destroy(pool->cluster);
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
    pool->cluster = redis_cluster_create(&pool->url, timeout_ms, err, errlen);
    if (pool->cluster == NULL) {
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
        redis_conns_close(&pool->slots[i].conns);
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
            if (!s->in_use && s->conns.connected > 0) {
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

void redis_pool_set_client_name(redis_pool *pool, const char *name) {
    redis_cluster_set_client_name(pool->cluster, name);
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

/* A slot for one call, or NULL (breaker open, or every slot busy for the timeout). */
static redis_slot *acquire(redis_pool *pool) {
    if (atomic_load(&pool->breaker_open)) {
        return NULL;
    }
    return take_slot(pool);
}

/* Runs a formatted command (buf, len) routed to slot. Takes and gives back a pool slot. */
static redisReply *run(redis_pool *pool, const char *buf, int len, int slot,
                       const char *script_source) {
    if (len <= 0) {
        return NULL; /* formatting failed (out of memory or a bad format) */
    }
    redis_slot *s = acquire(pool);
    if (s == NULL) {
        return NULL;
    }
    redis_cmd cmd = {.buf = buf, .len = (size_t)len, .slot = slot, .script_source = script_source};
    redisReply *reply = redis_cluster_run(pool->cluster, &s->conns, &cmd);
    give_back(pool, s);
    return reply;
}

redisReply *redis_pool_command(redis_pool *pool, const char *fmt, ...) {
    char *buf = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&buf, fmt, ap);
    va_end(ap);
    if (len <= 0) {
        return NULL;
    }
    redisReply *reply = run(pool, buf, len, redis_cluster_formatted_slot(buf, (size_t)len), NULL);
    redisFreeCommand(buf);
    return reply;
}

redisReply *redis_pool_command_argv(redis_pool *pool, int argc, const char **argv,
                                    const size_t *argvlen) {
    return redis_pool_command_on_slot(pool, redis_cluster_command_slot(argc, argv, argvlen), argc,
                                      argv, argvlen);
}

redisReply *redis_pool_command_on_slot(redis_pool *pool, int slot, int argc, const char **argv,
                                       const size_t *argvlen) {
    char *buf = NULL;
    int len = redisFormatCommandArgv(&buf, argc, argv, argvlen);
    if (len <= 0) {
        return NULL;
    }
    redisReply *reply = run(pool, buf, len, slot, NULL);
    redisFreeCommand(buf);
    return reply;
}

redisReply *redis_pool_command_on_key(redis_pool *pool, const char *route_key, int argc,
                                      const char **argv, const size_t *argvlen) {
    return redis_pool_command_on_slot(pool, redis_cluster_key_slot(route_key, strlen(route_key)),
                                      argc, argv, argvlen);
}

/* SCRIPT LOAD routed to slot; stores the sha1 in script. 0, or -1. */
static int load_script(redis_pool *pool, redis_script *script, int slot) {
    const char *argv[3] = {"SCRIPT", "LOAD", script->source};
    redisReply *r = redis_pool_command_on_slot(pool, slot, 3, argv, NULL);
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

redisReply *redis_pool_eval(redis_pool *pool, redis_script *script, int numkeys, int argc,
                            const char **argv) {
    if (argc < numkeys || numkeys < 0 || argc < 0) {
        return NULL;
    }
    if (atomic_load(&pool->breaker_open)) {
        return NULL;
    }
    int slot = numkeys > 0 ? redis_cluster_key_slot(argv[0], strlen(argv[0])) : -1;
    pthread_mutex_lock(&pool->mu);
    bool loaded = script->sha1[0] != '\0';
    pthread_mutex_unlock(&pool->mu);
    /* The sha1 is the same on every node; a node that does not know the script answers
     * NOSCRIPT and redis_cluster_run loads it there. */
    if (!loaded && load_script(pool, script, slot) != 0) {
        return NULL;
    }
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
    char *buf = NULL;
    int len = redisFormatCommandArgv(&buf, argc + 3, full, NULL);
    free(full);
    if (len <= 0) {
        return NULL;
    }
    redisReply *r = run(pool, buf, len, slot, script->source);
    redisFreeCommand(buf);
    return r;
}

bool redis_pool_ping(redis_pool *pool, char *err, size_t errlen) {
    redisReply *r = redis_pool_command(pool, "PING");
    if (r == NULL) {
        if (pool->url.nseeds > 1) {
            errbuf_setf(err, errlen, "redis unavailable at %s:%d (and %d other seeds)",
                        pool->url.host, pool->url.port, pool->url.nseeds - 1);
        } else {
            errbuf_setf(err, errlen, "redis unavailable at %s:%d", pool->url.host, pool->url.port);
        }
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

bool redis_pool_is_cluster(redis_pool *pool) {
    return redis_cluster_mode(pool->cluster) == REDIS_MODE_CLUSTER;
}

int redis_pool_key_address(redis_pool *pool, const char *key, char *host, size_t hostlen,
                           int *port) {
    return redis_cluster_slot_address(pool->cluster, redis_cluster_key_slot(key, strlen(key)), host,
                                      hostlen, port);
}
