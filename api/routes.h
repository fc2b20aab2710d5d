/*
 * routes.h: the route tables, one per concern, joined by router.c.
 * Each table ends with a {NULL} sentinel.
 */
#ifndef TASKBUS_API_ROUTES_H
#define TASKBUS_API_ROUTES_H

#include "api/http_context.h"

extern const api_route ROUTES_HEALTH[]; /* routes_health.c: /health, /ready, /metrics */
extern const api_route ROUTES_AUTH[];   /* routes_auth.c: /api/v1/auth/... */
extern const api_route ROUTES_USERS[];  /* routes_users.c: /api/v1/users/me */

#endif
