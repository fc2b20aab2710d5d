/*
 * http_server.h: the ulfius/libmicrohttpd server of the API.
 *
 * Owns: the libmicrohttpd daemon (thread per connection, idle timeout, connection limit,
 * thread stack size, bind address) and the translation between MHD and the ulfius request
 * and response structures every handler uses; every request, whatever its method and
 * path, goes to router_dispatch. A Content-Length over TASKBUS_MAX_BODY_BYTES is refused
 * as soon as the headers are in, before the body is read. Rules: stopping is graceful:
 * stop accepting, answer the requests in flight with Connection: close, and only then stop
 * the daemon (MHD_stop_daemon shuts every socket down, in flight or not).
 */
#ifndef TASKBUS_API_HTTP_SERVER_H
#define TASKBUS_API_HTTP_SERVER_H

#include <stddef.h>

#include "api/http_context.h"

typedef struct http_server http_server;

/* Binds TASKBUS_HTTP_HOST:TASKBUS_HTTP_PORT (IPv4) and starts serving. NULL with err on
 * failure. app must outlive the server. */
http_server *http_server_start(const api_app *app, char *err, size_t errlen);
/* Stops accepting, waits up to drain_ms for requests in flight, stops and frees. */
void http_server_stop(http_server *srv, int drain_ms);

#endif
