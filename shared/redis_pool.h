/*
 * redis_pool.h: a fixed pool of hiredis contexts.
 *
 * Owns: N redisContext, each used by one thread at a time. Rules: a context that saw any
 * error is freed and reconnected on next use (hiredis cannot reuse it); connect and
 * read/write timeouts are both set; after a failed connect the pool reports "down" for
 * a short back-off instead of making every caller wait for a connect timeout. Callers
 * treat NULL as "Redis unavailable" and degrade (cache miss, fail-open limiter).
 * SIGPIPE must be ignored by the process (redis_pool_create does it).
 */
#ifndef TASKBUS_SHARED_REDIS_POOL_H
#define TASKBUS_SHARED_REDIS_POOL_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct redis_pool redis_pool;

/* url: redis://[:password@]host:port[/db]. Connects lazily. */
redis_pool *redis_pool_create(const char *url, int size, int timeout_ms, char *err, size_t errlen);
void redis_pool_destroy(redis_pool *pool);

/* Runs one command (printf-style as redisCommand). NULL when Redis is unavailable or the
 * connection failed; a REDIS_REPLY_ERROR reply is returned as is. Caller freeReplyObject()s. */
redisReply *redis_pool_command(redis_pool *pool, const char *fmt, ...);
/* Same with argv form (binary safe). */
redisReply *redis_pool_command_argv(redis_pool *pool, int argc, const char **argv,
                                    const size_t *argvlen);

/* Runs one command (argv form) on the node that owns route_key's slot: what a command
 * without a key in its arguments (WAIT) uses to reach a key's node. Same NULL rules as
 * redis_pool_command_argv. On a standalone Redis (this pool) the one node runs it; the
 * Redis Cluster pool (issue 13) routes it. */
redisReply *redis_pool_command_on_key(redis_pool *pool, const char *route_key, int argc,
                                      const char **argv, const size_t *argvlen);

/* A Lua script run by EVALSHA, loaded again on NOSCRIPT. Keep these static. */
typedef struct redis_script {
    const char *source;
    char sha1[41]; /* filled on first use, guarded by the pool */
} redis_script;

/* EVALSHA script numkeys args...; argv holds keys then args. Same NULL rules. */
redisReply *redis_pool_eval(redis_pool *pool, redis_script *script, int numkeys, int argc,
                            const char **argv);

/* Names every context this pool connects from now on (CLIENT SETNAME). Call before the
 * pool is shared. */
void redis_pool_set_client_name(redis_pool *pool, const char *name);
/* The breaker (see redis_pool.c): while open, every command returns NULL at once. */
void redis_pool_set_breaker(redis_pool *pool, bool open);
bool redis_pool_breaker_open(redis_pool *pool);
/* PING; for /ready. */
bool redis_pool_ping(redis_pool *pool, char *err, size_t errlen);

#endif
