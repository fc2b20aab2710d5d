/*
 * daemon_http.h: the small HTTP listener of every daemon (GET /health, /ready, /metrics).
 *
 * Owns: one libmicrohttpd daemon bound to host:port, a thread per connection (at most
 * DAEMON_HTTP_MAX_CONNECTIONS, DAEMON_HTTP_MAX_PER_IP from one address, idle ones closed
 * after DAEMON_HTTP_IDLE_S, DAEMON_HTTP_MEMORY_LIMIT bytes of request per connection), and
 * the routing of the three paths. Rules:
 * - /health and /ready answer what the caller's callbacks say; /metrics is
 *   shared/metrics.c's registry (text format 0.0.4, collectors refreshed first).
 * - GET and HEAD only: another method on a known path is 405 with Allow: GET, HEAD; an
 *   unknown path is 404; both application/problem+json (RFC 9457).
 * - A thread per connection: a /ready waiting on a dead dependency (bounded by its
 *   probes) never delays /health or /metrics.
 * - One client cannot hold the listener: a liveness probe that cannot connect restarts
 *   the pod, so the per-address cap and the short idle timeout keep connections free for
 *   the kubelet and Prometheus (which come from their own addresses) while another client
 *   opens many or trickles bytes. Clients from many addresses are a NetworkPolicy's job.
 */
#ifndef TASKBUS_SHARED_DAEMON_HTTP_H
#define TASKBUS_SHARED_DAEMON_HTTP_H

#include <jansson.h>
#include <stddef.h>

#define DAEMON_HTTP_MAX_CONNECTIONS 128
#define DAEMON_HTTP_MAX_PER_IP 8
#define DAEMON_HTTP_IDLE_S 3
#define DAEMON_HTTP_MEMORY_LIMIT (16 * 1024)

/* One answer: status and a JSON body (owned by the listener once returned). A status
 * >= 400 goes out as application/problem+json, the rest as application/json. */
typedef struct daemon_http_answer {
    int status;
    json_t *body;
} daemon_http_answer;

typedef daemon_http_answer (*daemon_http_probe_fn)(void *ctx);

typedef struct daemon_http_routes {
    daemon_http_probe_fn health;
    daemon_http_probe_fn ready;
    void *ctx; /* passed to both; they may run on several threads at once */
} daemon_http_routes;

typedef struct daemon_http daemon_http;

/* Listens on host:port (host: an IPv4 or IPv6 address or a name resolving to one; port
 * 1..65535). NULL with err when the address cannot be resolved or bound. */
daemon_http *daemon_http_start(const char *host, int port, const daemon_http_routes *routes,
                               char *err, size_t errlen);

/* Stops listening and joins the connection threads. NULL is a no-op. */
void daemon_http_stop(daemon_http *http);

#endif
