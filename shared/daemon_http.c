/*
 * daemon_http.c: the daemon's HTTP listener on libmicrohttpd (see daemon_http.h).
 *
 * Owns: the MHD daemon and a copy of the routes (read-only after start, so the
 * connection threads share it without a lock). Rules: every answer is built whole before
 * it is queued; an answer that cannot be built (no memory) closes the connection rather
 * than sending half of one.
 */
#include "shared/daemon_http.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/problem.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define ALLOWED_METHODS "GET, HEAD"

struct daemon_http {
    struct MHD_Daemon *mhd;
    daemon_http_routes routes;
};

/* Queues body (taken: freed here on every path) with status and content type. */
static enum MHD_Result send_text(struct MHD_Connection *conn, int status, const char *type,
                                 char *body, const char *allow) {
    if (body == NULL) {
        return MHD_NO;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    bool ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) == MHD_YES &&
              MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES;
    if (ok && allow != NULL) {
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow) == MHD_YES;
    }
    enum MHD_Result rc = ok ? MHD_queue_response(conn, (unsigned)status, resp) : MHD_NO;
    MHD_destroy_response(resp);
    return rc;
}

/* Queues a JSON answer (body taken). */
static enum MHD_Result send_json(struct MHD_Connection *conn, daemon_http_answer a,
                                 const char *allow) {
    if (a.body == NULL) {
        return MHD_NO;
    }
    char *text = json_dumps(a.body, JSON_COMPACT);
    json_decref(a.body);
    const char *type = a.status >= 400 ? PROBLEM_CONTENT_TYPE : "application/json";
    return send_text(conn, a.status, type, text, allow);
}

static enum MHD_Result send_problem(struct MHD_Connection *conn, int status, const char *slug,
                                    const char *detail, const char *allow) {
    daemon_http_answer a = {.status = status, .body = problem_new(status, slug, detail, NULL)};
    return send_json(conn, a, allow);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state) {
    (void)version;
    (void)upload;
    (void)state; /* every answer is queued on the first call; no per-request state */
    const daemon_http *http = cls;
    *upload_size = 0; /* a body is never used: discard whatever arrives */
    bool health = strcmp(url, "/health") == 0;
    bool ready = strcmp(url, "/ready") == 0;
    bool metrics = strcmp(url, "/metrics") == 0;
    if (!health && !ready && !metrics) {
        return send_problem(conn, 404, "not-found",
                            "this listener serves GET /health, /ready and /metrics", NULL);
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return send_problem(conn, 405, "method-not-allowed", "only GET and HEAD are allowed",
                            ALLOWED_METHODS);
    }
    if (health) {
        return send_json(conn, http->routes.health(http->routes.ctx), NULL);
    }
    if (ready) {
        return send_json(conn, http->routes.ready(http->routes.ctx), NULL);
    }
    char *text = metrics_render();
    if (text == NULL) {
        return send_problem(conn, 500, "internal-error", "the metrics could not be rendered", NULL);
    }
    return send_text(conn, 200, METRICS_CONTENT_TYPE, text, NULL);
}

/* MHD's own error messages go to the log, not to stderr. */
static void on_mhd_error(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
        line[--n] = '\0';
    }
    LOG_WARNF("http listener: %s", line);
}

/* The first address of host:port. 0, or -1 with err. */
static int resolve(const char *host, int port, struct sockaddr_storage *addr, socklen_t *len,
                   char *err, size_t errlen) {
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0 || res == NULL) {
        errbuf_setf(err, errlen, "cannot resolve %s: %s", host, rc != 0 ? gai_strerror(rc) : "");
        if (res != NULL) {
            freeaddrinfo(res);
        }
        return -1;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

daemon_http *daemon_http_start(const char *host, int port, const daemon_http_routes *routes,
                               char *err, size_t errlen) {
    if (host == NULL || port < 1 || port > 65535 || routes == NULL || routes->health == NULL ||
        routes->ready == NULL) {
        errbuf_setf(err, errlen, "http listener: bad arguments");
        return NULL;
    }
    struct sockaddr_storage addr;
    socklen_t addrlen = 0;
    if (resolve(host, port, &addr, &addrlen, err, errlen) != 0) {
        return NULL;
    }
    (void)addrlen; /* MHD takes the family's length from the address itself */
    daemon_http *http = calloc(1, sizeof *http);
    if (http == NULL) {
        errbuf_setf(err, errlen, "http listener: out of memory");
        return NULL;
    }
    http->routes = *routes;
    unsigned flags =
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    http->mhd = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, http, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_error, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)DAEMON_HTTP_MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)DAEMON_HTTP_MAX_PER_IP,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)DAEMON_HTTP_MEMORY_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)DAEMON_HTTP_IDLE_S, MHD_OPTION_END);
    if (http->mhd == NULL) {
        errbuf_setf(err, errlen, "cannot listen on %s:%d (in use, or not an address of this host)",
                    host, port);
        free(http);
        return NULL;
    }
    return http;
}

void daemon_http_stop(daemon_http *http) {
    if (http == NULL) {
        return;
    }
    MHD_stop_daemon(http->mhd);
    free(http);
}
