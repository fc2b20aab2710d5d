/*
 * http_server.c: the libmicrohttpd daemon of the API, its access handler, and the
 * graceful stop (see http_server.h).
 *
 * Why not ulfius's own dispatcher (ulfius_start_framework*): it calls endpoints only after
 * the whole body has arrived and silently drops what passes max_post_body_size, so a
 * request announcing a huge Content-Length could not be refused before its body is read,
 * and it keeps only sizeof(struct sockaddr) of the peer (IPv6 truncated). This file is a
 * small access handler in its place: it builds the same struct _u_request (raw path,
 * headers and query arguments as u_maps, values that are not UTF-8 dropped, the body kept
 * up to the limit + 1) and turns the struct _u_response the handlers filled (buffer or
 * ulfius stream) into the MHD response. Rules: the state shared with MHD threads
 * (in-flight count, open connections, draining) lives in the http_server and is atomic.
 */
#include "api/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/request_body.h"
#include "api/router.h"
#include "shared/log.h"
#include "shared/time_util.h"

/* After the last request in flight has been answered, open connections get this long to
 * finish writing and close; idle keep-alive connections are cut when it runs out. */
#define CLOSE_GRACE_MS 1000

struct http_server {
    struct MHD_Daemon *daemon;
    struct sockaddr_in bind;
    const api_app *app;
    size_t body_keep;       /* bytes of a body kept: the limit + 1, so "too large" is visible */
    atomic_int inflight;    /* requests inside router_dispatch */
    atomic_int connections; /* open TCP connections */
    atomic_bool draining;   /* set by http_server_stop; answers then close their connection */
};

/* One request while it arrives; con_cls of MHD. Freed in on_completed. */
typedef struct request_state {
    struct _u_request req;
    bool headers_seen;
} request_state;

/* MHD calls this with the raw request target before parsing it: the request starts here,
 * and url_path keeps its percent-encoding (route_match.c decodes parameters itself). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *connection) {
    (void)cls;
    (void)connection;
    request_state *st = calloc(1, sizeof *st);
    if (st == NULL) {
        return NULL;
    }
    if (ulfius_init_request(&st->req) != U_OK) {
        free(st);
        return NULL;
    }
    const char *query = strchr(uri, '?');
    st->req.http_url = strdup(uri);
    st->req.url_path = query != NULL ? strndup(uri, (size_t)(query - uri)) : strdup(uri);
    if (st->req.http_url == NULL || st->req.url_path == NULL) {
        ulfius_clean_request(&st->req);
        free(st);
        return NULL;
    }
    return st;
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)connection;
    (void)toe;
    request_state *st = *con_cls;
    if (st != NULL) {
        ulfius_clean_request(&st->req);
        free(st);
        *con_cls = NULL;
    }
}

static bool is_utf8(const char *text) {
    json_t *probe = json_string(text); /* jansson validates UTF-8 strictly */
    json_decref(probe);
    return probe != NULL;
}

/* Copies one header or query argument into a u_map. Values that are not UTF-8 are
 * dropped (as ulfius does); repeated keys are joined with ",". */
static enum MHD_Result put_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value) {
    struct _u_map *map = cls;
    (void)kind;
    if (key == NULL || !is_utf8(key) || (value != NULL && !is_utf8(value))) {
        return MHD_YES;
    }
    const char *before = u_map_get(map, key);
    if (before == NULL) {
        return u_map_put(map, key, value != NULL ? value : "") == U_OK ? MHD_YES : MHD_NO;
    }
    size_t len = strlen(before) + strlen(value != NULL ? value : "") + 2;
    char *joined = malloc(len);
    if (joined == NULL) {
        return MHD_NO;
    }
    snprintf(joined, len, "%s,%s", before, value != NULL ? value : "");
    int rc = u_map_put(map, key, joined);
    free(joined);
    return rc == U_OK ? MHD_YES : MHD_NO;
}

/* The peer address, whole (an IPv6 sockaddr does not fit in a struct sockaddr). */
static struct sockaddr *copy_peer(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    struct sockaddr_storage *copy = calloc(1, sizeof *copy);
    if (copy == NULL || info == NULL || info->client_addr == NULL) {
        return (struct sockaddr *)copy;
    }
    sa_family_t family = info->client_addr->sa_family;
    size_t len = family == AF_INET6  ? sizeof(struct sockaddr_in6)
                 : family == AF_INET ? sizeof(struct sockaddr_in)
                                     : 0;
    memcpy(copy, info->client_addr, len);
    return (struct sockaddr *)copy;
}

static int begin_request(struct MHD_Connection *connection, request_state *st, const char *method,
                         const char *version) {
    struct _u_request *req = &st->req;
    req->http_verb = strdup(method);
    req->http_protocol = strdup(version);
    req->client_address = copy_peer(connection);
    if (req->http_verb == NULL || req->http_protocol == NULL || req->client_address == NULL) {
        return -1;
    }
    if (MHD_get_connection_values(connection, MHD_HEADER_KIND, put_value, req->map_header) < 0 ||
        MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, put_value, req->map_url) < 0) {
        return -1;
    }
    return 0;
}

/* Keeps up to body_keep bytes; the rest is read and dropped (memory stays bounded). */
static int append_body(http_server *srv, request_state *st, const char *data, size_t len) {
    struct _u_request *req = &st->req;
    if (req->binary_body_length >= srv->body_keep) {
        return 0;
    }
    size_t take = len;
    if (take > srv->body_keep - req->binary_body_length) {
        take = srv->body_keep - req->binary_body_length;
    }
    char *grown = realloc(req->binary_body, req->binary_body_length + take);
    if (grown == NULL) {
        return -1;
    }
    memcpy(grown + req->binary_body_length, data, take);
    req->binary_body = grown;
    req->binary_body_length += take;
    return 0;
}

static void add_headers(struct MHD_Response *response, const struct _u_map *headers) {
    for (int i = 0; headers != NULL && i < headers->nb_values; i++) {
        if (MHD_add_response_header(response, headers->keys[i], headers->values[i]) != MHD_YES) {
            LOG_WARNF("response header %s was refused", headers->keys[i]);
        }
    }
}

/* Hands the ulfius response to MHD: a buffer (copied) or a stream (SSE). */
static enum MHD_Result queue_response(struct MHD_Connection *connection, struct _u_response *resp) {
    struct MHD_Response *response;
    if (resp->stream_callback != NULL) {
        response = MHD_create_response_from_callback(resp->stream_size, resp->stream_block_size,
                                                     resp->stream_callback, resp->stream_user_data,
                                                     resp->stream_callback_free);
    } else {
        response = MHD_create_response_from_buffer(resp->binary_body_length, resp->binary_body,
                                                   MHD_RESPMEM_MUST_COPY);
    }
    if (response == NULL) {
        LOG_ERRORF("could not create the MHD response");
        return MHD_NO;
    }
    add_headers(response, resp->map_header);
    enum MHD_Result rc = MHD_queue_response(connection, (unsigned)resp->status, response);
    MHD_destroy_response(response);
    return rc;
}

/* Runs the router and queues its answer. early: the body has not been read (413 from the
 * header alone), so the connection cannot be reused. */
static enum MHD_Result answer(http_server *srv, struct MHD_Connection *connection,
                              request_state *st, bool early) {
    struct _u_response resp;
    if (ulfius_init_response(&resp) != U_OK) {
        return MHD_NO;
    }
    atomic_fetch_add(&srv->inflight, 1);
    router_dispatch(srv->app, &st->req, &resp);
    if ((early || atomic_load(&srv->draining)) &&
        ulfius_add_header_to_response(&resp, "Connection", "close") != U_OK) {
        LOG_WARNF("could not add Connection: close");
    }
    enum MHD_Result rc = queue_response(connection, &resp);
    ulfius_clean_response(&resp);
    atomic_fetch_sub(&srv->inflight, 1);
    return rc;
}

/* MHD's access handler: called once when the headers are in, once per piece of body, and
 * once more when the request is complete. */
static enum MHD_Result on_access(void *cls, struct MHD_Connection *connection, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls) {
    http_server *srv = cls;
    request_state *st = *con_cls;
    (void)url;
    if (st == NULL) {
        return MHD_NO; /* on_uri ran out of memory: drop the connection */
    }
    if (!st->headers_seen) {
        st->headers_seen = true;
        if (begin_request(connection, st, method, version) != 0) {
            return MHD_NO;
        }
        const char *length = u_map_get_case(st->req.map_header, "Content-Length");
        if (request_body_check_size(length, 0, srv->app->cfg->max_body_bytes) != BODY_OK) {
            /* refused from the header alone: the router answers 413 (or 404/405) before
             * any of the body is read */
            return answer(srv, connection, st, true);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (append_body(srv, st, upload_data, *upload_data_size) != 0) {
            return MHD_NO;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return answer(srv, connection, st, false);
}

static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    http_server *srv = cls;
    (void)connection;
    (void)socket_context;
    atomic_fetch_add(&srv->connections, code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

/* libmicrohttpd's own errors (431, broken peers) as JSON log lines like everything else. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char text[512];
    if (vsnprintf(text, sizeof text, fmt, ap) < 0) {
        return;
    }
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r')) {
        text[--len] = '\0';
    }
    log_json(LOG_WARN, "libmicrohttpd", json_pack("{s:s}", "detail", text));
}

static int resolve_ipv4(const char *host, struct sockaddr_in *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    if (inet_pton(AF_INET, host, &out->sin_addr) == 1) {
        return 0;
    }
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "TASKBUS_HTTP_HOST %s is not an IPv4 address or name: %s", host,
                 rc != 0 ? gai_strerror(rc) : "no address");
        return -1;
    }
    memcpy(&out->sin_addr, &((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr,
           sizeof out->sin_addr);
    freeaddrinfo(res);
    return 0;
}

static int start_daemon(http_server *srv, char *err, size_t errlen) {
    const taskbus_config *cfg = srv->app->cfg;
    /* the logger comes first so MHD logs nothing before it is in place */
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, &srv->bind},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)cfg->http_idle_timeout_s, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)cfg->http_connection_limit, NULL},
        {MHD_OPTION_THREAD_STACK_SIZE, (intptr_t)cfg->http_thread_stack_kib * 1024, NULL},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, srv},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    /* ITC lets http_server_stop quiesce the daemon (stop accepting) before stopping it. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    srv->daemon = MHD_start_daemon(flags, (uint16_t)cfg->http_port, NULL, NULL, on_access, srv,
                                   MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        snprintf(err, errlen, "could not listen on %s:%d (port in use or address not local?)",
                 cfg->http_host, cfg->http_port);
        return -1;
    }
    return 0;
}

http_server *http_server_start(const api_app *app, char *err, size_t errlen) {
    http_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->app = app;
    srv->body_keep = (size_t)app->cfg->max_body_bytes + 1;
    atomic_init(&srv->inflight, 0);
    atomic_init(&srv->connections, 0);
    atomic_init(&srv->draining, false);
    if (resolve_ipv4(app->cfg->http_host, &srv->bind, err, errlen) != 0) {
        free(srv);
        return NULL;
    }
    srv->bind.sin_port = htons((uint16_t)app->cfg->http_port);
    if (start_daemon(srv, err, errlen) != 0) {
        free(srv);
        return NULL;
    }
    return srv;
}

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Polls counter until it is zero or deadline_ns (monotonic) passes. True when it reached 0. */
static bool wait_for_zero(atomic_int *counter, int64_t deadline_ns) {
    while (atomic_load(counter) > 0) {
        if (time_monotonic_ns() >= deadline_ns) {
            return false;
        }
        sleep_ms(10);
    }
    return true;
}

void http_server_stop(http_server *srv, int drain_ms) {
    if (srv == NULL) {
        return;
    }
    atomic_store(&srv->draining, true);
    MHD_socket listen_fd = MHD_quiesce_daemon(srv->daemon);
    if (listen_fd == MHD_INVALID_SOCKET) {
        LOG_WARNF("could not stop accepting connections before the drain");
    } else if (close(listen_fd) != 0) {
        LOG_WARNF("closing the listening socket failed");
    }
    int64_t now = time_monotonic_ns();
    bool drained = wait_for_zero(&srv->inflight, now + (int64_t)drain_ms * 1000000);
    bool closed = drained && wait_for_zero(&srv->connections,
                                           time_monotonic_ns() + (int64_t)CLOSE_GRACE_MS * 1000000);
    log_json(drained ? LOG_INFO : LOG_WARN, "http server stopping",
             json_pack("{s:b,s:i,s:i,s:b}", "drained", drained, "requests_in_flight",
                       atomic_load(&srv->inflight), "connections_open",
                       atomic_load(&srv->connections), "connections_closed", closed));
    MHD_stop_daemon(srv->daemon);
    free(srv);
}
