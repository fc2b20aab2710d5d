/*
 * cors.h: cross-origin access for browser clients (TASKBUS_CORS_ORIGINS;
 * docs/decisions.md, "CORS for browser clients").
 *
 * Owns: the allow-list of origins (parsed once, at start), the CORS headers of an answer to
 * a listed origin, and the answer to its preflight. Rules:
 * - An origin is listed exactly (scheme http or https, a host, an optional port other
 *   than the scheme's default; no wildcard, no path, no entry twice), compared
 *   case-insensitively; the answer names the entry as listed (lower-case). An absent, unlisted or
 * "null" Origin gets no CORS header at all: the browser then withholds the answer from the page.
 * - A listed origin gets Access-Control-Allow-Origin (itself), -Allow-Credentials and
 *   -Expose-Headers on every answer, errors included (a page must read a problem body,
 *   its request id and its Retry-After).
 * - Whenever a list is configured every answer says Vary: Origin, so no cache serves one
 *   origin's answer to another; with no list, nothing here changes an answer.
 * - A preflight (OPTIONS with Origin and Access-Control-Request-Method) of a listed
 *   origin to a path that exists is answered 204 here, before rate limits, body checks
 *   and authentication: browsers send it without credentials. Any other OPTIONS is left
 *   to the router (204 with Allow, or 404).
 */
#ifndef TASKBUS_API_CORS_H
#define TASKBUS_API_CORS_H

#include <stdbool.h>
#include <stddef.h>

#include "api/http_context.h"

typedef struct cors_origins cors_origins;

/* Parses a comma list of origins (NULL or blank: none). 0 with *out (NULL when the list is
 * empty; free with cors_origins_free), or -1 with err naming the bad entry. */
int cors_origins_parse(const char *list, cors_origins **out, char *err, size_t errlen);
void cors_origins_free(cors_origins *origins);

/* The listed entry (lower-case) origin (a request's Origin header) matches, or NULL. */
const char *cors_origin_listed(const cors_origins *origins, const char *origin);

/* Adds the CORS headers of ctx's answer; answers a listed origin's preflight of method
 * and path (true: answered, skip the rest of the pipeline). */
bool cors_apply(api_request_ctx *ctx, const char *method, const char *path);

#endif
