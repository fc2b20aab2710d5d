/*
 * cors.c: cross-origin access for browser clients (see cors.h).
 */
#include "api/cors.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/route_match.h"
#include "api/router.h"
#include "shared/errbuf.h"

#define CORS_MAX_ORIGINS 64
#define CORS_ORIGIN_MAX 256 /* scheme, host and port: far below any real origin's length */

/* The request headers a page may send (Fetch: the non-safelisted ones it names in a
 * preflight must be listed) and the answer headers it may read besides the safelisted. */
#define CORS_ALLOW_HEADERS                                                                         \
    "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, Prefer, "              \
    "Last-Event-ID, X-Request-ID, traceparent"
#define CORS_EXPOSE_HEADERS                                                                        \
    "ETag, Location, Content-Location, Retry-After, X-Request-ID, Preference-Applied, "            \
    "RateLimit, RateLimit-Policy, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"
#define CORS_MAX_AGE "600"

struct cors_origins {
    size_t count;
    char origin[CORS_MAX_ORIGINS][CORS_ORIGIN_MAX]; /* lower-cased */
};

/* --- parsing --- */

static bool host_char(char c) {
    return isalnum((unsigned char)c) || c == '-' || c == '.';
}

/* Whether s (lower-cased, len bytes) is http(s)://host[:port] and nothing else. */
static bool origin_well_formed(const char *s, size_t len) {
    size_t skip = len > 8 && strncmp(s, "https://", 8) == 0  ? 8
                  : len > 7 && strncmp(s, "http://", 7) == 0 ? 7
                                                             : 0;
    if (skip == 0)
        return false;
    size_t i = skip;
    if (s[i] == '[') { /* an IPv6 literal */
        while (i < len && s[i] != ']')
            i++;
        if (i == len || i == skip + 1 || strspn(s + skip + 1, "0123456789abcdef:.") != i - skip - 1)
            return false;
        i++;
    } else {
        while (i < len && host_char(s[i]))
            i++;
        if (i == skip || s[skip] == '.' || s[i - 1] == '.')
            return false;
    }
    if (i == len)
        return true;
    /* A port as browsers write it: no leading zero, and never the scheme's default (a
     * browser leaves that out, so such an entry would match nothing). */
    if (s[i] != ':' || i + 1 == len || len - i - 1 > 5 || s[i + 1] == '0')
        return false;
    long port = 0;
    for (size_t k = i + 1; k < len; k++) {
        if (!isdigit((unsigned char)s[k]))
            return false;
        port = port * 10 + (s[k] - '0');
    }
    long default_port = skip == 8 ? 443 : 80;
    return port <= 65535 && port != default_port;
}

/* Copies the entry [start, start + len) trimmed and lower-cased into out: 0, or -1. */
static int add_entry(cors_origins *o, const char *start, size_t len, char *err, size_t errlen) {
    while (len > 0 && isspace((unsigned char)*start)) {
        start++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)start[len - 1]))
        len--;
    if (len == 0)
        return 0; /* "a,,b" and a trailing comma: nothing there */
    if (o->count == CORS_MAX_ORIGINS || len >= CORS_ORIGIN_MAX) {
        errbuf_setf(err, errlen,
                    "TASKBUS_CORS_ORIGINS: at most %d origins of at most %d characters",
                    CORS_MAX_ORIGINS, CORS_ORIGIN_MAX - 1);
        return -1;
    }
    char *dst = o->origin[o->count];
    for (size_t i = 0; i < len; i++)
        dst[i] = (char)tolower((unsigned char)start[i]);
    dst[len] = '\0';
    for (size_t i = 0; i < o->count; i++) {
        if (strcmp(o->origin[i], dst) == 0) {
            errbuf_setf(err, errlen, "TASKBUS_CORS_ORIGINS: \"%s\" is listed twice", dst);
            return -1;
        }
    }
    if (!origin_well_formed(dst, len)) {
        errbuf_setf(err, errlen,
                    "TASKBUS_CORS_ORIGINS: \"%.*s\" is no origin (http:// or https://, a host, an "
                    "optional :port other than the scheme's default, nothing after it)",
                    (int)len, start);
        return -1;
    }
    o->count++;
    return 0;
}

int cors_origins_parse(const char *list, cors_origins **out, char *err, size_t errlen) {
    *out = NULL;
    if (list == NULL)
        return 0;
    cors_origins *o = calloc(1, sizeof *o);
    if (o == NULL) {
        errbuf_setf(err, errlen, "TASKBUS_CORS_ORIGINS: out of memory");
        return -1;
    }
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (add_entry(o, p, len, err, errlen) != 0) {
            free(o);
            return -1;
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (o->count == 0) {
        free(o);
        return 0;
    }
    *out = o;
    return 0;
}

void cors_origins_free(cors_origins *origins) {
    free(origins);
}

const char *cors_origin_listed(const cors_origins *origins, const char *origin) {
    if (origins == NULL || origin == NULL)
        return NULL;
    for (size_t i = 0; i < origins->count; i++) {
        if (strcasecmp(origins->origin[i], origin) == 0)
            return origins->origin[i];
    }
    return NULL;
}

/* --- answers --- */

bool cors_apply(api_request_ctx *ctx, const char *method, const char *path) {
    const cors_origins *origins = ctx->app->cors;
    if (origins == NULL)
        return false;
    api_set_header(ctx, "Vary", "Origin");
    /* The list's own spelling goes back, never the request's bytes. */
    const char *origin = cors_origin_listed(origins, api_header(ctx, "Origin"));
    if (origin == NULL)
        return false;
    api_set_header(ctx, "Access-Control-Allow-Origin", origin);
    api_set_header(ctx, "Access-Control-Allow-Credentials", "true");
    if (strcmp(method, "OPTIONS") != 0 ||
        api_header(ctx, "Access-Control-Request-Method") == NULL) {
        api_set_header(ctx, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
        return false;
    }
    route_match m;
    if (router_match(ROUTER_TABLES, "OPTIONS", path, &m) == ROUTE_NOT_FOUND)
        return false; /* the router's 404, with the headers above */
    ctx->route = m.pattern;
    api_set_header(ctx, "Access-Control-Allow-Methods", m.allow);
    api_set_header(ctx, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
    api_set_header(ctx, "Access-Control-Max-Age", CORS_MAX_AGE);
    api_respond_empty(ctx, 204);
    return true;
}
