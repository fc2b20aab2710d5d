/*
 * redis_pool.h: a fixed pool of hiredis contexts, for one Redis or a Redis Cluster.
 *
 * Owns: N slots, each used by one thread at a time, each holding at most one context per
 * Redis node. Rules: every call is routed by its first key to the node that owns the key's
 * hash slot (shared/redis_cluster.h: MOVED/ASK, map refresh, failover); a standalone Redis
 * is one node and costs what it always did. A context that saw any error is freed and
 * reconnected on next use (hiredis cannot reuse it); connect and read/write timeouts are
 * both set; after a failed connect that node is "down" for a short back-off instead of
 * making every caller wait for a connect timeout. Callers treat NULL as "Redis
 * unavailable" and degrade (cache miss, fail-open limiter). Multi-key commands and scripts
 * must keep their keys in one slot ({tag}, shared/redis_keys.h).
 * SIGPIPE must be ignored by the process (redis_pool_create does it).
 */
#ifndef TASKBUS_SHARED_REDIS_POOL_H
#define TASKBUS_SHARED_REDIS_POOL_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct redis_pool redis_pool;

/* url: redis://[:password@]host:port[,host:port...][/db] (several hosts: cluster seeds).
 * Connects lazily. */
redis_pool *redis_pool_create(const char *url, int size, int timeout_ms, char *err, size_t errlen);
void redis_pool_destroy(redis_pool *pool);

/* Runs one command (printf-style as redisCommand), routed by its first argument after the
 * command name (no key for PING, TIME, INFO, CLIENT, SCRIPT, ...: any node). NULL when Redis
 * (that key's node) is unavailable or the connection failed; a REDIS_REPLY_ERROR reply is
 * returned as is (cluster redirects are followed, never returned). Caller
 * freeReplyObject()s. */
redisReply *redis_pool_command(redis_pool *pool, const char *fmt, ...);
/* Same with argv form (binary safe). */
redisReply *redis_pool_command_argv(redis_pool *pool, int argc, const char **argv,
                                    const size_t *argvlen);

/* Runs a command on the node that owns route_key's slot, whatever its arguments (WAIT
 * after a write to that key). Same NULL rules as redis_pool_command_argv. */
redisReply *redis_pool_command_on_key(redis_pool *pool, const char *route_key, int argc,
                                      const char **argv, const size_t *argvlen);
/* The same with the hash slot given (-1: any node). */
redisReply *redis_pool_command_on_slot(redis_pool *pool, int slot, int argc, const char **argv,
                                       const size_t *argvlen);

/* A Lua script run by EVALSHA, loaded again on NOSCRIPT. Keep these static. */
typedef struct redis_script {
    const char *source;
    char sha1[41]; /* filled on first use, guarded by the pool */
} redis_script;

/* EVALSHA script numkeys args...; argv holds keys then args; routed by the first key
 * (every key must share its slot). Same NULL rules. */
redisReply *redis_pool_eval(redis_pool *pool, redis_script *script, int numkeys, int argc,
                            const char **argv);

/* Names every context this pool connects from now on (CLIENT SETNAME). Call before the
 * pool is shared. */
void redis_pool_set_client_name(redis_pool *pool, const char *name);
/* The breaker (see redis_pool.c): while open, every command returns NULL at once. */
void redis_pool_set_breaker(redis_pool *pool, bool open);
bool redis_pool_breaker_open(redis_pool *pool);
/* PING (any node of a cluster); for /ready. */
bool redis_pool_ping(redis_pool *pool, char *err, size_t errlen);
/* True once the pool found a Redis Cluster (false: standalone, or not known yet). */
bool redis_pool_is_cluster(redis_pool *pool);
/* host:port of the node that owns key's slot in the pool's current view (standalone: the
 * one Redis). 0, or -1 when not known yet. */
int redis_pool_key_address(redis_pool *pool, const char *key, char *host, size_t hostlen,
                           int *port);

#endif
