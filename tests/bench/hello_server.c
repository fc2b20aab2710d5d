/*
 * hello_server.c: the benchmarks' baseline, a bare ulfius "hello" endpoint.
 *
 * Owns: one GET endpoint answering "hello" as text/plain, started exactly as
 * api/http_server.c starts the API (same MHD flags, same option list, same connection
 * timeout, connection limit and thread stack), so the ratio of an API route to this
 * figure measures what the API's own work costs, not a different server setup.
 * Rules: arguments are PORT [IDLE_TIMEOUT_S CONNECTION_LIMIT STACK_KIB] with the API's
 * defaults (30, 2000, 256); runs until SIGINT/SIGTERM; binds 127.0.0.1 only.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ulfius.h>
#include <unistd.h>

/* The API counts open connections in its NOTIFY_CONNECTION callback; so does the baseline,
 * so both pay for the same callback. Atomic: MHD calls it from every connection thread. */
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

static int on_hello(const struct _u_request *req, struct _u_response *resp, void *user_data) {
    (void)req;
    (void)user_data;
    if (ulfius_set_string_body_response(resp, 200, "hello") != U_OK ||
        ulfius_add_header_to_response(resp, "Content-Type", "text/plain") != U_OK) {
        return U_CALLBACK_ERROR;
    }
    return U_CALLBACK_COMPLETE;
}

static long arg_or(int argc, char **argv, int i, long fallback) {
    if (argc <= i) {
        return fallback;
    }
    char *end = NULL;
    long v = strtol(argv[i], &end, 10);
    if (end == argv[i] || *end != '\0' || v <= 0) {
        fprintf(stderr, "hello_server: bad argument %s\n", argv[i]);
        exit(2);
    }
    return v;
}

static int start(struct _u_instance *inst, struct sockaddr_in *bind, long idle_s, long limit,
                 long stack_kib) {
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, bind},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)idle_s, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)limit, NULL},
        {MHD_OPTION_THREAD_STACK_SIZE, (intptr_t)stack_kib * 1024, NULL},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE | MHD_USE_ITC;
    return ulfius_start_framework_with_mhd_options(inst, flags, ops) == U_OK ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: hello_server PORT [IDLE_TIMEOUT_S CONNECTION_LIMIT STACK_KIB]\n");
        return 2;
    }
    long port = arg_or(argc, argv, 1, 0);
    long idle_s = arg_or(argc, argv, 2, 30);
    long limit = arg_or(argc, argv, 3, 2000);
    long stack_kib = arg_or(argc, argv, 4, 256);
    if (port > 65535) {
        fprintf(stderr, "hello_server: bad port %ld\n", port);
        return 2;
    }
    /* Block the stop signals before MHD starts its threads, so only sigwait sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &stop, NULL) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        fprintf(stderr, "hello_server: cannot set up signals\n");
        return 1;
    }
    struct sockaddr_in bind = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    bind.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct _u_instance inst;
    if (ulfius_init_instance(&inst, (unsigned)port, &bind, NULL) != U_OK) {
        fprintf(stderr, "hello_server: ulfius_init_instance failed\n");
        return 1;
    }
    inst.allowed_post_processor = U_POST_PROCESS_NONE;
    int rc = 1;
    if (ulfius_add_endpoint_by_val(&inst, "GET", NULL, "/hello", 0, on_hello, NULL) != U_OK) {
        fprintf(stderr, "hello_server: ulfius_add_endpoint_by_val failed\n");
    } else if (start(&inst, &bind, idle_s, limit, stack_kib) != 0) {
        fprintf(stderr, "hello_server: cannot listen on 127.0.0.1:%ld\n", port);
    } else {
        printf("hello_server listening on 127.0.0.1:%ld\n", port);
        fflush(stdout);
        int sig = 0;
        sigwait(&stop, &sig);
        ulfius_stop_framework(&inst);
        rc = 0;
    }
    ulfius_clean_instance(&inst);
    return rc;
}
