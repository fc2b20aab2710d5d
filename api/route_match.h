/*
 * route_match.h: matching a method and a raw URL path against the route tables.
 *
 * Owns: the pure part of routing (no ulfius, no I/O), so it is unit-testable on its own.
 * Rules: a path is compared segment by segment and empty segments count, so a trailing
 * slash or a doubled slash never matches ("/health/" is not "/health"). Literal segments
 * beat ":param" segments when two patterns match the same path. HEAD is served by the GET
 * route of a path. Params are percent-decoded; one that is too long or decodes to a NUL
 * makes its pattern not match. Only the routes of the most specific
 * matching pattern count: a literal path (/tasks/stats) is its own resource, so the
 * methods of /tasks/:id neither serve it nor appear in its Allow. The Allow list names
 * the methods of that pattern plus HEAD (where GET is) and OPTIONS.
 */
#ifndef TASKBUS_API_ROUTE_MATCH_H
#define TASKBUS_API_ROUTE_MATCH_H

#include "api/http_context.h"

#define ROUTE_MAX_PARAMS 4
#define ROUTE_ALLOW_LEN 96

typedef enum {
    ROUTE_MATCHED = 0,   /* out->route is the route to run */
    ROUTE_NOT_FOUND = 1, /* no pattern matches the path: 404 */
    ROUTE_NO_METHOD = 2, /* the path exists, the method does not: 405 (or OPTIONS) */
} route_match_result;

typedef struct route_match {
    const api_route *route;      /* the route to run (ROUTE_MATCHED) */
    const char *pattern;         /* the matching pattern (MATCHED, NO_METHOD), else NULL */
    char allow[ROUTE_ALLOW_LEN]; /* "GET, HEAD, OPTIONS" (MATCHED, NO_METHOD) */
    char params[ROUTE_MAX_PARAMS][UUID_STR_LEN + 64];
    int nparams;
} route_match;

/* tables is a NULL-terminated list of {NULL}-terminated route tables. */
route_match_result router_match(const api_route *const *tables, const char *method,
                                const char *path, route_match *out);

#endif
