/*
 * redis_url.h: REDIS_URL parsing and a single dedicated connection.
 *
 * Owns: redis://[[user]:password@]host[:port][/db] and connecting one context, for
 * redis_pool.c (each pooled context) and for work that holds a connection for long outside
 * any pool (SUBSCRIBE of a Server-Sent Events stream).
 * Rules: the password is never logged or put into an error message; the connect timeout
 * and the read/write timeout are both set, then AUTH and SELECT run.
 */
#ifndef TASKBUS_SHARED_REDIS_URL_H
#define TASKBUS_SHARED_REDIS_URL_H

#include <hiredis/hiredis.h>
#include <stddef.h>

typedef struct redis_url {
    char host[256];
    int port;
    char username[128]; /* "" when absent */
    char password[256]; /* "" when absent */
    int db;
} redis_url;

/* 0, or -1 with a reason in err (never containing the password). */
int redis_url_parse(const char *url, redis_url *out, char *err, size_t errlen);

/* A connected context (timeouts set, AUTH and SELECT done), or NULL with err. */
redisContext *redis_url_connect(const redis_url *url, int timeout_ms, char *err, size_t errlen);

#endif
