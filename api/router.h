/*
 * router.h: the dispatch pipeline every request goes through.
 *
 * Owns: the order of the common work (request id, client IP, the per-IP precheck, route
 * match with 404/405/OPTIONS, body size/type/JSON checks, sign-in limit, authentication,
 * the one charge of the per-IP and per-user limits, handler, the 500 for a handler that
 * did not answer, the access log). Rules: the
 * route tables are joined here (ROUTER_TABLES); matching itself
 * is the pure router_match (route_match.h) so it is testable without a server.
 */
#ifndef TASKBUS_API_ROUTER_H
#define TASKBUS_API_ROUTER_H

#include <ulfius.h>

#include "api/http_context.h"
#include "api/route_match.h"

/* Every route table the API serves, NULL-terminated (match order does not matter: the
 * most specific pattern wins). The fuzz target of the matcher uses the same list. */
extern const api_route *const ROUTER_TABLES[];

/* Runs the pipeline for one request and always leaves an answer in resp. Called on the
 * connection's thread by the one catch-all ulfius endpoint (http_server.c). */
void router_dispatch(const api_app *app, const struct _u_request *req, struct _u_response *resp);

#endif
