/*
 * redis_url.h: REDIS_URL parsing and a single dedicated connection.
 *
 * Owns: redis://[[user]:password@]host[:port][,host[:port]...][/db] and connecting one
 * context, for redis_pool.c / redis_cluster.c (each pooled context) and for work that holds
 * a connection for long outside any pool (SUBSCRIBE of a Server-Sent Events stream).
 * Several hosts are seeds of one Redis Cluster (shared/redis_cluster.h): the first host is
 * also kept in host/port, so a one-host URL reads as it always did.
 * Rules: the password is never logged or put into an error message; the connect timeout
 * and the read/write timeout are both set, then AUTH and SELECT (db 0: none) run. A URL
 * with several hosts must use db 0 (Redis Cluster has only database 0).
 */
#ifndef TASKBUS_SHARED_REDIS_URL_H
#define TASKBUS_SHARED_REDIS_URL_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#define REDIS_URL_MAX_SEEDS 16

typedef struct redis_url_host {
    char host[256];
    int port;
} redis_url_host;

typedef struct redis_url {
    char host[256]; /* the first seed */
    int port;
    redis_url_host seeds[REDIS_URL_MAX_SEEDS];
    int nseeds;         /* >= 1 after a successful parse */
    char username[128]; /* "" when absent */
    char password[256]; /* "" when absent */
    int db;
} redis_url;

/* 0, or -1 with a reason in err (never containing the password). */
int redis_url_parse(const char *url, redis_url *out, char *err, size_t errlen);

/* A connected context to the first seed that accepts one, tried in order (timeouts set,
 * AUTH and SELECT done), or NULL with err (the last seed's failure). With one seed this is
 * a connection to it. For a subscriber any node of a cluster will do (classic pub/sub is
 * cluster-wide); keyed commands must go through redis_cluster.h instead. */
redisContext *redis_url_connect(const redis_url *url, int timeout_ms, char *err, size_t errlen);

/* The same for one given node of the deployment (the URL's credentials and db). */
redisContext *redis_url_connect_host(const redis_url *url, const char *host, int port,
                                     int timeout_ms, char *err, size_t errlen);

#endif
