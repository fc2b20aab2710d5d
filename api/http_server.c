/*
 * http_server.c: ulfius instance setup, start and graceful stop (see http_server.h).
 *
 * Rules: ulfius_start_framework_with_mhd_options ignores the instance's bind_address, so
 * the address also goes in as MHD_OPTION_SOCK_ADDR. ulfius keeps only
 * sizeof(struct sockaddr) of a peer's address, which truncates IPv6 peers, so the API
 * binds IPv4 only. The state shared with MHD threads (in-flight count, open connections,
 * draining) lives in the http_server and is atomic; the list of open connections (their
 * sockets and whether a request is under way, for the drain) is under conns_mu.
 */
#include "api/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/listener_gate.h"
#include "api/router.h"
#include "api/thread_memory.h"
#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/time_util.h"

/* How long a drain leaves idle keep-alive connections open before closing them (see
 * http_server_stop). Longer than the upstream keepalive_timeout of compose/nginx.conf
 * (4 s; tests/integration/test_deploy_nginx.py checks it), with a margin for the proxy's
 * timers; part of the drain, so it changes neither DRAIN_MS nor any grace period. */
#define IDLE_CLOSE_GRACE_MS 6000

/* How long a gated listener stays open at least (see http_server_stop): a handshake the
 * gate let through (its SYN came first) needs one round trip to reach the accept queue.
 * One that lost a segment completes only with a retransmission (the listener's SYN-ACK
 * after 1 s, the client's ACK with its data after its RTO) and may reach the queue after
 * the socket is shut; it is then reset: a risk only where packets are lost, left open
 * (docs/decisions.md, "The API's drain behind nginx"). */
#define HANDSHAKE_MARGIN_MS 1000

/* One open TCP connection, known from MHD's connection notifications. */
typedef struct conn_slot {
    int fd;
    bool busy; /* between its request line and the request's completion */
    struct conn_slot *prev, *next;
} conn_slot;

struct http_server {
    struct _u_instance instance;
    struct sockaddr_in bind;
    const api_app *app;
    atomic_int inflight;      /* requests inside router_dispatch */
    atomic_int connections;   /* open TCP connections */
    atomic_bool draining;     /* set by http_server_stop; answers then close their connection */
    atomic_bool closing_idle; /* set by http_server_stop once the idle grace is over */
    pthread_mutex_t conns_mu; /* guards conns and every slot in it */
    conn_slot *conns;
    /* The listening socket once quiesced: shut down at once, closed only after MHD stopped
     * (its threads may still hold the number; microhttpd.h, MHD_quiesce_daemon). Only
     * http_server_stop's thread touches it. */
    MHD_socket quiesced_fd;
};

static int on_request(const struct _u_request *req, struct _u_response *resp, void *user_data) {
    http_server *srv = user_data;
    atomic_fetch_add(&srv->inflight, 1);
    router_dispatch(srv->app, req, resp);
    if (atomic_load(&srv->draining) &&
        ulfius_add_header_to_response(resp, "Connection", "close") != U_OK) {
        LOG_WARNF("could not add Connection: close while draining");
    }
    atomic_fetch_sub(&srv->inflight, 1);
    return U_CALLBACK_COMPLETE;
}

/* Ends the reading side of an idle connection while draining: MHD sees end of input and
 * closes the connection cleanly (FIN), but bytes already received are still read, so a
 * request that had arrived is answered (with Connection: close) rather than lost, and
 * the writing side stays open for that answer. Called with conns_mu held: MHD notifies
 * CLOSED before it closes the socket, so the fd is still this connection's. */
static void stop_reading(conn_slot *slot) {
    if (shutdown(slot->fd, SHUT_RD) != 0 && errno != ENOTCONN) {
        LOG_WARNF("draining: shutdown of an idle connection failed: %s", strerror(errno));
    }
}

static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    http_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&srv->connections, 1);
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_slot *slot = info != NULL ? calloc(1, sizeof *slot) : NULL;
        if (slot == NULL) {
            LOG_WARNF("a connection could not be tracked (a drain will wait for its timeout)");
            *socket_context = NULL;
            return;
        }
        slot->fd = info->connect_fd;
        pthread_mutex_lock(&srv->conns_mu);
        if (atomic_load(&srv->closing_idle)) {
            stop_reading(slot); /* accepted just before the listening socket closed */
        }
        slot->next = srv->conns;
        if (srv->conns != NULL) {
            srv->conns->prev = slot;
        }
        srv->conns = slot;
        pthread_mutex_unlock(&srv->conns_mu);
        *socket_context = slot;
        return;
    }
    atomic_fetch_sub(&srv->connections, 1);
    conn_slot *slot = *socket_context;
    if (slot == NULL) {
        return;
    }
    pthread_mutex_lock(&srv->conns_mu);
    if (slot->prev != NULL) {
        slot->prev->next = slot->next;
    } else {
        srv->conns = slot->next;
    }
    if (slot->next != NULL) {
        slot->next->prev = slot->prev;
    }
    pthread_mutex_unlock(&srv->conns_mu);
    free(slot);
    *socket_context = NULL;
}

static conn_slot *slot_of(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info != NULL ? info->socket_context : NULL;
}

/* MHD parsed a request line: the connection is busy until the request completes. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *connection) {
    http_server *srv = cls;
    conn_slot *slot = slot_of(connection);
    if (slot != NULL) {
        pthread_mutex_lock(&srv->conns_mu);
        slot->busy = true;
        pthread_mutex_unlock(&srv->conns_mu);
    }
    return ulfius_uri_logger(NULL, uri);
}

/* A request completed: the connection is idle; once the drain's grace is over
 * (closing_idle), it is closed now rather than left waiting for a next request. Not
 * before: an answer sent while draining carries Connection: close and MHD closes after
 * it, but one whose request began just before the drain said keep-alive, and a FIN right
 * after it is the race the grace exists for (docs/decisions.md, "The API's drain behind
 * nginx"). Runs on the connection's own thread, which is
 * where its unused TLS pages are given back, once (thread_memory.h: 12 KiB of
 * librdkafka's zero-filled buffers per connection thread). */
static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    http_server *srv = cls;
    thread_memory_release_zero_tls_once();
    conn_slot *slot = slot_of(connection);
    if (slot != NULL) {
        pthread_mutex_lock(&srv->conns_mu);
        slot->busy = false;
        if (atomic_load(&srv->closing_idle)) {
            stop_reading(slot);
        }
        pthread_mutex_unlock(&srv->conns_mu);
    }
    mhd_request_completed(NULL, connection, con_cls, toe);
}

/* Closes every idle connection (see stop_reading); busy ones close after their answer. */
static void close_idle_connections(http_server *srv) {
    pthread_mutex_lock(&srv->conns_mu);
    for (conn_slot *slot = srv->conns; slot != NULL; slot = slot->next) {
        if (!slot->busy) {
            stop_reading(slot);
        }
    }
    pthread_mutex_unlock(&srv->conns_mu);
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
        errbuf_setf(err, errlen, "TASKBUS_HTTP_HOST %s is not an IPv4 address or name: %s", host,
                    rc != 0 ? gai_strerror(rc) : "no address");
        return -1;
    }
    memcpy(&out->sin_addr, &((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr,
           sizeof out->sin_addr);
    freeaddrinfo(res);
    return 0;
}

static int setup_instance(http_server *srv, char *err, size_t errlen) {
    const taskbus_config *cfg = srv->app->cfg;
    if (resolve_ipv4(cfg->http_host, &srv->bind, err, errlen) != 0) {
        return -1;
    }
    srv->bind.sin_port = htons((uint16_t)cfg->http_port);
    if (ulfius_init_instance(&srv->instance, (unsigned)cfg->http_port, &srv->bind, NULL) != U_OK) {
        errbuf_setf(err, errlen, "ulfius_init_instance failed");
        return -1;
    }
    /* The largest route limit + 1: ulfius silently drops what passes max_post_body_size, so
     * a body that reaches it is one the router can tell is too large (413), never a
     * truncated one it would hand on. Routes with the usual limit check theirs in router.c. */
    long largest = cfg->import_max_body_bytes > cfg->max_body_bytes ? cfg->import_max_body_bytes
                                                                    : cfg->max_body_bytes;
    srv->instance.max_post_body_size = (size_t)largest + 1;
    srv->instance.allowed_post_processor = U_POST_PROCESS_NONE;
    /* ulfius drops header and query values that are not UTF-8 without a word, so an
     * Idempotency-Key or If-Match of such bytes would be silently ignored (issue 7): we
     * take every value as sent; our parsers refuse what they cannot read (422/412/401)
     * and router.c refuses a query that is not UTF-8. */
    srv->instance.check_utf8 = 0;
    /* One endpoint for every method and path: router.c owns 404 and 405. */
    if (ulfius_add_endpoint_by_val(&srv->instance, "*", NULL, "*", 0, on_request, srv) != U_OK) {
        errbuf_setf(err, errlen, "ulfius_add_endpoint_by_val failed");
        ulfius_clean_instance(&srv->instance);
        return -1;
    }
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
        /* libmicrohttpd zero-fills the whole pool after every request, so all of it is
         * resident while the connection stays open: its default 32 KiB would be 32 MB for
         * 1 000 idle keep-alive clients. 8 KiB holds a request head of about 7.7 KB. */
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)cfg->http_connection_memory_kib * 1024,
         NULL},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, srv},
        /* ulfius's own callbacks, wrapped: on_completed calls mhd_request_completed and
         * on_uri calls ulfius_uri_logger, as ulfius requires. */
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, srv},
        {MHD_OPTION_END, 0, NULL},
    };
    /* ITC lets http_server_stop quiesce the daemon (stop accepting) before stopping it. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE | MHD_USE_ITC;
    if (ulfius_start_framework_with_mhd_options(&srv->instance, flags, ops) != U_OK) {
        errbuf_setf(err, errlen, "could not listen on %s:%d (port in use or address not local?)",
                    cfg->http_host, cfg->http_port);
        return -1;
    }
    return 0;
}

http_server *http_server_start(const api_app *app, char *err, size_t errlen) {
    http_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return NULL;
    }
    srv->app = app;
    atomic_init(&srv->inflight, 0);
    atomic_init(&srv->connections, 0);
    atomic_init(&srv->draining, false);
    atomic_init(&srv->closing_idle, false);
    srv->quiesced_fd = MHD_INVALID_SOCKET;
    if (pthread_mutex_init(&srv->conns_mu, NULL) != 0) {
        errbuf_setf(err, errlen, "pthread_mutex_init failed");
        free(srv);
        return NULL;
    }
    if (setup_instance(srv, err, errlen) != 0) {
        pthread_mutex_destroy(&srv->conns_mu);
        free(srv);
        return NULL;
    }
    if (start_daemon(srv, err, errlen) != 0) {
        ulfius_clean_instance(&srv->instance);
        pthread_mutex_destroy(&srv->conns_mu);
        free(srv);
        return NULL;
    }
    return srv;
}

/* Polls counter until it is zero or deadline_ns (monotonic) passes. True when it reached 0. */
static bool wait_for_zero(atomic_int *counter, int64_t deadline_ns) {
    while (atomic_load(counter) > 0) {
        if (time_monotonic_ns() >= deadline_ns) {
            return false;
        }
        time_sleep_ms(10);
    }
    return true;
}

/* Gates the listening socket (listener_gate.h) while MHD keeps accepting from it. */
static bool gate_listener(http_server *srv) {
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(srv->instance.mhd_daemon, MHD_DAEMON_INFO_LISTEN_FD);
    if (info == NULL || info->listen_fd == MHD_INVALID_SOCKET) {
        LOG_WARNF("draining: the listening socket is unknown, it is shut at once");
        return false;
    }
    if (listener_gate_shut(info->listen_fd) != 0) {
        LOG_WARNF("draining: could not gate the listening socket (%s), it is shut at once",
                  strerror(errno));
        return false;
    }
    return true;
}

/* Waits (until deadline_ns) for MHD to take every connection from the accept queue; how
 * many are still there (0), or -1 when the queue cannot be read. MHD keeps accepting even
 * at its connection limit (it closes the surplus at once), so the deadline is a backstop. */
static int wait_for_empty_queue(http_server *srv, int64_t deadline_ns) {
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(srv->instance.mhd_daemon, MHD_DAEMON_INFO_LISTEN_FD);
    if (info == NULL) {
        return -1;
    }
    int queued;
    while ((queued = listener_gate_queued(info->listen_fd)) > 0 &&
           time_monotonic_ns() < deadline_ns) {
        time_sleep_ms(10);
    }
    return queued;
}

/* MHD stops accepting and the listening socket is shut down: a SYN now is refused, while
 * the number stays the socket's until http_server_stop closes it after MHD stopped. */
static void stop_listening(http_server *srv) {
    srv->quiesced_fd = MHD_quiesce_daemon(srv->instance.mhd_daemon);
    if (srv->quiesced_fd == MHD_INVALID_SOCKET) {
        LOG_WARNF("draining: MHD could not stop accepting connections");
    } else if (shutdown(srv->quiesced_fd, SHUT_RDWR) != 0) {
        LOG_WARNF("draining: shutting the listening socket down failed: %s", strerror(errno));
    }
}

/* The gate, then the listener shut once its accept queue is empty (see http_server_stop);
 * bounded by grace_end. */
static void close_listener(http_server *srv, int64_t start, int64_t grace_end) {
    if (gate_listener(srv)) {
        int64_t margin_end = start + (int64_t)HANDSHAKE_MARGIN_MS * 1000000;
        int64_t wake = margin_end < grace_end ? margin_end : grace_end;
        time_sleep_ms((int)((wake - start) / 1000000));
        int queued = wait_for_empty_queue(srv, grace_end);
        if (queued != 0) {
            LOG_WARNF("draining: the accept queue %s when the listener is shut (%d)",
                      queued < 0 ? "could not be read" : "still holds connections, reset", queued);
        }
    }
    stop_listening(srv);
}

/* Rolling restarts lose nothing (issues 7 and 13): from here on every answer carries
 * Connection: close, busy connections close right after their answer, and MHD is stopped
 * only once every connection is gone (or drain_ms ran out), so no request that was read
 * is left unanswered.
 * The listening socket is gated first, not shut: shutting it would reset the
 * connections in its accept queue, whose requests a proxy has sent and cannot retry if
 * they are POSTs. Gated, it takes no new handshake (a proxy's connect times out or, once
 * shut, is refused, and goes to another instance) while MHD keeps accepting, and it is
 * shut once its queue is empty, HANDSHAKE_MARGIN_MS at the earliest.
 * Idle keep-alive connections are NOT closed at once: a proxy may be sending a request
 * on one at that very moment, so they are left open for IDLE_CLOSE_GRACE_MS (inside
 * drain_ms): a request on one is answered with Connection: close, and the proxy closes
 * the others when its upstream keep-alive timeout (compose/nginx.conf, shorter than the
 * grace) ends. Only connections still idle after the grace are closed here. */
void http_server_stop(http_server *srv, int drain_ms) {
    if (srv == NULL) {
        return;
    }
    atomic_store(&srv->draining, true);
    int64_t start = time_monotonic_ns();
    int64_t deadline = start + (int64_t)drain_ms * 1000000;
    int64_t grace_end = start + (int64_t)IDLE_CLOSE_GRACE_MS * 1000000;
    grace_end = grace_end < deadline ? grace_end : deadline;
    close_listener(srv, start, grace_end);
    (void)wait_for_zero(&srv->connections, grace_end);
    atomic_store(&srv->closing_idle, true);
    close_idle_connections(srv);
    bool drained = wait_for_zero(&srv->inflight, deadline);
    bool closed = wait_for_zero(&srv->connections, deadline);
    log_json(drained && closed ? LOG_INFO : LOG_WARN, "http server stopping",
             json_pack("{s:b,s:i,s:i,s:b}", "drained", drained, "requests_in_flight",
                       atomic_load(&srv->inflight), "connections_open",
                       atomic_load(&srv->connections), "connections_closed", closed));
    if (ulfius_stop_framework(&srv->instance) != U_OK) {
        LOG_WARNF("ulfius_stop_framework failed");
    }
    if (srv->quiesced_fd != MHD_INVALID_SOCKET && close(srv->quiesced_fd) != 0) {
        LOG_WARNF("closing the listening socket failed: %s", strerror(errno));
    }
    ulfius_clean_instance(&srv->instance);
    pthread_mutex_destroy(&srv->conns_mu);
    free(srv);
}
