/*
 * api_token_scope.h: what a personal API token may do, and what each route needs.
 *
 * Owns: the scope names (tasks:read, tasks:write, webhooks:manage, reports,
 * insights:read, projects:read, projects:write) and the bits a route declares in its
 * table row (api_route.scope). Rules: every route declares exactly one of: a scope (an API
 * token needs it; a session may do everything), API_SCOPE_ANY (any API token),
 * API_SCOPE_SESSION (a signed-in session only: tokens cannot manage tokens, sessions,
 * passwords or the account), API_SCOPE_ADMIN (a signed-in session of an admin; anyone else,
 * any API token included, gets the 404 of a path that does not exist), or
 * API_SCOPE_PUBLIC (no authentication at all). 0 declares
 * nothing: tests/unit/test_route_scopes.c fails on it, so no route is added without one.
 */
#ifndef TASKBUS_API_API_TOKEN_SCOPE_H
#define TASKBUS_API_API_TOKEN_SCOPE_H

#include <jansson.h>
#include <stdbool.h>

enum {
    API_SCOPE_TASKS_READ = 1u << 0,
    API_SCOPE_TASKS_WRITE = 1u << 1,
    API_SCOPE_WEBHOOKS_MANAGE = 1u << 2,
    API_SCOPE_REPORTS = 1u << 3,
    API_SCOPE_INSIGHTS_READ = 1u << 4,
    API_SCOPE_PROJECTS_READ = 1u << 5,
    API_SCOPE_PROJECTS_WRITE = 1u << 6,
    API_SCOPES_GRANTABLE = (1u << 7) - 1, /* every scope a token can hold */
    API_SCOPE_ANY = 1u << 8,
    API_SCOPE_SESSION = 1u << 9,
    API_SCOPE_PUBLIC = 1u << 10,
    API_SCOPE_ADMIN = 1u << 11,
};

/* The name of one grantable scope bit, or NULL. */
const char *api_scope_name(unsigned bit);
/* The bit of a scope name, or 0 when there is no such scope. */
unsigned api_scope_parse(const char *name);
/* The names of mask's grantable bits, in the order above (a new array, or NULL). */
json_t *api_scopes_json(unsigned mask);
/* The bits of a space-separated list of scope names (as Postgres's array_to_string gives
 * them); unknown names add nothing. */
unsigned api_scopes_parse_list(const char *names);
/* mask's grantable names, space-separated, in the order above, into out (outlen bytes;
 * every name fits in 128). */
void api_scopes_text(unsigned mask, char *out, size_t outlen);
/* Whether a route's declaration is one of the five kinds (a single grantable scope, ANY,
 * SESSION, ADMIN or PUBLIC). */
bool api_scope_declared(unsigned route_scope);

#endif
