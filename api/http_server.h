/*
 * http_server.h: the ulfius/libmicrohttpd server of the API.
 *
 * Owns: the ulfius instance (bind address, body limit, one catch-all endpoint that hands
 * every request to router_dispatch) and the MHD daemon options (thread per connection,
 * idle timeout, connection limit, thread stack size). Rules: stopping is graceful: stop
 * accepting (without resetting what the kernel had queued), answer the requests in flight with
 * Connection: close, and only then stop the daemon (MHD_stop_daemon shuts every socket down, in
 * flight or not).
 */
#ifndef TASKBUS_API_HTTP_SERVER_H
#define TASKBUS_API_HTTP_SERVER_H

#include <stddef.h>

#include "api/http_context.h"

typedef struct http_server http_server;

/* Binds TASKBUS_HTTP_HOST:TASKBUS_HTTP_PORT (IPv4) and starts serving. NULL with err on
 * failure. app must outlive the server. */
http_server *http_server_start(const api_app *app, char *err, size_t errlen);
/* Stops new handshakes, closes the listener once its queue is empty, leaves idle keep-alive
 * connections open for a grace (see http_server.c), waits up to drain_ms in all for requests in
 * flight, stops and frees. */
void http_server_stop(http_server *srv, int drain_ms);

#endif
