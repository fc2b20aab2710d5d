/*
 * hello_threading.c: the bare ulfius "hello" server of tests/bench/hello_server.c, with
 * libmicrohttpd's threading model as an argument (issue 8: "thread-per-connection is a
 * choice, not a law").
 *
 * Owns: one GET /hello endpoint started either as the API starts today (a thread per
 * connection, MHD_USE_THREAD_PER_CONNECTION) or with a fixed pool of threads sharing
 * epoll (MHD_USE_EPOLL_INTERNAL_THREAD + MHD_OPTION_THREAD_POOL_SIZE), with the API's
 * other options (idle timeout 30 s, limit 2000 connections, 8 KiB per connection).
 * Rules: arguments are PORT MODE [POOL_THREADS], MODE "tpc" or "pool"; binds 127.0.0.1
 * only; runs until SIGINT/SIGTERM. Measurement only: never part of the API.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ulfius.h>
#include <unistd.h>

/* Counted in a NOTIFY_CONNECTION callback as the API does. Atomic: MHD calls it from
 * every thread. */
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

static int start(struct _u_instance *inst, struct sockaddr_in *bind, bool pool, long pool_threads) {
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, bind},
        {MHD_OPTION_CONNECTION_TIMEOUT, 30, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, 2000, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 8 * 1024, NULL},
        {MHD_OPTION_THREAD_STACK_SIZE, 256 * 1024, NULL},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
        /* last, so the thread-per-connection run ends the list before it */
        {pool ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)pool_threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE | MHD_USE_ITC;
    flags |= pool ? MHD_USE_EPOLL_INTERNAL_THREAD
                  : MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    return ulfius_start_framework_with_mhd_options(inst, flags, ops) == U_OK ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[2], "tpc") != 0 && strcmp(argv[2], "pool") != 0)) {
        fprintf(stderr, "usage: hello_threading PORT tpc|pool [POOL_THREADS]\n");
        return 2;
    }
    long port = strtol(argv[1], NULL, 10);
    bool pool = strcmp(argv[2], "pool") == 0;
    long pool_threads = argc > 3 ? strtol(argv[3], NULL, 10) : 2;
    if (port <= 0 || port > 65535 || pool_threads <= 0 || pool_threads > 1024) {
        fprintf(stderr, "hello_threading: bad port or thread count\n");
        return 2;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &stop, NULL) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        fprintf(stderr, "hello_threading: cannot set up signals\n");
        return 1;
    }
    struct sockaddr_in bind = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    bind.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct _u_instance inst;
    if (ulfius_init_instance(&inst, (unsigned)port, &bind, NULL) != U_OK) {
        fprintf(stderr, "hello_threading: ulfius_init_instance failed\n");
        return 1;
    }
    inst.allowed_post_processor = U_POST_PROCESS_NONE;
    int rc = 1;
    if (ulfius_add_endpoint_by_val(&inst, "GET", NULL, "/hello", 0, on_hello, NULL) != U_OK) {
        fprintf(stderr, "hello_threading: ulfius_add_endpoint_by_val failed\n");
    } else if (start(&inst, &bind, pool, pool_threads) != 0) {
        fprintf(stderr, "hello_threading: cannot listen on 127.0.0.1:%ld\n", port);
    } else {
        printf("hello_threading listening on 127.0.0.1:%ld (%s)\n", port, argv[2]);
        fflush(stdout);
        int sig = 0;
        if (sigwait(&stop, &sig) != 0) {
            fprintf(stderr, "hello_threading: sigwait failed\n");
        }
        ulfius_stop_framework(&inst);
        rc = 0;
    }
    ulfius_clean_instance(&inst);
    return rc;
}
