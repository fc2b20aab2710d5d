/*
 * bench_http.c: a baseline server of tests/bench, started as api/http_server.c starts the API.
 *
 * Owns: the MHD flags (thread per connection, internal polling thread, ITC) and option list
 * (connection timeout, connection limit, thread stack, per-connection memory pool, the
 * connection callback, ulfius's completion and URI callbacks) of start_daemon in
 * api/http_server.c, filled from the same taskbus_config fields; the stop signals.
 * Rules: keep the flags and options in step with api/http_server.c, so a baseline's
 * figure measures what the API's own work costs and not a different server setup. The
 * only global is the open-connection counter, atomic because MHD calls the callback from
 * every connection thread (the API counts connections there too, so both pay for it).
 */
#include "tests/bench/bench_http.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int open_connections;

static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    (void)cls;
    (void)connection;
    (void)socket_context;
    atomic_fetch_add(&open_connections, code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    vfprintf(stderr, fmt, ap);
}

int bench_http_init(bench_http *h, const char *name, const char *port_text) {
    memset(h, 0, sizeof *h);
    h->name = name;
    char *end = NULL;
    long port = strtol(port_text, &end, 10);
    if (end == port_text || *end != '\0' || port <= 0 || port > 65535) {
        fprintf(stderr, "%s: bad port %s\n", name, port_text);
        return -1;
    }
    sigemptyset(&h->stop);
    sigaddset(&h->stop, SIGINT);
    sigaddset(&h->stop, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &h->stop, NULL) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        fprintf(stderr, "%s: cannot set up signals\n", name);
        return -1;
    }
    h->bind.sin_family = AF_INET;
    h->bind.sin_port = htons((uint16_t)port);
    h->bind.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ulfius_init_instance(&h->inst, (unsigned)port, &h->bind, NULL) != U_OK) {
        fprintf(stderr, "%s: ulfius_init_instance failed\n", name);
        return -1;
    }
    h->inst.allowed_post_processor = U_POST_PROCESS_NONE;
    return 0;
}

int bench_http_run(bench_http *h, const taskbus_config *cfg) {
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, &h->bind},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)cfg->http_idle_timeout_s, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)cfg->http_connection_limit, NULL},
        {MHD_OPTION_THREAD_STACK_SIZE, (intptr_t)cfg->http_thread_stack_kib * 1024, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)cfg->http_connection_memory_kib * 1024,
         NULL},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE | MHD_USE_ITC;
    if (ulfius_start_framework_with_mhd_options(&h->inst, flags, ops) != U_OK) {
        fprintf(stderr, "%s: cannot listen on 127.0.0.1:%u\n", h->name, ntohs(h->bind.sin_port));
        return -1;
    }
    printf("%s listening on 127.0.0.1:%u\n", h->name, ntohs(h->bind.sin_port));
    fflush(stdout);
    int sig = 0;
    sigwait(&h->stop, &sig);
    ulfius_stop_framework(&h->inst);
    return 0;
}

void bench_http_clean(bench_http *h) {
    ulfius_clean_instance(&h->inst);
}
