/*
 * routes_webhooks.c: placeholder route table, filled in by its owner (see api/routes.h).
 */
#include "api/routes.h"

const api_route ROUTES_WEBHOOKS[] = {{NULL, NULL, NULL, 0}};
